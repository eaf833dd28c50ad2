"""The worker wire protocol: typed messages with one decode point, shared by both ends.

Frames are JSON text. Every frame carries ``v`` (protocol version) and ``type``. Tasks are
pushed by the coordinator within each worker's credit (coordinator/credit.py: its slots, plus a
prefetch window for short work); several tasks,
start notices and results travel batched in one frame so throughput does not cost a frame each.

Each message's fields are declared once (``MESSAGES``: a schema and the message a wrong value
gets, as ``coordinator/validation.py`` declares the task body); ``decode`` checks frames against
those declarations and ``document()`` publishes them as JSON Schema (``GET /api/v1/protocol.json``).
What JSON Schema does not say is named beside it (``NOT_IN_SCHEMA``): the frame's size and depth,
a hello's hardware size, and what a report is cut to (``bound_report``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

import orjson

from worker.schema import Field, compile_schema, json_schema

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
# (Both sets are the keys of the declarations below: ERROR_FIELDS, CONTEXT_FIELDS.)
INT32 = (-(2 ** 31), 2 ** 31 - 1)
# Outcomes a worker may report; "lost" and "cancelled" are the coordinator's own verdicts.
REPORTABLE_OUTCOMES = ("crashed", "error", "failed", "passed", "timed_out")


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


# ---- the declarations: one source for what decode enforces and what protocol.json publishes ----
def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _typed(name: str, kind: str) -> str:
    return f"field {name!r} is missing or not {kind}"


def _wrong(name: str) -> Any:
    return lambda value: f"field {name!r} has the wrong type ({_kind(value)})"


NUMBER = {"type": "number", "nullable": True}
TEXT = {"type": "string", "nullable": True}
ANY = {"nullable": True}  # any JSON value, null included

# The attempt a started notice, a result, an ack or a held entry is about.
ATTEMPT_FIELDS: dict[str, Field] = {
    "task_id": Field({"type": "string", "maxLength": MAX_ID_CHARS},
                     lambda v: f"batch item's task_id has more than {MAX_ID_CHARS} characters"
                     if isinstance(v, str) else "batch item needs task_id (a string)"),
    "attempt": Field({"type": "integer", "minimum": 1, "maximum": INT32[1]},
                     lambda v: f"batch item's attempt is out of range (1 to {INT32[1]})"
                     if isinstance(v, int) and not isinstance(v, bool) else "batch item needs attempt (an integer)"),
    "lease": Field({"type": "string", "maxLength": MAX_ID_CHARS},
                   lambda v: f"batch item's lease has more than {MAX_ID_CHARS} characters"
                   if isinstance(v, str) else "batch item needs lease (a string)"),
}
ATTEMPT = Field({"type": "object"}, "batch item must be an object", ATTEMPT_FIELDS, tuple(ATTEMPT_FIELDS))

# What a worker reports of an error. Keys outside these are dropped (e.g. "category": what a
# failure is, the coordinator decides); long texts are cut and marked, codes outside 32 bits are
# dropped, the context keeps only what the worker saw (everything that steers a decision,
# max_retries, verdict, poison, ..., is the coordinator's to set).
ERROR_TEXTS = ("message", "traceback", "stderr")
ERROR_CODES = ("exit_code", "signal", "errno")
CODE = {"type": "integer", "minimum": INT32[0], "maximum": INT32[1]}
CONTEXT_VALUE = {"nullable": True, "anyOf": [{"type": "boolean"}, {"type": "number"},
                                             {"type": "string", "maxLength": MAX_TAG_CHARS}]}
_IS_CODE, _IS_CONTEXT_VALUE = compile_schema(CODE), compile_schema(CONTEXT_VALUE)
CONTEXT_FIELDS: dict[str, Field] = {
    name: Field({"nullable": True, "description": "kept when null, a boolean, a number or a string of at most "
                 f"{MAX_TAG_CHARS} characters; dropped otherwise"}, "")
    for name in ("stage", "task_type", "hardware_type", "device", "errno", "phase")}
ERROR_FIELDS: dict[str, Field] = {
    "type": Field(TEXT, "error.type must be a string"),
    **{name: Field({**TEXT, "description": f"cut at {MAX_ERROR_TEXT_CHARS} characters, and marked"},
                   f"error.{name} must be a string") for name in ERROR_TEXTS},
    **{name: Field({"nullable": True, "description": f"kept when an integer from {INT32[0]} to {INT32[1]}; "
                    "dropped otherwise"}, "") for name in ERROR_CODES},
    "context": Field({"type": "object", "nullable": True, "description": "other keys are dropped"},
                     "error.context must be an object", CONTEXT_FIELDS),
}
WORKER_ERROR_KEYS = frozenset(ERROR_FIELDS)
WORKER_CONTEXT_KEYS = frozenset(CONTEXT_FIELDS)

STARTED_AT = Field(NUMBER, "started_at must be a number")
STARTED_ITEM = Field({"type": "object"}, "batch item must be an object",
                     {**ATTEMPT_FIELDS, "started_at": STARTED_AT}, tuple(ATTEMPT_FIELDS))
RESULT_ITEM = Field({"type": "object"}, "batch item must be an object", {
    **ATTEMPT_FIELDS,
    "outcome": Field({"type": "string", "enum": list(REPORTABLE_OUTCOMES)},
                     lambda v: f"unknown outcome {_short(v)}; one of {', '.join(REPORTABLE_OUTCOMES)}"),
    "duration_seconds": Field({**NUMBER, "minimum": 0}, "duration_seconds must be a number >= 0"),
    "started_at": STARTED_AT,
    "result": Field({**ANY, "description": f"nesting deeper than {MAX_VALUE_DEPTH} levels makes the attempt an "
                     "error (ResultNotStorable)"}, ""),
    "details": Field({"type": "object", "nullable": True}, "'details' must be an object or null"),
    "error": Field({"type": "object", "nullable": True, "description": "other keys are dropped"},
                   "'error' must be an object or null", ERROR_FIELDS),
}, (*ATTEMPT_FIELDS, "outcome"))


def _batch(item: Field) -> Field:
    return Field({"type": "array", "maxItems": MAX_BATCH_ITEMS},
                 lambda v: f"a batch holds at most {MAX_BATCH_ITEMS} items, got {len(v)}"
                 if isinstance(v, list) else _typed("items", "a list"), each=item)


def _held(name: str) -> Field:
    """The attempts a worker says it holds (hello and heartbeat), or hands back (``released``:
    held but never started, by a draining worker)."""
    return Field({"type": "array", "nullable": True, "maxItems": MAX_BATCH_ITEMS},
                 lambda v: f"{name!r} lists at most {MAX_BATCH_ITEMS} attempts" if isinstance(v, list)
                 else _wrong(name)(v), each=ATTEMPT)


STRINGS = {"type": "array", "items": {"type": "string"}}
HARDWARE_FIELDS: dict[str, Field] = {
    **{name: Field(STRINGS, f"hardware.{name} must be a list of strings") for name in ("types", "packages",
                                                                                       "allowed_types")},
    **{name: Field(NUMBER, f"hardware.{name} must be a number") for name in ("memory_gb", "cpu_count")},
    "allow_install": Field({"type": "boolean"}, "hardware.allow_install must be a boolean"),
}
TAGS = {"type": "object", "nullable": True, "maxProperties": MAX_TAGS,
        "patternProperties": {"^[\\s\\S]{%d}" % (MAX_TAG_CHARS + 1): {"not": {}}},  # no longer key
        "additionalProperties": {"type": "string", "maxLength": MAX_TAG_CHARS}}


def _message(fields: dict[str, Field], required: tuple[str, ...] = ()) -> Field:
    return Field({"type": "object"}, "frame must be a JSON object", fields, required)


# Each message's body (``v`` and ``type`` aside), its fields in the order checked. Other fields
# pass through (an older or newer peer may send more).
MESSAGES: dict[MessageType, Field] = {
    # worker -> coordinator (the coordinator trusts nothing in a frame)
    MessageType.HELLO: _message({
        "worker_id": Field({"type": "string"}, _typed("worker_id", "a string")),
        "token": Field({"type": "string"}, _typed("token", "a string")),
        "hardware": Field({"type": "object", "description": f"at most {MAX_HARDWARE_BYTES} bytes as JSON"},
                          _typed("hardware", "an object"), HARDWARE_FIELDS),
        "tags": Field(TAGS, f"tags: at most {MAX_TAGS} string values of at most {MAX_TAG_CHARS} characters"),
        "concurrency": Field({"type": "integer", "nullable": True}, _wrong("concurrency")),
        "held": _held("held"),
    }, ("worker_id", "token", "hardware")),
    MessageType.HEARTBEAT: _message({
        "load": Field({"type": "object", "nullable": True}, _wrong("load")),
        "draining": Field({"type": "boolean", "nullable": True}, _wrong("draining")),
        "held": _held("held"),
        "released": _held("released"),
    }),
    MessageType.STARTED: _message({"items": _batch(STARTED_ITEM)}, ("items",)),
    MessageType.RESULTS: _message({"items": _batch(RESULT_ITEM)}, ("items",)),
    MessageType.COMMAND_RESULT: _message({
        "command": Field({"type": "string"}, _typed("command", "a string")),
        "ok": Field({"type": "boolean"}, _typed("ok", "a boolean")),
        "detail": Field({**ANY, "description": "what the command did or why it failed"}, ""),
    }, ("command", "ok")),
    # coordinator -> worker
    MessageType.WELCOME: _message({
        "worker_id": Field({"type": "string"}, _typed("worker_id", "a string")),
        "heartbeat_interval": Field({**ANY, "description": "seconds between heartbeats"}, ""),
        "heartbeat_timeout": Field({**ANY, "description": "seconds of silence before the worker is unresponsive"}, ""),
        "backup_coordinator": Field({**ANY, "description": "a URL to fail over to"}, ""),
        "cancel": Field({**ANY, "description": "held attempts the coordinator gave up: stop them"}, ""),
    }, ("worker_id",)),
    MessageType.TASKS: _message({"items": Field(
        {"type": "array", "description": "task_id, attempt, lease, type, config, timeout_seconds, tags, requirements"},
        _typed("items", "a list"))}, ("items",)),
    MessageType.RESULT_ACKS: _message({"items": Field(
        {"type": "array", "description": "task_id, attempt, lease, status (accepted, duplicate or rejected), reason"},
        _typed("items", "a list"))}, ("items",)),
    MessageType.COMMAND: _message({"command": Field({"type": "string", "description": ", ".join(CommandName)},
                                                   _typed("command", "a string"))}, ("command",)),
}

NOT_IN_SCHEMA = (f"a frame takes at most {MAX_FRAME_BYTES} bytes and nests at most {MAX_FRAME_DEPTH} levels",
                 f"a hello's hardware takes at most {MAX_HARDWARE_BYTES} bytes as JSON",
                 "a result's error is bounded as its fields' descriptions say (bound_report)")


def document() -> dict[str, Any]:
    """The wire protocol as JSON Schema (draft 4): one definition per message type, ``v`` and
    ``type`` included; ``decode`` accepts a frame (within NOT_IN_SCHEMA) exactly when it conforms."""
    return {"$schema": "http://json-schema.org/draft-04/schema#", "title": "dtf worker protocol",
            "description": "JSON text frames over the worker WebSocket (/ws). " + "; ".join(NOT_IN_SCHEMA) + ".",
            "definitions": {m.value: message_schema(m) for m in MessageType},
            "oneOf": [{"$ref": f"#/definitions/{m.value}"} for m in MessageType]}


def message_schema(mtype: MessageType) -> dict[str, Any]:
    body = MESSAGES[mtype].published
    envelope = {"v": {"type": "integer", "enum": [PROTOCOL_VERSION]}, "type": {"type": "string", "enum": [mtype.value]}}
    return json_schema({**body, "properties": {**envelope, **body["properties"]},
                        "required": ["v", "type", *body.get("required", ())]})


# ---- the one decode point ----------------------------------------------------------------------
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
    problem = MESSAGES[mtype].problem(data)
    if problem:
        raise ProtocolError(f"{mtype.value}: {problem}")
    if mtype is MessageType.HELLO and len(orjson.dumps(data["hardware"])) > MAX_HARDWARE_BYTES:
        raise ProtocolError(f"hello: hardware takes more than {MAX_HARDWARE_BYTES} bytes as JSON")
    if mtype is MessageType.RESULTS:
        for item in data["items"]:
            bound_report(item)
    return Message(type=mtype, body=data)


def bound_report(item: dict[str, Any]) -> None:
    """Clamp a result a worker reports (already checked against RESULT_ITEM) to what storage
    holds, as the declarations' descriptions say: an error keeps only ERROR_FIELDS, its long
    texts are cut (and say so), codes outside 32 bits are dropped, the context keeps only
    CONTEXT_FIELDS with scalar values; a value nested too deep makes the attempt an error."""
    error = item.get("error")
    if error:
        for name in [k for k in error if k not in WORKER_ERROR_KEYS]:
            error.pop(name)
        for name in ERROR_TEXTS:
            text = error.get(name)
            if text is not None and len(text) > MAX_ERROR_TEXT_CHARS:
                error[name] = text[:MAX_ERROR_TEXT_CHARS] + \
                    f"\n... [truncated: {len(text) - MAX_ERROR_TEXT_CHARS} more characters]"
        for name in ERROR_CODES:
            if name in error and error[name] is not None and not _IS_CODE(error[name]):
                error.pop(name)
        context = error.get("context")
        if context is not None:
            error["context"] = {k: v for k, v in context.items()
                                if k in WORKER_CONTEXT_KEYS and _IS_CONTEXT_VALUE(v)}
    for name in ("result", "details", "error"):
        if depth(item.get(name), MAX_VALUE_DEPTH) > MAX_VALUE_DEPTH:
            # Not a protocol fault of the worker (a task may return anything): the attempt
            # ends as an error the user can read, instead of a reconnect-and-resend loop.
            item.update(outcome="error", result=None, details=None, error={
                "type": "ResultNotStorable", "message": f"the task's {name} nests deeper than "
                f"{MAX_VALUE_DEPTH} levels; it was dropped", "context": {"stage": "report"}})
            break


def attempt_key(item: Any) -> tuple[str, int, str]:
    """(task_id, attempt, lease) from a started/result/ack/held item, checked against ATTEMPT."""
    if type(item) is dict:
        # The common case, checked inline (the same bounds as ATTEMPT_FIELDS): every result and
        # start notice comes through here, most of them already checked by decode().
        tid, attempt, lease = item.get("task_id"), item.get("attempt"), item.get("lease")
        if type(tid) is str and type(lease) is str and type(attempt) is int and 1 <= attempt <= INT32[1] \
                and len(tid) <= MAX_ID_CHARS and len(lease) <= MAX_ID_CHARS:
            return tid, attempt, lease
    problem = ATTEMPT.problem(item)
    if problem:
        raise ProtocolError(problem)
    return item["task_id"], item["attempt"], item["lease"]
