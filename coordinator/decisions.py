"""What the error pipeline's decision means for a task: the settlement the engine applies.

Pure: ``settle`` reads a decision (``error_handling.ErrorDecision`` or any object with its
``category``, ``retry``, ``retry_delay`` and ``outcome``) and the failure event, and says what
the attempt's category is, whether the task runs again (when, and elsewhere or not), and which
terminal status it takes otherwise. ``Engine.apply_decision`` carries it out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coordinator.failures import FailureEvent
from coordinator.models import AttemptOutcome, TaskStatus

TERMINAL_FROM_OUTCOME = {
    "failed": TaskStatus.FAILED,
    "error": TaskStatus.ERROR,
    "timed_out": TaskStatus.TIMED_OUT,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    category: str
    retry: bool
    retry_delay: float | None
    terminal_status: TaskStatus     # the task's status when it is not retried
    avoid_worker: bool              # the next attempt goes to another worker


def settle(decision: Any, event: FailureEvent) -> Settlement:
    verdict = getattr(decision.outcome, "value", decision.outcome)
    status = TERMINAL_FROM_OUTCOME.get(verdict, TaskStatus.ERROR)
    if event.outcome is AttemptOutcome.TIMED_OUT and verdict != "failed":
        status = TaskStatus.TIMED_OUT
    return Settlement(category=getattr(decision.category, "value", decision.category), retry=decision.retry,
                      retry_delay=decision.retry_delay, terminal_status=status,
                      # A rerun of a failed test goes to another worker: that is how flaky is told from broken.
                      avoid_worker=bool(decision.retry and event.outcome is AttemptOutcome.FAILED))
