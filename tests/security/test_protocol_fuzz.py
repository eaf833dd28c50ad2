"""Property-based fuzzing of the one decode point: a typed Message or a ProtocolError, nothing else."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.protocol import (MAX_BATCH_ITEMS, MAX_FRAME_DEPTH, MAX_VALUE_DEPTH, CloseCode, Message,
                                  MessageType, ProtocolError, decode, encode)

SLOWER = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORKER_SENT = [MessageType.HELLO, MessageType.HEARTBEAT, MessageType.STARTED, MessageType.RESULTS,
               MessageType.COMMAND_RESULT]

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2 ** 64, max_value=2 ** 64),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)
field_names = st.sampled_from(["v", "type", "worker_id", "token", "hardware", "items", "held", "load",
                               "draining", "concurrency", "tags", "command", "ok", "detail", "task_id",
                               "attempt", "lease", "outcome", "result", "error", "details",
                               "duration_seconds", "started_at", "types", "memory_gb", "packages"])
junk_dicts = st.recursive(st.dictionaries(field_names, json_values, max_size=6),
                          lambda inner: st.dictionaries(field_names, st.one_of(json_values, inner,
                                                                               st.lists(inner, max_size=3)),
                                                        max_size=6), max_leaves=12)


def _dumps(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return None  # integers beyond 64 bits: not JSON orjson writes; the raw-bytes cases cover them


def check(raw: str | bytes) -> Message | None:
    """The property: decode returns a Message or raises ProtocolError with a message and close code."""
    try:
        msg = decode(raw)
    except ProtocolError as exc:
        assert str(exc) and len(str(exc)) < 1000, "the error names the fault, briefly"
        assert isinstance(exc.code, CloseCode) and 4000 <= exc.code < 5000
        return None
    assert isinstance(msg, Message) and isinstance(msg.type, MessageType) and isinstance(msg.body, dict)
    # Whatever is accepted can be stored and served again (orjson writes at most 254 levels).
    assert orjson.dumps(msg.body)
    return msg


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text(raw: str) -> None:
    check(raw)


@FAST
@given(json_values)
def test_arbitrary_json_values(value: Any) -> None:
    raw = _dumps(value)
    if raw is not None:
        check(raw)


@SLOWER
@given(st.sampled_from(WORKER_SENT), junk_dicts, st.sampled_from([1, 1, 1, 0, 2, True, 1.0, "1", None]))
def test_envelope_with_junk_body(mtype: MessageType, body: dict, version: Any) -> None:
    frame = {**body, "v": version, "type": mtype.value}
    raw = _dumps(frame)
    if raw is None:
        return
    msg = check(raw)
    if msg is None:
        return
    assert version == 1 and type(version) is int
    b = msg.body
    if msg.type in (MessageType.STARTED, MessageType.RESULTS):
        for item in b["items"]:  # every item the engine sees is a well-formed attempt key
            assert isinstance(item, dict) and isinstance(item["task_id"], str) and isinstance(item["lease"], str)
            assert type(item["attempt"]) is int
    if msg.type is MessageType.HELLO:
        assert isinstance(b["worker_id"], str) and isinstance(b["hardware"], dict)
        assert all(isinstance(t, str) for t in b["hardware"].get("types", []))
    if msg.type is MessageType.HEARTBEAT and b.get("held") is not None:
        assert all(isinstance(i, dict) and isinstance(i["task_id"], str) for i in b["held"])


@FAST
@given(st.sampled_from(["hello", "heartbeat", "results", "started", "nonsense", "", "HELLO"]),
       st.sampled_from(["items", "held"]), json_values)
def test_batches_of_junk_items(type_: str, key: str, junk: Any) -> None:
    frame = {"v": 1, "type": type_, "worker_id": "w", "token": "t", "hardware": {}, key: [junk, junk]}
    if type_ in ("results", "started") and key == "held":
        frame["items"] = []
    raw = _dumps(frame)
    if raw is not None:
        check(raw)


@pytest.mark.parametrize("raw, code, fragment", [
    ("", CloseCode.PROTOCOL_ERROR, "not valid JSON"),
    ("[]", CloseCode.PROTOCOL_ERROR, "JSON object"),
    ("NaN", CloseCode.PROTOCOL_ERROR, "not valid JSON"),
    ('{"v": 1, "type": "heartbeat", "load": {"x": 1e999}}', CloseCode.PROTOCOL_ERROR, "not valid JSON"),
    ('{"v": 2, "type": "heartbeat"}', CloseCode.PROTOCOL_ERROR, "version"),
    ('{"v": true, "type": "heartbeat"}', CloseCode.PROTOCOL_ERROR, "version"),
    ('{"v": 1, "type": ["hello"]}', CloseCode.PROTOCOL_ERROR, "must be a string"),
    ('{"v": 1, "type": "launch"}', CloseCode.PROTOCOL_ERROR, "unknown message type"),
    ('{"v": 1, "type": "results", "items": [5]}', CloseCode.PROTOCOL_ERROR, "must be an object"),
    ('{"v": 1, "type": "results", "items": [{"task_id": 1, "attempt": 1, "lease": "x"}]}',
     CloseCode.PROTOCOL_ERROR, "task_id"),
    ('{"v": 1, "type": "results", "items": [{"task_id": "t", "attempt": 1, "lease": "x", "outcome": "lost"}]}',
     CloseCode.PROTOCOL_ERROR, "outcome"),
    ('{"v": 1, "type": "results", "items": [{"task_id": "t", "attempt": 1, "lease": "x", "outcome": "passed",'
     ' "duration_seconds": "slow"}]}', CloseCode.PROTOCOL_ERROR, "duration_seconds"),
    ('{"v": 1, "type": "heartbeat", "held": [{"task_id": ["t"], "attempt": 1, "lease": "x"}]}',
     CloseCode.PROTOCOL_ERROR, "task_id"),
    ('{"v": 1, "type": "hello", "worker_id": 7, "token": "t", "hardware": {}}', CloseCode.PROTOCOL_ERROR,
     "worker_id"),
    ('{"v": 1, "type": "hello", "worker_id": "w", "token": "t", "hardware": {"memory_gb": "lots"}}',
     CloseCode.PROTOCOL_ERROR, "memory_gb"),
    ('{"v": 1, "type": "hello", "worker_id": "w", "token": "t", "hardware": {"types": "cpu"}}',
     CloseCode.PROTOCOL_ERROR, "types"),
])
def test_named_faults(raw: str, code: CloseCode, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment) as info:
        decode(raw)
    assert info.value.code is code


def test_oversized_frame_is_4413_and_counted_in_bytes() -> None:
    with pytest.raises(ProtocolError) as info:
        decode("x" * 101, max_bytes=100)
    assert info.value.code is CloseCode.FRAME_TOO_LARGE
    with pytest.raises(ProtocolError) as info:  # 40 characters, 120 bytes
        decode('"' + "€" * 40 + '"', max_bytes=100)
    assert info.value.code is CloseCode.FRAME_TOO_LARGE


def test_deep_nesting_is_refused_and_a_deep_result_becomes_a_readable_error() -> None:
    deep = "[" * (MAX_FRAME_DEPTH + 5) + "]" * (MAX_FRAME_DEPTH + 5)
    with pytest.raises(ProtocolError, match="nests deeper"):
        decode('{"v": 1, "type": "heartbeat", "load": {"x": ' + deep + "}}")
    nested: Any = 1
    for _ in range(MAX_VALUE_DEPTH + 1):
        nested = [nested]
    msg = decode(encode(MessageType.RESULTS, items=[{"task_id": "t", "attempt": 1, "lease": "l",
                                                     "outcome": "passed", "result": nested}]))
    item = msg.body["items"][0]
    assert item["outcome"] == "error" and item["result"] is None
    assert item["error"]["type"] == "ResultNotStorable"


def test_batch_size_is_bounded() -> None:
    items = [{"task_id": "t", "attempt": 1, "lease": "l"}] * (MAX_BATCH_ITEMS + 1)
    with pytest.raises(ProtocolError, match="at most"):
        decode(encode(MessageType.STARTED, items=items))
    with pytest.raises(ProtocolError, match="held"):
        decode(encode(MessageType.HEARTBEAT, held=items))


def test_what_a_real_worker_sends_still_decodes() -> None:
    frames = [
        encode(MessageType.HELLO, worker_id="w-1", token="t", concurrency=2, tags={"zone": "a"},
               hardware={"types": ["cpu"], "cpu_count": 2, "memory_gb": 23.5, "gpus": [], "packages": ["pytest"],
                         "allow_install": False, "allowed_types": ["python"]},
               held=[{"task_id": "a", "attempt": 1, "lease": "l"}]),
        encode(MessageType.HEARTBEAT, load={"load_avg_1m": 0.5, "running": 1}, held=[], draining=False),
        encode(MessageType.STARTED, items=[{"task_id": "a", "attempt": 1, "lease": "l", "started_at": 1.5}]),
        encode(MessageType.RESULTS, items=[{"task_id": "a", "attempt": 1, "lease": "l", "outcome": "failed",
                                            "result": {"x": [1, 2]}, "details": {"cases": []},
                                            "error": {"type": "AssertionError", "message": "no",
                                                      "traceback": None, "exit_code": 1},
                                            "duration_seconds": 0.25},
                                           {"task_id": "b", "attempt": 2, "lease": "l", "outcome": "passed",
                                            "result": 3, "error": None, "details": None}]),
        encode(MessageType.COMMAND_RESULT, command="cleanup_resources", ok=True, detail={"removed": 3}),
    ]
    assert [decode(f).type for f in frames] == WORKER_SENT
