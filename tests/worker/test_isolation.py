"""A worker needs only the worker: importing it loads no coordinator, DuckDB or aiosqlite, and its
install extra does not ask for them."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

from tests.harness import ROOT

HEAVY = ("coordinator", "duckdb", "aiosqlite", "prometheus_client")


def test_importing_the_worker_loads_nothing_of_the_coordinator() -> None:
    code = ("import sys, json, worker.__main__, worker.client, worker.executors, worker.cleanup; "
            "from worker.executors import build_executors, ExecutorSettings; build_executors(ExecutorSettings()); "
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_worker_extra_pulls_no_coordinator_dependency() -> None:
    """What `pip install dtf[worker]` asks for: the base dependencies plus the worker extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]

    def names(reqs: list[str]) -> set[str]:
        return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower() for r in reqs}

    assert not names(project["dependencies"] + extras["worker"]) & {"duckdb", "aiosqlite", "prometheus-client"}
    assert {"duckdb", "aiosqlite", "prometheus-client"} <= names(extras["coordinator"])
