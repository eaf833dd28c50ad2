"""The foundation's promises, on real coordinator and worker processes over real sockets."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections import Counter

import psutil
import pytest

from coordinator.client import ApiClient, ApiError
from tests.harness import Cluster, wait_until


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, coordinator_args=["--heartbeat-interval", "0.2", "--heartbeat-timeout", "1.5",
                                            "--restart-grace", "5", "--lease-grace", "3"])
    yield c
    c.stop()


def test_thousand_python_tasks_complete_with_right_results(cluster):
    cluster.start_coordinator()
    cluster.start_worker("w1", concurrency=16)
    cluster.start_worker("w2", concurrency=16)
    ids = cluster.submit([{"type": "python", "config": {"callable": "operator:add", "args": [i, 1000]}}
                          for i in range(1000)])
    counts = cluster.wait_all_terminal(1000, timeout=120)
    assert counts.get("completed") == 1000, counts
    for i in (0, 1, 499, 998, 999):
        task = cluster.task(ids[i])
        assert task["result"] == i + 1000
        assert len(task["attempts"]) == 1 and task["attempts"][0]["outcome"] == "passed"
    per_worker = Counter(w["worker_id"] for w in cluster.api.get("/api/v1/workers")["items"] if w["completed"])
    assert set(per_worker) == {"w1", "w2"}, "both workers should have taken work"


def test_kill9_worker_tasks_complete_elsewhere_and_crash_seen_within_a_second(cluster):
    cluster.start_coordinator()
    victim = cluster.start_worker("victim", concurrency=10)
    # Long enough that none ends before the kill, even while the survivor starts on a loaded machine.
    ids = cluster.submit([{"type": "command", "config": {"argv": ["sleep", "5"]}, "timeout_seconds": 30}
                          for _ in range(10)])
    wait_until(lambda: len(cluster.worker("victim")["running_tasks"]) == 10, 20, message="10 tasks on victim")
    cluster.start_worker("survivor", concurrency=10)
    killed_at = time.monotonic()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    wait_until(lambda: cluster.worker("victim")["state"] in ("crashed", "disconnected"), 5, 0.01,
               "victim marked crashed")
    detected = time.monotonic() - killed_at
    assert detected < 1.0, f"crash seen after {detected:.3f}s"
    assert cluster.worker("victim")["running_tasks"] == []
    counts = cluster.wait_all_terminal(10, timeout=60)
    assert counts.get("completed") == 10, counts
    for tid in ids:
        attempts = cluster.task(tid)["attempts"]
        assert attempts[-1]["worker_id"] == "survivor" and attempts[-1]["outcome"] == "passed"
        assert attempts[0]["worker_id"] == "victim" and attempts[0]["outcome"] == "lost"


def test_kill9_coordinator_restart_loses_nothing_and_records_once(cluster):
    cluster.start_coordinator()
    cluster.start_worker("w1", concurrency=10, extra=["--pool-size", "10"])
    cluster.start_worker("w2", concurrency=10, extra=["--pool-size", "10"])
    ids = cluster.submit([{"type": "python", "config": {"callable": "time:sleep", "args": [0.4]}}
                          for _ in range(520)])

    def busy() -> bool:
        tasks = cluster.status()["tasks"]
        return tasks.get("assigned", 0) + tasks.get("running", 0) >= 20 and tasks.get("queued", 0) >= 400
    wait_until(busy, 30, 0.01, "20 running and 400+ queued")
    cluster.kill_coordinator()
    cluster.start_coordinator()
    # The workers come back by themselves.
    wait_until(lambda: all(cluster.worker(w).get("connected") for w in ("w1", "w2")), 30,
               message="workers reconnected")
    counts = cluster.wait_all_terminal(520, timeout=180)
    assert counts.get("completed") == 520, counts
    db = sqlite3.connect(cluster.tmp / "state.sqlite")
    passed = dict(db.execute("SELECT task_id, COUNT(*) FROM attempts WHERE outcome='passed' GROUP BY task_id"))
    assert len(passed) == 520 and set(passed.values()) == {1}, "each result recorded exactly once"
    assert set(passed) == set(ids)
    statuses = dict(db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status"))
    assert statuses == {"completed": 520}


def test_stopped_worker_marked_unavailable_and_its_late_result_rejected(cluster):
    cluster.start_coordinator()
    frozen = cluster.start_worker("frozen", concurrency=1)
    [tid] = cluster.submit([{"type": "command", "config": {"argv": ["sleep", "1"]}, "timeout_seconds": 30}])
    wait_until(lambda: cluster.task(tid)["status"] == "running", 20, message="task running on frozen")
    frozen.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        cluster.start_worker("healthy", concurrency=1)
        wait_until(lambda: cluster.worker("frozen")["state"] == "unavailable", 10, 0.02, "frozen unavailable")
        elapsed = time.monotonic() - stopped_at
        assert 1.0 < elapsed < 4.0, f"unavailable after {elapsed:.2f}s (timeout 1.5s)"
        wait_until(lambda: cluster.task(tid)["status"] == "completed", 30, message="task done elsewhere")
        # Let the frozen worker's own run of the task finish while the worker itself is stopped.
        wait_until(lambda: all(c.status() == psutil.STATUS_ZOMBIE for c in
                               psutil.Process(frozen.pid).children(recursive=True) if c.name() == "sleep"),
                   10, message="frozen worker's task process finished")
    finally:
        frozen.send_signal(signal.SIGCONT)
    # After SIGCONT the worker reconnects holding the stale attempt (or its result, if the task's
    # exit was seen first): attempt fencing must refuse it either way.
    fenced = ("dtf_results_rejected_total 1", "dtf_stale_attempts_fenced_total 1")
    wait_until(lambda: any(f in cluster.api.get("/metrics") for f in fenced), 20, message="late result fenced")
    task = cluster.task(tid)
    assert [a["outcome"] for a in task["attempts"]] == ["lost", "passed"]
    assert task["attempts"][1]["worker_id"] == "healthy"
    wait_until(lambda: cluster.worker("frozen").get("connected"), 20, message="frozen reconnects")


def test_wrong_worker_token_refused(cluster):
    cluster.start_coordinator()
    proc = cluster.start_worker("intruder", token="wrong", wait=False)
    assert proc.wait(20) == 3
    assert cluster.worker("intruder") == {}


def test_api_auth_and_bad_input(cluster):
    cluster.start_coordinator()
    anonymous = ApiClient(cluster.api.base_url, None)
    with pytest.raises(ApiError, match="HTTP 401"):
        anonymous.get("/api/v1/status")
    assert anonymous.get("/health")["status"] == "ok"
    with pytest.raises(ApiError, match=r"HTTP 400.*unknown task field\(s\): colour.*field: colour"):
        cluster.api.post("/api/v1/tasks", {"type": "python", "config": {"callable": "operator:add"}, "colour": 1})
    with pytest.raises(ApiError, match=r"HTTP 400.*tasks\[1\]\.type"):
        cluster.api.post("/api/v1/tasks", {"tasks": [{"type": "command", "config": {"argv": ["true"]}},
                                                     {"type": "nonsense"}]})
    with pytest.raises(ApiError, match=r"HTTP 400.*timeout_seconds"):
        cluster.api.post("/api/v1/tasks", {"type": "command", "config": {"argv": ["true"]}, "timeout_seconds": -1})
    with pytest.raises(ApiError, match=r"HTTP 400.*depends_on names unknown task"):
        cluster.api.post("/api/v1/tasks", {"type": "command", "config": {"argv": ["true"]}, "depends_on": ["nope"]})
    raw = subprocess.run(["curl", "-s", "-o", "-", "-w", "%{http_code}", "-X", "POST", "-H",
                          f"Authorization: Bearer {cluster.api_token}", "-H", "Content-Type: application/json",
                          "-d", "{not json",
                          f"{cluster.api.base_url}/api/v1/tasks"], capture_output=True, text=True)
    assert raw.stdout.endswith("400") and "not valid JSON" in raw.stdout
    assert cluster.status()["tasks"] == {}, "nothing was created by bad submissions"


def test_dependencies_block_and_retry_wait_then_flaky(cluster):
    cluster.start_coordinator()
    upstream_ok, upstream_bad = cluster.submit([
        {"type": "python", "config": {"callable": "operator:add", "args": [1, 1]}},
        {"type": "chaos", "config": {"fault": "assertion"}}])
    down_ok, down_blocked = cluster.submit([
        {"type": "python", "config": {"callable": "operator:mul", "args": [3, 3]}, "depends_on": [upstream_ok]},
        {"type": "python", "config": {"callable": "operator:mul", "args": [3, 3]}, "depends_on": [upstream_bad]}])
    flaky = cluster.submit([{"type": "chaos", "config": {"fault": "network", "on_attempts": [1]},
                             "max_retries": 2}])[0]
    assert cluster.task(down_ok)["status"] == "queued"
    cluster.start_worker("w1", concurrency=2)
    cluster.wait_all_terminal(5, timeout=60)
    assert cluster.task(down_ok)["status"] == "completed" and cluster.task(down_ok)["result"] == 9
    assert cluster.task(upstream_bad)["status"] == "failed"
    blocked = cluster.task(down_blocked)
    assert blocked["status"] == "error" and "upstream" in blocked["error"]["message"]
    assert blocked["attempts"] == [], "a dependant of a failed task is blocked, never run"
    retried = cluster.task(flaky)
    assert retried["status"] == "completed" and retried["flaky"] is False, "a network fault is not the test's"
    assert [a["outcome"] for a in retried["attempts"]] == ["error", "passed"]
