"""Turns submitted JSON into task specs, or a 4xx naming the field at fault.

The body's fields are declared once (``TASK_FIELDS``, ``REQUIREMENTS``: a schema and a message
each); validation checks values against those schemas and /openapi.json publishes the same
schemas (``TASK_SCHEMA``, ``BATCH_SCHEMA``). A task's ``config`` is declared per type the same way (``CONFIG_FIELDS``)."""
from __future__ import annotations

from typing import Any

from coordinator.models import TASK_TYPES
from worker.schema import Field

DEFAULT_TIMEOUT_SECONDS = 300.0
MAX_TIMEOUT_SECONDS = 7 * 86400.0
MAX_BATCH = 10_000
# Stored as JSON and served inside listings: orjson writes at most 254 levels, so deeper input
# would be accepted and then break the durable write (and every commit after it).
MAX_NESTING = 64
PRIORITY_RANGE = (-(2 ** 31), 2 ** 31 - 1)  # SQLite and sort keys take 64-bit; keep far inside
MAX_ID_CHARS = 256


class ValidationError(Exception):
    def __init__(self, message: str, field: str | None = None, code: str = "invalid_task") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_SCALARS = (str, int, float, bool, type(None))


def _too_deep(value: Any, limit: int = MAX_NESTING) -> bool:
    if isinstance(value, dict) and all(isinstance(v, _SCALARS) or
                                       (isinstance(v, list) and all(isinstance(x, _SCALARS) for x in v))
                                       for v in value.values()):
        return False  # the common shape (scalars and flat lists) is two levels deep at most
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


# ---- the declarations: one source for what is enforced and what /openapi.json documents ----------
# (``Field`` and ``conforms`` are shared with the wire protocol: worker/schema.py.)
NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}}


def _type_problem(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "'type' is required and must be a string"
    return f"unknown task type {value!r}; known: {', '.join(TASK_TYPES)}"


REQUIREMENTS: dict[str, Field] = {
    "hardware": Field({"anyOf": [{"type": "string", "minLength": 1}, NAMES]},
                      "'requirements.hardware' must be a list of hardware names (first preferred, the rest "
                      "fallbacks)"),
    "min_memory_gb": Field({"type": "number", "minimum": 0}, "'requirements.min_memory_gb' must be a number >= 0"),
    "packages": Field(NAMES, "'requirements.packages' must be a list of package names"),
    "avoid_workers": Field(NAMES, "'requirements.avoid_workers' must be a list of worker ids (a rerun that must "
                                  "run elsewhere)"),
}

_CALL = {
    "callable": Field({"type": "string", "pattern": ":"}, "'config.callable' must be 'package.module:function'"),
    "args": Field({"type": "array"}, "'config.args' must be a list"),
    "kwargs": Field({"type": "object"}, "'config.kwargs' must be an object"),
}
# A task's config, per type (other keys are the executor's business and pass through), each in
# the order checked; ``CONFIG_REQUIRED`` are checked present, ``CONFIG_ONE_OF`` first of all.
CONFIG_FIELDS: dict[str, dict[str, Field]] = {
    "command": {
        "argv": Field({"type": "array", "nullable": True, "minItems": 1, "items": {"type": "string"}},
                      "'config.argv' must be a non-empty list of strings"),
        "command": Field({"type": "string", "nullable": True}, "'config.command' must be a string"),
    },
    "pytest": {"args": Field({"type": "array", "items": {"type": "string"}}, "'config.args' must be a list of strings")},
    "python": _CALL,
    "benchmark": _CALL,
    "chaos": {
        "fault": Field({"type": "string"}, "'config.fault' is required for chaos tasks"),
        "on_attempts": Field({"type": "array", "nullable": True, "items": {"type": "integer"}},
                             "'config.on_attempts' must be a list of attempt numbers"),
    },
}
CONFIG_REQUIRED: dict[str, tuple[str, ...]] = {"python": ("callable",), "benchmark": ("callable",),
                                                "chaos": ("fault",)}
CONFIG_ONE_OF: dict[str, tuple[tuple[str, ...], str]] = {
    "command": (("argv", "command"), "a command task needs 'config.argv' (list) or 'config.command' (string)"),
}


def config_schema(ttype: str) -> dict[str, Any]:
    """The published schema of a ``ttype`` task's config (``components.schemas``)."""
    schema: dict[str, Any] = {"type": "object", "properties": {k: f.schema for k, f in CONFIG_FIELDS[ttype].items()}}
    if ttype in CONFIG_REQUIRED:
        schema["required"] = list(CONFIG_REQUIRED[ttype])
    if ttype in CONFIG_ONE_OF:
        # One of them present and not null.
        schema["anyOf"] = [{"required": [k], "properties": {k: {**CONFIG_FIELDS[ttype][k].schema, "nullable": False}}}
                           for k in CONFIG_ONE_OF[ttype][0]]
    return schema


# In the order they are checked: the first problem found is the one reported.
TASK_FIELDS: dict[str, Field] = {
    "type": Field({"type": "string", "enum": list(TASK_TYPES)}, _type_problem),
    "config": Field({"type": "object", "description": "checked per type: " + ", ".join(
                        f"{t} as {t.capitalize()}Config" for t in TASK_TYPES)}, "'config' must be an object"),
    "requirements": Field({"type": "object", "nullable": True, "additionalProperties": False,
                           "properties": {k: f.schema for k, f in REQUIREMENTS.items()}},
                          "'requirements' must be an object"),
    "priority": Field({"type": "integer", "minimum": PRIORITY_RANGE[0], "maximum": PRIORITY_RANGE[1]},
                      f"'priority' must be an integer from {PRIORITY_RANGE[0]} to {PRIORITY_RANGE[1]} "
                      "(lower runs first)"),
    "timeout_seconds": Field({"type": "number", "minimum": 0, "exclusiveMinimum": True,
                              "maximum": MAX_TIMEOUT_SECONDS},
                             f"'timeout_seconds' must be a number in (0, {MAX_TIMEOUT_SECONDS:.0f}]"),
    "max_retries": Field({"type": "integer", "nullable": True, "minimum": 0, "maximum": 100},
                         "'max_retries' must be an integer from 0 to 100"),
    "tags": Field({"type": "object", "nullable": True, "additionalProperties": {
                       "nullable": True, "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}},
                  "'tags' must be an object of string keys and scalar values"),
    "depends_on": Field({"type": "array", "nullable": True,
                         "items": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}},
                        "'depends_on' must be a list of task ids"),
}
REQUIRED = ("type",)
ALLOWED_FIELDS = frozenset(TASK_FIELDS)
ALLOWED_REQUIREMENTS = frozenset(REQUIREMENTS)

# The request bodies of POST /api/v1/tasks, as /openapi.json documents them.
TASK_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False, "required": list(REQUIRED),
                               "properties": {k: f.schema for k, f in TASK_FIELDS.items()}}
CONFIG_SCHEMAS: dict[str, dict[str, Any]] = {f"{t.capitalize()}Config": config_schema(t) for t in TASK_TYPES}
BATCH_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False, "required": ["tasks"],
                                "properties": {"tasks": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                                         "items": {"$ref": "#/components/schemas/Task"}}}}


def _unknown(raw: dict[str, Any], allowed: frozenset[str], what: str, where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(f"unknown {what}: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
                              where + unknown[0], "unknown_field")


def validate_task(raw: Any, where: str = "") -> dict[str, Any]:
    """Return a normalised spec dict. ``where`` prefixes field names in batch errors (tasks[3].)."""
    if not isinstance(raw, dict):
        raise ValidationError("a task must be a JSON object", where.rstrip(".") or None)
    _unknown(raw, ALLOWED_FIELDS, "task field(s)", where)
    for name, field in TASK_FIELDS.items():
        if name not in raw and name not in REQUIRED and name != "config":
            continue
        value = raw.get(name, {} if name == "config" else None)
        if name == "requirements" and isinstance(value, dict):
            # Its own unknown-field message, then each requirement named by its own path.
            _unknown(value, ALLOWED_REQUIREMENTS, "requirement(s)", where + "requirements.")
            for key, req in REQUIREMENTS.items():
                problem = req.problem(value[key]) if key in value else None
                if problem:
                    raise ValidationError(problem, where + "requirements." + key)
            continue
        problem = field.problem(value)
        if problem:
            raise ValidationError(problem, where + name)
        if name == "config":
            if _too_deep(value):
                raise ValidationError(f"'config' nests deeper than {MAX_NESTING} levels", where + "config")
            _validate_config(raw["type"], value, where + "config")
    reqs = raw.get("requirements") or {}
    hardware = reqs.get("hardware", [])
    mem = reqs.get("min_memory_gb", 0)
    avoid = reqs.get("avoid_workers", [])
    depends_on = raw.get("depends_on") or []
    return {"type": raw["type"], "config": raw.get("config", {}),
            "requirements": {"hardware": [hardware] if isinstance(hardware, str) else hardware,
                             "min_memory_gb": float(mem), "packages": reqs.get("packages", []),
                             **({"avoid_workers": avoid} if avoid else {})},
            "priority": raw.get("priority", 5),
            "timeout_seconds": float(raw.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            "max_retries": raw.get("max_retries"), "tags": raw.get("tags") or {},
            "depends_on": list(dict.fromkeys(depends_on))}


def _validate_config(ttype: str, config: dict[str, Any], where: str) -> None:
    one_of = CONFIG_ONE_OF.get(ttype)
    if one_of is not None and not any(config.get(k) is not None for k in one_of[0]):
        raise ValidationError(one_of[1], where)
    required = CONFIG_REQUIRED.get(ttype, ())
    for key, field in CONFIG_FIELDS[ttype].items():
        if key in config or key in required:
            problem = field.problem(config.get(key))
            if problem:
                raise ValidationError(problem, f"{where}.{key}")


def validate_submission(body: Any) -> list[dict[str, Any]]:
    """A single task object or ``{"tasks": [...]}``."""
    if isinstance(body, dict) and "tasks" in body and "type" not in body:
        tasks = body["tasks"]
        extra = sorted(set(body) - {"tasks"})
        if extra:
            raise ValidationError(f"unknown field(s) beside 'tasks': {', '.join(extra)}", extra[0], "unknown_field")
        if not isinstance(tasks, list) or not tasks:
            raise ValidationError("'tasks' must be a non-empty list", "tasks")
        if len(tasks) > MAX_BATCH:  # BATCH_SCHEMA's maxItems
            raise ValidationError(f"a batch holds at most {MAX_BATCH} tasks", "tasks")
        return [validate_task(t, f"tasks[{i}].") for i, t in enumerate(tasks)]
    return [validate_task(body)]
