"""A real network partition: one worker in its own network namespace, its link cut and healed.

No process is stopped and no socket is closed: the cut link drops packets both ways, so the
coordinator learns of it only from missing heartbeats, and the worker only when the link heals
(its retransmissions meet a connection the coordinator has since closed).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from coordinator.client import ApiClient
from tests.harness import Cluster, wait_until
from tests.reliability.checks import counter, sqlite_ledger
from tests.reliability.netns import VethNamespace, netns_or_skip

HEARTBEAT_TIMEOUT = 1.5


class PartitionCluster(Cluster):
    """The coordinator binds only the veth host address; every client reaches it there."""

    def __init__(self, tmp: Path, ns: VethNamespace) -> None:
        # Not a loopback bind: real tokens, as the coordinator demands there.
        super().__init__(tmp, worker_token="w-" + "k" * 30, api_token="a-" + "k" * 30, coordinator_args=[
            "--host", ns.host_addr, "--heartbeat-interval", "0.2", "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT),
            "--restart-grace", "5", "--lease-grace", "3", "--probation", "1"])
        self.ns = ns
        self.api = ApiClient(f"http://{ns.host_addr}:{self.port}", self.api_token, timeout_seconds=10)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.ns.host_addr}:{self.port}/ws"

    def start_isolated_worker(self, worker_id: str, concurrency: int) -> subprocess.Popen:
        cmd = [*self.ns.exec_prefix(), sys.executable, "-m", "worker", "--coordinator", self.ws_url,
               "--worker-id", worker_id, "--token", self.worker_token, "--concurrency", str(concurrency),
               "--work-dir", str(self.tmp / "work" / worker_id), "--log-level", "INFO"]
        log = open(self.tmp / f"{worker_id}.log", "ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp)
        self.workers[worker_id] = proc
        wait_until(lambda: self.worker(worker_id).get("connected"), 30, message=f"{worker_id} connected")
        return proc


@pytest.fixture
def partitioned(tmp_path):
    ns = netns_or_skip()
    cluster = PartitionCluster(tmp_path, ns)
    try:
        yield cluster
    finally:
        try:
            ns.heal()  # let a worker that still waits on the link see its end
        except RuntimeError:
            pass
        cluster.stop()
        ns.delete()


def live_sleeps(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if c.name() == "sleep" and c.status() != psutil.STATUS_ZOMBIE]


def test_partitioned_worker_detected_its_work_rerun_and_its_late_results_fenced(partitioned):
    c = partitioned
    c.start_coordinator()
    islander = c.start_isolated_worker("islander", concurrency=4)
    # Long enough to still run when the link is cut: starting the second worker takes a few
    # seconds on a loaded machine, and a run that ended before the cut has nothing to fence.
    ids = c.submit([{"type": "command", "config": {"argv": ["sleep", "6"]}, "timeout_seconds": 30}
                    for _ in range(4)])
    wait_until(lambda: len(c.worker("islander")["running_tasks"]) == 4, 20, message="4 tasks on islander")
    wait_until(lambda: len(live_sleeps(islander)) == 4, 20, message="islander's 4 sleeps running")
    c.start_worker("mainland", concurrency=4)
    metrics_before = c.api.get("/metrics")

    assert len(live_sleeps(islander)) == 4, "the islander's runs ended before the cut"
    cut_at = time.monotonic()
    c.ns.cut()
    wait_until(lambda: c.worker("islander")["state"] == "unavailable", 10, 0.02, "islander unavailable")
    detected = time.monotonic() - cut_at
    # The last heartbeat may have left up to one interval before the cut; the monitor ticks at 0.1 s.
    assert HEARTBEAT_TIMEOUT - 0.3 < detected < HEARTBEAT_TIMEOUT + 1.0, f"partition seen after {detected:.2f}s"
    assert c.worker("islander")["running_tasks"] == []

    wait_until(lambda: all(c.task(t)["status"] == "completed" for t in ids), 30, message="tasks rerun on mainland")
    rerun = time.monotonic() - cut_at
    for tid in ids:
        attempts = c.task(tid)["attempts"]
        assert [(a["worker_id"], a["outcome"]) for a in attempts] == [("islander", "lost"), ("mainland", "passed")]
    # The islander finishes its own runs behind the cut; their results wait, unacknowledged.
    wait_until(lambda: not live_sleeps(islander), 20, message="islander's own runs finished")
    assert islander.poll() is None, "the islander must survive the partition"
    assert not c.worker("islander")["connected"]

    connections = counter(metrics_before, "dtf_worker_connections_total")
    healed_at = time.monotonic()
    c.ns.heal()
    wait_until(lambda: c.worker("islander").get("connected"), 60, 0.05, "islander reconnects by itself")
    reconnected = time.monotonic() - healed_at
    assert counter(c.api.get("/metrics"), "dtf_worker_connections_total") > connections

    def fenced() -> float:
        text = c.api.get("/metrics")
        return counter(text, "dtf_results_rejected_total") + counter(text, "dtf_stale_attempts_fenced_total")
    wait_until(lambda: fenced() >= 4, 20, message="the islander's 4 late results fenced")
    for tid in ids:
        task = c.task(tid)
        assert task["status"] == "completed"
        assert [a["outcome"] for a in task["attempts"]] == ["lost", "passed"], task["attempts"]

    # Back in service after probation: it takes new work again.
    more = c.submit([{"type": "command", "config": {"argv": ["sleep", "0.3"]}} for _ in range(16)])
    wait_until(lambda: c.worker("islander")["completed"] >= 1, 30, message="islander runs new work")
    wait_until(lambda: all(c.task(t)["status"] == "completed" for t in more), 30, message="new work done")

    # The API answers from memory; the state file gets each completion at its group commit, a
    # moment later under load: read the ledger once every completion has reached it.
    wait_until(lambda: all(sqlite_ledger(c.tmp / "state.sqlite")["passed"].get(t, 0) >= 1 for t in ids + more), 10,
               message="every completion committed to the state file")
    ledger = sqlite_ledger(c.tmp / "state.sqlite")
    assert ledger["integrity"] == [("ok",)]
    twice = {t: ledger["passed"].get(t) for t in ids + more if ledger["passed"].get(t) != 1}
    assert not twice, f"every task passed exactly once: {twice}"
    print(f"\npartition: detected {detected:.2f}s after the cut (heartbeat timeout {HEARTBEAT_TIMEOUT}s), "
          f"tasks rerun and completed {rerun:.2f}s after the cut, worker reconnected {reconnected:.2f}s after "
          f"the heal, fenced {fenced():.0f}")
