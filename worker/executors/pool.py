"""A prefork-style pool of reusable child processes, driven from the event loop.

Each child is a fresh interpreter (``sys.executable``), not a fork of the worker: the worker runs
an event loop and, by the time a child is replaced, threads (DNS resolution, subprocess watchers);
forking such a process can copy a held lock into the child. A fresh interpreter costs ~30 ms once
per child, which pipelining and long-lived children amortise to nothing.

Per child: two raw pipes carrying length-prefixed pickle frames, replies read with
``loop.add_reader`` (no thread per call, no polling), a pidfd to learn of its death, and several
calls in flight (the child runs them in order). Only the head of a child's queue is running, so
its timeout starts when the previous reply arrives. A child that dies or is killed at a timeout
takes only its running call with it; the calls queued behind are re-dispatched to other children.
"""
from __future__ import annotations

import asyncio
import itertools
import math
import os
import pickle
import signal
import struct
import sys
from collections import deque
from pathlib import Path
from typing import Any, Callable

import orjson

from worker.executors._pool_child import Op, Status, encode
from worker.executors.pool_records import (CallResult, CallStatus, ChildProcess, KillReason,
                                           PendingCall, PoolClosedError, PoolStartError, PoolStats,
                                           exit_error,
                                           spawn_child)

__all__ = ["CallResult", "CallStatus", "PoolClosedError", "PoolStartError", "PoolStats",
           "ProcessPool"]

_HEADER = struct.Struct("<I")
_READ_CHUNK = 1 << 18
_TIMER_SLACK_SECONDS = 0.001  # asyncio may fire a timer up to one clock tick early
_MAX_STARTUP_FAILURES = 3
# A call expected to finish within this, behind calls that do too, queues in a busy child
# rather than waking an idle one.
COALESCE_BELOW_SECONDS = 0.0005
_EWMA_WEIGHT = 0.3     # weight of the newest run time in a target's estimate
_MAX_TARGETS = 10_000  # estimates kept (forgotten all at once past this: bounded memory)


class ProcessPool:
    """Runs ``"module:callable"`` targets in ``size`` reusable child processes."""

    def __init__(self, *, size: int, max_tasks_per_child: int = 10_000,
                 max_inflight_per_child: int = 16, memory_limit_mb: int | None = None,
                 cwd: Path | None = None, startup_timeout_seconds: float = 30.0,
                 pipeline_budget_seconds: float = 0.005) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        if max_tasks_per_child < 1:
            raise ValueError(f"max_tasks_per_child must be at least 1, got {max_tasks_per_child}")
        if max_inflight_per_child < 1:
            raise ValueError(f"max_inflight_per_child must be at least 1, got {max_inflight_per_child}")
        self._size = size
        self._max_tasks = max_tasks_per_child
        self._max_inflight = max_inflight_per_child
        # A call queues behind others in a child only while the estimated run time ahead of it
        # stays under this; long calls, and calls of a target never seen, wait for an idle child.
        self._pipeline_budget = pipeline_budget_seconds
        self._expected: dict[str, float] = {}  # target -> moving average of its run time
        self._memory_limit_mb = memory_limit_mb
        self._cwd = cwd
        self._startup_timeout = startup_timeout_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._children: list[ChildProcess] = []
        self._pending: deque[PendingCall] = deque()
        self._ids = itertools.count(1)
        self._flush_scheduled = False
        self._startup_failures = 0
        self._start_error: str | None = None
        self._closed = False
        self._pkg_root = str(Path(__file__).resolve().parents[2])
        self.stats = PoolStats()

    # ---- public API -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._size

    def pids(self) -> list[int]:
        return [c.pid for c in self._children if not c.dead]

    async def start(self) -> None:
        """Spawn the children and wait until each has started (idempotent)."""
        if self._closed:
            raise PoolClosedError("process pool is closed")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            if self._cwd is not None:
                self._cwd.mkdir(parents=True, exist_ok=True)
        loop = self._loop
        self._ensure_capacity()
        deadline = loop.time() + self._startup_timeout
        # replacements of children that die during start-up are waited for too, until the
        # start-up failure limit gives up on them
        while waiting := [c.started for c in self._children if not c.ready and not c.dead]:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(waiting, timeout=remaining)
        if not self._has_ready_child():
            raise PoolStartError(self._start_error or "no pool child process started within "
                                 f"{self._startup_timeout:g} s")

    async def call(self, target: str, args: list[Any] | tuple[Any, ...] = (),
                   kwargs: dict[str, Any] | None = None, *,
                   timeout_seconds: float | None = None,
                   on_start: Callable[[], None] | None = None) -> CallResult:
        """Run ``target(*args, **kwargs)`` in a child; its return value must be JSON-serialisable.
        ``on_start`` is called when the call is handed to a child (it no longer waits here)."""
        return await self._submit(Op.CALL, (target, list(args), dict(kwargs or {})), timeout_seconds,
                                  target=target, on_start=on_start)

    async def bench(self, target: str, args: list[Any] | tuple[Any, ...] = (),
                    kwargs: dict[str, Any] | None = None, *, iterations: int, warmup: int,
                    timeout_seconds: float | None = None,
                    on_start: Callable[[], None] | None = None) -> CallResult:
        """Time ``iterations`` calls of ``target`` in one child; the value is the statistics dict.
        A benchmark always gets an idle child to itself."""
        payload = (target, list(args), dict(kwargs or {}), iterations, warmup)
        return await self._submit(Op.BENCH, payload, timeout_seconds, on_start=on_start)

    async def close(self) -> None:
        """Kill every child (SIGKILL to its process group), reap it, close its pipes."""
        if self._closed:
            return
        self._closed = True
        children = list(self._children)
        for child in children:
            self._kill(child, None, KillReason.SHUTDOWN)
        if children:
            await asyncio.wait([c.died for c in children], timeout=5.0)
        for child in children:
            if not child.dead:  # no death notice (no pidfd, or stuck): reap it here
                self._on_death(child)
        error = PoolClosedError("process pool closed")
        while self._pending:
            call = self._pending.popleft()
            if not call.future.done():
                call.future.set_exception(error)

    # ---- submission and dispatch -----------------------------------------------------------

    async def _submit(self, op: Op, payload: Any, timeout_seconds: float | None, *,
                      target: str | None = None, on_start: Callable[[], None] | None = None) -> CallResult:
        if self._closed:
            raise PoolClosedError("process pool is closed")
        if self._loop is None:
            await self.start()
        assert self._loop is not None
        call_id = next(self._ids)
        call = PendingCall(call_id, encode((call_id, op, payload)), timeout_seconds,
                           self._loop.create_future(), target=target,
                           expected_seconds=self._expected.get(target, math.inf) if target else math.inf,
                           on_start=on_start)
        self._pending.append(call)
        if len(self._children) < self._size:  # lost children not yet replaced (cheap check first)
            if not any(not c.dead for c in self._children):
                self._startup_failures = 0  # nothing alive: try spawning again
            self._ensure_capacity()
        self._pump()
        try:
            return await call.future
        except asyncio.CancelledError:
            self._abandon(call)
            raise

    def _abandon(self, call: PendingCall) -> None:
        """The caller gave up (cancelled): drop it if queued, kill its child if it is running."""
        child = call.child
        if child is None:
            try:
                self._pending.remove(call)
            except ValueError:
                pass
        elif not child.dead and child.inflight and child.inflight[0] is call:
            self._kill(child, call, KillReason.CANCELLED)
        # queued behind another call in a child: it will run; its reply finds a done future

    def _pick(self, call: PendingCall) -> ChildProcess | None:
        """An idle child, else the least loaded one the call may queue behind: only short calls
        queue, only behind short calls, within the pipelining budget and the in-flight limit, and
        never behind a head that has run far past its estimate (it is long after all). A tiny
        call queues behind tiny ones even when another child is idle: waking a second process
        costs more than the wait (a stream of no-ops runs in one child, not in all of them)."""
        best: ChildProcess | None = None
        idle: ChildProcess | None = None
        best_backlog = math.inf
        expected = call.expected_seconds
        judge = self._pipeline_budget != math.inf  # an infinite budget pipelines everything
        room = self._pipeline_budget - expected if judge else math.inf
        now = -1.0
        for child in self._children:
            if child.retiring or child.dead or child.kill_reason is not None:
                continue
            inflight = child.inflight
            if not inflight:
                if idle is None:
                    idle = child
                continue
            if len(inflight) >= self._max_inflight:
                continue
            if judge and (expected == math.inf or child.long_calls or child.backlog_seconds > room):
                continue
            if judge and child.ready:
                if now < 0:
                    now = self._loop.time()  # type: ignore[union-attr]
                if now - child.head_started > 2 * inflight[0].expected_seconds + self._pipeline_budget:
                    continue
            load = child.backlog_seconds if judge else len(inflight)
            if load < best_backlog:
                best, best_backlog = child, load
        if idle is None:
            return best
        if best is not None and judge and best_backlog + expected <= COALESCE_BELOW_SECONDS:
            return best
        return idle

    def _pump(self) -> None:
        pending = self._pending
        while pending:
            call = pending[0]
            if call.future.done():
                pending.popleft()
                continue
            child = self._pick(call)
            if child is None:
                return  # in order: the head waits for a child, and so does everything behind it
            pending.popleft()
            self._send(child, call)

    def _send(self, child: ChildProcess, call: PendingCall) -> None:
        call.child = child
        child.inflight.append(call)
        if call.expected_seconds == math.inf:
            child.long_calls += 1
        else:
            child.backlog_seconds += call.expected_seconds
        if call.on_start is not None:
            call.on_start()
        child.outbuf += call.frame
        if not self._flush_scheduled:
            # coalesce every frame queued in this loop iteration into one write per child
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)  # type: ignore[union-attr]
        if len(child.inflight) == 1 and child.ready:
            self._start_head(child)
        child.dispatched += 1
        if child.dispatched >= self._max_tasks and not child.retiring:
            child.retiring = True
            self.stats.recycled += 1
            self._ensure_capacity()

    def _flush(self) -> None:
        self._flush_scheduled = False
        for child in self._children:
            if child.outbuf and not child.writing:
                self._write(child)

    def _write(self, child: ChildProcess) -> None:
        if child.req_fd < 0:
            child.outbuf.clear()
            return
        try:
            written = os.write(child.req_fd, child.outbuf)
        except BlockingIOError:
            written = 0
        except BrokenPipeError:
            child.outbuf.clear()  # it died; the pidfd tells us and its calls are re-dispatched
            written = 0
        del child.outbuf[:written]
        loop = self._loop
        assert loop is not None
        if child.outbuf and not child.writing:
            loop.add_writer(child.req_fd, self._write, child)
            child.writing = True
        elif not child.outbuf and child.writing:
            loop.remove_writer(child.req_fd)
            child.writing = False

    # ---- timeouts ---------------------------------------------------------------------------

    def _start_head(self, child: ChildProcess) -> None:
        """The head of the child's queue starts running now: arm its deadline."""
        timeout = child.inflight[0].timeout_seconds
        child.head_started = self._loop.time()  # type: ignore[union-attr]
        if timeout is None:
            child.deadline = math.inf
            return
        loop = self._loop
        assert loop is not None
        child.deadline = deadline = loop.time() + timeout
        timer = child.timer
        # one lazy timer per child: only re-armed when the new deadline is earlier
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            child.timer = loop.call_at(deadline, self._on_timer, child)

    def _on_timer(self, child: ChildProcess) -> None:
        child.timer = None
        if child.dead or not child.inflight or child.kill_reason is not None:
            return
        loop = self._loop
        assert loop is not None
        if loop.time() + _TIMER_SLACK_SECONDS >= child.deadline:
            self._kill(child, child.inflight[0], KillReason.TIMEOUT)
        elif child.deadline != math.inf:
            child.timer = loop.call_at(child.deadline, self._on_timer, child)

    def _on_startup_timeout(self, child: ChildProcess) -> None:
        child.startup_timer = None
        if not child.ready and not child.dead:
            self._kill(child, None, KillReason.STARTUP)

    def _kill(self, child: ChildProcess, target: PendingCall | None, reason: KillReason) -> None:
        if child.dead or child.kill_reason is not None:
            return
        child.kill_target, child.kill_reason = target, reason
        try:
            # the child leads its own session: subprocesses a task started die with it
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:  # the group id was reused by a process we do not own
            child.popen.kill()

    # ---- replies and deaths -----------------------------------------------------------------

    def _on_readable(self, child: ChildProcess) -> None:
        try:
            data = os.read(child.rep_fd, _READ_CHUNK)
        except BlockingIOError:
            return
        if not data:
            self._stop_reading(child)
            if child.pidfd < 0:
                self._on_death(child)
            return
        child.rbuf += data
        self._parse(child)

    def _stop_reading(self, child: ChildProcess) -> None:
        if child.reading:
            self._loop.remove_reader(child.rep_fd)  # type: ignore[union-attr]
            child.reading = False

    def _parse(self, child: ChildProcess) -> None:
        buf = child.rbuf
        offset, size_of, unpack = 0, _HEADER.size, _HEADER.unpack_from
        loads = pickle.loads
        while len(buf) - offset >= size_of:
            (size,) = unpack(buf, offset)
            end = offset + size_of + size
            if len(buf) < end:
                break
            call_id, status, value, run_seconds = loads(buf[offset + size_of:end])
            offset = end
            self._on_reply(child, call_id, status, value, run_seconds)
        if offset:
            del buf[:offset]

    def _on_reply(self, child: ChildProcess, call_id: int, status: int, value: Any,
                  run_seconds: float) -> None:
        if status == Status.READY:
            child.ready = True
            if not child.started.done():
                child.started.set_result(True)
            self._startup_failures = 0
            self._start_error = None
            if child.startup_timer is not None:
                child.startup_timer.cancel()
                child.startup_timer = None
            if child.inflight and child.kill_reason is None:
                self._start_head(child)
            return
        inflight = child.inflight
        if not inflight or inflight[0].call_id != call_id:
            self._kill(child, inflight[0] if inflight else None, KillReason.PROTOCOL)
            return
        call = inflight.popleft()
        if call.expected_seconds == math.inf:
            child.long_calls -= 1
        else:
            child.backlog_seconds = max(0.0, child.backlog_seconds - call.expected_seconds)
        target = call.target
        if target is not None:
            old = self._expected.get(target)
            if old is None and len(self._expected) >= _MAX_TARGETS:
                self._expected.clear()
            self._expected[target] = run_seconds if old is None else old + _EWMA_WEIGHT * (run_seconds - old)
        future = call.future
        if not future.done():
            if status == Status.OK:
                future.set_result(CallResult(CallStatus.OK, orjson.loads(value), pid=child.pid,
                                             run_seconds=run_seconds))
            else:
                future.set_result(CallResult(CallStatus.RAISED, error=value, pid=child.pid,
                                             run_seconds=run_seconds))
        self.stats.completed += 1
        if child.kill_reason is not None:
            return
        if inflight:
            self._start_head(child)
        elif child.retiring:
            self._retire(child)
        if self._pending:
            self._pump()

    def _retire(self, child: ChildProcess) -> None:
        """Close the request pipe: the child reads EOF and exits 0 when it is done."""
        if child.req_fd >= 0:
            if child.writing:
                self._loop.remove_writer(child.req_fd)  # type: ignore[union-attr]
                child.writing = False
            os.close(child.req_fd)
            child.req_fd = -1

    def _on_death(self, child: ChildProcess) -> None:
        if child.dead:
            return
        child.dead = True
        loop = self._loop
        assert loop is not None
        if child.pidfd >= 0:
            loop.remove_reader(child.pidfd)
            os.close(child.pidfd)
            child.pidfd = -1
        if child.reading:  # replies written before it died still count
            while True:
                try:
                    data = os.read(child.rep_fd, _READ_CHUNK)
                except BlockingIOError:
                    break
                if not data:
                    break
                child.rbuf += data
            self._parse(child)
            self._stop_reading(child)
        os.close(child.rep_fd)
        self._retire(child)
        for timer in (child.timer, child.startup_timer):
            if timer is not None:
                timer.cancel()
        returncode = child.popen.wait()  # it has exited (pidfd/EOF said so): this only reaps
        self._children.remove(child)
        if not child.died.done():
            child.died.set_result(returncode)
        if not child.started.done():
            child.started.set_result(False)
        self._settle_calls(child, returncode)
        if not child.ready and child.kill_reason in (None, KillReason.STARTUP):
            self._startup_failures += 1
        if self._closed:
            return
        if self._startup_failures >= _MAX_STARTUP_FAILURES and not self._has_ready_child():
            self._fail_pending(exit_error(None, returncode)["message"])
            return
        self._ensure_capacity()
        self._pump()

    def _settle_calls(self, child: ChildProcess, returncode: int) -> None:
        """Give the running call its verdict; re-dispatch the ones queued behind it."""
        inflight = child.inflight
        if self._closed:
            error = PoolClosedError("process pool closed")
            for call in inflight:
                if not call.future.done():
                    call.future.set_exception(error)
            inflight.clear()
            return
        if inflight and child.ready:
            head = inflight[0]
            reason = child.kill_reason
            error = exit_error(child.pid, returncode)
            if reason is KillReason.TIMEOUT and child.kill_target is head:
                inflight.popleft()
                self.stats.timed_out += 1
                error["timeout_seconds"] = head.timeout_seconds
                _resolve(head, CallResult(CallStatus.TIMED_OUT, error=error, pid=child.pid))
            elif reason is KillReason.CANCELLED and child.kill_target is head:
                inflight.popleft()
            elif reason is None or reason is KillReason.PROTOCOL:
                inflight.popleft()
                self.stats.crashed += 1
                _resolve(head, CallResult(CallStatus.CRASHED, error=error, pid=child.pid))
            # else: the kill target finished before the kill landed; nobody is to blame
        requeue = [c for c in inflight if not c.future.done()]
        inflight.clear()
        for call in requeue:
            call.child = None
        self.stats.redispatched += len(requeue)
        self._pending.extendleft(reversed(requeue))

    def _fail_pending(self, reason: str) -> None:
        """Children keep dying before they start: fail what waits rather than spawn forever.
        The next call tries again (the cause may have been transient)."""
        self._startup_failures = 0
        self._start_error = f"pool child process failed to start: {reason}"
        while self._pending:
            call = self._pending.popleft()
            if not call.future.done():
                call.future.set_exception(PoolStartError(self._start_error))

    def _has_ready_child(self) -> bool:
        return any(c.ready and not c.dead for c in self._children)

    # ---- spawning ---------------------------------------------------------------------------

    def _ensure_capacity(self) -> None:
        if self._closed or self._startup_failures >= _MAX_STARTUP_FAILURES:
            return
        active = sum(1 for c in self._children if not c.retiring and not c.dead)
        for _ in range(self._size - active):
            try:
                self._spawn()
            except OSError as exc:  # no interpreter, no fds, no memory: nothing will start now
                self._startup_failures = _MAX_STARTUP_FAILURES
                if not self._has_ready_child():
                    self._fail_pending(f"{type(exc).__name__}: {exc}")
                return

    def _spawn(self) -> None:
        loop = self._loop
        assert loop is not None
        child = spawn_child(loop, self._pkg_root, self._cwd)
        self._children.append(child)
        self.stats.spawned += 1
        loop.add_reader(child.rep_fd, self._on_readable, child)
        if child.pidfd >= 0:
            loop.add_reader(child.pidfd, self._on_death, child)
        child.outbuf += encode((0, Op.INIT, {"sys_path": list(sys.path),
                                             "memory_limit_mb": self._memory_limit_mb}))
        self._write(child)
        child.startup_timer = loop.call_later(self._startup_timeout, self._on_startup_timeout, child)

def _resolve(call: PendingCall, result: CallResult) -> None:
    if not call.future.done():
        call.future.set_result(result)

