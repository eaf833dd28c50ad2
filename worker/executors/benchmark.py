"""The ``benchmark`` task type: real timings of a callable, measured in a pool child."""
from __future__ import annotations

import time
from typing import Any

from worker.executors.base import ExecContext, ExecResult, ExecutorError, Outcome
from worker.executors.python_exec import PoolUser, exec_result_of_call, parse_call
from worker.executors.reporting import finish, ExecutorConfigError, Stage, exec_error_dict

_DEFAULT_ITERATIONS = 100
_DEFAULT_WARMUP = 5


def _count(config: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ExecutorConfigError(f"config field {key!r} must be an integer >= {minimum}, got {value!r}")
    return value


class BenchmarkExecutor(PoolUser):
    """Result: {iterations, warmup, min, median, mean, p95, max, stdev}, all times in seconds
    (time.perf_counter_ns per call, in the child, so no pipe or loop latency is counted)."""

    type_name = "benchmark"
    schedules_itself = True  # the pool decides when it runs (see PythonExecutor)

    async def run(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        started = time.monotonic()
        try:
            target, args, kwargs = parse_call(config)
            iterations = _count(config, "iterations", _DEFAULT_ITERATIONS, 1)
            warmup = _count(config, "warmup", _DEFAULT_WARMUP, 0)
            pool = await self.pool()
            call = await pool.bench(target, args, kwargs, iterations=iterations, warmup=warmup,
                                    timeout_seconds=ctx.timeout_seconds, on_start=ctx.on_start)
        except ExecutorError as exc:  # bad config, or the pool is closed / cannot start
            stage = Stage.CONFIG if isinstance(exc, ExecutorConfigError) else Stage.SETUP
            return finish(self.type_name, started, ExecResult(
                outcome=Outcome.ERROR, error=exec_error_dict(exc, stage)))
        result = exec_result_of_call(call, what=f"benchmark of {target}",
                                     timeout_seconds=ctx.timeout_seconds)
        return finish(self.type_name, started, result, run_seconds=call.run_seconds)
