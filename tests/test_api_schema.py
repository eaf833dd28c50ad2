"""One schema source for request bodies: /openapi.json publishes the very declarations that
validation.py enforces, and validation enforces exactly those schemas (checked against an
independent JSON Schema validator on random values)."""
from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator import openapi
from coordinator.models import TASK_TYPES
from coordinator.validation import (BATCH_SCHEMA, CONFIG_FIELDS, CONFIG_SCHEMAS, MAX_BATCH, REQUIREMENTS,
                                    TASK_FIELDS, TASK_SCHEMA, ValidationError, config_schema, validate_submission,
                                    validate_task)
from worker.schema import conforms


def draft4(schema: Any) -> Any:
    """OpenAPI 3.0's schema dialect as JSON Schema draft 4 (which shares its boolean
    exclusiveMinimum): ``nullable`` becomes a null alternative."""
    if not isinstance(schema, dict):
        return schema
    out = {k: ({p: draft4(s) for p, s in v.items()} if k == "properties" else
               [draft4(s) for s in v] if k == "anyOf" else
               draft4(v) if k in ("items", "additionalProperties") else v)
           for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [{"type": "null"}, out]} if schema.get("nullable") else out


def reference(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft4Validator(draft4(schema))


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 40), 2 ** 40),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
                    st.sampled_from(["gpu", "", "x" * 300, "cuda", 0, 0.0, -1, 100, 101, 604800, 604800.5]))
KEYS = st.sampled_from(["hardware", "min_memory_gb", "packages", "avoid_workers", "a", "",
                        "argv", "command", "callable", "args", "kwargs", "fault", "on_attempts"])
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEYS, inner, max_size=4)), max_leaves=8)
CHECKED = settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None)


def test_the_document_publishes_the_declarations() -> None:
    doc = openapi.document()
    assert doc["components"]["schemas"]["Task"] is TASK_SCHEMA
    assert doc["components"]["schemas"]["TaskBatch"] is BATCH_SCHEMA
    body = doc["paths"]["/api/v1/tasks"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"oneOf": [{"$ref": "#/components/schemas/Task"}, {"$ref": "#/components/schemas/TaskBatch"}]}
    assert TASK_SCHEMA["properties"] == {name: f.schema for name, f in TASK_FIELDS.items()}
    assert TASK_SCHEMA["properties"]["requirements"]["properties"] == {n: f.schema for n, f in REQUIREMENTS.items()}
    assert BATCH_SCHEMA["properties"]["tasks"]["maxItems"] == MAX_BATCH
    for ttype in TASK_TYPES:
        assert doc["components"]["schemas"][f"{ttype.capitalize()}Config"] == config_schema(ttype)
        assert f"{ttype} as {ttype.capitalize()}Config" in TASK_SCHEMA["properties"]["config"]["description"]


@pytest.mark.parametrize("name", sorted({*TASK_FIELDS, *(f"requirements.{n}" for n in REQUIREMENTS)}))
def test_conforms_agrees_with_a_json_schema_validator(name: str) -> None:
    schema = REQUIREMENTS[name.split(".")[1]].schema if "." in name else TASK_FIELDS[name].schema
    ref = reference(schema)

    @CHECKED
    @given(JSON)
    def check(value: Any) -> None:
        assert conforms(value, schema) is ref.is_valid(value), value

    check()


@pytest.mark.parametrize("name", sorted(set(TASK_FIELDS) - {"type", "config"}))
def test_validation_enforces_each_documented_field(name: str) -> None:
    """In an otherwise valid task, a value passes exactly when the document's schema admits it;
    refused, the error names the field (or the requirement) and says the declared message."""
    ref = reference(TASK_FIELDS[name].schema)

    @CHECKED
    @given(JSON)
    def check(value: Any) -> None:
        body = {"type": "pytest", name: value}
        try:
            validate_task(body)
        except ValidationError as exc:
            assert not ref.is_valid(value), (value, exc.message)
            if name == "requirements" and isinstance(value, dict):
                key = exc.field.split(".")[1]
                assert exc.field == f"requirements.{key}"
                assert exc.code == "unknown_field" or exc.message == REQUIREMENTS[key].message
            else:
                assert (exc.field, exc.message) == (name, TASK_FIELDS[name].message)
        else:
            assert ref.is_valid(value), value

    check()


@pytest.mark.parametrize("ttype", TASK_TYPES)
def test_validation_enforces_each_documented_config(ttype: str) -> None:
    """A task's config passes exactly when its type's published schema admits it; refused, the
    error names config or one of its fields."""
    schema = CONFIG_SCHEMAS[f"{ttype.capitalize()}Config"]
    ref = reference(schema)

    @CHECKED
    @given(st.dictionaries(KEYS, JSON, max_size=4))
    def check(config: dict[str, Any]) -> None:
        assert conforms(config, schema) is ref.is_valid(config), config
        try:
            validate_task({"type": ttype, "config": config})
        except ValidationError as exc:
            assert not ref.is_valid(config), (config, exc.message)
            assert exc.field == "config" or exc.field.removeprefix("config.") in CONFIG_FIELDS[ttype]
        else:
            assert ref.is_valid(config), config

    check()


def test_type_is_required_and_one_of_the_task_types() -> None:
    ref = reference(TASK_FIELDS["type"].schema)
    fits_every_type = {"argv": ["true"], "fault": "none", "callable": "m:f"}
    for value in ("pytest", "command", "chaos", "nope", "", 3, None):
        assert _accepted({"type": value, "config": fits_every_type}) is ref.is_valid(value), value
    assert not _accepted({"config": fits_every_type})
    with pytest.raises(ValidationError, match="'type' is required and must be a string"):
        validate_task({})
    with pytest.raises(ValidationError, match="unknown task type 'nope'; known: command, pytest"):
        validate_task({"type": "nope"})


@pytest.mark.parametrize("field,value", [("requirements", []), ("requirements", False), ("tags", []),
                                         ("tags", 0), ("depends_on", ""), ("depends_on", {})])
def test_an_empty_value_of_the_wrong_kind_is_refused_as_documented(field: str, value: Any) -> None:
    """These were once taken as absent; the document says object (or list) or null, so now they
    are refused like any other value of the wrong kind. null still means absent."""
    with pytest.raises(ValidationError) as err:
        validate_task({"type": "pytest", field: value})
    assert err.value.field == field
    spec = validate_task({"type": "pytest", field: None})
    assert spec["tags"] == {} and spec["depends_on"] == [] and spec["requirements"]["hardware"] == []


def test_batches_are_bounded_as_documented() -> None:
    assert len(validate_submission({"tasks": [{"type": "pytest"}] * MAX_BATCH})) == MAX_BATCH
    for tasks in ([], [{"type": "pytest"}] * (MAX_BATCH + 1)):
        with pytest.raises(ValidationError) as err:
            validate_submission({"tasks": tasks})
        assert err.value.field == "tasks"


def _accepted(body: dict[str, Any]) -> bool:
    try:
        validate_task(body)
    except ValidationError:
        return False
    return True
