"""A bigger crash storm than the test's: kill -9 the coordinator (and workers) at random moments.

Each round submits a batch of short python tasks, lets the fleet work for a random moment, now and
then kills a worker, then kills the coordinator with SIGKILL and restarts it on the same files;
workers reconnect by themselves. At the end every task must be terminal exactly once, each
completed task must have exactly one passed attempt (SQLite and DuckDB task_results), and both
databases must open cleanly after a last kill -9.

    python bench/crash_storm.py [--rounds 60] [--workers 3] [--per-round 25] [--seed N]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability.storm import run_storm  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=60, help="coordinator kill -9s (default 60)")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--initial", type=int, default=200, help="tasks submitted before the first kill")
    ap.add_argument("--per-round", type=int, default=25, help="tasks submitted each round")
    ap.add_argument("--worker-kill-chance", type=float, default=0.35)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (logs, databases)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dtf-storm-"))
    try:
        rep = run_storm(tmp, rounds=args.rounds, workers=args.workers, initial=args.initial,
                        per_round=args.per_round, worker_kill_chance=args.worker_kill_chance, seed=args.seed,
                        say=lambda s: print(s, flush=True) if s.startswith("crash storm seed") else None)
        print(rep.summary())
        return 1 if rep.problems or sum(rep.final_counts.values()) != len(rep.submitted) else 0
    finally:
        if args.keep:
            print(f"files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
