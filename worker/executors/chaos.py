"""The ``chaos`` task type: inject one real fault so recovery can be shown and tested end to end.

Options (besides ``fault`` and ``on_attempts``, default: every attempt):
  network               host="127.0.0.1"
  timeout               seconds=3600 (sleeps that long in a pool child; killed at the timeout)
  oom                   kind="host"|"cuda", headroom_mb=256
  crash                 signal="SIGSEGV" (or SIGKILL, SIGABRT, ...), target="child"|"worker"
  hang                  (a subprocess that ignores SIGTERM; the executor escalates to SIGKILL)
  slow                  seconds=2
  disconnect            seconds=1
  hardware_unavailable  hardware="cuda"|"rocm"
  assertion             message=...
  import                module="dtf_chaos_missing_module"
  config                text='{"batch_size": 32,, }'
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from enum import StrEnum
from typing import Any, Awaitable, Callable

from worker.executors.base import ExecContext, ExecResult, ExecutorError, Outcome
from worker.executors.command import outcome_of_process
from worker.executors.process import run_process
from worker.executors.python_exec import PoolUser, exec_result_of_call
from worker.executors.reporting import finish, ExecutorConfigError, Stage, error_dict, exec_error_dict
from worker.executors.shared import SharedPool

_FAULTS_MODULE = "worker.executors.chaos_faults"
_LETHAL_SIGNALS = ("SIGKILL", "SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL", "SIGFPE", "SIGTERM")
_HANG_SCRIPT = ("import signal, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "while True:\n    time.sleep(3600)\n")
# CUDA_VISIBLE_DEVICES is set past the last GPU, then the driver API is asked for a device:
# the driver's own error string comes back (no CUDA-capable device / invalid device ordinal).
_CUDA_PROBE_SCRIPT = """\
import ctypes, sys
try:
    lib = ctypes.CDLL("libcuda.so.1")
except OSError as exc:
    print(f"OSError: {exc}", file=sys.stderr)
    sys.exit(3)
def text(rc):
    msg = ctypes.c_char_p()
    lib.cuGetErrorString(rc, ctypes.byref(msg))
    return (msg.value or b"").decode()
rc = lib.cuInit(0)
if rc == 0:
    rc = lib.cuDeviceGet(ctypes.byref(ctypes.c_int()), int(sys.argv[1]))
print(f"CUDA error: {text(rc)}" if rc else "CUDA device reachable")
sys.exit(1 if rc else 0)
"""
# The messages the runtimes print when no device exists (CUDA runtime via torch; ROCm via torch's
# HIP build). Reported only after probing found no device, so they describe the real situation.
_NO_DEVICE_MESSAGE = {
    "cuda": "CUDA error: no CUDA-capable device is detected",
    "rocm": "No HIP GPUs are available",
}
# The documented PyTorch CUDA OOM text, used only when no CUDA device and torch are present here
# (so a real one cannot be produced); details["real"] is False in that case.
_CUDA_OOM_MESSAGE = ("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total "
                     "capacity; 13.94 GiB already allocated; 1.19 GiB free; 14.02 GiB reserved in "
                     "total by PyTorch) If reserved memory is >> allocated memory try setting "
                     "max_split_size_mb to avoid fragmentation.  See documentation for Memory "
                     "Management and PYTORCH_CUDA_ALLOC_CONF")


class Fault(StrEnum):
    NETWORK = "network"
    TIMEOUT = "timeout"
    OOM = "oom"
    CRASH = "crash"
    HANG = "hang"
    SLOW = "slow"
    DISCONNECT = "disconnect"
    HARDWARE_UNAVAILABLE = "hardware_unavailable"
    ASSERTION = "assertion"
    IMPORT = "import"
    CONFIG = "config"


def _number(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ExecutorConfigError(f"config field {key!r} must be a non-negative number, got {value!r}")
    return float(value)


def _text(config: dict[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    if not isinstance(value, str):
        raise ExecutorConfigError(f"config field {key!r} must be a string, got {type(value).__name__}",
                                  type_name="TypeError")
    return value


class ChaosExecutor(PoolUser):
    type_name = "chaos"

    def __init__(self, settings: Any, shared: SharedPool) -> None:
        super().__init__(shared)
        self._grace = settings.kill_grace_seconds
        self._tail_bytes = settings.output_tail_bytes
        self._handlers: dict[Fault, Callable[[dict[str, Any], ExecContext], Awaitable[ExecResult]]] = {
            Fault.NETWORK: self._network, Fault.TIMEOUT: self._timeout, Fault.OOM: self._oom,
            Fault.CRASH: self._crash, Fault.HANG: self._hang, Fault.SLOW: self._slow,
            Fault.DISCONNECT: self._disconnect, Fault.HARDWARE_UNAVAILABLE: self._hardware,
            Fault.ASSERTION: self._assertion, Fault.IMPORT: self._import, Fault.CONFIG: self._config,
        }

    async def run(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        started = time.monotonic()
        try:
            fault = self._parse(config)
            if fault is None or not self._armed(config, ctx.attempt):
                result = ExecResult(outcome=Outcome.PASSED, result={"fault": None})
            else:
                result = await self._handlers[fault](config, ctx)
                result.details.setdefault("fault", fault.value)
        except ExecutorError as exc:  # bad config, or the pool is closed / cannot start
            stage = Stage.CONFIG if isinstance(exc, ExecutorConfigError) else Stage.SETUP
            result = ExecResult(outcome=Outcome.ERROR, error=exec_error_dict(exc, stage))
        return finish(self.type_name, started, result)

    @staticmethod
    def _parse(config: dict[str, Any]) -> Fault | None:
        name = config.get("fault")
        try:
            return Fault(name)
        except ValueError:
            valid = ", ".join(f.value for f in Fault)
            raise ExecutorConfigError(f"unknown chaos fault {name!r}; valid faults: {valid}") from None

    @staticmethod
    def _armed(config: dict[str, Any], attempt: int) -> bool:
        attempts = config.get("on_attempts")
        if attempts is None:
            return True
        if not isinstance(attempts, list) or not all(isinstance(a, int) for a in attempts):
            raise ExecutorConfigError("config field 'on_attempts' must be a list of attempt numbers",
                                      type_name="TypeError")
        return attempt in attempts

    async def _in_child(self, function: str, args: list[Any], ctx: ExecContext,
                        **context: Any) -> ExecResult:
        pool = await self.pool()
        call = await pool.call(f"{_FAULTS_MODULE}:{function}", args,
                               timeout_seconds=ctx.timeout_seconds)
        result = exec_result_of_call(call, what=f"chaos fault {function}",
                                     timeout_seconds=ctx.timeout_seconds)
        if result.error is not None and context:
            result.error.setdefault("context", {}).update(context)
        return result

    # ---- the faults --------------------------------------------------------------------------

    async def _network(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        return await self._in_child("network", [_text(config, "host", "127.0.0.1")], ctx)

    async def _timeout(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        return await self._in_child("sleep", [_number(config, "seconds", 3600.0)], ctx)

    async def _oom(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        kind = _text(config, "kind", "host")
        if kind == "host":
            headroom = int(_number(config, "headroom_mb", 256))
            return await self._in_child("oom", [headroom], ctx, hardware_type="cpu")
        if kind != "cuda":
            raise ExecutorConfigError(f"oom kind must be 'host' or 'cuda', got {kind!r}")
        result = await self._in_child("cuda_oom", [], ctx, hardware_type="cuda")
        if result.outcome is Outcome.PASSED and isinstance(result.result, dict) \
                and not result.result.get("device"):
            return ExecResult(outcome=Outcome.ERROR, details={"real": False, **result.result},
                              error=error_dict("torch.cuda.OutOfMemoryError", _CUDA_OOM_MESSAGE,
                                               stage=Stage.EXECUTE, hardware_type="cuda"))
        return result

    async def _crash(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        target = _text(config, "target", "child")
        if target == "worker":
            if ctx.control is None:
                raise ExecutorConfigError("crash target 'worker' needs a worker control")
            ctx.control.exit_worker(137)
            # a real worker is gone by now; a test control returns, and the attempt counts as lost
            return ExecResult(outcome=Outcome.CRASHED, error=error_dict(
                "ProcessKilled", "worker exit requested by chaos fault (code 137)", exit_code=137,
                stage=Stage.EXECUTE))
        if target != "child":
            raise ExecutorConfigError(f"crash target must be 'child' or 'worker', got {target!r}")
        name = _text(config, "signal", "SIGSEGV").upper()
        if name not in _LETHAL_SIGNALS:
            raise ExecutorConfigError(f"crash signal must be one of {', '.join(_LETHAL_SIGNALS)}, got {name!r}")
        return await self._in_child("crash", [name], ctx)

    async def _hang(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        run = await run_process([sys.executable, "-S", "-c", _HANG_SCRIPT],
                                timeout_seconds=ctx.timeout_seconds,
                                kill_grace_seconds=self._grace, tail_bytes=self._tail_bytes)
        return outcome_of_process(run, shell=False, what="chaos hang",
                                  timeout_seconds=ctx.timeout_seconds)

    async def _slow(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        seconds = _number(config, "seconds", 2.0)
        if seconds >= ctx.timeout_seconds:
            await asyncio.sleep(ctx.timeout_seconds)
            return ExecResult(outcome=Outcome.TIMED_OUT, error=error_dict(
                "TimeoutError", f"slow task ({seconds:g} s) exceeded its timeout of "
                                f"{ctx.timeout_seconds:g} s", stage=Stage.EXECUTE))
        await asyncio.sleep(seconds)
        return ExecResult(outcome=Outcome.PASSED, result={"fault": Fault.SLOW.value, "seconds": seconds})

    async def _disconnect(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        seconds = _number(config, "seconds", 1.0)
        if ctx.control is None:
            raise ExecutorConfigError("the disconnect fault needs a worker control")
        ctx.control.disconnect()
        await asyncio.sleep(min(seconds, ctx.timeout_seconds))
        return ExecResult(outcome=Outcome.PASSED,
                          result={"fault": Fault.DISCONNECT.value, "seconds": seconds})

    async def _hardware(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        hardware = _text(config, "hardware", "cuda").lower()
        if hardware not in _NO_DEVICE_MESSAGE:
            raise ExecutorConfigError(f"hardware must be one of {', '.join(_NO_DEVICE_MESSAGE)}, "
                                      f"got {hardware!r}")
        present, count, probe = await self._probe(hardware)
        details = {"probe": probe, "device_present": present}
        if not present:
            return ExecResult(outcome=Outcome.ERROR, details=details, error=error_dict(
                "RuntimeError", _NO_DEVICE_MESSAGE[hardware], stderr=probe or None,
                stage=Stage.HARDWARE_PROBE, hardware_type=hardware))
        if hardware != "cuda":
            env = {**os.environ, "HIP_VISIBLE_DEVICES": str(count), "ROCR_VISIBLE_DEVICES": str(count)}
            run = await run_process(["rocm-smi", "--showproductname"], env=env, timeout_seconds=30,
                                    tail_bytes=self._tail_bytes)
            message = _NO_DEVICE_MESSAGE[hardware]
        else:
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(count)}  # one past the last GPU
            run = await run_process([sys.executable, "-c", _CUDA_PROBE_SCRIPT, "0"], env=env,
                                    timeout_seconds=60, tail_bytes=self._tail_bytes)
            message = (run.stdout.strip() or run.stderr.strip() or _NO_DEVICE_MESSAGE[hardware])
        details.update(device_probe_exit_code=run.returncode, hidden_device_index=count)
        return ExecResult(outcome=Outcome.ERROR, details=details, error=error_dict(
            "RuntimeError", message, stderr=run.stderr or None, exit_code=run.returncode,
            stage=Stage.HARDWARE_PROBE, hardware_type=hardware))

    async def _probe(self, hardware: str) -> tuple[bool, int, str]:
        """(device present, device count, what the probe printed)."""
        tool, args, device = ("nvidia-smi", ["-L"], "/dev/nvidia0") if hardware == "cuda" \
            else ("rocm-smi", ["--showproductname"], "/dev/kfd")
        path = shutil.which(tool)
        if path is None:
            present = os.path.exists(device)
            return present, 1 if present else 0, f"{tool}: not found on PATH; {device} " \
                                                 f"{'exists' if present else 'does not exist'}"
        try:
            run = await run_process([path, *args], timeout_seconds=30, tail_bytes=self._tail_bytes)
        except OSError as exc:
            return False, 0, f"{tool}: {exc}"
        output = (run.stdout + run.stderr).strip()
        if run.returncode != 0:
            return False, 0, output
        count = sum(1 for line in run.stdout.splitlines() if line.startswith("GPU ")) \
            if hardware == "cuda" else 1
        return count > 0, count, output

    async def _assertion(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        return await self._in_child(
            "assertion", [_text(config, "message", "chaos: injected assertion failure")], ctx)

    async def _import(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        return await self._in_child(
            "import_missing", [_text(config, "module", "dtf_chaos_missing_module")], ctx)

    async def _config(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        text = _text(config, "text", '{"batch_size": 32,, "lr": 0.1}')
        return await self._in_child("parse_config", [text], ctx)


__all__ = ["ChaosExecutor", "Fault"]
