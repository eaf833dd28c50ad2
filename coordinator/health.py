"""Worker health detected from what the coordinator sees: slowness, overload, blame, poison tasks.

- slow: a worker whose durations for the same work run far above the rest of the fleet's;
- overloaded: a worker whose own load report says it is past its capacity (loop lag, memory);
- blame: a worker that fails many different tasks which then pass elsewhere is quarantined
  (a bad worker, not bad tests);
- poison: a task that crashed several different workers is stopped (a bad task, not bad workers).
"""
from __future__ import annotations

import statistics
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from coordinator.models import AttemptOutcome, Task, WorkerState, now
from coordinator.workers import WorkerRecord


class WorkerStates(Protocol):
    """What health tracking needs of the registry (``fleet.Fleet``): the workers, and a way to
    change their state."""

    workers: dict[str, WorkerRecord]

    def set_condition(self, w: WorkerRecord, state: WorkerState, factor: float = 1.0) -> None: ...

BAD_OUTCOMES = frozenset({AttemptOutcome.ERROR, AttemptOutcome.CRASHED, AttemptOutcome.TIMED_OUT,
                          AttemptOutcome.FAILED})


@dataclass(frozen=True, kw_only=True)
class HealthSettings:
    slow_factor: float = 3.0          # median duration this many times the fleet's marks a worker slow
    slow_min_samples: int = 3         # samples needed from the worker and from the rest of the fleet
    # Ignore differences among tasks faster than this. Durations are run times measured where the
    # task ran (a prefetched task's wait on its worker is not in them), so noise is small.
    slow_min_seconds: float = 0.1
    blame_threshold: int = 3          # distinct tasks failed here and passed elsewhere -> quarantine
    blame_window_seconds: float = 3600.0
    poison_threshold: int = 3         # distinct workers crashed by one task -> poison


def work_key(task: Task) -> str:
    """Tasks that do 'the same work', for duration comparisons."""
    cfg = task.config
    what = cfg.get("callable") or cfg.get("fault") or cfg.get("command") or " ".join(cfg.get("argv") or [])
    return f"{task.type}:{what}:{cfg.get('args')}"[:300]


class HealthTracker:
    def __init__(self, fleet: WorkerStates, settings: HealthSettings | None = None,
                 report: Callable[[str, WorkerRecord, str], None] | None = None) -> None:
        self.fleet = fleet
        self.settings = settings or HealthSettings()
        self._mine: dict[tuple[str, str], deque[float]] = {}
        self._durations: dict[str, deque[tuple[str, float]]] = defaultdict(lambda: deque(maxlen=60))
        self._seen = 0
        self._blame: dict[str, dict[str, float]] = defaultdict(dict)   # worker -> task -> when
        self.report = report or (lambda action, worker, detail: None)

    # ---- slowness -------------------------------------------------------------------------------
    def on_completed(self, task: Task, worker: WorkerRecord | None, duration_seconds: float) -> None:
        if worker is None:
            return
        key = work_key(task)
        wid = worker.worker_id
        mine = self._mine.get((key, wid))
        if mine is None:
            if len(self._mine) > 10_000:  # bounded: forget the least recent kinds of work
                self._mine.clear()
                self._durations.clear()
            mine = self._mine[(key, wid)] = deque(maxlen=10)
        mine.append(duration_seconds)
        fleet = self._durations[key]
        fleet.append((wid, duration_seconds))
        # Judge every few completions of this worker: cheap on the hot path, never on one sample.
        self._seen += 1
        if len(mine) >= self.settings.slow_min_samples and self._seen % 8 == 0:
            self._check_slow(worker, mine, fleet)
        if len(task.attempts) > 1:
            self._blame_earlier_failures(task, worker)

    def _check_slow(self, worker: WorkerRecord, mine: deque[float], fleet: deque[tuple[str, float]]) -> None:
        s = self.settings
        others = [d for wid, d in fleet if wid != worker.worker_id]
        if len(others) < s.slow_min_samples:
            return
        my_median, fleet_median = statistics.median(mine), statistics.median(others)
        if my_median < s.slow_min_seconds or my_median < s.slow_factor * max(fleet_median, 1e-6):
            return
        if worker.state in (WorkerState.SLOW, WorkerState.UNAVAILABLE, WorkerState.CRASHED):
            return
        detail = (f"median {my_median:.3f}s for the same work vs the fleet's {fleet_median:.3f}s "
                  f"({my_median / max(fleet_median, 1e-6):.1f}x)")
        self.fleet.set_condition(worker, WorkerState.SLOW)
        self.report("mark_worker_slow", worker, detail)

    # ---- overload ---------------------------------------------------------------------------------
    def on_load(self, worker: WorkerRecord, load: dict[str, Any]) -> None:
        if load.get("overloaded") is True and worker.state not in (
                WorkerState.OVERLOADED, WorkerState.UNAVAILABLE, WorkerState.CRASHED, WorkerState.DRAINING):
            self.fleet.set_condition(worker, WorkerState.OVERLOADED)
            self.report("mark_worker_slow", worker, f"worker reports overload (event loop lag "
                        f"{load.get('loop_lag_seconds')}s, memory {load.get('memory_percent')}%)")

    # ---- blame and poison ---------------------------------------------------------------------------
    def _blame_earlier_failures(self, task: Task, passed_on: WorkerRecord) -> None:
        s = self.settings
        ts = now()
        for a in task.attempts[:-1]:
            if a.outcome in BAD_OUTCOMES and a.worker_id != passed_on.worker_id:
                blamed = self._blame[a.worker_id]
                blamed[task.task_id] = ts
                for tid, when in list(blamed.items()):
                    if ts - when > s.blame_window_seconds:
                        del blamed[tid]
                w = self.fleet.workers.get(a.worker_id)
                if w is not None and len(blamed) >= s.blame_threshold and w.state is not WorkerState.UNAVAILABLE:
                    self.fleet.set_condition(w, WorkerState.UNAVAILABLE, factor=4.0)
                    self.report("mark_worker_unavailable", w,
                                f"quarantined: {len(blamed)} different tasks failed here and passed elsewhere")
                    blamed.clear()

    def crashed_workers(self, task: Task) -> set[str]:
        """Distinct workers that died (connection lost abnormally) while running this task."""
        return {a.worker_id for a in task.attempts
                if a.outcome is AttemptOutcome.LOST and (a.error or {}).get("type") == "WorkerCrashed"}

    def is_poison(self, task: Task) -> bool:
        return len(self.crashed_workers(task)) >= self.settings.poison_threshold
