"""After a crash, rebuild the analytical history (DuckDB) from the durable state (SQLite).

DuckDB rows are written in batches (every 0.5 s), so a kill -9 can lose the last batch of error
events and task results, and a batch DuckDB refused may have lost rows in older versions. SQLite
has everything those rows were made from: each failed attempt with its category and error, each
terminal task. On start, every row SQLite has and DuckDB lacks is written again, marked as
rebuilt: the keys are compared in DuckDB (an anti-join against a file of SQLite's keys, in
chunks), so the whole history is covered at the cost of one key scan per chunk. Event ids are
derived from (task, attempt), so running this twice adds nothing twice.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from typing import Any, AsyncIterator

import orjson
import structlog

from coordinator.models import TERMINAL_SQL
from coordinator.host import Host


log = structlog.get_logger("dtf.reconcile")
CHUNK_KEYS = 50_000
_NAMESPACE = uuid.UUID("5f1b4bde-7d0c-4a39-9d54-5b3c7b8f2a10")


def rebuilt_event_id(task_id: str, attempt: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{task_id}:{attempt}"))


def history_parts(coordinator: Host) -> tuple[Any, Any, Any]:
    """(engine, handler, sink), or Nones when the coordinator has no history to rebuild into."""
    engine, handler = coordinator.engine, coordinator.error_handler
    sink = handler.sink if handler is not None else None
    return (engine, handler, sink) if engine is not None and sink is not None else (None, None, None)


async def absent_keys(sink: Any, keys: list[tuple], table: str, columns: tuple[str, ...]) -> set[tuple]:
    """The keys (tuples of ``columns``) that ``table`` in DuckDB does not have."""
    fd, name = tempfile.mkstemp(suffix=".json", prefix="dtf-keys-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps([dict(zip(columns, k)) for k in keys]))
        types = {"task_id": "VARCHAR", "attempt": "INTEGER"}
        spec = ", ".join(f"'{c}': '{types[c]}'" for c in columns)
        on = " AND ".join(f"t.{c} = k.{c}" for c in columns)
        src = name.replace("'", "''")
        rows = await sink.query(f"SELECT {', '.join('k.' + c for c in columns)} FROM read_json('{src}', "
                                f"format='array', columns={{{spec}}}) k ANTI JOIN {table} t ON {on}")
    finally:
        os.unlink(name)
    return {tuple(r[c] for c in columns) for r in rows}


async def sqlite_chunks(engine: Any, sql: str) -> AsyncIterator[list[tuple]]:
    """SQLite rows of ``sql`` (keyed by rowid, which it must select first) in chunks."""
    last = -1
    while True:
        rows = await engine.store.fetchall(sql, (last, CHUNK_KEYS))
        if not rows:
            return
        last = rows[-1][0]
        yield [tuple(r[1:]) for r in rows]


async def backfill_error_events(coordinator: Host) -> int:
    engine, handler, sink = history_parts(coordinator)
    if engine is None:
        return 0
    added = 0
    async for keys in sqlite_chunks(engine, "SELECT rowid, task_id, attempt FROM attempts WHERE error_category IS NOT "
                                      "NULL AND rowid > ? ORDER BY rowid LIMIT ?"):
        missing = await absent_keys(sink, keys, "error_events", ("task_id", "attempt"))
        for task_id, attempt in sorted(missing):
            added += await _rebuild_event(engine, handler, sink, task_id, attempt)
    if added:
        log.info("history_rebuilt", table="error_events", rows=added)
    return added


async def _rebuild_event(engine: Any, handler: Any, sink: Any, task_id: str, attempt: int) -> int:
    rows = await engine.store.fetchall(
        "SELECT a.worker_id, a.finished_at, a.error_category, a.error, t.type, t.spec, "
        "(SELECT COUNT(*) FROM attempts b WHERE b.task_seq = a.task_seq) AS n FROM attempts a "
        "JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = ? AND a.attempt = ?", (task_id, attempt))
    if not rows:
        return 0
    worker_id, finished_at, category, error_json, task_type, spec_json, n = rows[0]
    error = orjson.loads(error_json) if error_json else {}
    tags = (orjson.loads(spec_json) or {}).get("tags") or {}
    message = str(error.get("message") or "")
    context = {"task_id": task_id, "worker_id": worker_id, "tags": tags, "rebuilt_from_state": True}
    pattern_id = None
    if handler.aggregator is not None:
        pattern_id = handler.aggregator.add_error({"type": error.get("type") or "", "message": message},
                                                  context, handler.categories.resolve(category))
    sink.submit_event({
        "event_id": rebuilt_event_id(task_id, attempt), "timestamp": finished_at, "task_id": task_id,
        "worker_id": worker_id, "attempt": attempt, "category": category, "type": error.get("type"),
        "message": message, "traceback": error.get("traceback"), "task_type": task_type,
        "pattern_id": pattern_id, "retry": attempt < n, "outcome": "retry" if attempt < n else "rebuilt",
        "tags": tags, "context": context})
    return 1
