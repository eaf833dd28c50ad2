"""--result-aggregator: every terminal task, attempt by attempt (and case by case), into DuckDB.

``on_terminal``, registered with the engine's hooks (``register_hooks``), runs on the event loop
for each task that reaches a terminal status; the
rows go to the sink's in-memory buffer (``submit_task_result`` never blocks) and reach DuckDB
with the next flush, in the same batches as the error events.
"""
from __future__ import annotations

from typing import Any

import orjson
import structlog

from coordinator.analytics.dims import hardware_for, test_name_for
from coordinator.models import Task
from coordinator.hooks import EngineHooks
from coordinator.host import Host
from coordinator.error_integration import integrate_error_handler
from coordinator.models import TERMINAL_SQL
from coordinator.reconcile import absent_keys, history_parts, sqlite_chunks


log = structlog.get_logger("dtf.results")
MAX_RESULT_CHARS = 4000
MAX_CASES = 5000


class ResultAggregator:
    """The coordinator extension behind ``--result-aggregator``."""

    def __init__(self, coordinator: Host) -> None:
        self.coordinator = coordinator
        self.recorded = 0
        self.dropped = 0

    def register_hooks(self, hooks: EngineHooks) -> None:
        hooks.on_terminal(self.on_terminal)

    async def on_start(self, coordinator: Host, app: Any) -> None:
        await backfill_task_results(coordinator)  # results a crash kept out of DuckDB, from SQLite

    async def on_stop(self, coordinator: Host, app: Any) -> None:
        return None  # the error pipeline flushes and closes the sink after us (reverse order)

    @property
    def sink(self) -> Any:
        handler = self.coordinator.error_handler
        return None if handler is None else handler.sink

    def on_terminal(self, task: Task) -> None:
        sink = self.sink
        if sink is None or not getattr(sink, "running", False):
            self.dropped += 1
            return
        try:
            for row in result_rows(task, self.coordinator.engine.workers):
                sink.submit_task_result(row)
            self.recorded += 1
        except Exception as exc:  # a result that cannot be stored must not stop the engine's bookkeeping
            self.dropped += 1
            log.error("task_result_not_stored", task_id=task.task_id, error=repr(exc))


def _truncate(value: Any) -> Any:
    if value is None:
        return None
    raw = orjson.dumps(value, default=str)
    return value if len(raw) <= MAX_RESULT_CHARS else {"truncated": raw[:MAX_RESULT_CHARS].decode(errors="replace")}


def result_rows(task: Task, workers: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per attempt that started, plus one per test case of the final attempt."""
    name = test_name_for(task)
    rows: list[dict[str, Any]] = []
    last = task.current
    for att in task.attempts:
        if att.outcome is None and task.status.value != "cancelled":
            continue
        started = att.started_at or att.dispatched_at
        finished = att.finished_at
        error = att.error or {}
        rows.append({
            "task_id": task.task_id, "attempt": att.number, "type": task.type, "status": task.status.value,
            "outcome": att.outcome.value if att.outcome else "cancelled", "worker_id": att.worker_id,
            "hardware_type": hardware_for(task, workers.get(att.worker_id)), "tags": task.tags or {},
            "started_at": started, "finished_at": finished,
            "duration_seconds": (finished - started) if finished and started else None,
            "error_category": att.error_category, "test_name": name, "flaky": task.flaky,
            "result": _truncate(task.result) if att is last else None,
            "error_message": str(error.get("message"))[:2000] if error.get("message") else None,
        })
    cases = (task.details or {}).get("cases") if isinstance(task.details, dict) else None
    if isinstance(cases, list) and last is not None:
        hw = hardware_for(task, workers.get(last.worker_id))
        for case in cases[:MAX_CASES]:
            if not isinstance(case, dict):
                continue
            rows.append({
                "task_id": task.task_id, "attempt": last.number, "type": "case", "status": task.status.value,
                "outcome": str(case.get("outcome")), "worker_id": last.worker_id, "hardware_type": hw,
                "tags": task.tags or {}, "started_at": last.started_at or last.dispatched_at,
                "finished_at": last.finished_at, "duration_seconds": case.get("duration"),
                "error_category": None, "test_name": str(case.get("nodeid") or case.get("name"))[:500],
                "flaky": task.flaky, "result": {"text": str(case["text"])[:MAX_RESULT_CHARS]}
                if case.get("text") else None,
                "error_message": (str(case.get("message"))[:2000] if case.get("message") else None),
            })
    return rows


def integrate_result_aggregator(coordinator: Host) -> ResultAggregator:
    """Keep every terminal task result in DuckDB (idempotent). Needs the error pipeline's sink,
    which ``Coordinator.build_app`` always installs."""
    found = coordinator.extension(ResultAggregator)
    if found is not None:
        return found
    integrate_error_handler(coordinator)
    aggregator = ResultAggregator(coordinator)
    coordinator.add_extension(aggregator)
    return aggregator


async def backfill_task_results(coordinator: Host) -> int:
    engine, handler, sink = history_parts(coordinator)
    if engine is None:
        return 0
    added = 0
    async for keys in sqlite_chunks(engine, f"SELECT rowid, task_id FROM tasks WHERE status IN ({TERMINAL_SQL}) "
                                      "AND rowid > ? ORDER BY rowid LIMIT ?"):
        for (task_id,) in sorted(await absent_keys(sink, keys, "task_results", ("task_id",))):
            task = await engine.store.load_task(task_id)
            if task is None:
                continue
            for row in result_rows(task, engine.workers):
                sink.submit_task_result(row)
            added += 1
    if added:
        log.info("history_rebuilt", table="task_results", tasks=added)
    return added
