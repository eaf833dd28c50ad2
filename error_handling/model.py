"""One normalised shape for a failure, whatever it came from (exception or report mapping)."""
from __future__ import annotations

import math
import traceback as _tb
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

_KNOWN_KEYS = {"type", "message", "traceback", "exit_code", "signal", "context", "stderr", "category"}


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
    # A category the reporter already decided (a custom category, dtf's own UpstreamFailed):
    # the classifier keeps it when it names a known category.
    category: str | None = None


def frozen_builder(cls: type) -> Callable[..., Any]:
    """A positional constructor for a frozen, slotted dataclass that skips its ``__init__``.

    A frozen dataclass sets each field through ``object.__setattr__`` (the guard against
    assignment), which made building the two objects of every decision ~2 us of a ~17 us
    pipeline. This sets the slots directly, in field order, with no defaults or checks: for
    hot paths that pass every field. The instance is the same as ``cls(**fields)`` would give.
    """
    names = [f.name for f in fields(cls)]
    # Unrolled, as dataclasses generates __init__: one slot store per field, no loop.
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    env.update({f"_set_{name}": getattr(cls, name).__set__ for name in names})
    body = "".join(f"    _set_{name}(obj, {name})\n" for name in names)
    source = f"def build({', '.join(names)}):\n    obj = _new(_cls)\n{body}    return obj\n"
    exec(source, env)  # noqa: S102 - generated from the dataclass's own field names
    build = env["build"]
    build.__doc__ = f"{cls.__name__}({', '.join(names)}), positionally"
    return build


def _exc_type_name(exc: BaseException) -> str:
    cls = type(exc)
    mod = cls.__module__
    if mod in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{mod}.{cls.__qualname__}"


_EXIT_CODE_LIMIT = 1 << 63  # error_events.exit_code is a BIGINT (Windows NTSTATUS codes pass 2**31)
_SIGNAL_LIMIT = 1 << 31     # and signal an INTEGER


def _int_or_none(value: Any, limit: int) -> int | None:
    """An int for an int/float (never a bool) in [-limit, limit), else None: a report's number
    that no column could hold (or infinity, NaN) is no exit status or signal."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value)
    return int(value) if -limit <= value < limit else None


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
    category = get("category")
    if category is not None and type(category) is not str:
        category = getattr(category, "value", None)
        category = category if type(category) is str else None
    return _build_info(
        typ if type(typ) is str else str(typ or ""),
        message if type(message) is str else str(message),
        (tb if type(tb) is str else str(tb)) if tb else None,
        exit_code if exit_code is None or (type(exit_code) is int and -_EXIT_CODE_LIMIT <= exit_code < _EXIT_CODE_LIMIT)
        else _int_or_none(exit_code, _EXIT_CODE_LIMIT),
        sig if sig is None or (type(sig) is int and -_SIGNAL_LIMIT <= sig < _SIGNAL_LIMIT)
        else _int_or_none(sig, _SIGNAL_LIMIT),
        errno if type(errno) is int else
        (int(errno) if isinstance(errno, int) and not isinstance(errno, bool) else None),
        ctx,
        None,
        category or None,
    )


def _exception_category(exc: BaseException) -> str | None:
    """``exc.category`` when it is a category member or value (an exception pre-classified by its raiser)."""
    category = getattr(exc, "category", None)
    if category is None:
        return None
    value = getattr(category, "value", category)
    return value if isinstance(value, str) and value else None


# type, message, traceback, exit_code, signal, errno, context, exception, category
_build_info = frozen_builder(ErrorInfo)


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
                             context=ctx, exception=error.exception, category=error.category)
        return error
    if isinstance(error, BaseException):
        tb = "".join(_tb.format_exception(type(error), error, error.__traceback__)) \
            if error.__traceback__ is not None else None
        return ErrorInfo(type=_exc_type_name(error), message=str(error), traceback=tb,
                         errno=getattr(error, "errno", None) if isinstance(getattr(error, "errno", None), int) else None,
                         context=dict(context or {}), exception=error,
                         category=_exception_category(error))
    if isinstance(error, Mapping):
        return _from_mapping(error, context)
    if isinstance(error, str):
        return ErrorInfo(message=error, context=dict(context or {}))
    raise TypeError(f"cannot interpret {type(error).__name__} as an error: "
                    "pass an exception, a mapping with type/message, or an ErrorInfo")
