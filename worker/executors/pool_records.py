"""What the pool keeps track of: calls, child processes, results, counters; and how a child
process is started (a fresh interpreter with two pipes and a pidfd)."""
from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Callable

from worker.executors.base import ExecutorError
from worker.executors.reporting import killed_message

_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from worker.executors._pool_child import main; main(sys.argv[2:])")
_HAS_PIDFD = hasattr(os, "pidfd_open")


class CallStatus(StrEnum):
    OK = "ok"                # returned; ``value`` is the JSON result
    RAISED = "raised"        # raised; ``error`` has type, message, traceback
    CRASHED = "crashed"      # the child died while running it; ``error`` has exit_code or signal
    TIMED_OUT = "timed_out"  # ran past its timeout; the child was killed with SIGKILL


@dataclass(frozen=True, slots=True)
class CallResult:
    status: CallStatus
    value: Any = None
    error: dict[str, Any] | None = None
    pid: int | None = None
    run_seconds: float | None = None  # measured in the child, without the wait before it ran


class PoolClosedError(ExecutorError):
    """The pool was closed while a call was queued or running."""


class PoolStartError(ExecutorError):
    """No child process could be started (they die before they are ready, or cannot be spawned)."""


class KillReason(Enum):
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    STARTUP = "startup"
    PROTOCOL = "protocol"
    SHUTDOWN = "shutdown"


@dataclass(slots=True)
class PoolStats:
    spawned: int = 0
    completed: int = 0
    crashed: int = 0
    timed_out: int = 0
    recycled: int = 0
    redispatched: int = 0


@dataclass(slots=True, eq=False)
class PendingCall:
    call_id: int
    frame: bytes
    timeout_seconds: float | None
    future: asyncio.Future[CallResult]
    child: ChildProcess | None = None
    target: str | None = None            # what it calls, for the run-time estimate (None: no estimate)
    expected_seconds: float = math.inf   # estimated run time; inf: long or never seen
    on_start: Callable[[], None] | None = None  # told when the call is handed to a child


@dataclass(slots=True, eq=False)
class ChildProcess:
    popen: subprocess.Popen[bytes]
    req_fd: int
    rep_fd: int
    pidfd: int
    died: asyncio.Future[int]
    started: asyncio.Future[bool]  # True once READY, False if it died first
    inflight: deque[PendingCall] = field(default_factory=deque)
    outbuf: bytearray = field(default_factory=bytearray)
    rbuf: bytearray = field(default_factory=bytearray)
    ready: bool = False
    dispatched: int = 0
    retiring: bool = False
    dead: bool = False
    writing: bool = False
    reading: bool = True
    deadline: float = math.inf
    timer: asyncio.TimerHandle | None = None
    startup_timer: asyncio.TimerHandle | None = None
    kill_target: PendingCall | None = None
    kill_reason: KillReason | None = None
    backlog_seconds: float = 0.0   # estimated run time of its short calls in flight
    long_calls: int = 0            # calls in flight that are long or never seen
    head_started: float = 0.0      # loop time its current head call began

    @property
    def pid(self) -> int:
        return self.popen.pid


def exit_error(pid: int | None, returncode: int) -> dict[str, Any]:
    if returncode < 0:
        sig = -returncode
        return {"pid": pid, "signal": sig, "message": killed_message(sig)}
    return {"pid": pid, "exit_code": returncode,
            "message": f"process exited unexpectedly with code {returncode}"}


def spawn_child(loop: asyncio.AbstractEventLoop, pkg_root: str, cwd: Path | None) -> ChildProcess:
    """Start one child: ``sys.executable`` running _pool_child.main on two fresh pipes, in its
    own session (so a kill of its group takes the processes its tasks started too)."""
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    try:
        popen = subprocess.Popen(
            [sys.executable, "-c", _BOOT, pkg_root, str(req_r), str(rep_w)],
            pass_fds=(req_r, rep_w), stdin=subprocess.DEVNULL,
            stdout=2,  # task prints go to the worker's stderr, never into its stdout logs
            cwd=cwd, start_new_session=True)
    except BaseException:
        os.close(req_w)
        os.close(rep_r)
        raise
    finally:
        os.close(req_r)
        os.close(rep_w)
    os.set_blocking(req_w, False)
    os.set_blocking(rep_r, False)
    # a pidfd turns readable when the process exits: death notice without SIGCHLD or polling
    pidfd = os.pidfd_open(popen.pid) if _HAS_PIDFD else -1
    return ChildProcess(popen=popen, req_fd=req_w, rep_fd=rep_r, pidfd=pidfd,
                        died=loop.create_future(), started=loop.create_future())
