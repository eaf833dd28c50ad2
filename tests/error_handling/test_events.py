"""DuckDB sink and migrations: real files in tmp_path."""
from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import orjson
import pytest

from error_handling import DuckDBEventSink
from error_handling.migrate import (MIGRATIONS_DIR, MigrationError, SchemaTooNewError,
                                    apply_migrations, discover)

EXPECTED_TABLES = {"error_events", "recovery_actions", "error_patterns", "task_results",
                   "schema_version"}


def event(i: int = 0, **kw):
    base = {"category": "network_connection_error", "timestamp": 1_700_000_000.0 + i,
            "task_id": f"t{i % 3}", "worker_id": f"w{i % 2}", "attempt": 1,
            "type": "ConnectionRefusedError", "message": f"refused {i}",
            "pattern_id": "p-net", "template": "refused <NUM>", "actions": ["reconnect"],
            "tags": {"model": "bert"}, "context": {"stage": "run"}, "retry": True,
            "retry_delay": 1.5, "outcome": "retry"}
    base.update(kw)
    return base


async def wait_until(predicate, timeout_seconds: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.005)


# -- migrations -------------------------------------------------------------------------------

def test_migrations_dir_is_found_relative_to_the_package():
    names = [m.path.name for m in discover()]
    assert names[0] == "001_initial.sql"
    assert MIGRATIONS_DIR.name == "duckdb" and MIGRATIONS_DIR.parent.name == "migrations"


LATEST = len(discover())


def test_fresh_database_gets_schema_and_version(tmp_path):
    con = duckdb.connect(str(tmp_path / "a.duckdb"))
    assert apply_migrations(con) == LATEST
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert EXPECTED_TABLES <= tables
    versions = con.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert versions[0] == (1, "initial") and [v for v, _ in versions] == list(range(1, LATEST + 1))
    # idempotent: a second start applies nothing
    assert apply_migrations(con) == LATEST
    assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == LATEST
    indexes = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    assert {"idx_error_events_category", "idx_error_events_worker", "idx_error_events_task",
            "idx_error_events_pattern", "idx_error_events_time"} <= indexes


def test_newer_database_refuses_to_start(tmp_path):
    path = str(tmp_path / "new.duckdb")
    con = duckdb.connect(path)
    apply_migrations(con)
    con.execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
    with pytest.raises(SchemaTooNewError, match="999.*newer"):
        apply_migrations(con)
    con.close()


async def test_sink_start_refuses_newer_database(tmp_path):
    path = str(tmp_path / "new.duckdb")
    con = duckdb.connect(path)
    apply_migrations(con)
    con.execute("INSERT INTO schema_version (version, name) VALUES (?, 'future')", [LATEST + 1])
    con.close()
    sink = DuckDBEventSink(path)
    with pytest.raises(SchemaTooNewError, match="upgrade dtf"):
        await sink.start()
    assert not sink.running


def test_failed_migration_rolls_back(tmp_path):
    mig = tmp_path / "migs"
    mig.mkdir()
    (mig / "001_good.sql").write_text("CREATE TABLE a (x INTEGER);")
    (mig / "002_bad.sql").write_text("CREATE TABLE b (x INTEGER); SELECT * FROM nope;")
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    with pytest.raises(MigrationError, match="002_bad.sql"):
        apply_migrations(con, mig)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "a" in tables and "b" not in tables
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 1


def test_exit_codes_wider_than_32_bits_survive_the_upgrade(tmp_path):
    # a database made before 004 (exit_code INTEGER) keeps its rows and takes NTSTATUS codes after it
    before = tmp_path / "before"
    before.mkdir()
    for migration in discover()[:3]:
        (before / migration.path.name).write_text(migration.path.read_text())
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    assert apply_migrations(con, before) == 3
    con.execute("INSERT INTO error_events (event_id, \"timestamp\", category, exit_code) "
                "VALUES ('old', now(), 'worker_crash_error', 139)")
    with pytest.raises(duckdb.ConversionException):
        con.execute("INSERT INTO error_events (event_id, \"timestamp\", category, exit_code) "
                    "VALUES ('win', now(), 'worker_crash_error', 3221225477)")
    assert apply_migrations(con) == LATEST
    con.execute("INSERT INTO error_events (event_id, \"timestamp\", category, exit_code) "
                "VALUES ('win', now(), 'worker_crash_error', 3221225477)")
    assert con.execute("SELECT event_id, exit_code FROM error_events ORDER BY event_id").fetchall() == \
        [("old", 139), ("win", 3221225477)]
    indexes = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes() "
                                         "WHERE table_name = 'error_events'").fetchall()}
    assert len(indexes) == 6


@pytest.mark.parametrize("files, message", [
    (["01_short.sql"], "NNN_name"), (["001_a.sql", "001_b.sql"], "share version"),
])
def test_bad_migration_names(tmp_path, files, message):
    for f in files:
        (tmp_path / f).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=message):
        discover(tmp_path)


# -- the sink ---------------------------------------------------------------------------------

async def test_submit_flush_query_roundtrip(tmp_path):
    async with DuckDBEventSink(tmp_path / "e.duckdb") as sink:
        assert sink.schema_version == LATEST
        sink.submit_event(event(1))
        aid = sink.submit_action(event_id="e1", action="reconnect", task_id="t1",
                                 worker_id="w1", success=True, detail="ok")
        sink.submit_task_result(task_id="t1", attempt=1, status="completed", duration_seconds=0.5,
                                started_at=dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone.utc),
                                finished_at=dt.datetime(2024, 1, 1, 12, 0, 1))
        rows = await sink.query("SELECT * FROM error_events")
        assert len(rows) == 1
        r = rows[0]
        assert r["category"] == "network_connection_error" and r["message"] == "refused 1"
        assert r["timestamp"] == dt.datetime(2023, 11, 14, 22, 13, 21)  # UTC, naive
        assert r["retry"] is True and r["retry_delay"] == 1.5
        assert r["actions"] == '["reconnect"]' and r["tags"] == '{"model":"bert"}'
        assert len(r["event_id"]) == 36
        acts = await sink.query("SELECT * FROM recovery_actions")
        assert acts[0]["action_id"] == aid and acts[0]["success"] is True
        res = await sink.query("SELECT started_at, finished_at FROM task_results WHERE task_id = ?", ["t1"])
        assert res == [{"started_at": dt.datetime(2024, 1, 1, 12, 0),
                        "finished_at": dt.datetime(2024, 1, 1, 12, 0, 1)}]
        json_ok = await sink.query("SELECT tags->>'model' AS m FROM error_events")
        assert json_ok == [{"m": "bert"}]


async def test_unknown_and_missing_fields_are_rejected(tmp_path):
    async with DuckDBEventSink(tmp_path / "e.duckdb") as sink:
        with pytest.raises(ValueError, match="colour"):
            sink.submit_event(event(colour="red"))
        with pytest.raises(ValueError, match="category"):
            sink.submit_event({"message": "x"})
        with pytest.raises(ValueError, match="action"):
            sink.submit_action(task_id="t")
        with pytest.raises(ValueError, match="task_id"):
            sink.submit_task_result(status="completed")
        assert sink.pending == 0


async def test_patterns_upsert_across_flushes(tmp_path):
    async with DuckDBEventSink(tmp_path / "e.duckdb") as sink:
        for i in range(5):
            sink.submit_event(event(i))
        sink.submit_event(event(9, pattern_id="p-oom", template="CUDA out of memory",
                                category="resource_allocation_error"))
        await sink.flush()
        for i in range(10, 13):
            sink.submit_event(event(i))
        rows = await sink.query("SELECT pattern_id, count, first_seen, last_seen, template "
                                "FROM error_patterns ORDER BY pattern_id")
    assert [(r["pattern_id"], r["count"]) for r in rows] == [("p-net", 8), ("p-oom", 1)]
    net = rows[0]
    assert net["first_seen"] == dt.datetime.fromtimestamp(1_700_000_000, dt.timezone.utc).replace(tzinfo=None)
    assert net["last_seen"] == dt.datetime.fromtimestamp(1_700_000_012, dt.timezone.utc).replace(tzinfo=None)
    assert net["template"] == "refused <NUM>"


async def test_batch_size_triggers_a_write_without_flush(tmp_path):
    sink = DuckDBEventSink(tmp_path / "e.duckdb", flush_interval_seconds=60, batch_size=10)
    await sink.start()
    try:
        for i in range(10):
            sink.submit_event(event(i))
        await wait_until(lambda: sink.written["error_events"] == 10)
        assert sink.pending == 0
    finally:
        await sink.stop()


async def test_interval_triggers_a_write_without_flush(tmp_path):
    sink = DuckDBEventSink(tmp_path / "e.duckdb", flush_interval_seconds=0.05, batch_size=10_000)
    await sink.start()
    try:
        sink.submit_event(event(1))
        await wait_until(lambda: sink.written["error_events"] == 1, timeout_seconds=3)
    finally:
        await sink.stop()


async def test_stop_flushes_everything_and_closes(tmp_path):
    path = str(tmp_path / "e.duckdb")
    sink = DuckDBEventSink(path, flush_interval_seconds=60, batch_size=1_000_000)
    await sink.start()
    sink.submit_events([event(i) for i in range(12_345)])
    for i in range(7):
        sink.submit_action(action="reassign_task", task_id=f"t{i}")
    assert sink.pending == 12_352
    await sink.stop()
    assert not sink.running
    with pytest.raises(RuntimeError, match="not running"):
        sink.submit_event(event(0))
    con = duckdb.connect(path)  # the file is closed: another connection may open it
    assert con.execute("SELECT count(*) FROM error_events").fetchone()[0] == 12_345
    assert con.execute("SELECT count(*) FROM recovery_actions").fetchone()[0] == 7
    assert con.execute("SELECT count FROM error_patterns").fetchone()[0] == 12_345
    con.close()


async def test_query_runs_on_the_writer_thread_and_errors_reach_the_caller(tmp_path):
    async with DuckDBEventSink(tmp_path / "e.duckdb") as sink:
        loop_thread = threading.get_ident()
        with pytest.raises(duckdb.Error):
            await sink.query("SELECT * FROM no_such_table")
        # the writer survives a bad query
        sink.submit_event(event(1))
        assert (await sink.query("SELECT count(*) AS n FROM error_events")) == [{"n": 1}]
        assert sink._thread is not None and sink._thread.ident != loop_thread


async def test_one_bad_row_costs_only_itself_and_is_set_aside_with_the_reason(tmp_path):
    async with DuckDBEventSink(tmp_path / "e.duckdb") as sink:
        sink.submit_event(event(1))
        sink.submit_event(event(2, attempt="not a number"))
        sink.submit_event(event(3, exit_code=2 ** 64 - 1))  # what a hostile worker sent: no BIGINT
        sink.submit_event(event(4, exit_code=3221225477))  # 0xC0000005: Windows' access violation
        for i in range(5, 40):
            sink.submit_event(event(i))
        sink.submit_action(task_id="t-a", action="reassign_task", success=True)
        await sink.flush()
        assert sink.write_errors == 1 and sink.rejected_rows == 2
        rows = await sink.query("SELECT message FROM error_events ORDER BY message")
        assert len(rows) == 37 and {"message": "refused 1"} in rows and {"message": "refused 2"} not in rows
        assert await sink.query("SELECT exit_code FROM error_events WHERE message = 'refused 4'") == \
            [{"exit_code": 3221225477}]
        assert (await sink.query("SELECT count(*) AS n FROM recovery_actions")) == [{"n": 1}]
        # The rollups saw exactly the stored events.
        assert (await sink.query("SELECT sum(n) AS n FROM error_pattern_minutes")) == [{"n": 37}]
        sink.submit_event(event(99))
        await sink.flush()
        assert len(await sink.query("SELECT 1 FROM error_events")) == 38
    aside = [orjson.loads(line) for line in (tmp_path / "e.duckdb.rejected.jsonl").read_bytes().splitlines()]
    assert sorted(r["row"]["message"] for r in aside) == ["refused 2", "refused 3"]
    assert all(r["table"] == "error_events" and r["reason"] for r in aside)


async def test_reopen_keeps_rows_and_version(tmp_path):
    path = tmp_path / "e.duckdb"
    async with DuckDBEventSink(path) as sink:
        sink.submit_event(event(1))
    async with DuckDBEventSink(path) as sink:
        sink.submit_event(event(2))
        assert (await sink.query("SELECT count(*) AS n FROM error_events")) == [{"n": 2}]
        assert (await sink.query("SELECT count(*) AS n FROM schema_version")) == [{"n": LATEST}]


CRASH_SCRIPT = textwrap.dedent("""
    import asyncio, os, sys
    from error_handling import DuckDBEventSink

    async def main(path):
        sink = DuckDBEventSink(path, flush_interval_seconds=60, batch_size=1_000_000)
        await sink.start()
        for i in range(500):
            sink.submit_event({"category": "worker_crash_error", "message": f"flushed {i}",
                               "timestamp": 1.0 + i})
        await sink.flush()
        for i in range(300):
            sink.submit_event({"category": "worker_crash_error", "message": f"lost {i}",
                               "timestamp": 1000.0 + i})
        sys.stdout.write(f"flushed {sink.writer_pid}\\n"); sys.stdout.flush()
        os._exit(9)  # abrupt: no stop(), no atexit, no checkpoint

    asyncio.run(main(sys.argv[1]))
""")


def _run_until_killed(script: str, path: str) -> str:
    """Run ``script`` (which prints "<word> <DuckDB pid>" and kills itself); check that its
    DuckDB process died with it, at once. Returns the word."""
    proc = subprocess.run([sys.executable, "-c", script, path], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    word, writer = proc.stdout.split()[:2]
    deadline = time.monotonic() + 2
    while _alive(int(writer)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(int(writer)), "the DuckDB process outlived the killed parent"
    return word


def test_crash_window_flushed_events_survive(tmp_path):
    path = str(tmp_path / "crash.duckdb")
    assert _run_until_killed(CRASH_SCRIPT, path) == "flushed"
    con = duckdb.connect(path)  # WAL replay; the lock went with the process
    flushed = con.execute("SELECT count(*) FROM error_events WHERE message LIKE 'flushed%'").fetchone()[0]
    lost = con.execute("SELECT count(*) FROM error_events WHERE message LIKE 'lost%'").fetchone()[0]
    con.close()
    assert flushed == 500
    assert lost == 0  # not flushed before the crash: inside the documented window


BUSY_SCRIPT = textwrap.dedent("""
    import asyncio, os, sys
    from error_handling import DuckDBEventSink

    async def main(path):
        sink = DuckDBEventSink(path)
        await sink.start()
        asyncio.ensure_future(sink.query("SELECT sum(i) FROM range(100000000000) t(i)"))
        await asyncio.sleep(0.5)  # the DuckDB process is inside a statement of minutes
        sys.stdout.write(f"busy {sink.writer_pid}\\n"); sys.stdout.flush()
        os._exit(9)

    asyncio.run(main(sys.argv[1]))
""")


def test_the_duckdb_process_dies_with_its_parent_even_mid_statement(tmp_path):
    path = str(tmp_path / "busy.duckdb")
    assert _run_until_killed(BUSY_SCRIPT, path) == "busy"
    duckdb.connect(path).close()  # nothing holds the lock


INTERRUPT_SCRIPT = textwrap.dedent("""
    import asyncio, signal, sys
    from error_handling import DuckDBEventSink

    async def main(path):
        sink = DuckDBEventSink(path, flush_interval_seconds=60)
        await sink.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        for i in range(1000):
            sink.submit_event({"category": "worker_crash_error", "message": f"kept {i}"})
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        await stop.wait()  # Ctrl-C: stop cleanly, writing what is pending
        await sink.stop()

    asyncio.run(main(sys.argv[1]))
""")


def test_ctrl_c_reaches_the_coordinator_not_its_duckdb_process(tmp_path):
    import os
    import signal
    path = str(tmp_path / "int.duckdb")
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT_SCRIPT, path], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    con = duckdb.connect(path)
    assert con.execute("SELECT count(*) FROM error_events").fetchone()[0] == 1000
    con.close()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def test_invalid_sink_config():
    with pytest.raises(ValueError, match="flush_interval_seconds"):
        DuckDBEventSink("x.duckdb", flush_interval_seconds=0)
    with pytest.raises(ValueError, match="batch_size"):
        DuckDBEventSink("x.duckdb", batch_size=0)


async def test_a_killed_duckdb_process_fails_callers_instead_of_hanging(tmp_path):
    import os
    import signal

    from error_handling.events import SinkClosedError
    sink = DuckDBEventSink(tmp_path / "e.duckdb")
    await sink.start()
    sink.submit_event(event(1))
    await sink.flush()
    os.kill(sink.writer_pid, signal.SIGKILL)
    sink.submit_event(event(2))
    with pytest.raises(Exception, match="DuckDB process gone"):
        await asyncio.wait_for(sink.flush(), timeout=10)
    with pytest.raises(SinkClosedError):
        await asyncio.wait_for(sink.stop(), timeout=10)
    con = duckdb.connect(str(tmp_path / "e.duckdb"))  # what was flushed is there
    assert con.execute("SELECT count(*) FROM error_events").fetchone()[0] == 1
    con.close()
