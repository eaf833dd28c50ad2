"""Calls per second through the worker's process pool vs concurrent.futures.ProcessPoolExecutor.

    .venv/bin/python bench/pool.py [--calls 100000] [--size N] [--window 2000]

Every figure is the same trivial call, operator.add(i, 1), made from an asyncio program with
``window`` calls in flight; both pools have ``size`` processes (default: the CPU count).
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import operator
import os
import statistics
import sys
import time
from itertools import repeat
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.executors.base import ExecContext  # noqa: E402
from worker.executors.pool import ProcessPool  # noqa: E402
from worker.executors.python_exec import PythonExecutor  # noqa: E402
from worker.executors.shared import SharedPool  # noqa: E402


async def windowed(calls: int, window: int, make) -> float:
    """Seconds to finish ``calls`` calls, keeping ``window`` in flight."""
    started = time.perf_counter()
    for base in range(0, calls, window):
        results = await asyncio.gather(*(make(i) for i in range(base, min(calls, base + window))))
        assert results[-1] is not None
    return time.perf_counter() - started


async def bench_pool(calls: int, size: int, window: int) -> dict[str, float]:
    # the worker's defaults: children recycled every 10,000 calls, 16 calls in flight per child
    pool = ProcessPool(size=size)
    await pool.start()
    try:
        await windowed(window, window, lambda i: pool.call("operator:add", [i, 1]))  # warm-up

        async def one(i: int) -> int:
            result = await pool.call("operator:add", [i, 1])
            return result.value

        raw = await windowed(calls, window, one)
        executor = PythonExecutor(SharedPool(pool))
        ctx = ExecContext(task_id="bench", attempt=1, timeout_seconds=30, work_dir=Path("."),
                          worker_id="bench", hardware=["cpu"])
        config = {"callable": "operator:add", "args": [1, 2]}
        via_executor = await windowed(calls, window, lambda i: executor.run(config, ctx))
        latencies = []
        for i in range(2000):
            started = time.perf_counter()
            await pool.call("operator:add", [i, 1])
            latencies.append(time.perf_counter() - started)
    finally:
        await pool.close()
    return {"pool": calls / raw, "executor": calls / via_executor,
            "latency_us": statistics.median(latencies) * 1e6}


async def bench_baseline(calls: int, size: int, window: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(max_workers=size) as executor:
        list(executor.map(operator.add, range(size * 4), repeat(1)))  # warm-up: start the workers
        via_loop = await windowed(calls, window,
                                  lambda i: loop.run_in_executor(executor, operator.add, i, 1))
        started = time.perf_counter()
        list(executor.map(operator.add, range(calls), repeat(1), chunksize=1))
        mapped = time.perf_counter() - started
    return {"run_in_executor": calls / via_loop, "map": calls / mapped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--window", type=int, default=2000)
    args = parser.parse_args()
    ours = asyncio.run(bench_pool(args.calls, args.size, args.window))
    base = asyncio.run(bench_baseline(args.calls, args.size, args.window))
    print(f"{args.calls} calls of operator.add, {args.size} processes, {args.window} in flight, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"  ProcessPool.call                          {ours['pool']:>10,.0f} calls/s")
    print(f"  PythonExecutor.run (ExecResult mapping)   {ours['executor']:>10,.0f} calls/s")
    print(f"  ProcessPool single call round trip        {ours['latency_us']:>10,.0f} us (median)")
    print(f"  baseline ProcessPoolExecutor via loop     {base['run_in_executor']:>10,.0f} calls/s")
    print(f"  baseline ProcessPoolExecutor.map(cs=1)    {base['map']:>10,.0f} calls/s")
    print(f"  speed-up over run_in_executor             {ours['pool'] / base['run_in_executor']:>10.1f}x")


if __name__ == "__main__":
    main()
