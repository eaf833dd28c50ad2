"""The worker wire protocol: typed messages with one decode point, shared by both ends.

Frames are JSON text. Every frame carries ``v`` (protocol version) and ``type``. Tasks are
pushed by the coordinator within each worker's credit (coordinator/credit.py: its slots, plus a
prefetch window for short work); several tasks,
start notices and results travel batched in one frame so throughput does not cost a frame each.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

import orjson

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 4 * 1024 * 1024
# orjson serialises at most 254 levels; a frame deeper than that did not come from a real peer and
# could not be stored or served again. Values a worker reports (result, details, error) get less,
# so that the API can still wrap them in a task object and a listing.
MAX_FRAME_DEPTH = 200
MAX_VALUE_DEPTH = 64
MAX_BATCH_ITEMS = 10_000
MAX_ID_CHARS = 256
MAX_ERROR_TEXT_CHARS = 64 * 1024       # an error's message, traceback or stderr; longer is cut, marked
MAX_HARDWARE_BYTES = 16 * 1024         # a hello's hardware description, as JSON
MAX_TAGS = 64
MAX_TAG_CHARS = 256
# The error context a worker may report: what it saw. Everything that steers a decision
# (max_retries, verdict, poison, category ...) is the coordinator's to set, never a worker's.
WORKER_CONTEXT_KEYS = frozenset({"stage", "task_type", "hardware_type", "device", "errno", "phase"})
WORKER_ERROR_KEYS = frozenset({"type", "message", "traceback", "stderr", "exit_code", "signal", "errno", "context"})
INT32 = (-(2 ** 31), 2 ** 31 - 1)
# Outcomes a worker may report; "lost" and "cancelled" are the coordinator's own verdicts.
REPORTABLE_OUTCOMES = frozenset({"passed", "failed", "error", "timed_out", "crashed"})


class MessageType(StrEnum):
    # worker -> coordinator
    HELLO = "hello"
    HEARTBEAT = "heartbeat"
    STARTED = "started"
    RESULTS = "results"
    COMMAND_RESULT = "command_result"
    # coordinator -> worker
    WELCOME = "welcome"
    TASKS = "tasks"
    RESULT_ACKS = "result_acks"
    COMMAND = "command"


class CommandName(StrEnum):
    CANCEL = "cancel"
    CLEANUP_RESOURCES = "cleanup_resources"
    RECONNECT = "reconnect"
    FAILOVER = "failover"
    DRAIN = "drain"


class CloseCode(IntEnum):
    """WebSocket close codes (4000-4999 are for applications)."""
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 4400
    UNAUTHORIZED = 4401
    FRAME_TOO_LARGE = 4413
    SUPERSEDED = 4409
    HEARTBEAT_TIMEOUT = 4408
    RECONNECT = 4503
    SHUTDOWN = 4504


class ProtocolError(Exception):
    """A frame that cannot be accepted; the connection is closed with ``code``."""

    def __init__(self, message: str, code: CloseCode = CloseCode.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    type: MessageType
    body: dict[str, Any] = field(default_factory=dict)


def encode(type_: MessageType, **body: Any) -> str:
    return encode_frame(type_, **body).decode()


def encode_frame(type_: MessageType, **body: Any) -> bytes:
    """The UTF-8 payload of a text frame (send it with ``send_frame(..., WSMsgType.TEXT)``:
    no str round trip for the big batched frames)."""
    body["v"] = PROTOCOL_VERSION
    body["type"] = type_.value
    return orjson.dumps(body)


# Which fields each message must carry, and their JSON types. Checked at the one decode point.
_REQUIRED: dict[MessageType, dict[str, type | tuple[type, ...]]] = {
    MessageType.HELLO: {"worker_id": str, "token": str, "hardware": dict},
    MessageType.HEARTBEAT: {},
    MessageType.STARTED: {"items": list},
    MessageType.RESULTS: {"items": list},
    MessageType.COMMAND_RESULT: {"command": str, "ok": bool},
    MessageType.WELCOME: {"worker_id": str},
    MessageType.TASKS: {"items": list},
    MessageType.RESULT_ACKS: {"items": list},
    MessageType.COMMAND: {"command": str},
}


def _short(value: Any, limit: int = 60) -> str:
    """A bounded repr for error messages: a hostile frame must not make a megabyte log line."""
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _byte_length(raw: str | bytes | bytearray | memoryview) -> int:
    if isinstance(raw, str):
        # Characters are at most 4 UTF-8 bytes: only measure exactly when it could matter.
        return len(raw) if raw.isascii() else len(raw.encode("utf-8", "surrogatepass"))
    return len(raw)


def depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, counted until it passes ``limit`` (then ``limit + 1``)."""
    if not isinstance(value, (dict, list)):
        return 0
    best = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > best:
            best = level
            if best > limit:
                return best
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, level + 1))
    return best


def decode(raw: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Message:
    """The one place wire JSON becomes a typed message. Raises ProtocolError naming the fault."""
    if not isinstance(raw, (str, bytes, bytearray, memoryview)):
        raise ProtocolError(f"frame must be JSON text, got {type(raw).__name__}")
    size = _byte_length(raw)
    if size > max_bytes:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit of {max_bytes}",
                            CloseCode.FRAME_TOO_LARGE)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {_short(str(exc), 120)}") from None
    if not isinstance(data, dict):
        raise ProtocolError("frame must be a JSON object")
    if depth(data, MAX_FRAME_DEPTH) > MAX_FRAME_DEPTH:
        raise ProtocolError(f"frame nests deeper than {MAX_FRAME_DEPTH} levels")
    version = data.pop("v", None)
    if type(version) is not int or version != PROTOCOL_VERSION:  # true and 1.0 are not 1
        raise ProtocolError(f"unsupported protocol version {_short(version)}; this end speaks {PROTOCOL_VERSION}")
    raw_type = data.pop("type", None)
    if not isinstance(raw_type, str):
        raise ProtocolError(f"message type must be a string, got {_short(raw_type)}")
    try:
        mtype = MessageType(raw_type)
    except ValueError:
        raise ProtocolError(f"unknown message type {_short(raw_type)}") from None
    for name, typ in _REQUIRED[mtype].items():
        value = data.get(name)
        if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
            raise ProtocolError(f"{mtype.value}: field {name!r} is missing or not a {getattr(typ, '__name__', typ)}")
    check = _CHECKS.get(mtype)
    if check is not None:
        check(data)
    return Message(type=mtype, body=data)


# ---- per-message checks of what a worker sends (the coordinator trusts nothing in a frame) ----
def _fail(mtype: MessageType, message: str) -> ProtocolError:
    return ProtocolError(f"{mtype.value}: {message}")


def _optional(body: dict[str, Any], name: str, types: type | tuple[type, ...], mtype: MessageType) -> None:
    value = body.get(name)
    if value is not None and (not isinstance(value, types) or isinstance(value, bool) and bool not in (
            types if isinstance(types, tuple) else (types,))):
        raise _fail(mtype, f"field {name!r} has the wrong type ({type(value).__name__})")


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
        and abs(value) != float("inf")


def _batch(body: dict[str, Any], mtype: MessageType) -> list[Any]:
    items = body["items"]
    if len(items) > MAX_BATCH_ITEMS:
        raise _fail(mtype, f"a batch holds at most {MAX_BATCH_ITEMS} items, got {len(items)}")
    for item in items:
        attempt_key(item)
    return items


def _check_hello(body: dict[str, Any]) -> None:
    m = MessageType.HELLO
    hw = body["hardware"]
    for name in ("types", "packages", "allowed_types"):
        if name in hw and not _string_list(hw[name]):
            raise _fail(m, f"hardware.{name} must be a list of strings")
    for name in ("memory_gb", "cpu_count"):
        if hw.get(name) is not None and not _finite_number(hw[name]):
            raise _fail(m, f"hardware.{name} must be a number")
    if "allow_install" in hw and not isinstance(hw["allow_install"], bool):
        raise _fail(m, "hardware.allow_install must be a boolean")
    if len(orjson.dumps(hw)) > MAX_HARDWARE_BYTES:
        raise _fail(m, f"hardware takes more than {MAX_HARDWARE_BYTES} bytes as JSON")
    _optional(body, "tags", dict, m)
    tags = body.get("tags") or {}
    if len(tags) > MAX_TAGS or any(not isinstance(v, str) or len(k) > MAX_TAG_CHARS or len(v) > MAX_TAG_CHARS
                                   for k, v in tags.items()):
        raise _fail(m, f"tags: at most {MAX_TAGS} string values of at most {MAX_TAG_CHARS} characters")
    _optional(body, "concurrency", int, m)
    _check_held(body, m)


def _check_heartbeat(body: dict[str, Any]) -> None:
    m = MessageType.HEARTBEAT
    _optional(body, "load", dict, m)
    _optional(body, "draining", bool, m)
    _check_held(body, m)
    _check_held(body, m, "released")  # held but never started, handed back by a draining worker


def _check_held(body: dict[str, Any], m: MessageType, name: str = "held") -> None:
    """The attempts a worker says it holds (hello and heartbeat), or hands back."""
    _optional(body, name, list, m)
    held = body.get(name) or []
    if len(held) > MAX_BATCH_ITEMS:
        raise _fail(m, f"{name!r} lists at most {MAX_BATCH_ITEMS} attempts")
    for item in held:
        attempt_key(item)


def _check_started(body: dict[str, Any]) -> None:
    for item in _batch(body, MessageType.STARTED):
        if item.get("started_at") is not None and not _finite_number(item["started_at"]):
            raise _fail(MessageType.STARTED, "started_at must be a number")


def _check_results(body: dict[str, Any]) -> None:
    m = MessageType.RESULTS
    for item in _batch(body, m):
        outcome = item.get("outcome")
        if not isinstance(outcome, str) or outcome not in REPORTABLE_OUTCOMES:
            raise _fail(m, f"unknown outcome {_short(outcome)}; one of {', '.join(sorted(REPORTABLE_OUTCOMES))}")
        duration = item.get("duration_seconds")
        if duration is not None and (not _finite_number(duration) or duration < 0):
            raise _fail(m, "duration_seconds must be a number >= 0")
        if item.get("started_at") is not None and not _finite_number(item["started_at"]):
            raise _fail(m, "started_at must be a number")
        for name in ("error", "details"):
            if item.get(name) is not None and not isinstance(item[name], dict):
                raise _fail(m, f"{name!r} must be an object or null")
        error = item.get("error") or {}
        for name in ("type", "message", "traceback", "stderr"):
            if error.get(name) is not None and not isinstance(error[name], str):
                raise _fail(m, f"error.{name} must be a string")
        if error.get("context") is not None and not isinstance(error["context"], dict):
            raise _fail(m, "error.context must be an object")
        _bound_error(error)
        for name in ("result", "details", "error"):
            if depth(item.get(name), MAX_VALUE_DEPTH) > MAX_VALUE_DEPTH:
                # Not a protocol fault of the worker (a task may return anything): the attempt
                # ends as an error the user can read, instead of a reconnect-and-resend loop.
                item.update(outcome="error", result=None, details=None, error={
                    "type": "ResultNotStorable", "message": f"the task's {name} nests deeper than "
                    f"{MAX_VALUE_DEPTH} levels; it was dropped", "context": {"stage": "report"}})
                break


def _bound_error(error: dict[str, Any]) -> None:
    """Clamp what a worker reports to what storage holds: long texts are cut (and say so), exit
    codes and signals outside 32 bits are dropped, the context keeps only observation keys."""
    for name in [k for k in error if k not in WORKER_ERROR_KEYS]:
        error.pop(name)  # e.g. "category": what a failure is, the coordinator decides
    for name in ("message", "traceback", "stderr"):
        text = error.get(name)
        if isinstance(text, str) and len(text) > MAX_ERROR_TEXT_CHARS:
            error[name] = text[:MAX_ERROR_TEXT_CHARS] + f"\n... [truncated: {len(text) - MAX_ERROR_TEXT_CHARS} more characters]"
    for name in ("exit_code", "signal", "errno"):
        value = error.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not INT32[0] <= value <= INT32[1]):
            error.pop(name)
    context = error.get("context")
    if isinstance(context, dict):
        error["context"] = {k: v for k, v in context.items() if k in WORKER_CONTEXT_KEYS
                            and (v is None or isinstance(v, (bool, int, float))
                                 or (isinstance(v, str) and len(v) <= MAX_TAG_CHARS))}


def _check_command_result(body: dict[str, Any]) -> None:
    if body.get("detail") is not None and not isinstance(body["detail"], (str, dict, list, int, float)):
        raise _fail(MessageType.COMMAND_RESULT, "detail has the wrong type")


_CHECKS = {
    MessageType.HELLO: _check_hello,
    MessageType.HEARTBEAT: _check_heartbeat,
    MessageType.STARTED: _check_started,
    MessageType.RESULTS: _check_results,
    MessageType.COMMAND_RESULT: _check_command_result,
}


def attempt_key(item: Any) -> tuple[str, int, str]:
    """(task_id, attempt, lease) from a started/result/ack item, validated."""
    if not isinstance(item, dict):
        raise ProtocolError("batch item must be an object")
    task_id, attempt, lease = item.get("task_id"), item.get("attempt"), item.get("lease")
    if not isinstance(task_id, str) or not isinstance(attempt, int) or isinstance(attempt, bool) \
            or not isinstance(lease, str):
        raise ProtocolError("batch item needs task_id (string), attempt (integer) and lease (string)")
    if len(task_id) > MAX_ID_CHARS or len(lease) > MAX_ID_CHARS or not 0 < attempt < 2 ** 31:
        raise ProtocolError("batch item has an oversized task_id or lease, or an attempt out of range")
    return task_id, attempt, lease
