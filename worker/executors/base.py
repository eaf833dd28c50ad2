"""What every executor implements, and what it hands back."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class Outcome(StrEnum):
    PASSED = "passed"        # ran and succeeded
    FAILED = "failed"        # ran, and the test said no (assertion, failing test cases)
    ERROR = "error"          # could not run properly (raised, bad config, missing dependency)
    TIMED_OUT = "timed_out"  # killed at its timeout
    CRASHED = "crashed"      # the process died by a signal or the executor child was lost


class WorkerControl(Protocol):
    """Hooks an executor may use to act on the worker itself (chaos faults use these)."""

    def disconnect(self) -> None: ...          # drop the coordinator connection (it reconnects)
    def exit_worker(self, code: int) -> None: ...  # the worker process dies (crash-loop tests)


@dataclass(kw_only=True)
class ExecContext:
    task_id: str
    attempt: int
    timeout_seconds: float
    work_dir: Path
    worker_id: str
    hardware: list[str]
    tags: dict[str, Any] = field(default_factory=dict)
    control: WorkerControl | None = None


@dataclass(kw_only=True)
class ExecResult:
    outcome: Outcome
    result: Any = None                   # JSON-serialisable
    error: dict[str, Any] | None = None  # {type, message, traceback, exit_code, signal, stderr, context}
    details: dict[str, Any] = field(default_factory=dict)  # stdout/stderr tails, test cases, timings
    duration_seconds: float = 0.0


class ExecutorError(Exception):
    """A task's config is unusable by its executor (becomes an ERROR outcome)."""


class Executor(Protocol):
    type_name: str

    async def start(self) -> None: ...
    async def run(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult: ...
    async def close(self) -> None: ...
