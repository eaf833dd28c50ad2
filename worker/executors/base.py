"""What every executor implements, and what it hands back."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Protocol


class Outcome(str, Enum):
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
    # An executor that schedules its own work (``schedules_itself``) calls this when the task
    # stops waiting and starts to run; the worker reports the start then.
    on_start: Callable[[], None] | None = None


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
