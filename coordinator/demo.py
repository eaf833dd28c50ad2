"""The demonstration suite ``dtf up --demo`` runs: real work with injected faults."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

from coordinator.console import table, wait_for
from coordinator.client import ApiClient

DEMO_TESTS = textwrap.dedent('''
    import math

    def test_sqrt():
        assert math.isqrt(144) == 12

    def test_sum():
        assert sum(range(10)) == 45

    def test_deliberately_wrong():
        assert 2 + 2 == 5, "arithmetic is not negotiable"
''')


def demo_tasks(suite_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(label, task) pairs: what each one shows is in its label."""
    py = sys.executable
    tasks: list[tuple[str, dict[str, Any]]] = [
        (f"add {i}", {"type": "python", "config": {"callable": "operator:add", "args": [i, i]}}) for i in range(5)]
    tasks += [
        ("shell command", {"type": "command", "config": {"argv": [py, "-c", "print('hello from a worker')"]}}),
        ("pytest suite (1 failing case)", {"type": "pytest", "config": {"args": [str(suite_dir), "-q"]},
                                           "tags": {"model": "demo-suite"}}),
        ("benchmark factorial(500)", {"type": "benchmark", "config": {
            "callable": "math:factorial", "args": [500], "iterations": 200, "warmup": 20}}),
        ("network fault, 1st attempt", {"type": "chaos", "config": {"fault": "network", "on_attempts": [1]},
                                        "tags": {"model": "bert-base"}}),
        ("worker-side crash, 1st attempt", {"type": "chaos", "config": {"fault": "crash", "on_attempts": [1]}}),
        ("timeout, 1st attempt", {"type": "chaos", "config": {"fault": "hang", "on_attempts": [1]},
                                  "timeout_seconds": 2}),
        ("out of memory, 1st attempt", {"type": "chaos", "config": {"fault": "oom", "on_attempts": [1]},
                                        "tags": {"model": "llama-7b"}}),
        ("CUDA unavailable, 1st attempt", {"type": "chaos", "config": {
            "fault": "hardware_unavailable", "on_attempts": [1]}, "requirements": {"hardware": ["cpu"]},
            "tags": {"model": "resnet50"}}),
        ("assertion (test failure)", {"type": "chaos", "config": {"fault": "assertion"}}),
        ("missing module (dependency error)", {"type": "chaos", "config": {"fault": "import"}, "max_retries": 1}),
        ("bad config (configuration error)", {"type": "chaos", "config": {"fault": "config"}}),
        ("slow task", {"type": "chaos", "config": {"fault": "slow", "seconds": 1}}),
    ]
    return tasks


def run_demo(client: ApiClient, data_dir: Path) -> int:
    suite = data_dir / "demo_suite"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "test_demo.py").write_text(DEMO_TESTS)
    labelled = demo_tasks(suite)
    ids = client.post("/api/v1/tasks", {"tasks": [t for _, t in labelled]})["task_ids"]
    print(f"submitted the demo suite: {len(ids)} tasks, 8 of them with injected faults")
    summary = wait_for(client, ids, show_progress=True, timeout_seconds=300)
    rows = []
    for (label, _), tid in zip(labelled, ids):
        task = client.get(f"/api/v1/tasks/{tid}")
        cats = [a["error_category"] for a in task["attempts"] if a.get("error_category")]
        note = " (flaky)" if task.get("flaky") else \
            " (retried)" if task.get("retried") else ""
        rows.append([label, task["status"] + note, len(task["attempts"]),
                     ", ".join(dict.fromkeys(cats)) or "-"])
    print(table(rows, ["task", "status", "attempts", "error categories seen"]))
    print(f"\n{summary['total']} tasks in {summary['elapsed_seconds']:.1f}s: " +
          ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items())))
    base = client.base_url
    print(f"look at: {base}/api/v1/status, {base}/api/v1/tasks, {base}/metrics")
    return 0
