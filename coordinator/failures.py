"""Failure events: the one typed shape every failure takes on its way into the error pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from coordinator.models import AttemptOutcome


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
