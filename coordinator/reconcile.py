"""After a crash, rebuild the analytical history (DuckDB) from the durable state (SQLite).

DuckDB rows are written in batches (every 0.5 s), so a kill -9 can lose the last batch of error
events and task results. SQLite has everything those rows were made from: each failed attempt
with its category and error, each terminal task. On start, rows missing from DuckDB for the
recent past (since the last stored row, minus a margin) are written again, marked as rebuilt.
Event ids are derived from (task, attempt), so running this twice adds nothing twice.
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import orjson
import structlog

if TYPE_CHECKING:
    from coordinator.app import Coordinator

log = structlog.get_logger("dtf.reconcile")
MARGIN_SECONDS = 120.0
MAX_ROWS = 100_000
_NAMESPACE = uuid.UUID("5f1b4bde-7d0c-4a39-9d54-5b3c7b8f2a10")


def rebuilt_event_id(task_id: str, attempt: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{task_id}:{attempt}"))


def _parts(coordinator: "Coordinator") -> tuple[Any, Any, Any]:
    """(engine, handler, sink), or Nones when the coordinator has no history to rebuild into."""
    engine, handler = coordinator.engine, coordinator.error_handler
    sink = handler.sink if handler is not None else None
    return (engine, handler, sink) if engine is not None and sink is not None else (None, None, None)


async def _since(sink: Any, table: str, column: str) -> float:
    rows = await sink.query(f"SELECT epoch(max({column})) AS t FROM {table}")
    last = rows[0]["t"] if rows and rows[0]["t"] is not None else 0.0
    return max(0.0, float(last) - MARGIN_SECONDS)


async def backfill_error_events(coordinator: "Coordinator") -> int:
    engine, handler, sink = _parts(coordinator)
    if engine is None:
        return 0
    since = await _since(sink, "error_events", '"timestamp"')
    failed = await engine.store.fetchall(
        "SELECT a.task_id, a.attempt, a.worker_id, a.finished_at, a.error_category, a.error, t.type, t.spec, "
        "(SELECT COUNT(*) FROM attempts b WHERE b.task_id = a.task_id) AS n FROM attempts a "
        "JOIN tasks t ON t.task_id = a.task_id WHERE a.error_category IS NOT NULL AND a.finished_at >= ? "
        "ORDER BY a.finished_at LIMIT ?", (since, MAX_ROWS))
    if not failed:
        return 0
    stored = await sink.query("SELECT task_id, attempt FROM error_events WHERE \"timestamp\" >= "
                              "make_timestamp(CAST(? AS BIGINT))", [int(since * 1_000_000)])
    have = {(r["task_id"], r["attempt"]) for r in stored}
    added = 0
    for task_id, attempt, worker_id, finished_at, category, error_json, task_type, spec_json, n in failed:
        if (task_id, attempt) in have:
            continue
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
        added += 1
    if added:
        log.info("history_rebuilt", table="error_events", rows=added)
    return added


async def backfill_task_results(coordinator: "Coordinator") -> int:
    from coordinator.analytics.results import result_rows
    engine, handler, sink = _parts(coordinator)
    if engine is None:
        return 0
    since = await _since(sink, "task_results", "finished_at")
    done = await engine.store.fetchall(
        "SELECT task_id FROM tasks WHERE status IN ('completed','failed','error','timed_out','cancelled') "
        "AND updated_at >= ? ORDER BY updated_at LIMIT ?", (since, MAX_ROWS))
    if not done:
        return 0
    ids = [r[0] for r in done]
    stored = await sink.query("SELECT DISTINCT task_id FROM task_results WHERE task_id = ANY(?)", [ids])
    have = {r["task_id"] for r in stored}
    added = 0
    for task_id in ids:
        if task_id in have:
            continue
        task = await engine.store.load_task(task_id)
        if task is None:
            continue
        for row in result_rows(task, engine.workers):
            sink.submit_task_result(row)
        added += 1
    if added:
        log.info("history_rebuilt", table="task_results", tasks=added)
    return added
