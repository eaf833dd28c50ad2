"""HTTP handlers for tasks, workers, status, health and metrics (SPEC §4)."""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from coordinator.engine import Engine, SubmissionError
from coordinator.httperrors import error_response
from coordinator.keys import ENGINE, METRICS
from coordinator.models import TaskStatus
from coordinator.store import row_to_task
from coordinator.workers import matches
from coordinator.validation import ValidationError, validate_submission

MAX_LIMIT = 1000


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise ValidationError("request body is empty; send a JSON task object", None, "invalid_json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}", None, "invalid_json") from None


def parse_limit(request: web.Request, default: int = 100) -> int:
    raw = request.query.get("limit", str(default))
    try:
        limit = int(raw)
    except ValueError:
        raise ValidationError(f"'limit' must be an integer, got {raw!r}", "limit", "invalid_query") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"'limit' must be from 1 to {MAX_LIMIT}", "limit", "invalid_query")
    return limit


def validation_errors(handler):
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ValidationError as exc:
            return error_response(400, exc.code, exc.message, exc.field)
        except SubmissionError as exc:
            return error_response(400, "invalid_task", exc.message, exc.field)
    wrapped.__name__ = handler.__name__
    return wrapped


@validation_errors
async def submit_tasks(request: web.Request) -> web.Response:
    body = await _body(request)
    specs = validate_submission(body)
    ids = await request.app[ENGINE].submit(specs)
    if isinstance(body, dict) and "tasks" in body and "type" not in body:
        return json_response({"task_ids": ids}, 201)
    return json_response({"task_id": ids[0]}, 201)


async def get_task(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    task = await engine.get_task(request.match_info["task_id"])
    if task is None:
        return error_response(404, "not_found", f"no task {request.match_info['task_id']!r}", "task_id")
    body = task.to_api()
    if task.status is TaskStatus.QUEUED and task.task_id not in engine.pending_deps and \
            not any(w.connected and matches(w, task) for w in engine.workers.values()):
        # Say why it waits: nothing connected could run it (a queue nobody consumes).
        body["waiting_for"] = ("a connected worker that meets its requirements "
                               f"{task.requirements} and task type {task.type!r}")
    return json_response(body)


@validation_errors
async def list_tasks(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    limit = parse_limit(request)
    status = request.query.get("status")
    if status is not None and status not in {s.value for s in TaskStatus}:
        raise ValidationError(f"unknown status {status!r}; one of {', '.join(s.value for s in TaskStatus)}",
                              "status", "invalid_query")
    cursor_raw = request.query.get("cursor", "0")
    try:
        cursor = int(cursor_raw)
    except ValueError:
        cursor = -1
    if not 0 <= cursor < 2 ** 63:  # SQLite integers are 64-bit: a larger one would be a 500
        raise ValidationError("'cursor' must be the next_cursor of a previous page", "cursor",
                              "invalid_query")
    ids_raw = request.query.get("ids")
    ids = [i for i in (ids_raw or "").split(",") if i]
    if ids_raw is not None and not 1 <= len(ids) <= MAX_LIMIT:
        raise ValidationError(f"'ids' must list 1 to {MAX_LIMIT} task ids, comma-separated", "ids",
                              "invalid_query")
    if status in (TaskStatus.ASSIGNED.value, TaskStatus.RUNNING.value) and not ids:
        # Active tasks always live in memory (and their rows lag): list them from there.
        active = sorted((t for t in engine.tasks.values() if t.status.value == status and t.seq > cursor),
                        key=lambda t: t.seq)
        page = active[:limit]
        more = len(active) > limit
        return json_response({"items": [t.to_api() for t in page],
                      "next_cursor": str(page[-1].seq) if more else None})
    await engine.store.barrier()
    sql = ("SELECT task_id, seq, type, spec, status, failures, result, error, details, flaky, not_before, "
           "excluded_workers, created_at, updated_at FROM tasks WHERE seq > ?")
    params: list[Any] = [cursor]
    if ids:
        sql += f" AND task_id IN ({','.join('?' * len(ids))})"
        params += ids
    if status:
        sql += " AND status = ?"
        params.append(status)
    sql += " ORDER BY seq LIMIT ?"
    params.append(limit + 1)
    rows = await engine.store.fetchall(sql, params)
    items = []
    for row in rows[:limit]:
        live = engine.tasks.get(row[0])
        items.append((live or row_to_task(row)).to_api())
    next_cursor = str(rows[limit - 1][1]) if len(rows) > limit else None
    return json_response({"items": items, "next_cursor": next_cursor})


async def cancel_task(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    task = engine.tasks.get(request.match_info["task_id"])
    if task is None:
        stored = await engine.get_task(request.match_info["task_id"])
        if stored is None:
            return error_response(404, "not_found", f"no task {request.match_info['task_id']!r}", "task_id")
        task = stored
    if task.status.terminal and task.status is not TaskStatus.CANCELLED:
        return error_response(409, "conflict", f"task already ended {task.status.value}", "task_id")
    await engine.cancel(task)
    return json_response(task.to_api())


async def status(request: web.Request) -> web.Response:
    return json_response(request.app[ENGINE].status())


@validation_errors
async def list_workers(request: web.Request) -> web.Response:
    """Workers by id, a page at a time (``cursor``: the last id of the previous page)."""
    engine: Engine = request.app[ENGINE]
    limit = parse_limit(request, default=MAX_LIMIT)
    after = request.query.get("cursor", "")
    ordered = sorted((w for w in engine.workers.values() if w.worker_id > after), key=lambda w: w.worker_id)
    page = ordered[:limit]
    return json_response({"items": [w.to_api() for w in page],
                  "next_cursor": page[-1].worker_id if len(ordered) > limit else None})


async def get_worker(request: web.Request) -> web.Response:
    w = request.app[ENGINE].workers.get(request.match_info["worker_id"])
    if w is None:
        return error_response(404, "not_found", f"no worker {request.match_info['worker_id']!r}", "worker_id")
    return json_response(w.to_api())


async def health(request: web.Request) -> web.Response:
    engine: Engine = request.app[ENGINE]
    store_ok = engine.store is not None and engine.store.healthy
    body = {"status": "ok" if store_ok else "degraded", "ready": store_ok and not engine.stopping,
            "uptime_seconds": round(engine.status()["uptime_seconds"], 3)}
    if not store_ok:
        # Nothing is acknowledged or dispatched until the state commits again (disk full?).
        body["storage_error"] = engine.store.last_error
    return json_response(body, status=200 if store_ok else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=request.app[METRICS].render(), content_type="text/plain",
                        charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/tasks", submit_tasks)
    app.router.add_get("/api/v1/tasks", list_tasks)
    app.router.add_get("/api/v1/tasks/{task_id}", get_task)
    app.router.add_post("/api/v1/tasks/{task_id}/cancel", cancel_task)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/workers", list_workers)
    app.router.add_get("/api/v1/workers/{worker_id}", get_worker)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
