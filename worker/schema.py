"""Fields declared once: a JSON schema and the message a value that does not conform gets.

Shared by the HTTP task body (``coordinator/validation.py``) and the wire protocol
(``worker/protocol.py``): both check values against the schemas they publish. It lives in
``worker/`` because the coordinator imports the worker's protocol, never the other way round.

Schemas are written in OpenAPI 3.0's dialect (``nullable``; a boolean ``exclusiveMinimum``),
the subset ``conforms`` reads; ``json_schema`` turns one into plain JSON Schema draft 4.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "number": (int, float), "integer": int,
                                              "boolean": bool, "object": dict, "array": list}


@dataclass(frozen=True, slots=True)
class Field:
    """A field: its schema and what a value that does not conform is told (a string, or a
    function of the value). An object's fields (``parts``, each with its own message, those in
    ``required`` present, all of them among the parts) and an array's items (``each``) may be
    declared as fields of their own: ``schema`` then says only what the value is, and
    ``published`` adds the parts."""

    schema: dict[str, Any]
    message: str | Callable[[Any], str]
    parts: Mapping[str, Field] | None = None
    required: tuple[str, ...] = ()
    each: Field | None = None
    _check: Callable[[Any], bool] = field(init=False, repr=False, compare=False)
    _checked: tuple[tuple[str, Field, bool], ...] = field(init=False, repr=False, compare=False)
    _ok: Callable[[Any], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_check", compile_schema(self.schema))
        # The parts that can refuse something (a part that takes any value is not visited).
        object.__setattr__(self, "_checked", tuple(
            (name, part, name in self.required) for name, part in (self.parts or {}).items()
            if name in self.required or not part.takes_anything))
        object.__setattr__(self, "_ok", self._conforming())

    def _conforming(self) -> Callable[[Any], bool]:
        """``not self.problem(value)`` with one call per part. Every frame's items and every
        submitted task are checked; nearly all conform, so ``problem`` asks this first and
        works out which message applies only for a value that does not."""
        check, told = self._check, self.told
        parts = tuple((name, part._ok, part.told, required) for name, part, required in self._checked)
        each = self.each._ok if self.each is not None else None
        if not parts and each is None:
            if isinstance(self.message, str) and self.message:
                return check
            return lambda value: check(value) or not told(value)  # an empty message refuses nothing

        def ok(value: Any) -> bool:
            if not check(value):
                return not told(value)
            if parts and isinstance(value, dict):
                for name, part_ok, part_told, required in parts:
                    if name in value:
                        if not part_ok(value[name]):
                            return False
                    elif required:
                        return not part_told(None)
            if each is not None and isinstance(value, list):
                for item in value:
                    if not each(item):
                        return False
            return True
        return ok

    @property
    def takes_anything(self) -> bool:
        return self._check is _anything and not self._checked and self.each is None

    def told(self, value: Any) -> str:
        return self.message(value) if callable(self.message) else self.message

    def problem(self, value: Any) -> str | None:
        """The first problem of ``value``: its own schema's message, then its parts' (a missing
        required part is told as a null value) and items' in the order declared; None when it
        conforms."""
        if self._ok(value):
            return None
        if not self._check(value):
            return self.told(value)
        if self._checked and isinstance(value, dict):
            for name, part, required in self._checked:
                if name in value:
                    problem = part.problem(value[name])
                    if problem:
                        return problem
                elif required:
                    return part.told(None)
        if self.each is not None and isinstance(value, list):
            for item in value:
                problem = self.each.problem(item)
                if problem:
                    return problem
        return None

    @property
    def published(self) -> dict[str, Any]:
        """The whole schema: ``schema`` with the parts' and items' published schemas."""
        out = dict(self.schema)
        if self.parts is not None:
            out["properties"] = {**out.get("properties", {}), **{k: p.published for k, p in self.parts.items()}}
            if self.required:
                out["required"] = list(self.required)
        if self.each is not None:
            out["items"] = self.each.published
        return out


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """Whether ``value`` (decoded JSON) conforms to ``schema``: the keywords the declarations
    use (type, nullable, enum, minimum/maximum with OpenAPI 3.0's exclusiveMinimum flag,
    minLength/maxLength, pattern, items, minItems/maxItems, required, properties,
    patternProperties, additionalProperties, maxProperties, anyOf, not). A ``Field`` compiles
    its schema once (``compile_schema``); this compiles it each time."""
    return compile_schema(schema)(value)


def _anything(value: Any) -> bool:
    return True


def _not_null(value: Any) -> bool:
    return value is not None


def compile_schema(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """``schema`` as a function of a value: whether it conforms (see ``conforms``). Keywords
    about numbers, strings, arrays and objects apply to values of that kind, as in JSON Schema."""
    nullable = bool(schema.get("nullable"))
    tests: list[Callable[[Any], bool]] = []
    if "anyOf" in schema:
        alternatives = [compile_schema(s) for s in schema["anyOf"]]
        tests.append(lambda v: any(a(v) for a in alternatives))
    if "not" in schema:
        negated = compile_schema(schema["not"])
        tests.append(lambda v: not negated(v))
    kind = schema.get("type")
    if kind in ("number", "integer"):
        numeric = _TYPES[kind]
        tests.append(lambda v: isinstance(v, numeric) and not isinstance(v, bool))
    elif kind is not None:
        typ = _TYPES[kind]
        tests.append(lambda v: isinstance(v, typ))
    if "enum" in schema:
        enum = schema["enum"]
        tests.append(lambda v: v in enum)
    if "minimum" in schema:
        low = schema["minimum"]
        if schema.get("exclusiveMinimum"):
            tests.append(lambda v: not _is_number(v) or v > low)
        else:
            tests.append(lambda v: not _is_number(v) or v >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        tests.append(lambda v: not _is_number(v) or v <= high)
    if "minLength" in schema or "maxLength" in schema:
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength", float("inf"))
        tests.append(lambda v: not isinstance(v, str) or shortest <= len(v) <= longest)
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        tests.append(lambda v: not isinstance(v, str) or pattern.search(v) is not None)
    if "minItems" in schema or "maxItems" in schema:
        fewest, most = schema.get("minItems", 0), schema.get("maxItems", float("inf"))
        tests.append(lambda v: not isinstance(v, list) or fewest <= len(v) <= most)
    if "items" in schema:
        item = compile_schema(schema["items"])
        tests.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    if "maxProperties" in schema:
        most_keys = schema["maxProperties"]
        tests.append(lambda v: not isinstance(v, dict) or len(v) <= most_keys)
    if "required" in schema:
        needed = tuple(schema["required"])
        tests.append(lambda v: not isinstance(v, dict) or all(k in v for k in needed))
    extra = schema.get("additionalProperties", True)
    if "properties" in schema or "patternProperties" in schema or extra is not True:
        props = {k: compile_schema(s) for k, s in schema.get("properties", {}).items()}
        patterns = [(re.compile(p), compile_schema(s)) for p, s in schema.get("patternProperties", {}).items()]
        rest = (lambda v: False) if extra is False else compile_schema(extra) if isinstance(extra, dict) else None

        def members(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for k, v in value.items():
                matched = False
                for pattern_, sub in patterns:
                    if pattern_.search(k) is not None:
                        matched = True
                        if not sub(v):
                            return False
                sub = props.get(k)
                if sub is None and not matched:
                    sub = rest
                if sub is not None and not sub(v):
                    return False
            return True
        tests.append(members)
    if not tests:
        return _anything if nullable else _not_null
    if len(tests) == 1:
        only = tests[0]
        return (lambda v: v is None or only(v)) if nullable else (lambda v: v is not None and only(v))

    def check(value: Any) -> bool:
        if value is None:
            return nullable
        for test in tests:
            if not test(value):
                return False
        return True
    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_schema(schema: Any) -> Any:
    """A schema of the declarations' dialect as plain JSON Schema draft 4 (which shares OpenAPI
    3.0's boolean exclusiveMinimum): ``nullable`` becomes a null alternative."""
    if not isinstance(schema, dict):
        return schema
    out = {k: ({p: json_schema(s) for p, s in v.items()} if k in ("properties", "patternProperties") else
               [json_schema(s) for s in v] if k == "anyOf" else
               json_schema(v) if k in ("items", "additionalProperties", "not") else v)
           for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [{"type": "null"}, out]} if schema.get("nullable") else out
