"""The ``python`` task type: ``{"callable": "pkg.mod:func", "args", "kwargs"}`` in the pool."""
from __future__ import annotations

import time
from typing import Any

from worker.executors.base import ExecContext, ExecResult, ExecutorError, Outcome
from worker.executors.pool import CallResult, CallStatus, ProcessPool
from worker.executors.reporting import (finish, ExecutorConfigError, Stage, error_dict, exec_error_dict,
                                        signal_name)
from worker.executors.shared import SharedPool


def parse_call(config: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
    target = config.get("callable")
    if not isinstance(target, str) or ":" not in target:
        raise ExecutorConfigError("config field 'callable' must be a string like 'package.module:function'")
    args = config.get("args") or []
    kwargs = config.get("kwargs") or {}
    if not isinstance(args, list):
        raise ExecutorConfigError("config field 'args' must be a list", type_name="TypeError")
    if not isinstance(kwargs, dict):
        raise ExecutorConfigError("config field 'kwargs' must be an object", type_name="TypeError")
    return target, args, kwargs


def exec_result_of_call(call: CallResult, *, what: str, timeout_seconds: float | None) -> ExecResult:
    """Map a pool call's ending to a task outcome. An AssertionError is the test's verdict
    (FAILED); anything else raised means it could not run properly (ERROR)."""
    status = call.status
    if status is CallStatus.OK:
        return ExecResult(outcome=Outcome.PASSED, result=call.value)
    error = dict(call.error or {})
    details = {"pid": call.pid}
    if status is CallStatus.RAISED:
        assertion = error.pop("assertion", False)
        error["context"] = {"stage": Stage.EXECUTE.value}
        return ExecResult(outcome=Outcome.FAILED if assertion else Outcome.ERROR,
                          error=error, details=details)
    if status is CallStatus.TIMED_OUT:
        return ExecResult(outcome=Outcome.TIMED_OUT, details=details, error=error_dict(
            "TimeoutError", f"{what} exceeded its timeout of {timeout_seconds:g} s; pool child "
                            f"{call.pid} killed with SIGKILL",
            signal_number=error.get("signal"), stage=Stage.EXECUTE))
    sig = error.get("signal")
    return ExecResult(outcome=Outcome.CRASHED, details=details, error=error_dict(
        "ProcessKilled" if sig is not None else "ProcessExited",
        f"pool child {call.pid} died running {what}: {error.get('message', '')}",
        signal_number=sig, exit_code=error.get("exit_code"), stage=Stage.EXECUTE,
        signal_name=signal_name(sig) if sig is not None else None))


class PoolUser:
    """Acquires the shared pool in start() and releases it in close()."""

    def __init__(self, shared: SharedPool) -> None:
        self._shared = shared
        self._pool: ProcessPool | None = None

    async def start(self) -> None:
        if self._pool is None:
            self._pool = await self._shared.acquire()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool = None
            await self._shared.release()

    def child_pids(self) -> list[int]:
        return self._pool.pids() if self._pool is not None else []

    async def pool(self) -> ProcessPool:
        if self._pool is None:  # a client that skipped start(): start lazily rather than fail
            await self.start()
        assert self._pool is not None
        return self._pool


class PythonExecutor(PoolUser):
    type_name = "python"
    # The pool decides when a call runs (an idle child, or a short queue behind short calls) and
    # says so through ctx.on_start; the worker does not hold it back for a slot of its own.
    schedules_itself = True

    async def run(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        started = time.monotonic()
        try:
            target, args, kwargs = parse_call(config)
            pool = self._pool or await self.pool()
            call = await pool.call(target, args, kwargs, timeout_seconds=ctx.timeout_seconds,
                                   on_start=ctx.on_start)
        except ExecutorError as exc:  # bad config, or the pool is closed / cannot start
            stage = Stage.CONFIG if isinstance(exc, ExecutorConfigError) else Stage.SETUP
            return finish(self.type_name, started, ExecResult(
                outcome=Outcome.ERROR, error=exec_error_dict(exc, stage)))
        result = exec_result_of_call(call, what=target, timeout_seconds=ctx.timeout_seconds)
        return finish(self.type_name, started, result, run_seconds=call.run_seconds)
