"""The ready queue and matching: priorities, requirements with fallback hardware, credits."""
from __future__ import annotations

import heapq
import time
from collections import defaultdict
from typing import Callable, Iterable

from coordinator.models import Task, TaskStatus
from coordinator.workers import NO_WORK_STATES, WorkerRecord, matches

# How many unmatchable tasks one planning pass may set aside before it stops looking.
SKIP_LIMIT = 2000


class ReadyQueue:
    """Queued tasks by (priority, submission order). Stale entries are skipped lazily."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []

    def push(self, task: Task) -> None:
        task.ready_at = time.time()
        heapq.heappush(self._heap, (task.priority, task.seq, task.task_id))

    def __len__(self) -> int:
        return len(self._heap)

    def plan(self, tasks: dict[str, Task], workers: Iterable[WorkerRecord],
             choose: Callable[[Task, list[WorkerRecord]], WorkerRecord] | None = None
             ) -> dict[str, list[Task]]:
        """Assign queued tasks to workers with free slots. Returns worker_id -> tasks."""
        free: dict[str, int] = {}
        pool: dict[str, WorkerRecord] = {}
        available_hw: set[str] = set()
        serving: list[WorkerRecord] = []
        for w in workers:
            if w.connected and w.state not in NO_WORK_STATES:
                available_hw.update(w.hardware_types)
                serving.append(w)
            slots = w.free_slots
            if slots > 0:
                free[w.worker_id] = slots
                pool[w.worker_id] = w
        plan: dict[str, list[Task]] = defaultdict(list)
        skipped: list[tuple[int, int, str]] = []
        heap = self._heap
        while heap and free:
            entry = heapq.heappop(heap)
            task = tasks.get(entry[2])
            if task is None or task.status is not TaskStatus.QUEUED:
                continue
            candidates = [pool[wid] for wid in free if matches(pool[wid], task)]
            candidates = _prefer_hardware(task, candidates, available_hw)
            if not candidates and task.excluded_workers and _only_excluded_could_serve(task, serving):
                # Every worker that could run it was excluded by earlier recovery: better to try
                # one of them again than to leave the task queued forever.
                task.excluded_workers.clear()
                candidates = _prefer_hardware(task, [pool[wid] for wid in free if matches(pool[wid], task)],
                                              available_hw)
            if not candidates:
                skipped.append(entry)
                if len(skipped) >= SKIP_LIMIT:
                    break
                continue
            if choose is not None and (len(candidates) > 1 or getattr(choose, "may_defer", False)):
                best = choose(task, candidates)
                if best is None:  # the load balancer holds it back for a better worker (bounded)
                    skipped.append(entry)
                    continue
            else:
                best = max(candidates, key=lambda w: free[w.worker_id])
            wid = best.worker_id
            plan[wid].append(task)
            free[wid] -= 1
            if free[wid] == 0:
                del free[wid]
        for entry in skipped:
            heapq.heappush(heap, entry)
        return plan


def _only_excluded_could_serve(task: Task, serving: list[WorkerRecord]) -> bool:
    able = [w for w in serving if matches(w, task, ignore_exclusions=True)]
    return bool(able) and all(w.worker_id in task.excluded_workers for w in able)


def _prefer_hardware(task: Task, candidates: list[WorkerRecord], available_hw: set[str]) -> list[WorkerRecord]:
    """The first listed hardware is preferred; the rest are fallbacks.

    Fallbacks are used when no connected worker can offer the preferred hardware at all, or once
    recovery allowed it (``reallocate_to_alternative_hardware`` sets ``allow_fallback``).
    """
    wanted = task.requirements.get("hardware") or []
    if len(wanted) < 2 or task.requirements.get("allow_fallback"):
        return candidates
    primary = wanted[0]
    if primary in available_hw:
        return [w for w in candidates if primary in w.hardware_types]
    return candidates
