"""worker.background.Background: tasks held until they end, failures logged, closed for good."""
from __future__ import annotations

import asyncio

import structlog

from worker.background import Background


async def test_a_failure_is_logged_and_the_task_let_go() -> None:
    bg = Background("test")
    with structlog.testing.capture_logs() as logs:
        task = bg.spawn(_fail(), name="doomed")
        await asyncio.wait([task])
        await asyncio.sleep(0)  # done callbacks run on the next loop step
    assert len(bg) == 0
    assert [(e["event"], e["owner"], e["task"]) for e in logs] == [("background_task_failed", "test", "doomed")]
    assert "ValueError: broken" in logs[0]["error"]


async def test_close_cancels_and_awaits_what_runs() -> None:
    bg = Background("test")
    ended = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    task = bg.spawn(forever())
    await asyncio.sleep(0)
    with structlog.testing.capture_logs() as logs:
        await bg.close()
    assert task.cancelled() and ended.is_set() and len(bg) == 0
    assert logs == []  # a cancellation is no failure


async def _fail() -> None:
    raise ValueError("broken")
