"""Credit apart from concurrency, with real processes: short work is prefetched, long work is held
one per slot, a short task never waits behind a long one, and what a lost or draining worker held
unstarted goes back to the queue without counting as a failure."""
from __future__ import annotations

import signal
import time
from datetime import datetime

import pytest

from tests.harness import Cluster, wait_until

NOOP = {"type": "python", "config": {"callable": "operator:add", "args": [1, 2]}}


def sleep_task(seconds: float) -> dict:
    return {"type": "python", "config": {"callable": "time:sleep", "args": [seconds]}}


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    c.env["DTF_RATE_LIMIT_PER_SECOND"] = "0"  # the tests read many tasks back quickly
    yield c
    c.stop()


def listing(cluster: Cluster, status: str) -> dict[str, dict]:
    tasks, cursor = {}, ""
    while True:
        page = cluster.api.get(f"/api/v1/tasks?status={status}&limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        tasks.update((t["task_id"], t) for t in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return tasks


def metric(cluster: Cluster, name: str) -> float:
    for line in cluster.api.get("/metrics").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_no_short_task_waits_behind_a_long_one(cluster):
    cluster.start_coordinator()
    cluster.start_worker("busy", concurrency=2)
    cluster.submit([NOOP] * 50)  # the no-op's run time is known, as in a running fleet
    cluster.wait_all_terminal(50)
    longs = cluster.submit([sleep_task(4)] * 2)  # every slot of "busy"
    wait_until(lambda: all(cluster.task(t)["status"] == "running" for t in longs), 30, message="long tasks run")
    cluster.start_worker("idle", concurrency=2)
    shorts = cluster.submit([NOOP] * 100)
    wait_until(lambda: all(t in listing(cluster, "completed") for t in shorts), 30, 0.02, "short tasks")
    assert all(cluster.task(t)["status"] == "running" for t in longs), "the short tasks waited for a long one"
    cluster.wait_all_terminal(152, timeout=60)
    long_end = min(ts(cluster.task(t)["attempts"][-1]["finished_at"]) for t in longs)
    done = listing(cluster, "completed")
    for t in shorts:
        last = done[t]["attempts"][-1]
        assert last["worker_id"] == "idle", f"short task {t} was given to the worker busy with long ones"
        assert ts(last["started_at"]) < long_end


def test_short_work_is_prefetched_and_long_work_held_one_per_slot(cluster):
    cluster.start_coordinator()
    cluster.start_worker("w1", concurrency=1)
    cluster.submit([NOOP] * 20)
    cluster.wait_all_terminal(20)
    cluster.submit([NOOP] * 20_000)
    held = []

    def sample() -> bool:
        held.append(len(cluster.worker("w1")["running_tasks"]))
        return cluster.status()["tasks"].get("completed", 0) >= 20_020 or max(held) > 1

    wait_until(sample, 120, 0.01, "the stream to finish or the worker to hold more than it runs")
    assert max(held) > 1, "a short-task stream was never prefetched beyond the one slot"
    cluster.wait_all_terminal(20_020, timeout=180)
    longs = cluster.submit([sleep_task(1.5)] * 3)
    wait_until(lambda: cluster.task(longs[0])["status"] == "running", 30, message="first long task")
    for _ in range(10):
        assert len(cluster.worker("w1")["running_tasks"]) <= 1, "long work held beyond the one slot"
        time.sleep(0.05)
    cluster.wait_all_terminal(20_023, timeout=60)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_lost_or_draining_worker_hands_back_what_it_had_not_started(cluster, how):
    cluster.start_coordinator()
    for w in ("w1", "w2", "w3"):
        cluster.start_worker(w, concurrency=1)
    work = sleep_task(0.003)
    cluster.submit([work] * 60)
    cluster.wait_all_terminal(60)
    ids = cluster.submit([work] * 3000)
    # Wait until w1 holds more than it runs, then stop it with prefetched tasks on board.
    wait_until(lambda: len(cluster.worker("w1")["running_tasks"]) > 2, 60, 0.005, "w1 holding a backlog")
    cluster.workers["w1"].send_signal(how)
    cluster.wait_all_terminal(3060, timeout=120)
    handed_back = metric(cluster, "dtf_tasks_handed_back_total")
    assert handed_back >= 1, "nothing went back unstarted"
    assert cluster.status()["tasks"] == {"completed": 3060}
    done = listing(cluster, "completed")
    assert set(ids) <= set(done)
    # Handed back: the abandoned attempt is "lost" with no error category (no failure counted).
    given_up = [a for t in done.values() for a in t["attempts"][:-1]]
    clean = [a for a in given_up if a["outcome"] == "lost" and a["error_category"] is None]
    assert len(clean) == handed_back and all(a["worker_id"] == "w1" for a in clean), given_up[:5]
    if how is signal.SIGTERM:
        assert metric(cluster, "dtf_failures_total") == 0, "a drain counted a failure"
        assert len(given_up) == len(clean)
