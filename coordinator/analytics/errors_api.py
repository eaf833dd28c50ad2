"""GET /api/v1/errors[...] and /api/v1/recovery-actions: the error history in DuckDB, over HTTP.

Reads wait for the events handled so far to be committed (``handler.flush()``: the pipeline's
queue, then one writer pass), so a client sees an error as soon as its task shows it. The
writer flushes every 0.5 s anyway; the wait costs one writer round trip (see bench/analytics.py).
"""
from __future__ import annotations


from datetime import timedelta
from typing import Any

import orjson
from aiohttp import web

from coordinator.analytics import params as P
from coordinator.analytics import queries as Q
from coordinator.analytics.patterns_view import correlation_items, describe_patterns
from coordinator.api import json_response, parse_limit, validation_errors
from coordinator.httperrors import error_response
from coordinator.keys import COORDINATOR
from coordinator.openapi import EXTRA_PATHS
from error_handling.categories import ErrorCategory

ERROR_PARAMS = (*Q.EVENT_FILTERS, "since", "until", "limit", "cursor")
ACTION_PARAMS = (*Q.ACTION_FILTERS, "since", "until", "limit", "cursor")
WINDOW_PARAMS = ("since", "until", "window_seconds")
DEFAULT_WINDOW_SECONDS = 86400.0


class StoreUnavailable(Exception):
    pass


def handler_of(request: web.Request) -> Any:
    coordinator = request.app[COORDINATOR]
    handler = getattr(coordinator, "error_handler", None)
    if handler is None or handler.sink is None or not getattr(handler.sink, "running", False):
        raise StoreUnavailable()
    return handler


async def read(request: web.Request, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    handler = handler_of(request)
    await handler.flush()
    return await handler.sink.query(sql, params)


def guarded(fn):
    """Validation errors -> 400; the event store not running (yet) -> 503, never a 500."""
    checked = validation_errors(fn)

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await checked(request)
        except StoreUnavailable:
            return error_response(503, "unavailable", "the error store is not running", None)
    wrapped.__name__ = fn.__name__
    return wrapped


def _categories(request: web.Request) -> list[str]:
    handler = getattr(request.app[COORDINATOR], "error_handler", None)
    if handler is not None and hasattr(handler, "categories"):
        return handler.categories.values()
    return [c.value for c in ErrorCategory]


def _filters(request: web.Request, names: tuple[str, ...]) -> dict[str, Any]:
    q = request.query
    out = {n: P.parse_text(q, n) for n in names}
    if "category" in names:
        out["category"] = P.parse_choice(q, "category", _categories(request))
    return out


def _loads(raw: Any) -> Any:
    return orjson.loads(raw) if isinstance(raw, (str, bytes)) else raw


def event_item(row: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": row["event_id"], "task_id": row["task_id"], "worker_id": row["worker_id"],
            "attempt": row["attempt"], "category": row["category"], "type": row["type"],
            "message": row["message"], "traceback": row["traceback"], "hardware_type": row["hardware_type"],
            "pattern_id": row["pattern_id"], "timestamp": P.iso_us(row["ts_us"]), "retry": row["retry"],
            "retry_delay": row["retry_delay"], "outcome": row["outcome"],
            "actions": _loads(row["actions"]) or [], "tags": _loads(row["tags"]) or {}}


def action_item(row: dict[str, Any]) -> dict[str, Any]:
    return {"action": row["action"], "task_id": row["task_id"], "worker_id": row["worker_id"],
            "success": row["success"], "detail": row["detail"], "timestamp": P.iso_us(row["ts_us"]),
            "event_id": row["event_id"], "action_id": row["action_id"]}


# "Newest first" over a large history: rows arrive in time order, so a recent time range is a
# cheap scan (zone maps) while ORDER BY ... LIMIT over everything reads the whole table. Look in
# growing ranges below the upper bound and stop as soon as a page is full.
SPANS_SECONDS = (3600.0, 7 * 86400.0, None)


async def newest(request: web.Request, build: Any, filters: dict[str, Any], since: Any, until: Any,
                 cursor: Any, limit: int) -> list[dict[str, Any]]:
    handler = handler_of(request)
    await handler.flush()
    upper = cursor[0] if cursor is not None else (until or P.utcnow())
    for span in SPANS_SECONDS:
        lower = None if span is None else upper - timedelta(seconds=span)
        whole = lower is None or (since is not None and lower <= since)
        rows = await handler.sink.query(*build(filters, since if whole else lower, until, cursor, limit))
        if whole or len(rows) > limit:
            return rows
    raise AssertionError("unreachable: the last span is unbounded")


def _page(rows: list[dict[str, Any]], limit: int, key: str, make: Any) -> web.Response:
    items = [make(r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    cursor = P.encode_cursor(last["ts_us"], last[key]) if last is not None else None
    return json_response({"items": items, "next_cursor": cursor})


@guarded
async def list_errors(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, ERROR_PARAMS)
    filters = _filters(request, Q.EVENT_FILTERS)
    since, until = P.parse_window(q, None)
    limit, cursor = parse_limit(request), P.decode_cursor(q)
    rows = await newest(request, Q.list_events, filters, since, until, cursor, limit)
    return _page(rows, limit, "event_id", event_item)


@guarded
async def list_actions(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, ACTION_PARAMS)
    filters = _filters(request, Q.ACTION_FILTERS)
    since, until = P.parse_window(q, None)
    limit, cursor = parse_limit(request), P.decode_cursor(q)
    rows = await newest(request, Q.list_actions, filters, since, until, cursor, limit)
    return _page(rows, limit, "action_id", action_item)


@guarded
async def errors_summary(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, WINDOW_PARAMS)
    since, until = P.parse_window(q, DEFAULT_WINDOW_SECONDS)
    rows = await read(request, *Q.summary(since, until))
    return json_response(summary_body(rows, since, until))


def summary_body(rows: list[dict[str, Any]], since: Any, until: Any) -> dict[str, Any]:
    by: dict[str, dict[str, int]] = {"category": {}, "worker_id": {}, "hardware_type": {}}
    total = 0
    for r in rows:
        g = r["g"]  # GROUPING bits (category, worker_id, hardware_type): 1 = rolled up
        if g == 0b111:
            total = int(r["n"])
        elif g == 0b011:
            by["category"][r["category"]] = int(r["n"])
        elif g == 0b101:
            by["worker_id"][r["worker_id"] or "unknown"] = int(r["n"])
        elif g == 0b110:
            by["hardware_type"][r["hardware_type"] or "unknown"] = int(r["n"])
    ordered = {k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in by.items()}
    return {"since": P.iso_dt(since), "until": P.iso_dt(until), "total": total,
            "by_category": ordered["category"], "by_worker": ordered["worker_id"],
            "by_hardware_type": ordered["hardware_type"]}


@guarded
async def errors_trends(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, (*WINDOW_PARAMS, "bucket", "category"))
    bucket = P.parse_choice(q, "bucket", P.BUCKETS, "hour")
    assert bucket is not None
    category = P.parse_choice(q, "category", _categories(request))
    since, until = P.parse_window(q, P.BUCKETS[bucket] * 48.0)
    rows = await read(request, *Q.trends(bucket, since, until, category))
    buckets: dict[int, dict[str, int]] = {}
    for r in rows:
        buckets.setdefault(r["b_us"], {})[r["category"]] = int(r["n"])
    items = [{"bucket": P.iso_us(b), "counts": counts, "total": sum(counts.values())}
             for b, counts in sorted(buckets.items())]
    return json_response({"bucket": bucket, "since": P.iso_dt(since), "until": P.iso_dt(until), "items": items,
                  "next_cursor": None})


@guarded
async def errors_patterns(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, (*WINDOW_PARAMS, "limit", "category", "min_count"))
    limit = P.parse_int(q, "limit", 50, 1, 1000)
    min_count = P.parse_int(q, "min_count", 1, 1, 10**9)
    category = P.parse_choice(q, "category", _categories(request))
    since, until = P.parse_window(q, DEFAULT_WINDOW_SECONDS)
    handler = handler_of(request)
    await handler.flush()
    items = await describe_patterns(handler, limit=limit, category=category, since=since, until=until)
    items = [i for i in items if i["count"] >= min_count]
    return json_response({"items": items, "next_cursor": None})


@guarded
async def errors_correlations(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, (*WINDOW_PARAMS, "limit", "pattern_id", "min_share"))
    limit = P.parse_int(q, "limit", 20, 1, 200)
    pattern_id = P.parse_text(q, "pattern_id")
    raw_share = q.get("min_share", "0.6")
    try:
        min_share = float(raw_share)
    except ValueError:
        raise P.bad(f"'min_share' must be a number from 0 to 1, got {raw_share!r}", "min_share") from None
    if not 0 <= min_share <= 1:
        raise P.bad("'min_share' must be from 0 to 1", "min_share")
    since, until = P.parse_window(q, DEFAULT_WINDOW_SECONDS)
    handler = handler_of(request)
    await handler.flush()
    body = await correlation_items(handler, limit=limit, pattern_id=pattern_id, since=since, until=until,
                                   min_share=min_share)
    return json_response(body)


ROUTES = {
    "/api/v1/errors": (list_errors, "Error events from DuckDB, newest first (keyset pagination)",
                       [*Q.EVENT_FILTERS, "since", "until", "limit", "cursor"]),
    "/api/v1/errors/summary": (errors_summary, "Counts by category, worker and hardware type over a window",
                               list(WINDOW_PARAMS)),
    "/api/v1/errors/patterns": (errors_patterns, "Patterns: template, count, first/last seen, trend, "
                                "correlated worker/hardware/tags", [*WINDOW_PARAMS, "limit", "category",
                                                                   "min_count"]),
    "/api/v1/errors/trends": (errors_trends, "Counts per category per time bucket",
                              [*WINDOW_PARAMS, "bucket", "category"]),
    "/api/v1/errors/correlations": (errors_correlations, "Per pattern: share per worker/hardware/tag value, "
                                    "and hardware x model failure rates",
                                    [*WINDOW_PARAMS, "limit", "pattern_id", "min_share"]),
    "/api/v1/recovery-actions": (list_actions, "Executed recovery actions, newest first",
                                 [*Q.ACTION_FILTERS, "since", "until", "limit", "cursor"]),
}


def openapi_paths(routes: dict[str, tuple[Any, str, list[str]]]) -> dict[str, Any]:
    ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    err = {"description": "bad input", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}
    return {path: {"get": {"summary": summary, "parameters": [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names],
        "responses": {"200": ok, "400": err}}} for path, (_, summary, names) in routes.items()}


def add_routes(app: web.Application) -> None:
    for path, (fn, _, _) in ROUTES.items():
        app.router.add_get(path, fn)
    if EXTRA_PATHS in app:
        app[EXTRA_PATHS].update(openapi_paths(ROUTES))


