"""The DuckDB connection of the event sink, in a process of its own.

Why a process: DuckDB's Python client takes the GIL back again and again while a statement runs
(to check for Ctrl-C), and each time it waits for the event loop's thread to let go of it (up to
the interpreter's switch interval). A writer thread in the coordinator's process therefore ran
its batches at a third of their speed while the loop was busy, and slowed the loop too. In its
own process DuckDB has its own GIL and its own core; the sink's thread only relays.

Protocol: length-prefixed pickles over the child's stdin and stdout (its own prints go to
stderr). Requests are ``(op, args)``; replies are ``("ok", value)`` or ``("err", exception)``.
The child exits when its stdin closes. If the parent dies (kill -9), the child is killed at once
(Linux's parent-death signal; elsewhere it exits at the end of its statement, on EOF), as DuckDB
would have died inside the parent: the last transaction is rolled back from the WAL at the next
open, and nothing holds the database's lock for long.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import struct
import subprocess
import sys
import signal
import time
from pathlib import Path
from typing import IO, Any

import duckdb

from error_handling.migrate import apply_migrations

_HEADER = struct.Struct("<Q")
LOCK_WAIT_SECONDS = 15.0  # a dying predecessor may hold the file's lock for its last statement


class WriterProcessError(RuntimeError):
    """The DuckDB process died or answered something unreadable."""


def _send(out: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(data)))
    out.write(data)
    out.flush()


def _recv(inp: IO[bytes]) -> Any:
    header = inp.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = inp.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a duckdb.Error with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return duckdb.Error(f"{type(exc).__name__}: {exc}")


class DuckDBProcess:
    """Parent side: one request at a time, from one thread (the sink's writer thread)."""

    def __init__(self, path: str, threads: int | None) -> None:
        args = [sys.executable, "-c", "from error_handling.duckdb_process import main; main()",
                path, str(threads or 0), str(os.getpid())]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")) if p)}
        # A session of its own: Ctrl-C in a terminal (SIGINT to the foreground group) must not
        # kill the database under a coordinator that is about to flush and stop cleanly.
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                      start_new_session=True)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in, self._out = self._proc.stdout, self._proc.stdin

    @property
    def pid(self) -> int:
        return self._proc.pid

    def call(self, op: str, *args: Any) -> Any:
        try:
            _send(self._out, (op, args))
            reply = _recv(self._in)
        except (BrokenPipeError, OSError) as exc:
            raise WriterProcessError(f"DuckDB process gone ({self._status()}): {exc}") from exc
        if reply is None:
            raise WriterProcessError(f"DuckDB process gone ({self._status()})")
        kind, value = reply
        if kind == "err":
            raise value
        return value

    def run(self, sql: str, params: Any = None) -> tuple[list[str] | None, list[tuple[Any, ...]]]:
        """Execute ``sql`` (several statements allowed); column names and rows of the last."""
        return self.call("run", sql, params)

    def close(self) -> None:
        try:
            self._out.close()  # EOF: the child closes the database and exits
        except OSError:
            pass
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._in.close()

    def _status(self) -> str:
        code = self._proc.poll()
        return "running" if code is None else f"exit status {code}"


def _connect(path: str, threads: int) -> duckdb.DuckDBPyConnection:
    config = {"threads": threads} if threads else {}
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            con = duckdb.connect(path, config=config)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    con.execute("SET enable_progress_bar = false")
    return con


def _serve(path: str, threads: int, inp: IO[bytes], out: IO[bytes]) -> None:
    con: duckdb.DuckDBPyConnection | None = None
    try:
        while (request := _recv(inp)) is not None:
            op, args = request
            try:
                if op == "open":
                    con = _connect(path, threads)
                    value: Any = None
                elif op == "migrate":
                    assert con is not None
                    value = apply_migrations(con, Path(args[0]))
                elif op == "run":
                    assert con is not None
                    sql, params = args
                    cur = con.execute(sql, params) if params is not None else con.execute(sql)
                    names = [d[0] for d in cur.description] if cur.description else None
                    value = (names, cur.fetchall() if names is not None else [])
                else:
                    raise ValueError(f"unknown request {op!r}")
            except Exception as exc:
                _send(out, ("err", _portable(exc)))
            else:
                _send(out, ("ok", value))
    finally:
        if con is not None:
            con.close()


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when the thread that started it ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # EOF on stdin still ends us
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)


def main() -> None:
    path, threads, parent = sys.argv[-3], int(sys.argv[-2]), int(sys.argv[-1])
    _die_with_parent(parent)
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the protocol
    _serve(path, threads, inp, out)


if __name__ == "__main__":
    main()
