"""One normalised shape for a failure, whatever it came from (exception or report mapping)."""
from __future__ import annotations

import traceback as _tb
from dataclasses import dataclass, field
from typing import Any, Mapping

_KNOWN_KEYS = {"type", "message", "traceback", "exit_code", "signal", "context", "stderr"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """A failure as the library sees it.

    ``type`` is the exception's qualified name where known (e.g. ``ConnectionRefusedError``,
    ``torch.cuda.OutOfMemoryError``); ``message`` the text it printed; ``exit_code`` and
    ``signal`` describe a process that ended; ``context`` holds what the caller knows
    (``stage``, ``hardware_type``, ``task_type``, ``worker_id`` ...).
    """

    type: str = ""
    message: str = ""
    traceback: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    errno: int | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    exception: BaseException | None = None


def _exc_type_name(exc: BaseException) -> str:
    cls = type(exc)
    mod = cls.__module__
    if mod in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{mod}.{cls.__qualname__}"


def _int_or_none(value: Any) -> int | None:
    """An int for an int/float (never a bool), else None."""
    cls = type(value)
    if cls is int:
        return value
    if value is None or cls is bool:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return None


def _from_mapping(error: Mapping[str, Any], context: Mapping[str, Any] | None) -> ErrorInfo:
    get = error.get
    raw_ctx = get("context")
    ctx = dict(raw_ctx) if raw_ctx else {}
    if context:
        ctx.update(context)
    errno = get("errno")
    message = get("message")
    if message is None:
        message = ""
    stderr = get("stderr")
    if stderr and str(stderr) not in str(message):
        message = f"{message}\n{stderr}" if message else str(stderr)
    tb = get("traceback")
    typ = get("type")
    exit_code = get("exit_code")
    sig = get("signal")
    return ErrorInfo(
        type=typ if type(typ) is str else str(typ or ""),
        message=message if type(message) is str else str(message),
        traceback=(tb if type(tb) is str else str(tb)) if tb else None,
        exit_code=exit_code if exit_code is None or type(exit_code) is int
        else _int_or_none(exit_code),
        signal=sig if sig is None or type(sig) is int else _int_or_none(sig),
        errno=errno if type(errno) is int else
        (int(errno) if isinstance(errno, int) and not isinstance(errno, bool) else None),
        context=ctx,
    )


def normalize_error(error: Any, context: Mapping[str, Any] | None = None) -> ErrorInfo:
    """Turn an exception, a mapping or an ErrorInfo into an ErrorInfo.

    Raises TypeError for anything else, naming what was given.
    """
    # Plain dicts (worker reports) first: ``isinstance(x, typing.Mapping)`` is an ABC check
    # that costs more than the rest of the conversion.
    if type(error) is dict:
        return _from_mapping(error, context)
    if isinstance(error, ErrorInfo):
        if context:
            ctx = {**error.context, **context}
            return ErrorInfo(type=error.type, message=error.message, traceback=error.traceback,
                             exit_code=error.exit_code, signal=error.signal, errno=error.errno,
                             context=ctx, exception=error.exception)
        return error
    if isinstance(error, BaseException):
        tb = "".join(_tb.format_exception(type(error), error, error.__traceback__)) \
            if error.__traceback__ is not None else None
        return ErrorInfo(type=_exc_type_name(error), message=str(error), traceback=tb,
                         errno=getattr(error, "errno", None) if isinstance(getattr(error, "errno", None), int) else None,
                         context=dict(context or {}), exception=error)
    if isinstance(error, Mapping):
        return _from_mapping(error, context)
    if isinstance(error, str):
        return ErrorInfo(message=error, context=dict(context or {}))
    raise TypeError(f"cannot interpret {type(error).__name__} as an error: "
                    "pass an exception, a mapping with type/message, or an ErrorInfo")
