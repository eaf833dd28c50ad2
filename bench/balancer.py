"""Failed attempts and throughput with the load balancer off and on, on real processes.

    .venv/bin/python bench/balancer.py [--tasks 600] [--probation 1] [--seconds 0.1] [--fail-seconds 0.3]

Three workers (2 slots each): "good"; "flaky-box", which fails half of whatever it runs; and
"rocm-box" (declares rocm), which fails every task of model "bert" (an error-prone hardware x
model pair). Tasks are python calls of tests/analytics/targets.py:work, models bert/gpt/t5 in
turn, ``max_retries`` 3 (a failed test reruns on another worker). A failing run takes
``--fail-seconds`` (a degraded run is slow). The same suite runs twice on fresh coordinators;
the figures are failed attempts, wall time and throughput.

The error pipeline's quarantine (a worker blamed for failures is benched for 4 x --probation) is
on in both runs. With the coordinator's default probation (15 s) it outlasts a short run and
hides what the balancer does; --probation 1 lets quarantined workers come back, as they do over
a long-running fleet's day, so the comparison shows the balancer's own effect.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import Cluster  # noqa: E402

WORKERS = [("good", [], {}), ("flaky-box", [], {"DTF_TEST_FAIL_RATE": "0.5"}),
           ("rocm-box", ["--hardware", "cpu,rocm"], {"DTF_TEST_FAIL_MODELS": "bert"})]
MODELS = ("bert", "gpt", "t5")


def run_once(balancer: bool, tasks: int, seconds: float, fail_seconds: float, probation: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="dtf-bench-balancer-") as tmp:
        args = ["--probation", str(probation)] + (["--load-balancer"] if balancer else [])
        c = Cluster(Path(tmp), coordinator_args=args)
        try:
            c.start_coordinator()
            base = c.env
            for wid, extra, env in WORKERS:
                c.env = {**base, **env}
                c.start_worker(wid, concurrency=2, extra=extra)
            c.env = base
            suite = [{"type": "python", "max_retries": 3, "tags": {"model": MODELS[i % 3]},
                      "config": {"callable": "tests.analytics.targets:work",
                                 "kwargs": {"model": MODELS[i % 3], "seconds": seconds,
                                            "fail_seconds": fail_seconds}}} for i in range(tasks)]
            t0 = time.perf_counter()
            c.submit(suite)
            counts = c.wait_all_terminal(tasks, timeout=600)
            wall = time.perf_counter() - t0
            items, cursor = [], None
            while True:
                page = c.api.get("/api/v1/tasks?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
                items += page["items"]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            attempts = [a for t in items for a in t["attempts"]]
            failed = [a for a in attempts if a["outcome"] not in ("passed", "lost", "cancelled", None)]
            return {"wall": wall, "counts": counts, "attempts": len(attempts), "failed": len(failed),
                    "per_worker": Counter(a["worker_id"] for a in attempts),
                    "failed_per_worker": Counter(a["worker_id"] for a in failed),
                    "bert_on_rocm": sum(1 for t in items for a in t["attempts"]
                                        if a["worker_id"] == "rocm-box" and t["tags"].get("model") == "bert")}
        finally:
            c.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=600)
    p.add_argument("--seconds", type=float, default=0.1, help="duration of a passing run")
    p.add_argument("--fail-seconds", type=float, default=0.3, help="duration of a failing run")
    p.add_argument("--probation", type=float, default=1.0,
                   help="coordinator --probation: how soon a quarantined worker is tried again")
    args = p.parse_args()
    results = {}
    for on in (False, True):
        results[on] = r = run_once(on, args.tasks, args.seconds, args.fail_seconds, args.probation)
        print(f"balancer {'on ' if on else 'off'}: {r['counts'].get('completed', 0)}/{args.tasks} completed, "
              f"{r['attempts']} attempts, {r['failed']} failed attempts, {r['wall']:.1f}s wall, "
              f"{args.tasks / r['wall']:.1f} tasks/s; attempts per worker {dict(sorted(r['per_worker'].items()))}; "
              f"failed per worker {dict(sorted(r['failed_per_worker'].items()))}; bert on rocm-box {r['bert_on_rocm']}")
    off, on = results[False], results[True]
    cut = 1 - on["failed"] / off["failed"] if off["failed"] else 0.0
    print(f"failed attempts cut by {100 * cut:.0f}% (target >= 50%); throughput "
          f"{args.tasks / off['wall']:.1f} -> {args.tasks / on['wall']:.1f} tasks/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
