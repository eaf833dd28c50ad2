"""The built-in task types (SPEC §5) and the factory that builds them for a worker.

Executor modules are imported inside ``build_executors``: pool children import this package on
start-up, and they should not pay for asyncio and the executors they never use.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Collection

if TYPE_CHECKING:
    from worker.executors.base import Executor


class TaskType(StrEnum):
    COMMAND = "command"
    PYTEST = "pytest"
    PYTHON = "python"
    BENCHMARK = "benchmark"
    CHAOS = "chaos"


def _default_work_dir() -> Path:
    return Path(tempfile.gettempdir()) / "dtf-work"


@dataclass(frozen=True, kw_only=True)
class ExecutorSettings:
    pool_size: int = field(default_factory=lambda: os.cpu_count() or 1)
    work_dir: Path = field(default_factory=_default_work_dir)
    allowed_types: Collection[str] | None = None  # None: every built-in type
    python_max_tasks_per_child: int = 10_000
    output_tail_bytes: int = 8192
    # calls queued per pool child; more keeps the pipe busy, fewer limits head-of-line waiting
    python_max_inflight_per_child: int = 256
    python_memory_limit_mb: int | None = None  # RLIMIT_AS per pool child; None: unlimited
    # SIGTERM -> SIGKILL grace for subprocesses (command, pytest, chaos hang) at their timeout
    kill_grace_seconds: float = 2.0
    # where shipped trees come from (pytest tasks naming a ``tree``); None: such tasks error
    coordinator_http: str | None = None
    coordinator_token: str | None = None


def build_executors(settings: ExecutorSettings) -> dict[str, Executor]:
    """One executor per allowed task type, keyed by type name.

    The python, benchmark and chaos executors share one process pool; it starts with the first
    of them (``start()``) and closes with the last (``close()``).
    """
    # Loaded only when a worker builds its executors: the pool's children import this package
    # too (for _pool_child) and need none of them.
    from worker.executors.benchmark import BenchmarkExecutor
    from worker.executors.chaos import ChaosExecutor
    from worker.executors.command import CommandExecutor
    from worker.executors.pool import ProcessPool
    from worker.executors.pytest_exec import PytestExecutor
    from worker.executors.python_exec import PythonExecutor
    from worker.executors.shared import SharedPool
    from worker.executors.trees import TreeStore

    if settings.allowed_types is None:
        wanted = list(TaskType)
    else:
        valid = {t.value for t in TaskType}
        unknown = sorted(set(settings.allowed_types) - valid)
        if unknown:
            raise ValueError(f"allowed_types: unknown task type(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(sorted(valid))}")
        wanted = [t for t in TaskType if t.value in set(settings.allowed_types)]

    shared: SharedPool | None = None
    if {TaskType.PYTHON, TaskType.BENCHMARK, TaskType.CHAOS} & set(wanted):
        shared = SharedPool(ProcessPool(
            size=max(1, settings.pool_size),
            max_tasks_per_child=settings.python_max_tasks_per_child,
            max_inflight_per_child=settings.python_max_inflight_per_child,
            memory_limit_mb=settings.python_memory_limit_mb,
            cwd=settings.work_dir,  # files a python task writes land in the worker's scratch space
        ))
    executors: dict[str, Executor] = {}
    for task_type in wanted:
        if task_type is TaskType.COMMAND:
            executors[task_type.value] = CommandExecutor(settings)
        elif task_type is TaskType.PYTEST:
            trees = None if settings.coordinator_http is None else TreeStore(
                settings.work_dir / "trees", settings.coordinator_http, settings.coordinator_token)
            executors[task_type.value] = PytestExecutor(settings, trees)
        elif task_type is TaskType.PYTHON:
            executors[task_type.value] = PythonExecutor(shared)  # type: ignore[arg-type]
        elif task_type is TaskType.BENCHMARK:
            executors[task_type.value] = BenchmarkExecutor(shared)  # type: ignore[arg-type]
        elif task_type is TaskType.CHAOS:
            executors[task_type.value] = ChaosExecutor(settings, shared)  # type: ignore[arg-type]
    return executors


def executor_for(executors: dict[str, Executor], type_name: str) -> Executor | None:
    """The executor for ``type_name``, or None (the client reports an unknown type as ERROR)."""
    return executors.get(type_name)


def pool_pids(executors: dict[str, Executor]) -> set[int]:
    """Pids of the pool's children: a cleanup that kills stray task processes must spare them
    (they lead sessions of their own, like task processes do)."""
    pids: set[int] = set()
    for executor in executors.values():
        child_pids = getattr(executor, "child_pids", None)
        if child_pids is not None:
            pids.update(child_pids())
    return pids


__all__ = ["ExecutorSettings", "TaskType", "build_executors", "executor_for", "pool_pids"]
