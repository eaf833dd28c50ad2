"""The ready queue and matching: priorities, requirements with fallback hardware, credits."""
from __future__ import annotations

import heapq
import time
from collections import defaultdict
from typing import Callable, Iterable

from coordinator.credit import CreditPolicy, CreditSettings, work_kind
from coordinator.models import Task, TaskStatus
from coordinator.workers import NO_WORK_STATES, WorkerRecord, matches

# How many unmatchable tasks one planning pass may set aside before it stops looking.
SKIP_LIMIT = 2000
# Without a credit policy (tests, tools): one task per slot, as before credit was adaptive.
_NO_PREFETCH = CreditPolicy(CreditSettings(prefetch_budget_seconds=0.0))


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
             choose: Callable[[Task, list[WorkerRecord]], WorkerRecord] | None = None,
             credit: CreditPolicy | None = None) -> dict[str, list[Task]]:
        """Assign queued tasks to workers within their credit. Returns worker_id -> tasks.

        A worker's credit depends on the kind of work (``credit.py``): long work only into a free
        slot, short work into a prefetch window. A task that some worker could run but none has
        credit for holds its place: those workers get nothing behind it in this pass, so later
        short tasks never starve an earlier long one."""
        credit = credit or _NO_PREFETCH
        held: dict[str, int] = {}
        slots: dict[str, int] = {}
        longs: dict[str, int] = {}
        pool: dict[str, WorkerRecord] = {}
        available_hw: set[str] = set()
        serving: list[WorkerRecord] = []
        for w in workers:
            if w.connected and w.state not in NO_WORK_STATES:
                available_hw.update(w.hardware_types)
                serving.append(w)
            n = w.slots
            if n > 0:
                wid = w.worker_id
                pool[wid], slots[wid], held[wid], longs[wid] = w, n, len(w.running), w.count_long_held()
        share = -(-len(self._heap) // max(1, len(pool)))  # each worker's fair part of the queue
        plan: dict[str, list[Task]] = defaultdict(list)
        skipped: list[tuple[int, int, str]] = []
        heap = self._heap
        windows: dict[str, int] = {}
        limit = credit.limit
        while heap and pool:
            entry = heapq.heappop(heap)
            task = tasks.get(entry[2])
            if task is None or task.status is not TaskStatus.QUEUED:
                continue
            kind = task.kind
            if kind is None:
                kind = task.kind = work_kind(task)
            window = windows.get(kind)
            if window is None:
                window = windows[kind] = credit.window(kind)
            able = [w for w in pool.values() if matches(w, task)]
            able = _prefer_hardware(task, able, available_hw)
            if not able and task.excluded_workers and _only_excluded_could_serve(task, serving):
                # Every worker that could run it was excluded by earlier recovery: better to try
                # one of them again than to leave the task queued forever.
                task.excluded_workers.clear()
                able = _prefer_hardware(task, [w for w in pool.values() if matches(w, task)], available_hw)
            room = {}
            for w in able:
                wid = w.worker_id
                r = limit(slots=slots[wid], long_held=longs[wid], window=window, share=share) - held[wid]
                if r > 0:
                    room[wid] = r
            if not room:
                skipped.append(entry)
                for w in able:  # it waits for these workers: nothing overtakes it on them
                    del pool[w.worker_id]
                if not able and len(skipped) >= SKIP_LIMIT:
                    break
                continue
            candidates = [w for w in able if w.worker_id in room]
            if choose is not None and (len(candidates) > 1 or getattr(choose, "may_defer", False)):
                best = choose(task, candidates)
                if best is None:  # the load balancer holds it back for a better worker (bounded)
                    skipped.append(entry)
                    continue
            else:
                best = max(candidates, key=lambda w: room[w.worker_id])
            wid = best.worker_id
            plan[wid].append(task)
            held[wid] += 1
            if window == 0:
                best.long_held.add(task.task_id)
                longs[wid] += 1
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
