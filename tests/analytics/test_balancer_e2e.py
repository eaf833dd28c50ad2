"""The load balancer on real processes: a worker that fails everything gets little work, none starve."""
from __future__ import annotations

import pytest

from coordinator.analytics.balancer import BalancerSettings
from tests.harness import Cluster


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, coordinator_args=["--load-balancer", "--result-aggregator"])
    yield c
    c.stop()


def start(c: Cluster, wid: str, env: dict[str, str], concurrency: int = 2) -> None:
    base = c.env
    c.env = {**base, **env}
    try:
        c.start_worker(wid, concurrency=concurrency)
    finally:
        c.env = base


def test_failing_worker_gets_less_work_and_every_task_finishes(cluster):
    cluster.start_coordinator()
    start(cluster, "good", {})
    start(cluster, "bad", {"DTF_TEST_FAIL_RATE": "1"})
    n = 40
    ids = cluster.submit([{"type": "python", "max_retries": 3,
                           "config": {"callable": "tests.analytics.targets:work", "kwargs": {"seconds": 0.05}}}
                          for _ in range(n)])
    counts = cluster.wait_all_terminal(n, timeout=120)
    assert counts.get("completed") == n, counts
    attempts = [a for tid in ids for a in cluster.task(tid)["attempts"]]
    on_bad = [a for a in attempts if a["worker_id"] == "bad"]
    # Without the balancer about half the first attempts land on "bad" (equal free slots).
    assert len(on_bad) < 0.25 * n, f"{len(on_bad)} of {len(attempts)} attempts on the failing worker"
    state = cluster.api.get("/api/v1/balancer")
    # Few attempts on "bad" means little evidence, so its score stays near the prior's pull;
    # what matters is that the balancer ranks it weak (below good_ratio of the best).
    weak_below = BalancerSettings().good_ratio * state["workers"]["good"]["score"]
    assert state["workers"]["bad"]["score"] < weak_below, state


def test_only_a_bad_worker_still_gets_everything(cluster):
    cluster.start_coordinator()
    start(cluster, "bad", {"DTF_TEST_FAIL_MODELS": "bert"})
    ids = cluster.submit([{"type": "python", "tags": {"model": "bert"},
                           "config": {"callable": "tests.analytics.targets:work", "kwargs": {"model": "bert"}}}
                          for _ in range(6)])
    counts = cluster.wait_all_terminal(len(ids), timeout=60)
    assert counts.get("failed") == 6, counts
