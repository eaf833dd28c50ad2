"""Wilson ranking and the load balancer's choices, with fake worker records and an injected clock."""
from __future__ import annotations

import pytest

from coordinator.analytics.balancer import BalancerSettings, LoadBalancer
from coordinator.analytics.results_queries import rank_pairs
from coordinator.analytics.stats import percentile, wilson_lower, wilson_upper
from coordinator.models import Attempt, AttemptOutcome, Task, TaskStatus
from coordinator.workers import WorkerRecord


def test_wilson_lower_bound_ranks_evidence_over_luck():
    assert wilson_lower(1, 2) == pytest.approx(0.0945, abs=1e-3)
    assert wilson_lower(40, 100) == pytest.approx(0.3094, abs=1e-3)
    assert wilson_lower(40, 100) > wilson_lower(1, 2)
    assert wilson_lower(0, 50) == 0.0 and wilson_lower(0, 0) == 0.0
    assert wilson_lower(50, 50) < 1.0 < wilson_upper(50, 50) + 1e-9
    assert wilson_lower(3, 10) < 0.3 < wilson_upper(3, 10)


def test_error_prone_pairs_are_ranked_by_the_lower_bound():
    rows = [{"hardware_type": "cuda", "model": "tiny", "runs": 2, "failures": 1},
            {"hardware_type": "rocm", "model": "bert", "runs": 100, "failures": 40},
            {"hardware_type": "cpu", "model": "bert", "runs": 100, "failures": 2}]
    ranked = rank_pairs(rows)
    assert [(p["hardware_type"], p["model"]) for p in ranked] == [("rocm", "bert"), ("cuda", "tiny"), ("cpu", "bert")]
    assert ranked[1]["failure_rate"] == 0.5 and ranked[0]["failure_rate"] == 0.4
    assert [p["model"] for p in rank_pairs(rows, min_runs=10)] == ["bert", "bert"]


def test_percentile_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([1, 2, 3, 4], 95) == 4


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def worker(wid: str, *, concurrency: int = 2, running: int = 0, types=("cpu",)) -> WorkerRecord:
    w = WorkerRecord(worker_id=wid, hardware={"types": list(types)}, concurrency=concurrency, connection=object())
    w.running = {f"r{i}": 1 for i in range(running)}
    return w


def task(tid: str = "t1", model: str | None = None) -> Task:
    return Task(task_id=tid, seq=1, type="python", config={"callable": "m:f"}, requirements={}, priority=5,
                timeout_seconds=60, max_retries=None, tags={"model": model} if model else {}, depends_on=[],
                created_at=0.0)


def balancer(workers: dict[str, WorkerRecord], clock: Clock, **settings) -> LoadBalancer:
    return LoadBalancer(BalancerSettings(**settings), clock=clock, workers=lambda: workers)


def fail(w: WorkerRecord, ok: int, bad: int) -> None:
    w.completed += ok
    w.failed_attempts += bad


def test_a_failing_worker_loses_the_choice_and_recovers_with_time():
    clock = Clock()
    good, bad = worker("good"), worker("bad")
    workers = {"good": good, "bad": bad}
    lb = balancer(workers, clock, half_life_seconds=60)
    lb.observe_workers(force=True)
    fail(good, 20, 0)
    fail(bad, 10, 10)
    clock.t += 1
    assert lb(task(), [bad, good]) is good
    assert lb.worker_score("bad") < 0.6 < lb.worker_score("good")
    clock.t += 3600  # an hour of decay: the old failures no longer count
    assert lb.worker_score("bad") == pytest.approx(lb.worker_score("good"), abs=0.01)


def test_a_bad_candidate_is_held_back_only_while_it_runs_its_share_and_never_forever():
    clock = Clock()
    good, bad = worker("good", running=2), worker("bad", concurrency=4, running=0)
    workers = {"good": good, "bad": bad}
    lb = balancer(workers, clock, max_defer_seconds=5)
    lb.observe_workers(force=True)
    fail(good, 50, 0)
    fail(bad, 10, 30)
    clock.t += 1
    lb.observe_workers(force=True)
    share = max(1, round(4 * lb.worker_score("bad") / lb.worker_score("good")))
    assert share == 1
    assert lb(task("a"), [bad]) is bad          # below its share: it still gets (and is re-measured on) work
    bad.running = {"a": 1}
    assert lb(task("b"), [bad]) is None          # at its share, the better (busy) worker is worth waiting for
    clock.t += 5.1
    assert lb(task("b"), [bad]) is bad          # no starvation: the wait is bounded
    assert "b" not in lb.deferred_since


def test_only_bad_candidates_and_no_better_worker_still_assign():
    clock = Clock()
    bad = worker("bad", running=1)
    lb = balancer({"bad": bad}, clock)
    lb.observe_workers(force=True)
    fail(bad, 0, 50)
    clock.t += 1
    assert lb(task(), [bad]) is bad


def attempt_task(tid: str, model: str, wid: str, outcome: AttemptOutcome) -> Task:
    t = task(tid, model)
    t.attempts = [Attempt(number=1, worker_id=wid, lease="x", dispatched_at=0.0, started_at=1.0,
                          finished_at=2.0, outcome=outcome)]
    t.status = TaskStatus.COMPLETED if outcome is AttemptOutcome.PASSED else TaskStatus.FAILED
    return t


def test_error_prone_hardware_model_pair_is_avoided_for_that_model_only():
    clock = Clock()
    rocm, cpu = worker("rocm1", types=("cpu", "rocm")), worker("cpu1")
    workers = {"rocm1": rocm, "cpu1": cpu}
    lb = balancer(workers, clock)
    for i in range(12):
        lb.on_terminal(attempt_task(f"b{i}", "bert", "rocm1", AttemptOutcome.FAILED if i % 4 else AttemptOutcome.PASSED))
        lb.on_terminal(attempt_task(f"g{i}", "bert", "cpu1", AttemptOutcome.PASSED))
    assert lb.pair_penalty(task(model="bert"), rocm) > 0.4
    assert lb.pair_penalty(task(model="gpt"), rocm) == 0.0
    assert lb(task("x", "bert"), [rocm, cpu]) is cpu
    rocm.completed, cpu.completed = 0, 0
    assert lb.score(task("y", "gpt"), rocm) == pytest.approx(lb.score(task("y", "gpt"), cpu))


def test_slow_worker_scores_lower():
    clock = Clock()
    fast, slow = worker("fast"), worker("slow")
    lb = balancer({"fast": fast, "slow": slow}, clock)
    for i in range(30):
        for wid, seconds in (("fast", 1.0), ("slow", 4.0)):
            t = attempt_task(f"{wid}{i}", "m", wid, AttemptOutcome.PASSED)
            t.attempts[0].finished_at = t.attempts[0].started_at + seconds
            lb.on_terminal(t)
    assert lb.worker_score("slow") < 0.7 * lb.worker_score("fast")
    assert lb(task("z"), [slow, fast]) is fast
