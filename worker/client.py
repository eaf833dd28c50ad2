"""The worker agent: connect, authenticate, heartbeat, run pushed tasks, report, reconnect.

Results are kept until the coordinator acknowledges them, and resent after a reconnect, so a
coordinator crash loses nothing; the coordinator's attempt fencing drops what it already gave up.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import structlog
import tenacity

from worker.background import Background
from worker.cleanup import cleanup_resources
from worker.executors import pool_pids
from worker.protocol import (MAX_FRAME_BYTES, CloseCode, CommandName, MessageType, ProtocolError, decode,
                                  encode, encode_frame)
from error_handling.retry import RetryPolicy
from worker.deps import ensure_packages
from worker.executors.base import ExecContext, ExecResult, Outcome

log = structlog.get_logger("dtf.worker")


# A task that ends within this long after it started needs no start notice (see _mark_started).
START_NOTICE_DELAY_SECONDS = 0.01
# Start notices and results leave in one frame at most this often.
FLUSH_INTERVAL_SECONDS = 0.005


class FatalWorkerError(Exception):
    """The coordinator refused us in a way a retry cannot fix (bad token, bad id)."""


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    coordinator: str
    token: str = ""
    worker_id: str
    hardware: dict[str, Any]
    concurrency: int = 1
    work_dir: Path
    tags: dict[str, Any] = field(default_factory=dict)
    drain_seconds: float = 30.0
    reconnect_initial_seconds: float = 0.1
    reconnect_max_seconds: float = 5.0
    allow_install: bool = False


class WorkerAgent:
    def __init__(self, config: WorkerConfig, executors: dict[str, Any]) -> None:
        self.config = config
        self.coordinator_url = config.coordinator
        self.backup_url: str | None = None
        self.executors = executors
        # The same policy type (and tenacity wait) the coordinator schedules retries with.
        self.reconnect_policy = RetryPolicy(max_retries=1_000_000,
                                            initial_delay_seconds=config.reconnect_initial_seconds,
                                            max_delay_seconds=config.reconnect_max_seconds,
                                            backoff_factor=2.0, jitter_factor=0.5)
        # Everything it holds (the coordinator's credit), and of that what has not started yet:
        # the coordinator may send more than the worker runs at once (coordinator/credit.py).
        self.running: dict[str, tuple[int, str, asyncio.Task]] = {}
        self.waiting: set[str] = set()
        self._released: list[dict[str, Any]] = []
        # Slots for executors that do not schedule themselves (command, pytest, chaos).
        self._slots = asyncio.Semaphore(config.concurrency)
        self.unacked: dict[str, dict[str, Any]] = {}   # task_id -> result item awaiting ack
        self._pending_results: list[dict[str, Any]] = []
        self._pending_started: list[dict[str, Any]] = []
        self._started_at: dict[str, float] = {}   # task_id -> when it started running here
        self._notice_timer: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._tasks_dir = config.work_dir / "tasks"  # each attempt's scratch space is made under it
        self._flush_scheduled = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stop = asyncio.Event()
        self._draining = False
        self._closing: asyncio.Task | None = None
        # Every task the agent starts (runners, heartbeats, flushes, goodbyes) is held here and
        # cancelled and awaited when run() ends.
        self._background = Background("worker-agent")
        self._heartbeat_interval = 1.0
        self._last_beat = 0.0
        self._acked = asyncio.Event()
        self.connected = asyncio.Event()
        self.sessions = 0

    # ---- life cycle -------------------------------------------------------------------------
    async def run(self) -> None:
        for ex in set(self.executors.values()):
            await ex.start()
        try:
            async with aiohttp.ClientSession() as http:
                # Sessions that end quickly (a coordinator refusing us after hello, a crash loop)
                # back off like failed connects do, so a worker never hammers the coordinator.
                pause = self.reconnect_policy.wait
                short_sessions = 0
                while not self._stop.is_set():
                    began = time.monotonic()
                    await self._connect_with_retry(http)
                    short_sessions = short_sessions + 1 if time.monotonic() - began < 5.0 else 0
                    if short_sessions > 1 and not self._stop.is_set():
                        state = tenacity.RetryCallState(None, None, (), {})
                        state.attempt_number = short_sessions - 1
                        await asyncio.sleep(pause(state))
                if self._closing is not None:
                    # Let the goodbye reach the coordinator before the session and its socket go:
                    # a socket that just ends reads as a crash there.
                    await asyncio.wait([self._closing], timeout=3.0)
        finally:
            await self._background.close()
            for ex in set(self.executors.values()):
                await ex.close()

    async def _connect_with_retry(self, http: aiohttp.ClientSession) -> None:
        retrying = tenacity.AsyncRetrying(
            wait=self.reconnect_policy.wait,
            retry=tenacity.retry_if_exception_type((aiohttp.ClientError, OSError, asyncio.TimeoutError,
                                                    ProtocolError)),
            before_sleep=lambda rs: log.info("reconnecting", attempt=rs.attempt_number,
                                             error=str(rs.outcome.exception()) if rs.outcome else None),
            reraise=True)
        async for attempt in retrying:
            with attempt:
                if self._stop.is_set():
                    return
                # WebSocket pings notice a silent partition from this side too (no pong within 2.5 s
                # closes the socket and the worker reconnects, or fails over).
                headers = {"Authorization": f"Bearer {self.config.token}"} if self.config.token else None
                try:
                    ws = await http.ws_connect(self.coordinator_url, max_msg_size=MAX_FRAME_BYTES,
                                               heartbeat=5.0, compress=0, headers=headers,
                                               timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status == 401:
                        raise FatalWorkerError("the coordinator refused the worker token") from None
                    raise
                # The handshake is part of connecting: a coordinator that dies (or stalls) between
                # accept and welcome is retried with backoff, not fatal to the worker.
                try:
                    held, welcome = await self._hello(ws)
                except BaseException:
                    await ws.close()
                    raise
        if self._stop.is_set():
            await ws.close()
            return
        await self._session(ws, held, welcome)

    def stop(self) -> None:
        self._stop.set()
        if self._ws is not None and not self._ws.closed:
            self._closing = self._background.spawn(self._ws.close(code=1000, message=b"worker stopping"),
                                                   name="goodbye")

    def request_drain(self) -> None:
        """Drain in the background (a signal handler's or a command's request)."""
        self._background.spawn(self.drain(), name="drain")

    async def drain(self) -> None:
        """Stop taking work, finish what runs (bounded), deliver results, then stop."""
        if self._draining:
            return
        self._draining = True
        log.info("draining", running=len(self.running) - len(self.waiting), handed_back=len(self.waiting))
        self._release_waiting()
        await self._send_heartbeat()
        deadline = time.monotonic() + self.config.drain_seconds
        while (self.running or self.unacked) and time.monotonic() < deadline:
            self._acked.clear()
            try:
                await asyncio.wait_for(self._acked.wait(), max(0.05, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        self.stop()

    # ---- one connection -------------------------------------------------------------------------
    async def _hello(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[list[dict[str, Any]], Any]:
        held = [{"task_id": tid, "attempt": a, "lease": lease} for tid, (a, lease, _) in self.running.items()]
        held += [{"task_id": it["task_id"], "attempt": it["attempt"], "lease": it["lease"]}
                 for it in self.unacked.values() if it["task_id"] not in self.running]
        await ws.send_str(encode(MessageType.HELLO, worker_id=self.config.worker_id, token=self.config.token,
                                 hardware=self.config.hardware, concurrency=self.config.concurrency,
                                 tags=self.config.tags, held=held))
        first = await ws.receive(timeout=10)
        if first.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            code = ws.close_code or (first.data if isinstance(first.data, int) else None)
            if code == CloseCode.UNAUTHORIZED:
                raise FatalWorkerError("the coordinator refused the worker token")
            raise aiohttp.ClientConnectionError(f"coordinator closed the connection during hello (code {code})")
        if first.type is not aiohttp.WSMsgType.TEXT:
            raise aiohttp.ClientConnectionError(f"no welcome from the coordinator ({first.type.name})")
        welcome = decode(first.data)
        if welcome.type is not MessageType.WELCOME:
            raise ProtocolError("expected welcome")
        return held, welcome

    async def _session(self, ws: aiohttp.ClientWebSocketResponse, held: list[dict[str, Any]], welcome: Any) -> None:
        self._heartbeat_interval = float(welcome.body.get("heartbeat_interval") or 1.0)
        self.backup_url = welcome.body.get("backup_coordinator") or self.backup_url
        for item in welcome.body.get("cancel") or []:
            # Finished results stay in unacked: resent, the coordinator rejects them by attempt.
            self._cancel_local(item.get("task_id"), item.get("attempt"))
        self._ws = ws
        self.sessions += 1
        self.connected.set()
        log.info("connected", coordinator=self.coordinator_url, worker_id=self.config.worker_id,
                 resumed=len(held))
        # Resend what the coordinator has not acknowledged yet (results survive its crash).
        self._pending_results = list(self.unacked.values())
        self._pending_started = []
        self._schedule_flush()
        beat = self._background.spawn(self._heartbeat_loop(ws), name="heartbeat")
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    await self._on_message(decode(msg.data))
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    break
        finally:
            beat.cancel()
            self._ws = None
            self.connected.clear()
            code = ws.close_code
            log.info("disconnected", code=code)
            if code == CloseCode.UNAUTHORIZED:
                raise FatalWorkerError("the coordinator refused the worker token")

    async def _heartbeat_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self._heartbeat_interval)
            try:
                await self._send_heartbeat()
            except (ConnectionError, RuntimeError):
                return

    async def _send_heartbeat(self) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return
        held = [{"task_id": tid, "attempt": a, "lease": lease} for tid, (a, lease, _) in self.running.items()]
        # Overload is this worker's own judgement: its event loop falling behind (heartbeats late by
        # more than a second) or memory nearly exhausted. The machine's load average is reported but
        # not used: several workers may share a machine, and it says nothing about this one.
        ts = time.monotonic()
        lag = max(0.0, ts - self._last_beat - self._heartbeat_interval) if self._last_beat else 0.0
        self._last_beat = ts
        memory_percent = psutil.virtual_memory().percent
        load = {"running": len(self.running) - len(self.waiting), "held": len(self.running),
                "slots": self.config.concurrency, "loop_lag_seconds": round(lag, 3),
                "memory_percent": memory_percent, "overloaded": lag > 1.0 or memory_percent > 95.0}
        try:
            load["load_avg_1m"] = os.getloadavg()[0]
        except OSError:
            pass
        released, self._released = self._released, []
        await ws.send_str(encode(MessageType.HEARTBEAT, load=load, held=held, draining=self._draining,
                                 released=released))

    async def _on_message(self, msg: Any) -> None:
        t, body = msg.type, msg.body
        if t is MessageType.TASKS:
            for item in body["items"]:
                self._start_task(item)
        elif t is MessageType.RESULT_ACKS:
            for ack in body["items"]:
                item = self.unacked.get(ack.get("task_id"))
                if item is not None and item["attempt"] == ack.get("attempt"):
                    del self.unacked[ack["task_id"]]
                if ack.get("status") == "rejected":
                    log.info("result_rejected", task_id=ack.get("task_id"), attempt=ack.get("attempt"),
                             reason=ack.get("reason"))
            self._acked.set()
        elif t is MessageType.COMMAND:
            await self._on_command(body)

    async def _on_command(self, body: dict[str, Any]) -> None:
        try:
            command = CommandName(body["command"])
        except ValueError:
            log.warning("unknown_command", command=body.get("command"))
            return
        if command is CommandName.CANCEL:
            self._cancel_local(body.get("task_id"), body.get("attempt"))
            await self._reply(command, True, {"task_id": body.get("task_id")})
        elif command is CommandName.RECONNECT:
            await self._reply(command, True, {})
            if self._ws is not None:
                await self._ws.close(code=CloseCode.RECONNECT, message=b"reconnecting as asked")
        elif command is CommandName.FAILOVER:
            target = body.get("url") or self.backup_url
            if target:
                self.coordinator_url = target
            await self._reply(command, bool(target), {"url": target})
            if target and self._ws is not None:
                await self._ws.close(code=CloseCode.RECONNECT, message=b"failing over")
        elif command is CommandName.DRAIN:
            await self._reply(command, True, {})
            self.request_drain()
        elif command is CommandName.CLEANUP_RESOURCES:
            detail = await cleanup_resources(self.config.work_dir, keep=set(self.running),
                                             protected_pids=pool_pids(self.executors))
            await self._reply(command, True, detail)

    async def _reply(self, command: CommandName, ok: bool, detail: dict[str, Any]) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.send_str(encode(MessageType.COMMAND_RESULT, command=command.value, ok=ok, detail=detail))

    # ---- tasks -----------------------------------------------------------------------------------
    def _start_task(self, item: dict[str, Any]) -> None:
        tid = item["task_id"]
        if tid in self.running:
            return
        if self._draining:  # sent before the coordinator heard we drain: hand it straight back
            self._released.append({"task_id": tid, "attempt": item["attempt"], "lease": item["lease"]})
            self._background.spawn(self._send_heartbeat(), name="heartbeat-release")
            return
        self.waiting.add(tid)
        runner = self._background.spawn(self._execute(item), name=f"task-{tid}")
        self.running[tid] = (item["attempt"], item["lease"], runner)

    def _mark_started(self, tid: str) -> None:
        """The task stops waiting and runs. The coordinator hears of it once it has run for
        START_NOTICE_DELAY_SECONDS; a task that ends sooner needs no notice: its result says when
        it started (a frame each way saved per short task)."""
        if tid in self.waiting:
            self.waiting.discard(tid)
            attempt, lease, _ = self.running[tid]
            started_at = self._started_at[tid] = time.time()
            self._pending_started.append({"task_id": tid, "attempt": attempt, "lease": lease,
                                          "started_at": started_at})
            if self._notice_timer is None:
                self._notice_timer = asyncio.get_running_loop().call_later(
                    START_NOTICE_DELAY_SECONDS, self._notices_due)

    def _notices_due(self) -> None:
        self._notice_timer = None
        self._schedule_flush()

    def _release_waiting(self) -> None:
        """Hand back what is held but not started (the next heartbeat carries it): it runs at once
        on another worker instead of after this one's running tasks."""
        for tid in list(self.waiting):
            attempt, lease, runner = self.running.pop(tid)
            self.waiting.discard(tid)
            runner.cancel()
            self._released.append({"task_id": tid, "attempt": attempt, "lease": lease})

    def _cancel_local(self, task_id: Any, attempt: Any) -> None:
        entry = self.running.get(task_id)
        if entry is not None and (attempt is None or entry[0] == attempt):
            entry[2].cancel()

    async def _execute(self, item: dict[str, Any]) -> None:
        tid, attempt, lease = item["task_id"], item["attempt"], item["lease"]
        started = time.time()
        executor = self.executors.get(item["type"])
        try:
            if executor is not None and getattr(executor, "schedules_itself", False):
                res = await self._run(item, executor, lambda: self._mark_started(tid))
            else:
                async with self._slots:
                    self._mark_started(tid)
                    res = await self._run(item, executor, None)
        except asyncio.CancelledError:
            self.running.pop(tid, None)
            self.waiting.discard(tid)
            self._started_at.pop(tid, None)
            raise
        except Exception as exc:  # an executor bug must still end as a reported error, not a lost task
            log.exception("executor_failed", task_id=tid)
            res = ExecResult(outcome=Outcome.ERROR, error={"type": type(exc).__name__, "message": str(exc),
                                                           "context": {"stage": "executor"}})
        self.running.pop(tid, None)
        self.waiting.discard(tid)
        result = {"task_id": tid, "attempt": attempt, "lease": lease, "outcome": res.outcome.value,
                  "result": res.result, "error": res.error, "details": res.details,
                  "duration_seconds": res.duration_seconds or (time.time() - started),
                  "started_at": self._started_at.pop(tid, None)}
        self.unacked[tid] = result
        self._pending_results.append(result)
        self._schedule_flush()

    async def _run(self, item: dict[str, Any], executor: Any, on_start: Any) -> ExecResult:
        tid, attempt = item["task_id"], item["attempt"]
        packages = (item.get("requirements") or {}).get("packages") or []
        dep_error = await ensure_packages(packages, allow_install=self.config.allow_install) \
            if packages else None
        if dep_error is not None:
            return ExecResult(outcome=Outcome.ERROR, error=dep_error)
        if executor is None:
            return ExecResult(outcome=Outcome.ERROR, error={
                "type": "UnsupportedTaskType", "message": f"worker {self.config.worker_id} does not run "
                f"{item['type']!r} tasks", "context": {"stage": "dispatch"}})
        ctx = ExecContext(task_id=tid, attempt=attempt, timeout_seconds=float(item["timeout_seconds"]),
                          tasks_dir=self._tasks_dir, worker_id=self.config.worker_id,
                          hardware=list(self.config.hardware.get("types", ["cpu"])),
                          tags=item.get("tags") or {}, control=self, on_start=on_start)
        return await executor.run(item.get("config") or {}, ctx)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop = asyncio.get_running_loop()
            # At most one frame per interval while more results are on their way: a stream of
            # them goes in batches (every frame costs a send, a receive and an ack at both ends);
            # the last one, or a lone one, leaves at once.
            wait = self._last_flush + FLUSH_INTERVAL_SECONDS - loop.time()
            if wait > 0 and self.running:
                loop.call_later(wait, self._flush_soon)
            else:
                loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._background.spawn(self._flush(), name="flush")

    async def _flush(self) -> None:
        self._flush_scheduled = False
        self._last_flush = asyncio.get_running_loop().time()
        ws = self._ws
        if ws is None or ws.closed:
            return  # kept in unacked; resent on reconnect
        started = []
        if self._pending_started:
            # Notices of tasks still running after the delay go; finished ones need none.
            due_by = time.time() - START_NOTICE_DELAY_SECONDS * 0.9
            young = []
            for item in self._pending_started:
                if item["task_id"] in self._started_at:
                    (started if item["started_at"] <= due_by else young).append(item)
            self._pending_started = young
            if young and self._notice_timer is None:
                self._notice_timer = asyncio.get_running_loop().call_later(
                    START_NOTICE_DELAY_SECONDS, self._notices_due)
        results, self._pending_results = self._pending_results, []
        try:
            if started:
                await ws.send_frame(encode_frame(MessageType.STARTED, items=started), aiohttp.WSMsgType.TEXT)
            if results:
                await ws.send_frame(encode_frame(MessageType.RESULTS, items=results), aiohttp.WSMsgType.TEXT)
        except (ConnectionError, RuntimeError) as exc:
            log.info("flush_failed", error=str(exc))

    # ---- WorkerControl (used by chaos faults) -------------------------------------------------------
    def disconnect(self) -> None:
        """Drop the connection (a close frame: a disconnection, not a crash); the worker reconnects."""
        ws = self._ws
        if ws is not None and not ws.closed:
            self._background.spawn(ws.close(code=CloseCode.RECONNECT, message=b"disconnect requested"),
                                   name="disconnect")

    def exit_worker(self, code: int) -> None:
        os.kill(os.getpid(), signal.SIGKILL) if code == 137 else os._exit(code)
