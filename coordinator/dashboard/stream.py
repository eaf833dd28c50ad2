"""``GET /api/v1/stream``: the engine's live events as Server-Sent Events.

A client first gets ``retry`` and a ``snapshot`` (status, workers, running and recent tasks), then
every bus event as ``event: <kind>`` (task, worker, error_event, action), a coalesced ``status`` at most
once a second while tasks move, and a ``heartbeat`` after 15 s of silence so proxies keep the
connection and the page can tell a stalled stream from a quiet one. Each client reads its own
bounded bus subscription: a slow browser loses its oldest events (and is told, ``dropped``), it
never slows the coordinator. On shutdown every stream gets ``bye`` and ends.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import orjson
import structlog
from aiohttp import web

from coordinator.httperrors import error_response
from coordinator.keys import ENGINE
from coordinator.models import Task, TaskStatus, iso

log = structlog.get_logger("dtf.dashboard")

_CLOSE = {"kind": "_close"}  # the sentinel shutdown puts into every subscription
_BATCH_MAX = 200             # events written per socket write at most
# EventSource fires its own "error" on connection trouble, so an SSE event named "error" would be
# mistaken for one: the bus's error events go out as "error_event".
_WIRE_NAMES = {"error": "error_event"}
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"}


def sse_frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    # orjson never emits a raw newline, so one data line carries the whole payload
    return head.encode() + b"data: " + orjson.dumps(data, default=str) + b"\n\n"


def task_summary(task: Task) -> dict[str, Any]:
    cur = task.current
    return {"task_id": task.task_id, "type": task.type, "status": task.status.value,
            "worker_id": cur.worker_id if cur else None, "attempt": cur.number if cur else 0,
            "flaky": task.flaky, "retried": task.retried, "tags": task.tags, "ts": iso(task.updated_at or task.created_at),
            "category": (task.error or {}).get("category") if isinstance(task.error, dict) else None}


class StreamHub:
    """Owns the open streams and the little history a fresh page needs (recent outcomes, flaky, retried)."""

    def __init__(self, *, heartbeat_seconds: float = 15.0, status_interval_seconds: float = 1.0,
                 queue_size: int = 1000, max_clients: int = 100, recent_size: int = 100) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.status_interval_seconds = status_interval_seconds
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.recent: deque[dict[str, Any]] = deque(maxlen=recent_size)
        self.flaky: deque[dict[str, Any]] = deque(maxlen=recent_size)
        self.retried: deque[dict[str, Any]] = deque(maxlen=recent_size)
        self._subs: set[Any] = set()
        self._drained = asyncio.Event()
        self._drained.set()
        self._closing = False

    # ---- fed by the engine -------------------------------------------------------------------
    def task_finished(self, task: Task) -> None:
        summary = task_summary(task)
        self.recent.append(summary)
        if task.flaky and task.status is TaskStatus.COMPLETED:
            self.flaky.append(summary)
        elif summary["retried"]:
            self.retried.append(summary)

    def snapshot(self, engine: Any) -> dict[str, Any]:
        workers = sorted(engine.workers.values(), key=lambda w: w.worker_id)
        running = []
        for w in workers:
            for task_id in w.running:
                task = engine.tasks.get(task_id)
                if task is not None:
                    running.append(task_summary(task))
        return {"status": engine.status(), "workers": [w.to_api() for w in workers],
                "running": running, "recent": list(self.recent), "flaky": list(self.flaky),
                "retried": list(self.retried),
                "server_time": iso(time.time())}

    # ---- the handler -------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        engine = request.app[ENGINE]
        if self._closing:
            return error_response(503, "shutting_down", "the coordinator is shutting down")
        if len(self._subs) >= self.max_clients:
            return error_response(429, "rate_limited", f"at most {self.max_clients} live streams at once")
        sub = engine.bus.subscribe(maxsize=self.queue_size)  # before the snapshot: nothing falls between
        self._subs.add(sub)
        self._drained.clear()
        resp = web.StreamResponse(headers=SSE_HEADERS)
        try:
            await resp.prepare(request)
            await resp.write(b"retry: 2000\n\n" + sse_frame("snapshot", self.snapshot(engine)))
            await self._pump(resp, sub, engine)
        except (ConnectionError, asyncio.TimeoutError):
            pass  # the browser went away; nothing to clean up beyond the subscription
        finally:
            sub.close()
            self._subs.discard(sub)
            if not self._subs:
                self._drained.set()
        return resp

    async def _pump(self, resp: web.StreamResponse, sub: Any, engine: Any) -> None:
        seq = 0
        dropped = 0
        status_dirty = False
        now = time.monotonic()
        last_write = last_status = now
        while True:
            now = time.monotonic()
            due = last_write + self.heartbeat_seconds
            if status_dirty:
                due = min(due, last_status + self.status_interval_seconds)
            try:
                first = await asyncio.wait_for(sub.get(), timeout=max(0.0, due - now))
            except asyncio.TimeoutError:
                first = None
            batch = [first] if first is not None else []
            while batch and len(batch) < _BATCH_MAX and not sub.queue.empty():
                batch.append(sub.queue.get_nowait())
            out = bytearray()
            closing = False
            for event in batch:
                if event is _CLOSE:
                    closing = True
                    break
                kind = event.get("kind", "message")
                status_dirty = status_dirty or kind == "task"
                seq += 1
                out += sse_frame(_WIRE_NAMES.get(kind, kind), event, seq)
            if sub.dropped != dropped:
                out += sse_frame("dropped", {"count": sub.dropped - dropped})
                dropped = sub.dropped
            now = time.monotonic()
            if status_dirty and (closing or now - last_status >= self.status_interval_seconds):
                out += sse_frame("status", engine.status())
                status_dirty, last_status = False, now
            if closing:
                out += sse_frame("bye", {"reason": "coordinator shutting down"})
                await resp.write(bytes(out))
                return
            if not out and now - last_write >= self.heartbeat_seconds:
                out += sse_frame("heartbeat", {"server_time": iso(time.time())})
            if out:
                await resp.write(bytes(out))
                last_write = now

    def reopen(self) -> None:
        self._closing = False

    async def shutdown(self, app: web.Application | None = None) -> None:
        """Tell every open stream to say ``bye`` and end (called from on_shutdown)."""
        self._closing = True
        for sub in list(self._subs):
            sub.put(_CLOSE)
        try:  # the handlers are finishing their last write; a stuck socket must not hold shutdown
            await asyncio.wait_for(self._drained.wait(), timeout=2.0)
        except asyncio.TimeoutError:
            log.warning("dashboard_streams_not_closed", open=len(self._subs))
