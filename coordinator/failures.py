"""Failure events: the one typed shape every failure takes on its way into the error pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from coordinator.models import AttemptOutcome, Task


class FailureSource(StrEnum):
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


class FailurePolicy(Protocol):
    """What the engine asks about a failure (the error pipeline, ``error_integration.ErrorPipeline``):
    a decision, what to do once it is applied, and what to record of a worker's health and of its
    answers to commands."""

    async def decide(self, task: Task, event: FailureEvent) -> Any: ...

    async def after_decision(self, task: Task, event: FailureEvent, decision: Any) -> None: ...

    def report_health(self, action: str, worker: Any, detail: str) -> None: ...

    async def command_result(self, worker_id: str, body: dict[str, Any]) -> None: ...
