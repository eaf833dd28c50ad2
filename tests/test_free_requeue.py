"""A dispatch no worker started, lost to a coordinator restart, goes back to the queue without
spending a retry (``engine.FREE_REQUEUES`` times per task); every other loss counts."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from coordinator.config import CoordinatorConfig
from coordinator.engine import FREE_REQUEUES, Engine
from coordinator.failures import FailureEvent, FailureSource
from coordinator.metrics import Metrics
from coordinator.models import Attempt, AttemptOutcome, Task, TaskStatus, now


class Store:
    """What the engine writes on a failure, kept in memory."""
    healthy = True

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class Retry:
    """A failure policy that retries at once, and keeps the attempt numbers it was asked about."""

    def __init__(self) -> None:
        self.attempts: list[int] = []

    async def decide(self, task: Task, event: FailureEvent) -> Any:
        self.attempts.append(max(1, task.failures))
        return SimpleNamespace(outcome="error", category="worker_disconnection_error", retry=True, retry_delay=0)

    async def after_decision(self, task: Task, event: FailureEvent, decision: Any) -> None:
        pass

    def report_health(self, action: str, worker: Any, detail: str) -> None:
        pass

    async def command_result(self, worker_id: str, body: dict[str, Any]) -> None:
        pass


def _engine() -> tuple[Engine, Task, Retry]:
    policy = Retry()
    engine = Engine(CoordinatorConfig(), Store(), Metrics(), failure_policy=policy)
    task = Task(task_id="t1", seq=1, type="python", config={}, requirements={}, priority=5, timeout_seconds=5.0,
                max_retries=None, tags={}, depends_on=[], created_at=now(), status=TaskStatus.QUEUED)
    engine.tasks[task.task_id] = task
    return engine, task, policy


async def _lose(engine: Engine, task: Task, source: FailureSource, *, started: bool) -> None:
    number = len(task.attempts) + 1
    ts = now()
    task.attempts.append(Attempt(number=number, worker_id="w1", lease=f"L{number}", dispatched_at=ts,
                                 started_at=ts if started else None, lease_deadline=ts + 60))
    task.status = TaskStatus.ASSIGNED
    await engine.report_failure(FailureEvent(source=source, task_id=task.task_id, attempt=number, worker_id="w1",
                                             outcome=AttemptOutcome.LOST, error={"type": "WorkerDisconnected"}))


async def test_an_unstarted_dispatch_lost_to_a_restart_spends_no_retry_up_to_the_bound():
    engine, task, policy = _engine()
    for _ in range(FREE_REQUEUES):
        await _lose(engine, task, FailureSource.COORDINATOR_RESTART, started=False)
        assert task.failures == 0 and task.status is TaskStatus.QUEUED
    await _lose(engine, task, FailureSource.COORDINATOR_RESTART, started=False)
    assert task.failures == 1  # past the bound, a loss counts: a dispatch that kills the coordinator ends
    assert task.attempts[-1].outcome is AttemptOutcome.LOST  # each loss is still recorded and decided
    assert len(policy.attempts) == FREE_REQUEUES + 1


async def test_a_started_attempt_or_another_loss_counts():
    engine, task, _policy = _engine()
    await _lose(engine, task, FailureSource.COORDINATOR_RESTART, started=True)
    assert task.failures == 1
    await _lose(engine, task, FailureSource.CONNECTION_LOST, started=False)
    assert task.failures == 2
