"""Error reports in the shape the classifier reads, and small helpers shared by executors."""
from __future__ import annotations

import signal
import time
import traceback as _tb
from enum import StrEnum
from typing import Any

from worker.executors.base import ExecResult, ExecutorError


class Stage(StrEnum):
    """Where in a task's life a failure happened (error["context"]["stage"])."""

    CONFIG = "config"
    SETUP = "setup"
    EXECUTE = "execute"
    HARDWARE_PROBE = "hardware_probe"
    COLLECT = "collection"


def error_dict(type_: str, message: str, *, traceback: str | None = None,
               exit_code: int | None = None, signal_number: int | None = None,
               stderr: str | None = None, stage: Stage | None = None,
               hardware_type: str | None = None, **extra: Any) -> dict[str, Any]:
    """``{"type", "message", "traceback", "exit_code", "signal", "stderr", "context"}`` with
    unknown parts left out."""
    error: dict[str, Any] = {"type": type_, "message": message}
    if traceback:
        error["traceback"] = traceback
    if exit_code is not None:
        error["exit_code"] = exit_code
    if signal_number is not None:
        error["signal"] = signal_number
    if stderr:
        error["stderr"] = stderr
    context: dict[str, Any] = {}
    if stage is not None:
        context["stage"] = stage.value
    if hardware_type is not None:
        context["hardware_type"] = hardware_type
    if context:
        error["context"] = context
    error.update({k: v for k, v in extra.items() if v is not None})
    return error


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"SIG{sig}"


def killed_message(sig: int) -> str:
    return f"process killed by signal {sig} ({signal_name(sig)})"


def config_error(message: str, *, type_: str = "ValueError") -> dict[str, Any]:
    return error_dict(type_, message, stage=Stage.CONFIG)


def last_lines(text: str, count: int = 1) -> str:
    """The last ``count`` non-blank lines: what a tool printed last is usually the reason."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def exec_error_dict(exc: BaseException, stage: Stage) -> dict[str, Any]:
    """Report an exception raised in this process (spawn failures, bad config)."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(exc, ExecutorConfigError):
        name = exc.type_name
    tb = "".join(_tb.format_exception(cls, exc, exc.__traceback__)) if exc.__traceback__ else None
    return error_dict(name, str(exc), traceback=tb if not isinstance(exc, ExecutorConfigError) else None,
                      stage=stage)


class ExecutorConfigError(ExecutorError):
    """A task's config does not fit its executor; reported as ERROR at the config stage."""

    def __init__(self, message: str, *, type_name: str = "ValueError") -> None:
        super().__init__(message)
        self.type_name = type_name


def get_field(config: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None,
              *, required: bool = False) -> Any:
    if key not in config or config[key] is None:
        if required:
            raise ExecutorConfigError(f"config field {key!r} is required")
        return default
    value = config[key]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        names = " or ".join(k.__name__ for k in _as_tuple(kind))
        raise ExecutorConfigError(f"config field {key!r} must be {names}, got {type(value).__name__}",
                                  type_name="TypeError")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def finish(task_type: str, started: float, result: ExecResult, *, run_seconds: float | None = None) -> ExecResult:
    """Stamp the duration, and the task type into the error context (classifier rules key on it,
    e.g. pytest's exit codes mean something only for pytest). ``run_seconds``, when the executor
    measured it, leaves out the time the task waited to run (the coordinator sizes credit by it)."""
    result.duration_seconds = run_seconds if run_seconds is not None else time.monotonic() - started
    if result.error is not None:
        context = result.error.setdefault("context", {})
        context.setdefault("task_type", task_type)
    return result
