"""A worker needs only the worker: importing it loads no coordinator, DuckDB or aiosqlite, and its
install extra does not ask for them."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

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
    requires = importlib.metadata.requires("dtf") or []
    base = [r for r in requires if "extra ==" not in r]
    worker = [r for r in requires if 'extra == "worker"' in r]
    coordinator = [r for r in requires if 'extra == "coordinator"' in r]
    names = lambda reqs: {r.split(";")[0].split(">")[0].split("=")[0].strip().lower() for r in reqs}  # noqa: E731
    assert not names(base + worker) & {"duckdb", "aiosqlite", "prometheus-client"}, base + worker
    assert {"duckdb", "aiosqlite"} <= names(coordinator)
