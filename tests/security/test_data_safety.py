"""Hostile worker values and storage faults against live coordinators: nothing breaks the API and
nothing acknowledged is lost (issue: security and data safety, items 6-12 and the low ones)."""
from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from worker.protocol import CloseCode, MessageType, encode
from coordinator.store import Store
from tests.harness import Cluster, free_port, wait_until
from tests.security.conftest import RawWorker, hello, until
from tests.security.test_http_security import assert_json_error, call

PY_TASK = {"type": "python", "config": {"callable": "operator:add", "args": [1, 2]},
           "requirements": {"hardware": ["fuzzhw"]}}


async def _assigned(raw: RawWorker) -> dict:
    return (await raw.expect_type("tasks"))["items"][0]


def _key(item: dict) -> dict:
    return {"task_id": item["task_id"], "attempt": item["attempt"], "lease": item["lease"]}


async def test_absurd_values_from_a_worker_are_bounded_and_the_api_keeps_working(cluster) -> None:
    await asyncio.to_thread(cluster.start_coordinator)
    async with aiohttp.ClientSession() as session:
        raw = await RawWorker(session, cluster.ws_url).connect()
        await raw.send(hello("hostile", "wtok"))
        await raw.expect_type("welcome")
        ok_id, bad_id = await asyncio.to_thread(cluster.submit, [PY_TASK, {**PY_TASK, "tags": {'a"b': "x"}}])
        items: list[dict] = []
        while len(items) < 2:
            items += (await raw.expect_type("tasks"))["items"]
        by_id = {i["task_id"]: i for i in items}
        ok, second = by_id[ok_id], by_id[bad_id]
        await raw.send(encode(MessageType.STARTED, items=[{**_key(ok), "started_at": 1e300}]))
        await raw.send(encode(MessageType.RESULTS, items=[{**_key(ok), "outcome": "passed", "result": 3,
                                                           "duration_seconds": 1e300}]))
        assert (await raw.expect_type("result_acks"))["items"][0]["status"] == "accepted"
        huge = "y" * (1024 * 1024)
        await raw.send(encode(MessageType.RESULTS, items=[{**_key(second), "outcome": "failed", "error": {
            "type": "AssertionError", "message": huge, "traceback": huge, "exit_code": 2 ** 40, "signal": -2 ** 40,
            "category": "worker_crash_error",
            "context": {"max_retries": 50, "poison": ["x"], "verdict": "no", "stage": "call"}}}]))
        assert (await raw.expect_type("result_acks"))["items"][0]["status"] == "accepted"
        await raw.close()
    for attempt in range(2):  # and again after a restart, from what was stored
        status, _, page = call(cluster, "GET", "/api/v1/tasks?limit=10")
        assert status == 200, page
        assert ok_id in {t["task_id"] for t in page["items"]}
        a = cluster.task(ok_id)["attempts"][0]
        assert a["started_at"] <= a["finished_at"] and a["finished_at"] < "2100", a  # ISO strings sort by time
        bad = cluster.task(bad_id)
        # The worker's context could not grant 50 retries: a failed test ends the task.
        assert bad["status"] == "failed" and len(bad["attempts"]) == 1
        # Nor could it decide the category (a crash would have quarantined the worker).
        assert bad["attempts"][0]["error_category"] == "test_execution_error"
        assert len(bad["error"]["message"]) < 70 * 1024 and "truncated" in bad["error"]["message"]
        assert "exit_code" not in bad["error"] and "max_retries" not in (bad["error"].get("context") or {})
        events = wait_until(lambda: cluster.api.get(f"/api/v1/errors?task_id={bad_id}")["items"], 20,
                            message="the error event stored in DuckDB")
        assert events[0]["message"].endswith("more characters]")
        for path in ("/api/v1/errors/patterns", "/api/v1/errors/correlations"):
            status, _, body = call(cluster, "GET", path)
            assert status == 200, (path, body)
        correlations = cluster.api.get("/api/v1/errors/correlations")
        assert 'a\\"b' in orjson.dumps(correlations).decode(), correlations
        if attempt == 0:
            cluster.stop()
            cluster.coordinator = None
            cluster.start_coordinator()


async def test_worker_registry_is_bounded(cluster) -> None:
    await asyncio.to_thread(cluster.start_coordinator, ["--max-departed-workers", "5"])
    async with aiohttp.ClientSession() as session:
        raw = await RawWorker(session, cluster.ws_url).connect()
        await raw.send(encode(MessageType.HELLO, worker_id="fat", token="wtok",
                              hardware={"types": ["cpu"], "blob": "z" * 100_000}))
        assert await raw.closed_with() == CloseCode.PROTOCOL_ERROR
        raw = await RawWorker(session, cluster.ws_url).connect()
        await raw.send(hello("victim-1\n", "wtok"))
        assert await raw.closed_with() == CloseCode.PROTOCOL_ERROR
        for i in range(20):
            fake = await RawWorker(session, cluster.ws_url).connect()
            await fake.send(hello(f"fake-{i:02d}", "wtok"))
            await fake.expect_type("welcome")
            await fake.close()
    workers = await until(lambda: (lambda ws: ws if len(ws) <= 5 else None)(
        cluster.api.get("/api/v1/workers")["items"]), 20, "departed workers to be forgotten")
    assert [w["worker_id"] for w in workers] == [f"fake-{i:02d}" for i in range(15, 20)]
    page = cluster.api.get("/api/v1/workers?limit=2")
    assert [w["worker_id"] for w in page["items"]] == ["fake-15", "fake-16"] and page["next_cursor"]
    page = cluster.api.get(f"/api/v1/workers?limit=2&cursor={page['next_cursor']}")
    assert [w["worker_id"] for w in page["items"]] == ["fake-17", "fake-18"]
    rows = sqlite3.connect(cluster.tmp / "state.sqlite").execute("SELECT count(*) FROM workers").fetchone()[0]
    assert rows <= 5


def test_out_of_range_times_are_a_400(cluster) -> None:
    cluster.start_coordinator()
    for path in ("/api/v1/errors", "/api/v1/errors/summary", "/api/v1/errors/trends", "/api/v1/errors/patterns",
                 "/api/v1/errors/correlations", "/api/v1/recovery-actions"):
        for when in ("9999-12-31T23:59:59", "0001-01-01T00:00:00+01:00", "1900-01-01T00:00:00"):
            status, _, body = call(cluster, "GET", f"{path}?since={when}")
            assert_json_error(status, body, 400)


def test_a_coordinator_that_cannot_start_exits_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def start(state: Path, db: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "coordinator", "--port", str(free_port()), "--state-path",
                                 str(state), "--db-path", str(db)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)

    first = Cluster(tmp_path)
    first.start_coordinator()
    try:
        # Another coordinator on the same DuckDB file: locked.
        second = start(tmp_path / "other.sqlite", tmp_path / "events.duckdb")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1, err
        last = err.strip().splitlines()[-1]
        assert last.startswith("dtf-coordinator: cannot open") and "another process" in last, err
        assert "Traceback" not in err
    finally:
        first.stop()
    # A state file whose header was zeroed.
    broken = tmp_path / "broken.sqlite"
    shutil.copy(tmp_path / "state.sqlite", broken)
    with open(broken, "r+b") as fh:
        fh.write(b"\0" * 100)
    third = start(broken, tmp_path / "third.duckdb")
    out, err = third.communicate(timeout=60)
    assert third.returncode == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("dtf-coordinator: cannot start: StoreError: state database")


async def test_a_failed_commit_keeps_its_rows_and_nothing_is_acknowledged_before_it(tmp_path: Path) -> None:
    """SQLITE_FULL for real (max_page_count caps the file): the rows wait and commit later."""
    from coordinator.models import Task
    store = Store(str(tmp_path / "s.sqlite"))
    await store.open()
    try:
        pages = (await store.fetchall("PRAGMA page_count"))[0][0]
        await store.fetchall(f"PRAGMA max_page_count = {pages}")
        task = Task(task_id="t-1", seq=1, type="command", config={"argv": ["x" * 50_000]}, requirements={},
                    priority=0, timeout_seconds=10.0, max_retries=None, tags={}, depends_on=[], created_at=1.0)
        store.task_changed(task)
        barrier = store.barrier()
        await until(lambda: not store.healthy, 10, "the commit to fail")
        assert "full" in (store.last_error or "").lower()
        await asyncio.sleep(0.3)
        assert not barrier.done()  # nobody is told it is stored
        await store.fetchall("PRAGMA max_page_count = 1073741823")  # space again
        await asyncio.wait_for(barrier, 10)
        assert store.healthy
        assert (await store.fetchall("SELECT task_id FROM tasks")) == [("t-1",)]
    finally:
        await store.close()


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_disk_full_delays_the_ack_and_loses_nothing(cluster, small_disk: Path) -> None:
    cluster.coordinator_args = ["--state-path", str(small_disk / "state.sqlite")]
    await asyncio.to_thread(cluster.start_coordinator)
    async with aiohttp.ClientSession() as session:
        raw = await RawWorker(session, cluster.ws_url).connect()
        await raw.send(hello("w-full", "wtok"))
        await raw.expect_type("welcome")
        [tid] = await asyncio.to_thread(cluster.submit, [PY_TASK])
        item = await _assigned(raw)
        filler = small_disk / "filler"
        with open(filler, "wb") as fh:  # fill the disk
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        await raw.send(encode(MessageType.RESULTS, items=[{**_key(item), "outcome": "passed", "result": 3,
                                                           "error": {"message": "z" * 200_000}}]))
        with pytest.raises(asyncio.TimeoutError):
            await raw.expect_type("result_acks", timeout=1.5)
        status, _, health = call(cluster, "GET", "/health", token=None)
        assert status == 503 and health["ready"] is False and health["storage_error"], health
        filler.unlink()
        acks = await raw.expect_type("result_acks", timeout=15)
        assert acks["items"][0]["status"] == "accepted"
        await raw.close()
    assert call(cluster, "GET", "/health", token=None)[0] == 200
    await asyncio.to_thread(cluster.kill_coordinator)
    await asyncio.to_thread(cluster.start_coordinator)
    task = await asyncio.to_thread(cluster.task, tid)
    assert task["status"] == "completed" and len(task["attempts"]) == 1


def test_task_environments_carry_no_dtf_secrets_and_restricted_workers_refuse_code_loaders(cluster) -> None:
    cluster.env["DTF_WORKER_TOKEN"] = "wtok"  # as compose passes it
    cluster.start_coordinator()
    cluster.start_worker("open-w", extra=["--allow-types", "command"])
    cluster.start_worker("pytest-only", extra=["--allow-types", "pytest"])
    [printed] = cluster.submit([{"type": "command", "config": {"argv": ["env"]}}])
    wait_until(lambda: cluster.task(printed)["status"] == "completed", 30, message="env printed")
    out = str(cluster.task(printed)["details"])
    assert "DTF_" not in out and "wtok" not in out, out
    pwned = cluster.tmp / "pwned"
    [evil] = cluster.submit([{"type": "pytest", "config": {"args": ["--version"], "env": {
        "PYTHONWARNINGS": "ignore::x.Y", "PYTHONSTARTUP": "x", "BROWSER": f"touch {pwned}"}},
        "max_retries": 0}])
    task = wait_until(lambda: (lambda t: t if t["status"] in ("error", "failed", "completed") else None)(
        cluster.task(evil)), 30, message="the restricted pytest task")
    assert task["status"] == "error" and "refused" in task["error"]["message"], task
    assert task["attempts"][0]["worker_id"] == "pytest-only" and not pwned.exists()
