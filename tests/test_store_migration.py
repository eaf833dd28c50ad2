"""The state database's migrations on a real file: a version-1 database (attempts keyed by task
id) is carried to attempts keyed by their task's seq with nothing lost."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from coordinator.migrate import migration_files
from coordinator.models import Attempt, AttemptOutcome, Task, TaskStatus
from coordinator.store import Store, _statements


def _version_1(path: Path) -> None:
    """A database as a coordinator of schema version 1 left it: two tasks, three attempts."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in _statements(dict(migration_files("sqlite"))[1].read_text()):
        con.execute(statement)
    con.execute("INSERT INTO schema_version (version) VALUES (1)")
    spec = ('{"type":"python","config":{"callable":"operator:add","args":[1,2]},"requirements":{"hardware":[],'
            '"min_memory_gb":0.0,"packages":[]},"priority":5,"timeout_seconds":300.0,"max_retries":null,"tags":{},'
            '"depends_on":[]}')
    con.executemany("INSERT INTO tasks (task_id, seq, type, spec, status, attempt, created_at, updated_at) "
                    "VALUES (?,?,?,?,?,?,?,?)", [("f0", 7, "python", spec, "completed", 2, 1.0, 3.0),
                                                ("a9", 8, "python", spec, "queued", 1, 1.0, 3.0)])
    con.executemany("INSERT INTO attempts (task_id, attempt, worker_id, lease, dispatched_at, lease_deadline, "
                    "finished_at, outcome, error_category, error) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [("f0", 1, "w1", "l1", 1.0, 9.0, 2.0, "error", "infrastructure_error", '{"type":"X"}'),
                     ("f0", 2, "w2", "l2", 2.0, 9.0, 3.0, "passed", None, None),
                     ("a9", 1, "w1", "l3", 2.0, 9.0, None, None, None, None)])
    con.close()


async def test_version_1_attempts_are_keyed_by_their_tasks_seq_and_read_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _version_1(path)
    store = Store(str(path))
    await store.open()
    try:
        assert (await store.fetchall("SELECT MAX(version) FROM schema_version"))[0][0] == 2
        done = await store.load_task("f0")
        assert done is not None and done.status is TaskStatus.COMPLETED
        assert [(a.number, a.worker_id, a.lease, a.outcome, a.error) for a in done.attempts] == [
            (1, "w1", "l1", AttemptOutcome.ERROR, {"type": "X"}), (2, "w2", "l2", AttemptOutcome.PASSED, None)]
        # The open attempt still makes its task assigned after a restart.
        [open_task] = await store.load_tasks()
        assert open_task.task_id == "a9" and open_task.status is TaskStatus.ASSIGNED
        assert [(a.number, a.lease) for a in open_task.attempts] == [(1, "l3")]
        # Written again under the new key: one row per (task, attempt), updated in place.
        cur = open_task.attempts[0]
        cur.outcome, cur.finished_at = AttemptOutcome.PASSED, 4.0
        store.attempt_changed(open_task, cur)
        second = Attempt(number=2, worker_id="w2", lease="l4", dispatched_at=5.0, lease_deadline=9.0)
        store.attempt_changed(open_task, second)
        await store.barrier()
        rows = await store.fetchall("SELECT task_seq, task_id, attempt, outcome FROM attempts ORDER BY task_seq, attempt")
        assert [tuple(r) for r in rows] == [(7, "f0", 1, "error"), (7, "f0", 2, "passed"), (8, "a9", 1, "passed"),
                                            (8, "a9", 2, None)]
    finally:
        await store.close()


async def test_a_new_database_keys_attempts_by_task_seq(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "new.sqlite"))
    await store.open()
    try:
        task = Task(task_id="t-1", seq=1, type="python", config={"callable": "operator:add"}, requirements={},
                    priority=5, timeout_seconds=10.0, max_retries=None, tags={}, depends_on=[], created_at=1.0)
        task.attempts.append(Attempt(number=1, worker_id="w", lease="l", dispatched_at=1.0, lease_deadline=2.0))
        store.task_changed(task)
        store.attempt_changed(task, task.attempts[0])
        await store.barrier()
        back = await store.load_task("t-1")
        assert back is not None and [(a.number, a.lease) for a in back.attempts] == [(1, "l")]
        index = await store.fetchall("SELECT name FROM pragma_index_list('attempts')")
        columns = await store.fetchall(f"SELECT name FROM pragma_index_info('{index[0][0]}')")
        assert [c[0] for c in columns] == ["task_seq", "attempt"]
    finally:
        await store.close()
