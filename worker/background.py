"""Background tasks an object owns: held until they end, their failures logged, cancelled and
awaited when the owner closes. Both sides use it (here, where the worker can import it without
the coordinator); tests/test_structure.py checks that no task is started any other way."""
from __future__ import annotations

import asyncio
from typing import Any, Coroutine

import structlog

log = structlog.get_logger("dtf.background")


class Background:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Start ``coro`` as a task held here until it ends; an exception it ends with is logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background_task_failed", owner=self.owner, task=task.get_name(),
                      error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel what still runs and wait for all of it to end (tasks started meanwhile too)."""
        while self._tasks:
            pending = list(self._tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
