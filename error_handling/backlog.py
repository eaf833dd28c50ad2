"""The bounded FIFO between ``handle_error`` and the sink pump.

asyncio.Queue's semantics for one consumer (``put`` awaits while full, FIFO among waiting
putters, ``task_done``/``join``), with two changes for the hot path: the producer calls
``put_nowait`` directly unless the backlog is full (no coroutine per event), and the consumer
takes a whole batch at once (one wake-up and one ``task_done`` per batch, not per event).
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class EventBacklog:
    __slots__ = ("maxsize", "_items", "_unfinished", "_finished", "_getter", "_putters")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self._items: deque[Any] = deque()
        self._unfinished = 0
        self._finished = asyncio.Event()
        self._finished.set()
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    def put_nowait(self, item: Any) -> None:
        """Append without waiting; the caller checks ``full()`` first (``put`` does)."""
        self._items.append(item)
        if not self._unfinished:
            self._finished.clear()
        self._unfinished += 1
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    async def put(self, item: Any) -> None:
        """Append, awaiting while the backlog is full (backpressure without blocking the loop)."""
        while len(self._items) >= self.maxsize:
            putter = asyncio.get_running_loop().create_future()
            self._putters.append(putter)
            try:
                await putter
            except BaseException:
                putter.cancel()
                try:
                    self._putters.remove(putter)
                except ValueError:
                    pass  # already woken: pass the turn on, as asyncio.Queue does
                if len(self._items) < self.maxsize and not putter.cancelled():
                    self._wake_putters(1)
                raise
        self.put_nowait(item)

    def _wake_putters(self, count: int) -> None:
        # One putter per freed slot, like asyncio.Queue: a putter woken earlier but not yet
        # run holds its slot, so counting free slots here would overtake it.
        while count > 0 and self._putters:
            putter = self._putters.popleft()
            if not putter.done():
                putter.set_result(None)
                count -= 1

    async def get_batch(self, limit: int) -> list[Any]:
        """Up to ``limit`` items, oldest first, awaiting while none are there."""
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getter = getter
            try:
                await getter
            finally:
                if self._getter is getter:
                    self._getter = None
        items = self._items
        if len(items) <= limit:
            batch = list(items)
            items.clear()
        else:
            popleft = items.popleft
            batch = [popleft() for _ in range(limit)]
        if self._putters:
            self._wake_putters(len(batch))
        return batch

    def task_done(self, count: int = 1) -> None:
        if count > self._unfinished:
            raise ValueError("task_done() called more times than there were items")
        self._unfinished -= count
        if not self._unfinished:
            self._finished.set()

    async def join(self) -> None:
        """Return once every item put so far has been marked done."""
        if self._unfinished:
            await self._finished.wait()
