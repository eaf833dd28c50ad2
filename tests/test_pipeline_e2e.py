"""Every failure through the pipeline, on real processes: category, actions, final status, storage."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading

import duckdb
import pytest

from tests.harness import ROOT, Cluster, wait_until

TERMINAL = ("completed", "failed", "error", "timed_out", "cancelled")


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, coordinator_args=["--heartbeat-interval", "0.2", "--heartbeat-timeout", "2",
                                            "--probation", "2", "--lease-grace", "3"])
    yield c
    c.stop()


def stored(cluster: Cluster, sql: str) -> list[tuple]:
    con = duckdb.connect(str(cluster.tmp / "events.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# (fault config, task extras, expected category of attempt 1, expected actions, final status)
FAULTS = {
    "network": ({"fault": "network", "on_attempts": [1]}, {},
                "network_connection_error", {"reconnect"}, "completed"),
    "crash": ({"fault": "crash", "on_attempts": [1]}, {},
              "worker_crash_error", {"mark_worker_crashed", "reassign_task_to_different_worker"}, "completed"),
    "timeout": ({"fault": "hang", "on_attempts": [1]}, {"timeout_seconds": 1.5},
                "network_timeout_error", {"increase_timeout"}, "completed"),
    "oom": ({"fault": "oom", "on_attempts": [1]}, {},
            "resource_allocation_error", {"request_resource_cleanup", "reallocate_task"}, "completed"),
    "hardware": ({"fault": "hardware_unavailable", "on_attempts": [1]}, {"requirements": {"hardware": ["cuda", "cpu"]}},
                 "hardware_availability_error", {"mark_hardware_unavailable", "reallocate_to_alternative_hardware"},
                 "completed"),
    "assertion": ({"fault": "assertion"}, {}, "test_execution_error", {"record_test_failure"}, "failed"),
    "import": ({"fault": "import"}, {"max_retries": 0}, "test_dependency_error", {"check_dependencies"}, "error"),
    "config": ({"fault": "config"}, {}, "test_configuration_error", {"record_test_error"}, "error"),
}


def test_each_chaos_fault_is_classified_acted_upon_and_stored(cluster):
    cluster.start_coordinator()
    for i in range(1, 4):
        cluster.start_worker(f"w{i}", concurrency=4, extra=["--hardware", "cpu,cuda"])
    names = list(FAULTS)
    ids = cluster.submit([{"type": "chaos", "config": FAULTS[n][0], **FAULTS[n][1]} for n in names])
    by_name = dict(zip(names, ids))
    cluster.wait_all_terminal(len(ids), timeout=120)
    for name, tid in by_name.items():
        _, extra, category, actions, final = FAULTS[name]
        task = cluster.task(tid)
        assert task["status"] == final, (name, task["status"], task["error"])
        assert task["attempts"][0]["error_category"] == category, (name, task["attempts"][0])
        if final == "completed":
            # infrastructure faults: retried and completed, not flaky (that needs a failed test)
            assert task["flaky"] is False and len(task["attempts"]) == 2, name
            assert task["retried"] is True, name
    # Effects that must be visible through the API.
    timeout_task = cluster.task(by_name["timeout"])
    assert timeout_task["timeout_seconds"] == pytest.approx(2.25), "increase_timeout grew the timeout x1.5"
    crash = cluster.task(by_name["crash"])["attempts"]
    assert crash[1]["worker_id"] != crash[0]["worker_id"], "reassigned to a different worker"
    hw = cluster.task(by_name["hardware"])["attempts"]
    assert hw[1]["worker_id"] != hw[0]["worker_id"]
    assert cluster.task(by_name["hardware"])["requirements"]["allow_fallback"] is True
    cluster.stop()  # the history must be in the DuckDB file once the coordinator is gone
    events = stored(cluster, "SELECT task_id, category, outcome FROM error_events")
    actions = stored(cluster, "SELECT task_id, action, success, detail FROM recovery_actions")
    for name, tid in by_name.items():
        category, expected = FAULTS[name][2], FAULTS[name][3]
        assert (tid, category) in {(t, c) for t, c, _ in events}, name
        done = {a for t, a, ok, _ in actions if t == tid and ok}
        assert expected <= done, (name, done)
    confirmations = [d for _, a, ok, d in actions if a == "request_resource_cleanup" and d and "confirmed" in d]
    assert confirmations, "the worker confirmed its cleanup"


def test_disconnect_fault_requeues_and_marks_worker(cluster):
    # Alone on its worker: dropping the connection takes every task the worker holds with it.
    cluster.start_coordinator()
    cluster.start_worker("flaky-link", concurrency=1)
    [tid] = cluster.submit([{"type": "chaos", "config": {"fault": "disconnect", "on_attempts": [1], "seconds": 2}}])
    wait_until(lambda: cluster.task(tid)["attempts"] and cluster.task(tid)["attempts"][0]["outcome"], 30,
               message="first attempt lost")
    cluster.start_worker("steady", concurrency=1)
    wait_until(lambda: cluster.task(tid)["status"] == "completed", 60, message="task done elsewhere")
    task = cluster.task(tid)
    assert task["attempts"][0]["error_category"] == "worker_disconnection_error"
    assert task["attempts"][0]["outcome"] == "lost"
    assert task["attempts"][1]["worker_id"] == "steady"
    cluster.stop()
    actions = {a for (a,) in stored(cluster, f"SELECT action FROM recovery_actions WHERE task_id = '{tid}'")}
    assert {"mark_worker_unavailable", "reassign_task"} <= actions


def test_hardware_unavailable_excluded_on_that_worker_runs_elsewhere(cluster):
    cluster.start_coordinator()
    cluster.start_worker("gpu-a", concurrency=1, extra=["--hardware", "cpu,cuda"])
    [tid] = cluster.submit([{"type": "chaos", "config": {"fault": "hardware_unavailable", "on_attempts": [1]},
                             "requirements": {"hardware": ["cuda"]}}])
    wait_until(lambda: "cuda" in cluster.worker("gpu-a")["excluded_hardware"], 30, message="cuda excluded")
    cluster.start_worker("gpu-b", concurrency=1, extra=["--hardware", "cpu,cuda"])
    wait_until(lambda: cluster.task(tid)["status"] in TERMINAL, 60, message="task done")
    task = cluster.task(tid)
    assert task["status"] == "completed"
    assert [a["worker_id"] for a in task["attempts"]] == ["gpu-a", "gpu-b"]


def test_slow_worker_marked_slow_gets_less_work_and_recovers(cluster):
    cluster.start_coordinator()
    slow = cluster.start_worker("slowpoke", concurrency=2, extra=["--pool-size", "1"])
    cluster.start_worker("quick", concurrency=2, extra=["--pool-size", "1"])
    # A throttled machine, for real: the slow worker's executor process is stopped 80 ms of every
    # 100 ms (as a noisy neighbour or thermal throttling would), whatever else the machine does.
    import psutil
    children = psutil.Process(slow.pid).children(recursive=True)
    assert children, "the slow worker's pool child"
    stop_throttle = threading.Event()

    def throttle() -> None:
        while not stop_throttle.is_set():
            for ch in children:
                ch.send_signal(signal.SIGSTOP)
            stop_throttle.wait(0.08)
            for ch in children:
                ch.send_signal(signal.SIGCONT)
            stop_throttle.wait(0.02)
    thread = threading.Thread(target=throttle, daemon=True)
    thread.start()
    try:
        ids = cluster.submit([{"type": "python", "config": {"callable": "tests.workload:burn", "args": [0.03]}}
                              for _ in range(40)])
        wait_until(lambda: cluster.worker("slowpoke")["state"] == "slow", 60, 0.05, "slowpoke marked slow")
        cluster.wait_all_terminal(40, timeout=120)
        done_by = [cluster.task(t)["attempts"][-1]["worker_id"] for t in ids]
        assert done_by.count("quick") > 2 * done_by.count("slowpoke"), done_by
    finally:
        stop_throttle.set()
        thread.join()
        for ch in children:
            ch.send_signal(signal.SIGCONT)
    actions = cluster.api.get("/api/v1/recovery-actions?worker_id=slowpoke&action=mark_worker_slow")["items"]
    assert actions and "fleet" in actions[0]["detail"]
    # After its penalty the worker comes back through a one-slot trial, then full service.
    wait_until(lambda: cluster.worker("slowpoke")["probation_until"] is not None, 20, 0.05, "trial")
    wait_until(lambda: cluster.worker("slowpoke")["state"] == "idle"
               and cluster.worker("slowpoke")["probation_until"] is None, 20, 0.05, "recovered")


def test_poison_task_stops_after_crashing_workers_and_fleet_survives(cluster):
    cluster.start_coordinator()
    workers = {f"w{i}": cluster.start_worker(f"w{i}", concurrency=2) for i in range(1, 5)}
    [poison] = cluster.submit([{"type": "chaos", "config": {"fault": "crash", "target": "worker"}}])
    wait_until(lambda: cluster.task(poison)["status"] in TERMINAL, 60, message="poison task stopped")
    task = cluster.task(poison)
    assert task["status"] == "error" and "poison" in task["error"]["message"], task["error"]
    assert len({a["worker_id"] for a in task["attempts"]}) == 3
    dead = [w for w, p in workers.items() if p.poll() is not None]
    alive = [w for w, p in workers.items() if p.poll() is None]
    assert len(dead) == 3 and len(alive) == 1
    ids = cluster.submit([{"type": "python", "config": {"callable": "operator:add", "args": [1, 1]}}
                          for _ in range(20)])
    wait_until(lambda: all(cluster.task(t)["status"] == "completed" for t in ids), 60, message="fleet works")


def test_flaky_test_rerun_on_another_worker_and_pytest_cases_kept(tmp_path):
    c = Cluster(tmp_path, coordinator_args=["--flaky-reruns", "1", "--result-aggregator"])
    try:
        c.start_coordinator()
        c.start_worker("w1", concurrency=2)
        c.start_worker("w2", concurrency=2)
        c.start_worker("w3", concurrency=2)  # the crash benches one worker; reruns still have two
        suite = tmp_path / "suite"
        suite.mkdir()
        (suite / "test_one.py").write_text("def test_ok():\n    assert True\n\n"
                                           "def test_bad():\n    assert 1 == 2\n")
        flaky, broken, cases, crashed_once = c.submit([
            {"type": "chaos", "config": {"fault": "assertion", "on_attempts": [1]}},
            {"type": "chaos", "config": {"fault": "assertion"}},
            {"type": "pytest", "config": {"args": [str(suite), "-q"]}},
            {"type": "chaos", "config": {"fault": "crash", "on_attempts": [1]}}])
        c.wait_all_terminal(4, timeout=90)
        f = c.task(flaky)
        assert f["status"] == "completed" and f["flaky"] is True and f["retried"] is False
        r = c.task(crashed_once)
        assert r["status"] == "completed" and r["flaky"] is False and r["retried"] is True
        # the report's counts keep the two apart: one flaky test, one retry after a crash
        wait_until(lambda: c.api.get("/api/v1/results/summary")["tasks"] == 4, 20, message="results stored")
        summary = c.api.get("/api/v1/results/summary")
        assert (summary["flaky_tasks"], summary["retried_tasks"]) == (1, 1), summary
        assert f["attempts"][0]["worker_id"] != f["attempts"][1]["worker_id"], "rerun on a different worker"
        b = c.task(broken)
        assert b["status"] == "failed" and len(b["attempts"]) == 2
        p = c.task(cases)
        assert p["status"] == "failed"
        outcomes = {case["name"]: case["outcome"] for case in p["details"]["cases"]}
        assert outcomes == {"test_ok": "passed", "test_bad": "failed"}
    finally:
        c.stop()


def test_user_replacement_of_execute_recovery_action(tmp_path):
    """The guide's pattern: handle your own actions, delegate the rest to the built-in executor."""
    script = tmp_path / "embed.py"
    script.write_text(f'''
import asyncio, sys
sys.path.insert(0, {str(ROOT)!r})
from coordinator import Coordinator, integrate_error_handler
from error_handling import DistributedErrorHandler, ErrorCategory, RetryPolicy

coordinator = Coordinator(host="127.0.0.1", port=int(sys.argv[1]), db_path={str(tmp_path / "e.duckdb")!r},
                          state_path={str(tmp_path / "s.sqlite")!r}, worker_token="wtok", api_token="atok")
coordinator.error_handler = DistributedErrorHandler(
    retry_policies={{ErrorCategory.NETWORK_CONNECTION_ERROR: RetryPolicy(
        max_retries=5, initial_delay_seconds=0.1, max_delay_seconds=1, backoff_factor=2.0, jitter_factor=0.2)}},
    enable_pattern_detection=True, pattern_similarity_threshold=0.8, error_history_size=1000)
integrate_error_handler(coordinator)
original = coordinator.execute_recovery_action
seen = []

async def custom_execute_recovery_action(action, task_id, worker_id):
    if action == "reconnect":
        seen.append((action, task_id, worker_id))
        print("CUSTOM", action, task_id, worker_id, flush=True)
        return True
    return await original(action, task_id, worker_id)

coordinator.execute_recovery_action = custom_execute_recovery_action
coordinator.run()
''')
    c = Cluster(tmp_path)
    proc = subprocess.Popen([sys.executable, str(script), str(c.port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=c.env)
    c.coordinator = proc
    try:
        wait_until(c._healthy, 30, message="embedded coordinator")
        c.start_worker("w1")
        [tid] = c.submit([{"type": "chaos", "config": {"fault": "network", "on_attempts": [1]}}])
        wait_until(lambda: c.task(tid)["status"] == "completed", 30, message="task retried and done")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        c.stop()
    assert f"CUSTOM reconnect {tid} w1" in out
    rows = duckdb.connect(str(tmp_path / "e.duckdb"), read_only=True).execute(
        "SELECT action, success FROM recovery_actions WHERE task_id = ?", [tid]).fetchall()
    assert ("reconnect", True) in rows


def test_reconnect_action_keeps_the_workers_other_tasks(cluster):
    cluster.start_coordinator()
    cluster.start_worker("solo", concurrency=2)
    slow, net = cluster.submit([{"type": "chaos", "config": {"fault": "slow", "seconds": 2}},
                                {"type": "chaos", "config": {"fault": "network", "on_attempts": [1]}}])
    cluster.wait_all_terminal(2, timeout=60)
    assert cluster.task(net)["attempts"][0]["error_category"] == "network_connection_error"
    task = cluster.task(slow)
    assert task["status"] == "completed" and len(task["attempts"]) == 1, task["attempts"]


def test_declared_packages_steer_matching(cluster):
    cluster.start_coordinator()
    cluster.start_worker("w1", concurrency=2)
    have, lack = cluster.submit([
        {"type": "python", "config": {"callable": "operator:add", "args": [2, 2]},
         "requirements": {"packages": ["pytest>=7"]}},
        {"type": "python", "config": {"callable": "operator:add", "args": [2, 2]},
         "requirements": {"packages": ["dtf-no-such-package-xyz"]}}])
    wait_until(lambda: cluster.task(have)["status"] == "completed", 30, message="task with present package")
    waiting = cluster.task(lack)
    assert waiting["status"] == "queued", "no worker has the package: it waits for one that does"
    assert "dtf-no-such-package-xyz" in waiting["waiting_for"]
    assert "waiting_for" not in cluster.task(have)
