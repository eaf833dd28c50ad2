"""The dimensions results are grouped by: which test a task is, and which hardware it ran on."""
from __future__ import annotations

from typing import Any

FAILED_OUTCOMES = ("failed", "error", "timed_out", "crashed")
COUNTED_OUTCOMES = ("passed", *FAILED_OUTCOMES)  # lost/cancelled attempts say nothing of the test
MAX_NAME_CHARS = 200


def test_name_for(task: Any) -> str:
    """A stable name for what a task tests: its ``test`` tag, else what its config runs."""
    tags = task.tags or {}
    for key in ("test", "test_name", "name"):
        if tags.get(key):
            return str(tags[key])[:MAX_NAME_CHARS]
    config = task.config or {}
    if task.type in ("python", "benchmark") and config.get("callable"):
        return str(config["callable"])[:MAX_NAME_CHARS]
    if task.type == "command":
        argv = config.get("argv")
        text = " ".join(map(str, argv)) if isinstance(argv, list) else str(config.get("command") or "")
        return f"command: {text}"[:MAX_NAME_CHARS]
    if task.type == "pytest":
        return ("pytest " + " ".join(map(str, config.get("args") or []))).strip()[:MAX_NAME_CHARS]
    if task.type == "chaos":
        return f"chaos:{config.get('fault', '?')}"
    return task.type


def worker_hardware(hardware_types: list[str]) -> str:
    """A worker's most specific hardware: its accelerator if it has one, else cpu."""
    special = [h for h in hardware_types if h != "cpu"]
    return special[0] if special else (hardware_types[0] if hardware_types else "cpu")


def hardware_for(task: Any, worker: Any) -> str | None:
    """The hardware a task runs on there: the first of its wanted types the worker has, else the
    worker's most specific one (a task without requirements on a ROCm box counts as ROCm)."""
    if worker is None:
        wanted = (task.requirements or {}).get("hardware") or []
        return wanted[0] if wanted else None
    types = list(worker.hardware_types)
    wanted = (task.requirements or {}).get("hardware") or []
    for h in wanted:
        if h in types:
            return h
    return worker_hardware(types)


def model_of(task: Any) -> str | None:
    model = (task.tags or {}).get("model")
    return None if model is None else str(model)
