"""Failure events: the one typed shape every failure takes on its way into the error pipeline."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from coordinator.models import AttemptOutcome


class FailureSource(str, Enum):
    WORKER_REPORT = "worker_report"          # the worker ran it and reported a failure
    CONNECTION_LOST = "connection_lost"      # the socket closed while the task ran
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"  # the worker stopped answering
    LEASE_EXPIRED = "lease_expired"          # no result within timeout + grace
    PROTOCOL_ERROR = "protocol_error"        # the worker sent something we could not accept
    ASSIGNMENT_FAILED = "assignment_failed"  # the task could not be handed over
    COORDINATOR_RESTART = "coordinator_restart"  # nobody reclaimed it after a restart


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureEvent:
    source: FailureSource
    task_id: str
    attempt: int
    worker_id: str | None
    outcome: AttemptOutcome
    error: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleDecision:
    """What the bounded fallback policy decides when no error handler is installed."""
    category: str
    retry: bool
    retry_delay: float | None
    actions: list[str]
    pattern_id: str | None = None
    outcome: str = "error"


def simple_decision(event: FailureEvent, failures: int, max_retries: int | None,
                    rng: random.Random = random.Random()) -> SimpleDecision:
    """A bounded retry with jittered backoff; test verdicts do not retry unless asked to."""
    verdict = event.outcome is AttemptOutcome.FAILED
    limit = max_retries if max_retries is not None else (0 if verdict else 3)
    category = "test_execution_error" if verdict else "unknown_error"
    if failures <= limit:
        delay = min(30.0, 0.5 * 2 ** (failures - 1)) * rng.uniform(0.8, 1.2)
        return SimpleDecision(category=category, retry=True, retry_delay=delay, actions=["reassign_task"],
                              outcome="retry")
    return SimpleDecision(category=category, retry=False, retry_delay=None, actions=[],
                          outcome="failed" if verdict else "error")
