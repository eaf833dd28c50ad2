"""Warm pytest processes on the worker: one fork server per interpreter and environment.

A shard's pytest normally pays for a fresh interpreter, pytest and its plugins, and the suite's
heavy installed imports (hypothesis, ...) before its first test. The fork server
(``pytest_plugin/dtf_forkserver.py``) pays that once; each shard is a forked child running
``pytest.main`` in its own session and process group, so a timeout still kills the whole group.
The modules a shard imported from site-packages are preloaded into the server between shards.
An install into the interpreter's site-packages retires the server (it answers ``stale``).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from worker.executors.process import ProcessRun
from worker.pytest_plugin import FORK_SERVER as SERVER

START_TIMEOUT_SECONDS = 60.0


class WarmUnavailable(Exception):
    """The server could not take the shard (gone, stale, not starting): run it cold instead."""


class ForkServer:
    def __init__(self, python: str, env: Mapping[str, str]) -> None:
        self.python, self.env = python, dict(env)
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._waiting: dict[str, dict[str, asyncio.Future]] = {}
        self._ids = itertools.count(1)
        self.preload: list[str] = []
        self.dead = False
        self.unsafe = False  # forking it is not safe: this interpreter and environment run cold

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            self.python, str(SERVER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=self.env, start_new_session=True)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                futures = self._waiting.get(msg.get("id"), {})
                for key in ("pid", "exit"):
                    if key in msg and key in futures and not futures[key].done():
                        futures[key].set_result(msg[key])
                if msg.get("stale") or msg.get("unsafe"):
                    self.dead = True
                    self.unsafe = bool(msg.get("unsafe"))
                    why = ("a preloaded module started a thread" if self.unsafe
                           else "site-packages changed since the server started")
                    for fut in futures.values():
                        if not fut.done():
                            fut.set_exception(WarmUnavailable(why))
        finally:
            self.dead = True
            for futures in self._waiting.values():
                for fut in futures.values():
                    if not fut.done():
                        fut.set_exception(WarmUnavailable("the fork server exited"))

    def _send(self, message: dict[str, Any]) -> None:
        if self.dead or self.proc is None or self.proc.stdin is None:
            raise WarmUnavailable("the fork server is not running")
        self.proc.stdin.write((json.dumps(message) + "\n").encode())

    async def run(self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], tmp: Path,
                  timeout_seconds: float | None, kill_grace_seconds: float, tail_bytes: int) -> ProcessRun:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        rid = str(next(self._ids))
        futures = {"pid": loop.create_future(), "exit": loop.create_future()}
        self._waiting[rid] = futures
        out, err, modules = tmp / "stdout.txt", tmp / "stderr.txt", tmp / "modules.json"
        try:
            self._send({"id": rid, "args": list(args), "cwd": str(cwd), "env": dict(env), "stdout": str(out),
                        "stderr": str(err), "modules_out": str(modules)})
            pid = await asyncio.wait_for(futures["pid"], START_TIMEOUT_SECONDS)
        except TimeoutError:
            self.dead = True
            raise WarmUnavailable("the fork server did not answer") from None
        timed_out = escalated = False
        try:
            try:
                code = await asyncio.wait_for(asyncio.shield(futures["exit"]), timeout_seconds)
            except TimeoutError:
                timed_out = True
                _killpg(pid, signal.SIGTERM)
                try:
                    code = await asyncio.wait_for(asyncio.shield(futures["exit"]), kill_grace_seconds)
                except TimeoutError:
                    escalated = True
                    _killpg(pid, signal.SIGKILL)
                    code = await futures["exit"]
            _killpg(pid, signal.SIGKILL)  # what the shard started and left behind
        except BaseException:
            _killpg(pid, signal.SIGKILL)
            raise
        finally:
            self._waiting.pop(rid, None)
        self._learn(modules)
        return ProcessRun(pid=pid, returncode=code, stdout=_tail(out, tail_bytes), stderr=_tail(err, tail_bytes),
                          timed_out=timed_out, escalated_to_sigkill=escalated,
                          duration_seconds=time.monotonic() - started)

    def warm(self, names: Sequence[str]) -> None:
        """Have the server import these (only those installed in its site-packages) before the next
        shard; it does so in the background, the next fork waits for it."""
        new = [n for n in dict.fromkeys(names) if n not in self.preload]
        if new:
            self.preload += new
            self._send({"preload": new})

    def _learn(self, path: Path) -> None:
        """Preload what this shard imported from site-packages, before the next shard comes."""
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        new = [n for n in names if isinstance(n, str) and n not in self.preload]
        if new:
            self.preload += new
            try:
                self._send({"preload": new})
            except WarmUnavailable:
                pass

    async def close(self) -> None:
        self.dead = True
        if self.proc is not None and self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass


class ForkServers:
    """One server per (interpreter, environment); a dead or stale one is replaced on next use."""

    def __init__(self) -> None:
        self._servers: dict[tuple[str, tuple[tuple[str, str], ...]], ForkServer] = {}
        self._lock = asyncio.Lock()

    async def get(self, python: str, env: Mapping[str, str]) -> ForkServer:
        key = (python, tuple(sorted(env.items())))
        async with self._lock:
            server = self._servers.get(key)
            if server is not None and server.unsafe:
                raise WarmUnavailable("this suite's imports start threads: no fork server for it")
            if server is None or server.dead:
                if server is not None:
                    await server.close()
                server = ForkServer(python, env)
                try:
                    await server.start()
                except OSError as exc:
                    raise WarmUnavailable(f"cannot start the fork server: {exc}") from None
                self._servers[key] = server
            return server

    async def close(self) -> None:
        for server in self._servers.values():
            await server.close()
        self._servers.clear()


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
