"""Run one subprocess in its own process group, keep the tails of its output, enforce a timeout.

At the timeout the whole group gets SIGTERM, then SIGKILL after a grace period: a test runner's
own children (servers, browsers) must not outlive the task.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Mapping, Sequence

# After the main process exits, how long a grandchild may keep its stdout/stderr open before the
# group is killed (a backgrounded `server &` holds the pipes and would stall the task forever).
_POST_EXIT_GRACE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ProcessRun:
    pid: int
    returncode: int | None      # negative: killed by that signal (asyncio's convention)
    stdout: str                 # tail, at most tail_bytes
    stderr: str                 # tail, at most tail_bytes
    timed_out: bool
    escalated_to_sigkill: bool  # it ignored SIGTERM for the whole grace period
    duration_seconds: float

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group id now belongs to a process we do not own
        return False
    return True


def _decode(data: bytearray, limit: int) -> str:
    return bytes(data[-limit:]).decode("utf-8", errors="replace") if limit > 0 else ""


class _Collector(asyncio.SubprocessProtocol):
    """Keeps output tails and reports exit and pipe closure separately: a grandchild may hold
    the pipes open long after the process itself has exited (asyncio's Process.wait() would wait
    for both, so it is not used)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.limit = limit
        self.tails = {1: bytearray(), 2: bytearray()}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        tail = self.tails[fd]
        tail += data
        if len(tail) > 2 * self.limit:
            del tail[:-self.limit]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:  # exited and every pipe closed
        if not self.closed.done():
            self.closed.set_result(None)


# Sessions (= the pids that lead them) of task processes running now in this worker: a cleanup
# must spare them and everything they started (a recovery action for one task once killed
# another task's pytest). One worker per process, so one set per process.
RUNNING_SESSIONS: set[int] = set()


async def run_process(argv: Sequence[str] | str, *, shell: bool = False,
                      env: Mapping[str, str] | None = None, cwd: Path | None = None,
                      timeout_seconds: float | None, kill_grace_seconds: float = 2.0,
                      tail_bytes: int = 8192) -> ProcessRun:
    """Raises what process creation raises (FileNotFoundError, PermissionError, ...)."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    collector = _Collector(loop, tail_bytes)
    common = dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  cwd=cwd, env=env, start_new_session=True)
    if shell:
        assert isinstance(argv, str)
        transport, _ = await loop.subprocess_shell(lambda: collector, argv, **common)  # type: ignore[arg-type]
    else:
        transport, _ = await loop.subprocess_exec(lambda: collector, *argv, **common)  # type: ignore[arg-type]
    pid = transport.get_pid()
    pgid = pid  # start_new_session: the child leads a new group whose id is its pid
    timed_out = escalated = False
    RUNNING_SESSIONS.add(pid)
    try:
        try:
            await asyncio.wait_for(asyncio.shield(collector.exited), timeout_seconds)
        except TimeoutError:
            timed_out = True
            escalated = await _terminate(collector, pgid, kill_grace_seconds)
        try:
            await asyncio.wait_for(asyncio.shield(collector.closed), _POST_EXIT_GRACE_SECONDS)
        except TimeoutError:
            # the process is gone but something it started still holds the pipes
            _killpg(pgid, signal.SIGKILL)
    except BaseException:
        # cancelled (the task was cancelled or the worker is stopping) or failed: leave nothing
        _killpg(pgid, signal.SIGKILL)
        raise
    finally:
        RUNNING_SESSIONS.discard(pid)
        transport.close()  # closes the pipes; kills the process if it still runs
    return ProcessRun(pid=pid, returncode=transport.get_returncode(),
                      stdout=_decode(collector.tails[1], tail_bytes),
                      stderr=_decode(collector.tails[2], tail_bytes),
                      timed_out=timed_out, escalated_to_sigkill=escalated,
                      duration_seconds=time.monotonic() - started)


async def _terminate(collector: _Collector, pgid: int, grace_seconds: float) -> bool:
    """SIGTERM the group, SIGKILL it after the grace period; True when SIGKILL was needed."""
    _killpg(pgid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(collector.exited), grace_seconds)
    except TimeoutError:
        _killpg(pgid, signal.SIGKILL)
        await collector.exited
        return True
    # the leader went on SIGTERM; members that ignore it would keep the group alive
    _killpg(pgid, signal.SIGKILL)
    return False


@contextlib.asynccontextmanager
async def task_directory(work_dir: Path, task_id: str, attempt: int) -> AsyncIterator[Path]:
    """A fresh directory for one attempt under ``work_dir``, removed afterwards."""
    work_dir.mkdir(parents=True, exist_ok=True)
    safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", task_id)[:64]
    path = Path(tempfile.mkdtemp(prefix=f"{safe_id}-a{attempt}-", dir=work_dir))
    try:
        yield path
    finally:
        # a test may leave a large tree behind: remove it off the event loop
        await asyncio.to_thread(shutil.rmtree, path, True)


ARBITRARY_CODE_TYPES = frozenset({"command", "python", "benchmark", "chaos"})


class SubprocessExecutor:
    """Base of executors that start one subprocess per task: nothing to start or close."""
    type_name = ""

    def __init__(self, settings: Any) -> None:
        self._tail_bytes = settings.output_tail_bytes
        self._grace = settings.kill_grace_seconds
        allowed = settings.allowed_types
        # A worker that runs none of the arbitrary-code types (command, python, benchmark,
        # chaos) must not be handed code through a task's environment either.
        self._restricted = allowed is not None and not set(allowed) & ARBITRARY_CODE_TYPES

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
