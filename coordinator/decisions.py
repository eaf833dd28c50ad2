"""From a failure event to a decision, and from the decision to its effects on the task."""
from __future__ import annotations

from typing import Any, Protocol

import structlog

from coordinator.failures import FailureEvent, FailurePolicy
from coordinator.models import AttemptOutcome, Task


class DecisionTarget(Protocol):
    """What applying a decision needs of the engine: its policy, and the one place it applies."""

    failure_policy: FailurePolicy

    def apply_decision(self, task: Task, event: FailureEvent, *, category: Any, retry: bool,
                       retry_delay: float | None, verdict: Any) -> None: ...

log = structlog.get_logger("dtf.decisions")


async def decide_and_apply(engine: DecisionTarget, task: Task, event: FailureEvent) -> None:
    decision = await engine.failure_policy.decide(task, event)
    verdict = getattr(decision.outcome, "value", decision.outcome)
    category = getattr(decision.category, "value", decision.category)
    if decision.retry and event.outcome is AttemptOutcome.FAILED:
        # A rerun of a failed test goes to another worker: that is how flaky is told from broken.
        task.excluded_workers.add(event.worker_id or "")
    engine.apply_decision(task, event, category=category, retry=decision.retry,
                          retry_delay=decision.retry_delay, verdict=verdict)
    log.info("failure_handled", task_id=task.task_id, attempt=event.attempt, worker_id=event.worker_id,
             source=event.source.value, category=category, retry=decision.retry,
             retry_delay=decision.retry_delay, status=task.status.value)
    await engine.failure_policy.after_decision(task, event, decision)
