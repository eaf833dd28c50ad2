"""A crash storm on real processes: kill -9 the coordinator (and workers) at random moments under load.

Each round submits a batch of short python tasks, lets the fleet work for a random moment, kills
a random worker now and then, and kills the coordinator with SIGKILL; the coordinator restarts on
the same files and the workers reconnect by themselves. Tasks are only submitted while the
coordinator is known to be up, so the returned ids are exactly the tasks that must exist.
Shared by tests/reliability/test_crash_storm.py and bench/crash_storm.py (a bigger run).
"""
from __future__ import annotations

import random
import signal
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.harness import Cluster, wait_until
from tests.reliability.checks import TERMINAL, check_exactly_once, duckdb_report, sqlite_ledger

COORDINATOR_ARGS = ["--heartbeat-interval", "0.2", "--heartbeat-timeout", "1.5", "--restart-grace", "2",
                    "--lease-grace", "3", "--probation", "1", "--result-aggregator"]


@dataclass
class StormReport:
    rounds: int = 0
    coordinator_kills: int = 0
    worker_kills: int = 0
    killed_with_work_in_flight: int = 0
    submitted: list[str] = field(default_factory=list)
    restart_seconds: list[float] = field(default_factory=list)
    reconnect_seconds: list[float] = field(default_factory=list)
    drain_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    final_counts: dict[str, int] = field(default_factory=dict)
    attempts_per_task: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    duckdb: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        def p(xs: list[float], q: float) -> float:
            return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")
        lost = len(self.submitted) - sum(self.final_counts.values())
        return "\n".join([
            f"crash storm: {self.rounds} rounds in {self.elapsed_seconds:.1f}s; coordinator kill -9: "
            f"{self.coordinator_kills} ({self.killed_with_work_in_flight} with tasks in flight), worker kill -9: "
            f"{self.worker_kills}",
            f"  tasks submitted {len(self.submitted)}, terminal {sum(self.final_counts.values())} "
            f"{dict(self.final_counts)}, lost {lost}",
            f"  attempts per task {dict(sorted(self.attempts_per_task.items()))}",
            f"  coordinator restart to healthy: median {statistics.median(self.restart_seconds):.2f}s, "
            f"max {max(self.restart_seconds):.2f}s; all workers back: median "
            f"{statistics.median(self.reconnect_seconds):.2f}s, p95 {p(self.reconnect_seconds, 0.95):.2f}s",
            f"  drain after the last restart {self.drain_seconds:.1f}s",
            f"  duckdb {self.duckdb}",
            f"  problems: {self.problems or 'none'}",
        ])


def task_batch(rng: random.Random, n: int, start: int) -> list[dict[str, Any]]:
    tasks = []
    for i in range(start, start + n):
        if rng.random() < 0.6:
            tasks.append({"type": "python", "config": {"callable": "time:sleep",
                                                       "args": [round(rng.uniform(0.05, 0.5), 3)]}})
        else:
            tasks.append({"type": "python", "config": {"callable": "operator:add", "args": [i, 1000]}})
    return tasks


def run_storm(tmp: Path, *, rounds: int = 20, workers: int = 3, initial: int = 100, per_round: int = 15,
              worker_kill_chance: float = 0.35, seed: int | None = None,
              say: Callable[[str], None] = lambda s: None) -> StormReport:
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    say(f"crash storm seed {seed}")
    rep = StormReport()
    cluster = Cluster(tmp, coordinator_args=COORDINATOR_ARGS)
    names = [f"w{i + 1}" for i in range(workers)]
    started = time.monotonic()
    try:
        cluster.start_coordinator()
        for name in names:
            cluster.start_worker(name, concurrency=4, extra=["--pool-size", "4"])
        rep.submitted += cluster.submit(task_batch(rng, initial, 0))
        for r in range(rounds):
            rep.rounds += 1
            rep.submitted += cluster.submit(task_batch(rng, per_round, len(rep.submitted)))
            time.sleep(rng.uniform(0.05, 0.5))  # the random moment of the fault, not a wait for a condition
            victim = None
            if rng.random() < worker_kill_chance:
                victim = rng.choice(names)
                proc = cluster.workers[victim]
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                rep.worker_kills += 1
                time.sleep(rng.uniform(0.0, 0.3))
            counts = cluster.status()["tasks"]
            if counts.get("assigned", 0) + counts.get("running", 0):
                rep.killed_with_work_in_flight += 1
            cluster.kill_coordinator()
            rep.coordinator_kills += 1
            t0 = time.monotonic()
            cluster.start_coordinator()
            rep.restart_seconds.append(time.monotonic() - t0)
            if victim is not None:
                cluster.start_worker(victim, concurrency=4, extra=["--pool-size", "4"], wait=False)
            wait_until(lambda: all(cluster.worker(n).get("connected") for n in names), 30, 0.02,
                       f"all workers reconnected after restart {r + 1}")
            rep.reconnect_seconds.append(time.monotonic() - t0)
            say(f"round {r + 1}: {cluster.status()['tasks']}")
        drain_from = time.monotonic()
        cluster.wait_all_terminal(len(rep.submitted), timeout=90)
        rep.drain_seconds = time.monotonic() - drain_from
        counts = cluster.status()["tasks"]
        rep.final_counts = {s: n for s, n in counts.items() if n}
        # At rest means written: the API answers from memory, the state file takes each result at
        # its group commit (the worker is acknowledged only then, and would resend it after a
        # crash). Under load the last commit can trail the status by a moment: wait for it.
        state = tmp / "state.sqlite"
        wait_until(lambda: sum(s in TERMINAL for s in sqlite_ledger(state)["statuses"].values()) >= len(rep.submitted),
                   15, 0.05, "every terminal task in the state file")
        # A last kill -9 at rest: the files must open cleanly with nobody to tidy them up.
        cluster.kill_coordinator()
        rep.coordinator_kills += 1
        ledger = sqlite_ledger(tmp / "state.sqlite")
        rep.problems += check_exactly_once(ledger, rep.submitted)
        rep.attempts_per_task = Counter(ledger["attempts"].values())
        rep.duckdb = duckdb_report(tmp / "events.duckdb")
        if rep.duckdb.get("duplicate_attempt_rows") or rep.duckdb.get("tasks_passed_twice"):
            rep.problems.append(f"duckdb task_results holds duplicates: {rep.duckdb}")
        # And a coordinator started on them resumes with the same totals.
        cluster.start_coordinator()
        again = cluster.status()["tasks"]
        if {s: n for s, n in again.items() if n} != rep.final_counts:
            rep.problems.append(f"after the last restart the counts changed: {rep.final_counts} -> {again}")
    finally:
        rep.elapsed_seconds = time.monotonic() - started
        cluster.stop()
    return rep
