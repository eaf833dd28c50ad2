"""What every executor implements, and what it hands back."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Protocol


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


class ExecContext:
    """What an executor knows of the task it runs. ``work_dir`` (scratch space for this attempt)
    is named on first use: most tasks never touch it, and building paths per task is not free."""

    __slots__ = ("task_id", "attempt", "timeout_seconds", "worker_id", "hardware", "tags", "control",
                 "on_start", "_work_dir", "_tasks_dir")

    def __init__(self, *, task_id: str, attempt: int, timeout_seconds: float, worker_id: str,
                 hardware: list[str], work_dir: Path | None = None, tasks_dir: Path | None = None,
                 tags: dict[str, Any] | None = None, control: WorkerControl | None = None,
                 on_start: Callable[[], None] | None = None) -> None:
        if work_dir is None and tasks_dir is None:
            raise TypeError("ExecContext needs work_dir or tasks_dir")
        self.task_id = task_id
        self.attempt = attempt
        self.timeout_seconds = timeout_seconds
        self.worker_id = worker_id
        self.hardware = hardware
        self.tags = tags if tags is not None else {}
        self.control = control
        # An executor that schedules its own work (``schedules_itself``) calls this when the task
        # stops waiting and starts to run; the worker reports the start then.
        self.on_start = on_start
        self._work_dir = work_dir
        self._tasks_dir = tasks_dir

    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            self._work_dir = self._tasks_dir / f"{self.task_id}-{self.attempt}"  # type: ignore[operator]
        return self._work_dir


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
