"""Task and worker state: the closed sets and the in-memory records the scheduler works on."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RUNNING = "running"
    RETRY_WAIT = "retry_wait"
    COMPLETED = "completed"
    FAILED = "failed"
    ERROR = "error"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def active(self) -> bool:
        return self in (TaskStatus.ASSIGNED, TaskStatus.RUNNING)


TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.ERROR,
                               TaskStatus.TIMED_OUT, TaskStatus.CANCELLED})
# The same set for SQL (`status IN (...)`), written from the enum, never by hand.
TERMINAL_SQL = ", ".join(f"'{s.value}'" for s in sorted(TERMINAL_STATUSES))


class WorkerState(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    SLOW = "slow"
    OVERLOADED = "overloaded"
    UNAVAILABLE = "unavailable"
    CRASHED = "crashed"
    DISCONNECTED = "disconnected"
    DRAINING = "draining"


class AttemptOutcome(StrEnum):
    """How one attempt ended; the task's status is decided from it by the failure pipeline."""
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"
    LOST = "lost"            # the coordinator gave up on it (worker gone, lease expired)
    CANCELLED = "cancelled"


# A pass after one of these is a retry the infrastructure needed, not a flaky test (flaky needs a
# ``failed`` attempt: the test ran and said no).
FAULT_OUTCOMES = frozenset({AttemptOutcome.ERROR, AttemptOutcome.TIMED_OUT, AttemptOutcome.CRASHED,
                            AttemptOutcome.LOST})

TASK_TYPES = ("command", "pytest", "python", "benchmark", "chaos")


def now() -> float:
    return time.time()


@dataclass(slots=True, kw_only=True)
class Attempt:
    number: int
    worker_id: str
    lease: str
    dispatched_at: float
    started_at: float | None = None
    finished_at: float | None = None
    outcome: AttemptOutcome | None = None
    error_category: str | None = None
    error: dict[str, Any] | None = None
    lease_deadline: float = 0.0

    def to_api(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "worker_id": self.worker_id,
            "started_at": iso(self.started_at or self.dispatched_at),
            "finished_at": iso(self.finished_at),
            "outcome": self.outcome.value if self.outcome else None,
            "error_category": self.error_category,
        }


@dataclass(slots=True, kw_only=True)
class Task:
    task_id: str
    seq: int
    type: str
    config: dict[str, Any]
    requirements: dict[str, Any]
    priority: int
    timeout_seconds: float
    max_retries: int | None
    tags: dict[str, Any]
    depends_on: list[str]
    created_at: float
    status: TaskStatus = TaskStatus.QUEUED
    attempts: list[Attempt] = field(default_factory=list)
    result: Any = None
    error: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    flaky: bool = False
    not_before: float | None = None
    updated_at: float = 0.0
    excluded_workers: set[str] = field(default_factory=set)
    failures: int = 0            # failed attempts so far (the policy's `attempt`)
    spec_json: str | None = None  # cached serialised spec; call spec_changed() after editing it
    ready_at: float = 0.0         # when it last became runnable (for the dispatch latency metric)
    kind: str | None = None       # what counts as the same work for duration estimates (credit.py)

    @property
    def current(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def retried(self) -> bool:
        """Completed after an infrastructure fault (error, timeout, crash, lost worker), not flaky."""
        return (self.status is TaskStatus.COMPLETED and not self.flaky
                and any(a.outcome in FAULT_OUTCOMES for a in self.attempts[:-1]))

    def spec_changed(self) -> None:
        self.spec_json = None

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "config": self.config, "requirements": self.requirements,
                "priority": self.priority, "timeout_seconds": self.timeout_seconds,
                "max_retries": self.max_retries, "tags": self.tags, "depends_on": self.depends_on}

    def to_api(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            **self.spec(),
            "status": self.status.value,
            "result": self.result,
            "error": self.error,
            "details": self.details,
            "flaky": self.flaky,
            "retried": self.retried,
            "attempts": [a.to_api() for a in self.attempts],
            "not_before": iso(self.not_before),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at or self.created_at),
        }


def iso(ts: float | None) -> str | None:
    """ISO 8601 in UTC; total: a time outside what datetime holds is clamped, never an error."""
    if ts is None:
        return None
    ts = within(ts, _MIN_TS, _MAX_TS, default=0.0)
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def within(value: Any, low: float, high: float, *, default: float) -> float:
    """``value`` as a float clamped to [low, high]; ``default`` when it is no finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return min(max(float(value), low), max(low, high))


_MIN_TS = 0.0
_MAX_TS = datetime(9999, 12, 31, tzinfo=timezone.utc).timestamp()
