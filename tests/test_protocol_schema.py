"""One schema source for the wire protocol: /api/v1/protocol.json publishes the declarations of
worker/protocol.py, and ``decode`` accepts a frame exactly when the published JSON Schema admits
it (checked against an independent JSON Schema validator, on every declared bound met and passed
in an otherwise valid frame, and on random frames with a fault somewhere inside), apart from the
bounds the document names as outside the schema (NOT_IN_SCHEMA). Changing one bound on one side
only (a duration's minimum, a tag key's length, an attempt's minimum, an error text's type) fails
these tests."""
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
# A frame is drawn valid (its required fields, some optional ones, each value one its schema
# admits, bounds reached) and then, mostly, given one fault somewhere inside: a field replaced by
# a value on or past a bound or by random JSON, a required field dropped, an unknown key added,
# one batch item or one tag made wrong. So each bound is what decides some of the examples.
VALID = {"worker_id": "w", "token": "t", "hardware": {}, "items": [], "command": "drain", "ok": True,
         "task_id": "t", "attempt": 1, "lease": "l", "outcome": "passed"}


def edge_values(schema: dict[str, Any]) -> list[Any]:
    """Values on and just past each bound the schema declares, and one of each kind."""
    out: list[Any] = [None, "s", 0.5, 3, True, {}, []]
    for s in (schema, *schema.get("anyOf", ())):
        out += [s["minimum"], s["minimum"] - 1, s["minimum"] - 0.5] if "minimum" in s else []
        out += [s["maximum"], s["maximum"] + 1] if "maximum" in s else []
        out += ["x" * s["maxLength"], "x" * (s["maxLength"] + 1)] if "maxLength" in s else []
        out += [*s["enum"], "lost"] if "enum" in s else []
        out += {"integer": [1, 1.0, -1], "number": [-0.5, 2.5], "array": [["a"], [1]]}.get(s.get("type"), [])
    return out


def good(field: protocol.Field) -> Any:
    """Values ``field`` admits."""
    if field.parts is not None:
        return objects(field, fault=False)
    if field.each is not None:
        return st.lists(good(field.each), max_size=3)
    extra = field.schema.get("additionalProperties")
    if isinstance(extra, dict):
        fits = [v for v in edge_values(extra) if conforms(v, extra)]
        return st.dictionaries(st.sampled_from(["a", "b", "k" * MAX_TAG_CHARS]), st.sampled_from(fits), max_size=3)
    fits = [v for v in edge_values(field.schema) if conforms(v, field.schema)]
    return st.sampled_from(fits) if fits else JSON


def bad(field: protocol.Field) -> Any:
    """Values with (most likely) one fault: inside, where the field has parts, items or entries."""
    kinds = [JSON, st.sampled_from(edge_values(field.schema))]
    if field.parts is not None:
        kinds += [objects(field, fault=True)] * 4
    if field.each is not None:
        kinds += [st.builds(lambda before, wrong, after: [*before, wrong, *after], st.lists(good(field.each), max_size=2),
                            bad(field.each), st.lists(good(field.each), max_size=1))] * 4
    extra = field.schema.get("additionalProperties")
    if isinstance(extra, dict):
        fits = [v for v in edge_values(extra) if conforms(v, extra)]
        kinds += [st.builds(lambda entries, key, value: {**entries, key: value}, good(field), KEYS,
                            st.sampled_from(edge_values(extra))),
                  st.builds(lambda entries, value: {**entries, "k" * (MAX_TAG_CHARS + 1): value}, good(field),
                            st.sampled_from(fits))] * 2
    return st.one_of(*kinds)


def objects(field: protocol.Field, *, fault: bool) -> Any:
    parts = dict(field.parts or {})
    optional = sorted(set(parts) - set(field.required))

    def build(chosen: dict[str, Any], fault_at: str | None, wrong: Any, key: str) -> dict[str, Any]:
        value = {**{n: VALID[n] for n in field.required}, **chosen}
        if fault_at == "<drop>" and field.required:
            value.pop(field.required[0])
        elif fault_at == "<unknown>":
            value[key] = wrong
        elif fault_at is not None:
            value[fault_at] = wrong
        return value

    chosen = st.lists(st.sampled_from(optional), max_size=3, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({n: good(parts[n]) for n in names})) if optional else st.just({})
    if not fault:
        return st.builds(build, chosen, st.none(), st.none(), st.just(""))
    where = st.sampled_from([*sorted(parts), "<drop>", "<unknown>"])
    return where.flatmap(lambda at: st.builds(build, chosen, st.just(at),
                                              bad(parts[at]) if at in parts else JSON, KEYS))


def frames(mtype: MessageType) -> Any:
    body = st.one_of(objects(MESSAGES[mtype], fault=False), *[objects(MESSAGES[mtype], fault=True)] * 4)
    return body.map(lambda b: {**b, "v": 1, "type": mtype.value})


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


def base(field: protocol.Field) -> Any:
    if field.parts is not None:
        return {n: base(field.parts[n]) if n not in VALID else VALID[n] for n in field.required}
    return [] if field.each is not None else "s"


def variants(field: protocol.Field) -> list[Any]:
    """Values of ``field`` with one change from a valid one: the whole value on or past a bound
    (or of another kind), or one part, item, entry or count on or past its own."""
    out = edge_values(field.schema)
    if field.parts is not None:
        whole = base(field)
        for name, part in field.parts.items():
            out += [{**whole, name: v} for v in variants(part)]
        out += [{k: v for k, v in whole.items() if k != gone} for gone in field.required]
        out += [{**whole, "k" * (MAX_TAG_CHARS + 1): 1}]
    if field.each is not None:
        item = base(field.each)
        out += [[v] for v in variants(field.each)] + [[item, v] for v in variants(field.each)[:20]]
        most = field.schema.get("maxItems")
        out += [[item] * most, [item] * (most + 1)] if most else []
    extra = field.schema.get("additionalProperties")
    if isinstance(extra, dict):
        out += [{"a": v} for v in edge_values(extra)]
        out += [{"k" * n: "s"} for n in (MAX_TAG_CHARS, MAX_TAG_CHARS + 1)]
        most = field.schema.get("maxProperties")
        out += [{f"k{i}": "s" for i in range(n)} for n in (most, most + 1)] if most else []
    return out


@pytest.mark.parametrize("mtype", list(MessageType))
def test_every_bound_decides_as_published(mtype: MessageType) -> None:
    """Each declared bound, met and passed by one, in an otherwise valid frame: decode and the
    published schema agree on every one of them."""
    ref = validator(mtype)
    frames_ = [{**v, "v": 1, "type": mtype.value} for v in variants(MESSAGES[mtype]) if isinstance(v, dict)]
    verdicts = [(accepted(f), ref.is_valid(f)) for f in frames_]
    assert [f for f, (ours, theirs) in zip(frames_, verdicts) if ours is not theirs] == []
    assert {True, False} <= {ours for ours, _ in verdicts}


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
