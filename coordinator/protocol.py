"""The worker wire protocol: typed messages with one decode point, shared by both ends.

Frames are JSON text. Every frame carries ``v`` (protocol version) and ``type``. Tasks are
pushed by the coordinator within the credit (free slots) the worker grants; several tasks,
start notices and results travel batched in one frame so throughput does not cost a frame each.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 4 * 1024 * 1024


class MessageType(str, Enum):
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


class CommandName(str, Enum):
    CANCEL = "cancel"
    CLEANUP_RESOURCES = "cleanup_resources"
    RECONNECT = "reconnect"
    FAILOVER = "failover"
    DRAIN = "drain"


class CloseCode(int, Enum):
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
    body["v"] = PROTOCOL_VERSION
    body["type"] = type_.value
    return orjson.dumps(body).decode()


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


def decode(raw: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Message:
    """The one place wire JSON becomes a typed message. Raises ProtocolError naming the fault."""
    if len(raw) > max_bytes:
        raise ProtocolError(f"frame of {len(raw)} bytes exceeds the limit of {max_bytes}",
                            CloseCode.FRAME_TOO_LARGE)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("frame must be a JSON object")
    version = data.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {version!r}; this end speaks {PROTOCOL_VERSION}")
    try:
        mtype = MessageType(data.pop("type", None))
    except ValueError:
        raise ProtocolError(f"unknown message type {data.get('type')!r}") from None
    for name, typ in _REQUIRED[mtype].items():
        value = data.get(name)
        if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
            raise ProtocolError(f"{mtype.value}: field {name!r} is missing or not a {getattr(typ, '__name__', typ)}")
    return Message(type=mtype, body=data)


def attempt_key(item: Any) -> tuple[str, int, str]:
    """(task_id, attempt, lease) from a started/result/ack item, validated."""
    if not isinstance(item, dict):
        raise ProtocolError("batch item must be an object")
    task_id, attempt, lease = item.get("task_id"), item.get("attempt"), item.get("lease")
    if not isinstance(task_id, str) or not isinstance(attempt, int) or isinstance(attempt, bool) \
            or not isinstance(lease, str):
        raise ProtocolError("batch item needs task_id (string), attempt (integer) and lease (string)")
    return task_id, attempt, lease
