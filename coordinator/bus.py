"""In-process live feed: the engine publishes what happened; the dashboard streams it.

Publishing is a no-op without subscribers, so the hot path pays nothing when nobody watches.
Each subscriber has a bounded queue; a subscriber too slow to keep up loses its oldest events
(and is told how many) rather than slowing the coordinator.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any


class Subscription:
    def __init__(self, bus: "EventBus", maxsize: int) -> None:
        self.bus = bus
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def put(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()

    def close(self) -> None:
        self.bus._subs.discard(self)


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    @property
    def active(self) -> bool:
        return bool(self._subs)

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    def publish(self, kind: str, **data: Any) -> None:
        """kind: task | worker | error | action. ``data`` must be JSON-serialisable."""
        if not self._subs:
            return
        event = {"kind": kind, "ts": time.time(), **data}
        for sub in list(self._subs):
            sub.put(event)
