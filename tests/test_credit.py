"""The credit policy and the planner that uses it, on in-memory workers and tasks."""
from __future__ import annotations

from coordinator.credit import CreditPolicy, CreditSettings, work_kind
from coordinator.models import Task
from coordinator.scheduler import ReadyQueue
from coordinator.workers import WorkerRecord

SHORT = {"callable": "operator:add", "args": [1, 2]}
LONG = {"callable": "time:sleep", "args": [600]}


def task(n: int, config: dict) -> Task:
    return Task(task_id=f"t{n}", seq=n, type="python", config=config, requirements={}, priority=5,
                timeout_seconds=900, max_retries=None, tags={}, depends_on=[], created_at=0.0)


def worker(wid: str, concurrency: int) -> WorkerRecord:
    return WorkerRecord(worker_id=wid, hardware={"types": ["cpu"]}, concurrency=concurrency, connection=object())


def policy(**estimates: float) -> CreditPolicy:
    p = CreditPolicy(CreditSettings(prefetch_budget_seconds=0.02, max_held_per_worker=512))
    for kind, seconds in estimates.items():
        p.estimates.observe(kind, seconds)
    return p


def test_window_is_one_per_slot_for_unseen_and_long_work_and_wide_for_short_work():
    p = policy(**{"python:operator:add": 0.0001, "python:time:sleep": 600.0})
    assert p.window("python:never-seen") == 0
    assert p.window("python:time:sleep") == 0
    assert p.window("python:operator:add") == 200  # 20 ms of 0.1 ms tasks per slot
    assert p.limit(slots=2, long_held=0, window=0, share=1000) == 2
    assert p.limit(slots=2, long_held=0, window=200, share=1000) == 400
    assert p.limit(slots=2, long_held=0, window=200, share=10) == 12  # its share of the queue caps it
    assert p.limit(slots=2, long_held=1, window=200, share=1000) == 201  # one slot left for short work
    assert p.limit(slots=2, long_held=2, window=200, share=1000) == 0  # every slot busy with long work
    assert p.limit(slots=8, long_held=0, window=200, share=10_000) == 512  # the per-worker bound


def test_work_kind_ignores_arguments():
    assert work_kind(task(1, SHORT)) == work_kind(task(2, {**SHORT, "args": [5, 6]})) != work_kind(task(3, LONG))


def plan(queue: ReadyQueue, tasks: dict[str, Task], workers: list[WorkerRecord], p: CreditPolicy):
    out = queue.plan(tasks, workers, None, p)
    for wid, assigned in out.items():
        w = next(w for w in workers if w.worker_id == wid)
        for t in assigned:
            w.running[t.task_id] = 1
            t.status = t.status.ASSIGNED
    return {wid: [t.task_id for t in ts] for wid, ts in out.items()}


def test_short_work_goes_to_the_worker_whose_slots_are_not_all_busy_with_long_work():
    p = policy(**{"python:operator:add": 0.0001, "python:time:sleep": 600.0})
    busy, idle = worker("busy", 2), worker("idle", 2)
    tasks = {t.task_id: t for t in [task(0, LONG), task(1, LONG)]}
    q = ReadyQueue()
    for t in tasks.values():
        q.push(t)
    assert plan(q, tasks, [busy], p) == {"busy": ["t0", "t1"]}
    shorts = [task(n, SHORT) for n in range(2, 102)]
    tasks.update((t.task_id, t) for t in shorts)
    for t in shorts:
        q.push(t)
    assigned = plan(q, tasks, [busy, idle], p)
    # Prefetched beyond its 2 slots, up to its share of what was queued (the rest waits here).
    assert list(assigned) == ["idle"] and len(assigned["idle"]) == 2 + 100 // 2
    assert plan(q, tasks, [busy, idle], p) == {}


def test_a_long_task_keeps_its_place_against_later_short_ones():
    p = policy(**{"python:operator:add": 0.0001})
    w = worker("w", 1)
    tasks = {t.task_id: t for t in [task(0, SHORT), task(1, LONG), *(task(n, SHORT) for n in range(2, 50))]}
    q = ReadyQueue()
    for t in tasks.values():
        q.push(t)
    # The short one runs; the unseen (long) one needs a free slot, and nothing overtakes it.
    assert plan(q, tasks, [w], p) == {"w": ["t0"]}
    assert plan(q, tasks, [w], p) == {}
    w.running.clear()
    assert plan(q, tasks, [w], p)["w"][0] == "t1"
