"""Fields declared once: a JSON schema and the message a value that does not conform gets.

Shared by the HTTP task body (``coordinator/validation.py``) and the wire protocol
(``worker/protocol.py``): both check values against the schemas they publish. It lives in
``worker/`` because the coordinator imports the worker's protocol, never the other way round.

Schemas are written in OpenAPI 3.0's dialect (``nullable``; a boolean ``exclusiveMinimum``),
the subset ``conforms`` reads; ``json_schema`` turns one into plain JSON Schema draft 4.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "number": (int, float), "integer": int,
                                              "boolean": bool, "object": dict, "array": list}


@dataclass(frozen=True, slots=True)
class Field:
    """A field: its schema and what a value that does not conform is told (a string, or a
    function of the value). An object's fields (``parts``, each with its own message, those in
    ``required`` present) and an array's items (``each``) may be declared as fields of their own:
    ``schema`` then says only what the value is, and ``published`` adds the parts."""

    schema: dict[str, Any]
    message: str | Callable[[Any], str]
    parts: Mapping[str, Field] | None = None
    required: tuple[str, ...] = ()
    each: Field | None = None

    def told(self, value: Any) -> str:
        return self.message(value) if callable(self.message) else self.message

    def problem(self, value: Any) -> str | None:
        """The first problem of ``value``: its own schema's message, then its parts' and items'
        in the order declared; None when it conforms."""
        if not conforms(value, self.schema):
            return self.told(value)
        if self.parts is not None and isinstance(value, dict):
            for name in self.required:
                if name not in value:
                    return self.parts[name].told(None)
            for name, part in self.parts.items():
                if name in value:
                    problem = part.problem(value[name])
                    if problem:
                        return problem
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
    patternProperties, additionalProperties, maxProperties, anyOf, not)."""
    if value is None:
        return bool(schema.get("nullable"))
    if "anyOf" in schema and not any(conforms(value, s) for s in schema["anyOf"]):
        return False
    if "not" in schema and conforms(value, schema["not"]):
        return False
    kind = schema.get("type")
    if kind is not None and not isinstance(value, _TYPES[kind]) or \
            kind in ("number", "integer") and isinstance(value, bool):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "minimum" in schema and (value <= schema["minimum"] if schema.get("exclusiveMinimum")
                                else value < schema["minimum"]):
        return False
    if "maximum" in schema and value > schema["maximum"]:
        return False
    if isinstance(value, str) and (not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
                                   or "pattern" in schema and re.search(schema["pattern"], value) is None):
        return False
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            return False
        if "items" in schema and not all(conforms(v, schema["items"]) for v in value):
            return False
    if isinstance(value, dict):
        if len(value) > schema.get("maxProperties", len(value)):
            return False
        if any(k not in value for k in schema.get("required", ())):
            return False
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            matched = [s for p, s in patterns.items() if re.search(p, k) is not None]
            if any(not conforms(v, s) for s in matched):
                return False
            sub = props.get(k, True if matched else extra)
            if sub is False or isinstance(sub, dict) and not conforms(v, sub):
                return False
    return True


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
