"""Turns submitted JSON into task specs, or a 4xx naming the field at fault."""
from __future__ import annotations

from typing import Any

from coordinator.models import TASK_TYPES

ALLOWED_FIELDS = frozenset({"type", "config", "requirements", "priority", "timeout_seconds",
                            "max_retries", "tags", "depends_on"})
ALLOWED_REQUIREMENTS = frozenset({"hardware", "min_memory_gb", "packages", "avoid_workers"})
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


def validate_task(raw: Any, where: str = "") -> dict[str, Any]:
    """Return a normalised spec dict. ``where`` prefixes field names in batch errors (tasks[3].)."""
    if not isinstance(raw, dict):
        raise ValidationError("a task must be a JSON object", where.rstrip(".") or None)
    unknown = sorted(set(raw) - ALLOWED_FIELDS)
    if unknown:
        raise ValidationError(f"unknown task field(s): {', '.join(unknown)}; allowed: "
                              f"{', '.join(sorted(ALLOWED_FIELDS))}", where + unknown[0], "unknown_field")
    ttype = raw.get("type")
    if not isinstance(ttype, str) or not ttype:
        raise ValidationError("'type' is required and must be a string", where + "type")
    if ttype not in TASK_TYPES:
        raise ValidationError(f"unknown task type {ttype!r}; known: {', '.join(TASK_TYPES)}", where + "type")
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise ValidationError("'config' must be an object", where + "config")
    if _too_deep(config):
        raise ValidationError(f"'config' nests deeper than {MAX_NESTING} levels", where + "config")
    _validate_config(ttype, config, where + "config")
    reqs = raw.get("requirements", {}) or {}
    if not isinstance(reqs, dict):
        raise ValidationError("'requirements' must be an object", where + "requirements")
    bad = sorted(set(reqs) - ALLOWED_REQUIREMENTS)
    if bad:
        raise ValidationError(f"unknown requirement(s): {', '.join(bad)}; allowed: "
                              f"{', '.join(sorted(ALLOWED_REQUIREMENTS))}", where + "requirements." + bad[0],
                              "unknown_field")
    hardware = reqs.get("hardware", [])
    if isinstance(hardware, str):
        hardware = [hardware]
    if not isinstance(hardware, list) or not all(isinstance(h, str) and h for h in hardware):
        raise ValidationError("'requirements.hardware' must be a list of hardware names "
                              "(first preferred, the rest fallbacks)", where + "requirements.hardware")
    mem = reqs.get("min_memory_gb", 0)
    if not _number(mem) or mem < 0:
        raise ValidationError("'requirements.min_memory_gb' must be a number >= 0", where + "requirements.min_memory_gb")
    packages = reqs.get("packages", [])
    if not isinstance(packages, list) or not all(isinstance(p, str) and p for p in packages):
        raise ValidationError("'requirements.packages' must be a list of package names", where + "requirements.packages")
    avoid = reqs.get("avoid_workers", [])
    if not isinstance(avoid, list) or not all(isinstance(w, str) and w for w in avoid):
        raise ValidationError("'requirements.avoid_workers' must be a list of worker ids (a rerun that must "
                              "run elsewhere)", where + "requirements.avoid_workers")
    priority = raw.get("priority", 5)
    if not isinstance(priority, int) or isinstance(priority, bool) \
            or not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise ValidationError(f"'priority' must be an integer from {PRIORITY_RANGE[0]} to {PRIORITY_RANGE[1]} "
                              "(lower runs first)", where + "priority")
    timeout = raw.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if not _number(timeout) or not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise ValidationError(f"'timeout_seconds' must be a number in (0, {MAX_TIMEOUT_SECONDS:.0f}]",
                              where + "timeout_seconds")
    max_retries = raw.get("max_retries")
    if max_retries is not None and (not isinstance(max_retries, int) or isinstance(max_retries, bool)
                                    or not 0 <= max_retries <= 100):
        raise ValidationError("'max_retries' must be an integer from 0 to 100", where + "max_retries")
    tags = raw.get("tags", {}) or {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) for k in tags) or \
            not all(v is None or isinstance(v, (str, int, float, bool)) for v in tags.values()):
        raise ValidationError("'tags' must be an object of string keys and scalar values", where + "tags")
    depends_on = raw.get("depends_on", []) or []
    if not isinstance(depends_on, list) or not all(isinstance(d, str) and d and len(d) <= MAX_ID_CHARS
                                                   for d in depends_on):
        raise ValidationError("'depends_on' must be a list of task ids", where + "depends_on")
    return {"type": ttype, "config": config,
            "requirements": {"hardware": hardware, "min_memory_gb": float(mem), "packages": packages,
                             **({"avoid_workers": avoid} if avoid else {})},
            "priority": priority, "timeout_seconds": float(timeout), "max_retries": max_retries,
            "tags": tags, "depends_on": list(dict.fromkeys(depends_on))}


def _validate_config(ttype: str, config: dict[str, Any], where: str) -> None:
    if ttype == "command":
        argv, command = config.get("argv"), config.get("command")
        if argv is None and command is None:
            raise ValidationError("a command task needs 'config.argv' (list) or 'config.command' (string)", where)
        if argv is not None and (not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv)):
            raise ValidationError("'config.argv' must be a non-empty list of strings", where + ".argv")
        if command is not None and not isinstance(command, str):
            raise ValidationError("'config.command' must be a string", where + ".command")
    elif ttype in ("python", "benchmark"):
        target = config.get("callable")
        if not isinstance(target, str) or ":" not in target:
            raise ValidationError("'config.callable' must be 'package.module:function'", where + ".callable")
        if "args" in config and not isinstance(config["args"], list):
            raise ValidationError("'config.args' must be a list", where + ".args")
        if "kwargs" in config and not isinstance(config["kwargs"], dict):
            raise ValidationError("'config.kwargs' must be an object", where + ".kwargs")
    elif ttype == "pytest":
        if "args" in config and (not isinstance(config["args"], list)
                                 or not all(isinstance(a, str) for a in config["args"])):
            raise ValidationError("'config.args' must be a list of strings", where + ".args")
    elif ttype == "chaos":
        if not isinstance(config.get("fault"), str):
            raise ValidationError("'config.fault' is required for chaos tasks", where + ".fault")
        attempts = config.get("on_attempts")
        if attempts is not None and (not isinstance(attempts, list)
                                     or not all(isinstance(a, int) and not isinstance(a, bool) for a in attempts)):
            raise ValidationError("'config.on_attempts' must be a list of attempt numbers", where + ".on_attempts")


def validate_submission(body: Any) -> list[dict[str, Any]]:
    """A single task object or ``{"tasks": [...]}``."""
    if isinstance(body, dict) and "tasks" in body and "type" not in body:
        tasks = body["tasks"]
        extra = sorted(set(body) - {"tasks"})
        if extra:
            raise ValidationError(f"unknown field(s) beside 'tasks': {', '.join(extra)}", extra[0], "unknown_field")
        if not isinstance(tasks, list) or not tasks:
            raise ValidationError("'tasks' must be a non-empty list", "tasks")
        if len(tasks) > MAX_BATCH:
            raise ValidationError(f"a batch holds at most {MAX_BATCH} tasks", "tasks")
        return [validate_task(t, f"tasks[{i}].") for i, t in enumerate(tasks)]
    return [validate_task(body)]
