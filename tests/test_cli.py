"""The ``dtf`` command against a real coordinator and worker: submit (flags, files, stdin, --wait),
status tables, and clear errors for bad input."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.harness import ROOT, Cluster, free_port, wait_until

TERMINAL = ("completed", "failed", "error", "timed_out", "cancelled")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cli"))
    try:
        c.start_coordinator()
        c.start_worker("cli-w1", concurrency=4, extra=["--pool-size", "2"])
        yield c
    finally:
        c.stop()


def dtf(cluster: Cluster | None, *argv: str, stdin: str | None = None, token: str | None = None,
        url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")} | {"PYTHONPATH": str(ROOT)}
    if cluster is not None:
        env["DTF_URL"] = url or f"http://127.0.0.1:{cluster.port}"
        env["DTF_API_TOKEN"] = cluster.api_token if token is None else token
    return subprocess.run([sys.executable, "-m", "coordinator.cli", *argv], input=stdin, capture_output=True,
                          text=True, timeout=60, env=env)


def add(i: int) -> dict:
    return {"type": "python", "config": {"callable": "operator:add", "args": [i, 100]}}


def failing() -> dict:
    return {"type": "python", "config": {"callable": "operator:truediv", "args": [1, 0]}, "max_retries": 0}


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("dtf: "), proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


# ---- submit --wait ------------------------------------------------------------------------------

def test_submit_wait_shows_progress_and_summary_and_exits_0_when_all_completed(cluster):
    proc = dtf(cluster, "submit", "--type", "python", "--config", json.dumps(add(1)["config"]),
               "--count", "3", "--wait")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\[#+\] 3/3 finished, +\d+\.\ds", proc.stderr), proc.stderr
    assert re.search(r"^3 tasks in \d+\.\ds$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\s+completed\s+3$", proc.stdout, re.M), proc.stdout


def test_submit_wait_exits_1_and_counts_each_status_when_one_does_not_complete(cluster, tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([add(2), failing()]))
    proc = dtf(cluster, "submit", "--file", str(path), "--wait")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2/2 finished" in proc.stderr
    counts = dict(re.findall(r"^\s+(\w+)\s+(\d+)$", proc.stdout, re.M))
    assert counts.pop("completed") == "1", proc.stdout
    assert list(counts.values()) == ["1"] and set(counts) <= set(TERMINAL), proc.stdout


def test_submit_without_wait_prints_one_task_id_per_task(cluster):
    proc = dtf(cluster, "submit", "--command", "true", "--count", "2", "--priority", "1")
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert len(ids) == 2 and len(set(ids)) == 2
    task = cluster.task(ids[0])
    assert task["type"] == "command" and task["priority"] == 1


# ---- submit --file: every accepted shape --------------------------------------------------------

SHAPES = {
    "json-list": lambda tasks: json.dumps(tasks),
    "tasks-object": lambda tasks: json.dumps({"tasks": tasks}, indent=2),
    "jsonl": lambda tasks: "\n".join(json.dumps(t) for t in tasks) + "\n",
    "single-object": lambda tasks: json.dumps(tasks[0]),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_submit_file_accepts_each_shape(cluster, tmp_path, shape, via):
    tasks = [add(10), add(20), add(30)][: 1 if shape == "single-object" else 3]
    text = SHAPES[shape](tasks)
    if via == "file":
        (tmp_path / "tasks.txt").write_text(text)
        proc = dtf(cluster, "submit", "--file", str(tmp_path / "tasks.txt"))
    else:
        proc = dtf(cluster, "submit", "--file", "-", stdin=text)
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert len(ids) == len(tasks)
    finished = wait_until(lambda: all(cluster.task(i)["status"] in TERMINAL for i in ids) and
                          [cluster.task(i) for i in ids], 30, message="submitted tasks to finish")
    assert [t["result"] for t in finished] == [t["config"]["args"][0] + 100 for t in tasks]


# ---- status -------------------------------------------------------------------------------------

def test_status_prints_readable_tables(cluster):
    assert dtf(cluster, "submit", "--type", "python", "--config", json.dumps(add(5)["config"]),
               "--wait").returncode == 0
    proc = dtf(cluster, "status")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.match(r"uptime \d+s, queue depth \d+$", lines[0]), lines[0]
    assert re.match(r"task status\s+count$", lines[1]) and re.match(r"-+\s+-+$", lines[2]), proc.stdout
    assert any(re.match(r"completed\s+\d+$", line) for line in lines), proc.stdout
    header = next(i for i, line in enumerate(lines) if line.startswith("worker "))
    assert lines[header].split() == ["worker", "state", "hardware", "running", "completed", "errors"]
    row = next(line.split() for line in lines[header + 2:] if line.startswith("cli-w1"))
    assert "cpu" in row[2] and int(row[4]) >= 1, row
    # Columns line up: every row of a table is as wide as its dashes.
    dashes = lines[header + 1]
    assert all(len(line) <= len(dashes) for line in lines[header + 2:] if line)


def test_status_json_is_machine_readable(cluster):
    proc = dtf(cluster, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"tasks", "workers", "queue_depth"} <= set(data["status"])
    assert "cli-w1" in [w["worker_id"] for w in data["workers"]]


# ---- bad input: a clear message, no traceback, non-zero exit -----------------------------------

def test_unknown_task_field_is_named(cluster):
    proc = dtf(cluster, "submit", "--file", "-", stdin=json.dumps({**add(1), "colour": "red"}))
    assert_clean_error(proc, "HTTP 400", "colour")


def test_unknown_task_type_is_named(cluster):
    assert_clean_error(dtf(cluster, "submit", "--type", "teleport"), "HTTP 400", "teleport")


def test_nothing_to_submit(cluster):
    assert_clean_error(dtf(cluster, "submit"), "--file", "--command", "--type")


def test_wrong_api_token(cluster):
    assert_clean_error(dtf(cluster, "submit", "--command", "true", token="wrong"), "HTTP 401", "token")
    assert_clean_error(dtf(cluster, "status", token="wrong"), "HTTP 401")


def test_unreachable_coordinator():
    proc = dtf(None, "status", "--url", f"http://127.0.0.1:{free_port()}")
    assert_clean_error(proc, "cannot reach the coordinator")


def test_invalid_config_json_is_a_clear_error(cluster):
    assert_clean_error(dtf(cluster, "submit", "--type", "python", "--config", "{callable: x}"), "--config")


def test_missing_file_is_a_clear_error(cluster, tmp_path):
    assert_clean_error(dtf(cluster, "submit", "--file", str(tmp_path / "absent.json")), "absent.json")


def test_malformed_file_is_a_clear_error(cluster, tmp_path):
    (tmp_path / "broken.jsonl").write_text('{"type": "python"}\n{"type": \n')
    assert_clean_error(dtf(cluster, "submit", "--file", str(tmp_path / "broken.jsonl")), "broken.jsonl")
