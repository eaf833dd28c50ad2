"""One schema source for the wire protocol: /api/v1/protocol.json publishes the declarations of
worker/protocol.py, and ``decode`` accepts a frame exactly when the published JSON Schema admits
it (checked against an independent JSON Schema validator on random frames), apart from the
bounds the document names as outside the schema (NOT_IN_SCHEMA)."""
from __future__ import annotations

from typing import Any

import jsonschema_rs
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator import openapi
from worker import protocol
from worker.protocol import (MAX_BATCH_ITEMS, MAX_ERROR_TEXT_CHARS, MAX_HARDWARE_BYTES, MAX_TAG_CHARS, MAX_TAGS,
                             MESSAGES, MessageType, ProtocolError, decode)
from worker.schema import conforms

DOC = protocol.document()
NAMES = sorted({"v", "type", "x", *(n for f in MESSAGES.values() for n in f.parts or {}),
                *protocol.RESULT_ITEM.parts, *protocol.HARDWARE_FIELDS, *protocol.ERROR_FIELDS,
                *protocol.CONTEXT_FIELDS})
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 40), 2 ** 40),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
                    st.sampled_from(["passed", "crashed", "lost", "", "t", "x" * 257, "x" * 256, 0, 1, 0.0, 1.0,
                                     -1, -0.5, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1]))
KEYS = st.one_of(st.sampled_from(NAMES), st.sampled_from(["k" * MAX_TAG_CHARS, "k" * (MAX_TAG_CHARS + 1)]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(KEYS, inner, max_size=5)), max_leaves=10)
# Frames start valid and are then changed: fields replaced by random values, objects (hardware,
# error, context) and batch items of random fields, required fields dropped.
VALID: dict[MessageType, dict[str, Any]] = {
    MessageType.HELLO: {"worker_id": "w", "token": "t", "hardware": {}}, MessageType.HEARTBEAT: {},
    MessageType.STARTED: {"items": []}, MessageType.RESULTS: {"items": []},
    MessageType.COMMAND_RESULT: {"command": "drain", "ok": True}, MessageType.WELCOME: {"worker_id": "w"},
    MessageType.TASKS: {"items": []}, MessageType.RESULT_ACKS: {"items": []}, MessageType.COMMAND: {"command": "drain"}}
OBJECT = st.dictionaries(KEYS, st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=4)), max_size=5)
ITEM = st.one_of(JSON, st.builds(lambda outcome, changes: {"task_id": "t", "attempt": 1, "lease": "l",
                                                           **outcome, **changes},
                                 st.sampled_from([{}, {"outcome": "passed"}, {"outcome": "failed"}]), OBJECT))
VALUE = st.one_of(JSON, OBJECT, st.lists(ITEM, max_size=3))


def frames(mtype: MessageType) -> Any:
    valid = VALID[mtype]
    return st.builds(lambda drop, changes: {**{k: v for k, v in valid.items() if k not in drop}, **changes,
                                            "v": 1, "type": mtype.value},
                     st.sets(st.sampled_from(sorted(valid) or ["-"]), max_size=1) if valid else st.just(set()),
                     st.dictionaries(KEYS, VALUE, max_size=3))


CHECKED = settings(max_examples=500, suppress_health_check=list(HealthCheck), deadline=None)


def validator(mtype: MessageType) -> Any:
    """The published definition, read by a JSON Schema validator that is not ours."""
    return jsonschema_rs.Draft4Validator({**DOC["definitions"][mtype.value], "definitions": DOC["definitions"]})


def accepted(frame: dict[str, Any]) -> bool:
    try:
        decode(orjson.dumps(frame))
    except ProtocolError as exc:
        assert str(exc).startswith(f"{frame['type']}: ") and len(str(exc)) < 1000, str(exc)
        return False
    return True


@pytest.mark.parametrize("mtype", list(MessageType))
def test_decode_accepts_exactly_what_the_document_admits(mtype: MessageType) -> None:
    ref = validator(mtype)

    @CHECKED
    @given(frames(mtype))
    def check(frame: dict[str, Any]) -> None:
        assert accepted(frame) is ref.is_valid(frame), frame

    check()


@pytest.mark.parametrize("mtype", list(MessageType))
def test_each_published_definition_is_the_declaration(mtype: MessageType) -> None:
    definition = DOC["definitions"][mtype.value]
    assert definition == protocol.message_schema(mtype)
    assert set(definition["properties"]) == {"v", "type", *MESSAGES[mtype].parts}
    assert definition["required"] == ["v", "type", *MESSAGES[mtype].required]
    assert {"$ref": f"#/definitions/{mtype.value}"} in DOC["oneOf"]


def test_the_bounds_are_in_the_published_schema() -> None:
    hello = {"v": 1, "type": "hello", "worker_id": "w", "token": "t", "hardware": {}}
    ref = validator(MessageType.HELLO)
    for tags, ok in (({f"k{i}": "v" for i in range(MAX_TAGS)}, True), ({f"k{i}": "v" for i in range(MAX_TAGS + 1)}, False),
                     ({"k" * MAX_TAG_CHARS: "v" * MAX_TAG_CHARS}, True), ({"k" * (MAX_TAG_CHARS + 1): "v"}, False),
                     ({"k": "v" * (MAX_TAG_CHARS + 1)}, False), ({"k": 1}, False), (None, True)):
        assert accepted({**hello, "tags": tags}) is ok is ref.is_valid({**hello, "tags": tags}), tags
    key = {"task_id": "t", "attempt": 1, "lease": "l"}
    started = validator(MessageType.STARTED)
    for items, ok in (([key] * MAX_BATCH_ITEMS, True), ([key] * (MAX_BATCH_ITEMS + 1), False),
                      ([{**key, "attempt": 2 ** 31 - 1}], True), ([{**key, "attempt": 2 ** 31}], False),
                      ([{**key, "task_id": "x" * 257}], False)):
        frame = {"v": 1, "type": "started", "items": items}
        assert accepted(frame) is ok is started.is_valid(frame)


def test_what_the_schema_does_not_say_is_named_in_the_document() -> None:
    hello = {"v": 1, "type": "hello", "worker_id": "w", "token": "t",
             "hardware": {"gpus": ["x" * 100] * (MAX_HARDWARE_BYTES // 100)}}
    assert validator(MessageType.HELLO).is_valid(hello)
    with pytest.raises(ProtocolError, match=f"more than {MAX_HARDWARE_BYTES} bytes"):
        decode(orjson.dumps(hello))
    assert f"at most {MAX_HARDWARE_BYTES} bytes as JSON" in DOC["description"]


def test_a_report_is_bounded_as_its_schema_describes() -> None:
    error = {"type": "E", "message": "m" * (MAX_ERROR_TEXT_CHARS + 5), "exit_code": 2 ** 40, "signal": True,
             "errno": -3, "category": "steering", "context": {"stage": "call", "max_retries": 50, "device": ["x"],
                                                              "phase": "p" * (MAX_TAG_CHARS + 1)}}
    item = {"task_id": "t", "attempt": 1, "lease": "l", "outcome": "failed", "error": error}
    got = decode(protocol.encode(MessageType.RESULTS, items=[item])).body["items"][0]["error"]
    assert got["message"].startswith("m" * MAX_ERROR_TEXT_CHARS) and got["message"].endswith("[truncated: 5 more characters]")
    assert set(got) == {"type", "message", "errno", "context"} <= protocol.WORKER_ERROR_KEYS
    assert got["context"] == {"stage": "call"}
    described = DOC["definitions"]["results"]["properties"]["items"]["items"]["properties"]["error"]["anyOf"][1]
    assert set(described["properties"]) == protocol.WORKER_ERROR_KEYS
    assert str(MAX_ERROR_TEXT_CHARS) in described["properties"]["message"]["anyOf"][1]["description"]


def test_compiled_and_interpreted_checks_agree_with_the_reference() -> None:
    """``conforms`` (what validation.py and the protocol share) against the same validator, on
    the schemas of every declared field."""
    fields = [f for m in MESSAGES.values() for f in (m.parts or {}).values()]
    fields += [*protocol.RESULT_ITEM.parts.values(), *protocol.ERROR_FIELDS.values(), *protocol.HARDWARE_FIELDS.values()]
    schemas = [f.published for f in fields] + [protocol.TAGS, protocol.CODE, protocol.CONTEXT_VALUE]
    refs = [jsonschema_rs.Draft4Validator(protocol.json_schema(s)) for s in schemas]

    @CHECKED
    @given(JSON)
    def check(value: Any) -> None:
        for schema, ref in zip(schemas, refs):
            assert conforms(value, schema) is ref.is_valid(value), (schema, value)

    check()


async def test_the_coordinator_serves_the_document() -> None:
    app = web.Application()
    openapi.add_routes(app)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/api/v1/protocol.json")
        assert resp.status == 200 and await resp.json() == orjson.loads(orjson.dumps(DOC))
    assert "/api/v1/protocol.json" in openapi.document()["paths"]
