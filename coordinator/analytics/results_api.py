"""GET /api/v1/results/...: statistics over the stored task results (``--result-aggregator``)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from coordinator.analytics import params as P
from coordinator.analytics import results_queries as R
from coordinator.analytics.errors_api import guarded, openapi_paths, read
from coordinator.api import json_response
from coordinator.keys import COORDINATOR
from coordinator.analytics.results import ResultAggregator
from coordinator.openapi import EXTRA_PATHS

WINDOW = ("since", "until", "window_seconds")


def _enabled(request: web.Request) -> bool:
    return request.app[COORDINATOR].extension(ResultAggregator) is not None


def _num(value: Any, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@guarded
async def results_summary(request: web.Request) -> web.Response:
    P.reject_unknown(request.query, WINDOW)
    since, until = P.parse_window(request.query, None)
    rows = await read(request, *R.summary_sql(since, until))
    r = rows[0] if rows else {}
    attempts, failed = int(r.get("attempts") or 0), int(r.get("failed_attempts") or 0)
    return json_response({"aggregator_enabled": _enabled(request), "since": P.iso_dt(since), "until": P.iso_dt(until),
                  "tasks": int(r.get("tasks") or 0),
                  "by_status": {k: int(r.get(k) or 0) for k in ("completed", "failed", "error", "timed_out",
                                                               "cancelled")},
                  "flaky_tasks": int(r.get("flaky") or 0),
                  "retried_tasks": int(r.get("retried") or 0), "attempts": attempts, "failed_attempts": failed,
                  "attempt_failure_rate": round(failed / attempts, 4) if attempts else None,
                  "mean_duration_seconds": _num(r.get("mean_duration")),
                  "p95_duration_seconds": _num(r.get("p95_duration"))})


@guarded
async def results_by_dimension(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, (*WINDOW, "dimension", "limit"))
    dimension = P.parse_choice(q, "dimension", R.DIMENSIONS, "test")
    assert dimension is not None
    limit = P.parse_int(q, "limit", 100, 1, 1000)
    since, until = P.parse_window(q, None)
    rows = await read(request, *R.by_dimension_sql(dimension, since, until, limit))
    items = [{"value": r["value"], **R.rate_fields(int(r["failures"]), int(r["runs"])),
              "passed": int(r["passed"]), "tasks": int(r["tasks"]), "flaky_tasks": int(r["flaky_tasks"]),
              "mean_duration_seconds": _num(r["mean_duration"]), "p95_duration_seconds": _num(r["p95_duration"])}
             for r in rows]
    return json_response({"dimension": dimension, "items": items, "next_cursor": None})


@guarded
async def results_error_prone(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, (*WINDOW, "min_runs", "limit"))
    min_runs = P.parse_int(q, "min_runs", 1, 1, 10**9)
    limit = P.parse_int(q, "limit", 50, 1, 1000)
    since, until = P.parse_window(q, None)
    rows = await read(request, *R.pairs_sql(since, until))
    items = [p for p in R.rank_pairs(rows, min_runs) if p["failures"] > 0][:limit]
    return json_response({"ranking": "wilson_lower_95", "items": items, "next_cursor": None})


@guarded
async def results_flaky(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, (*WINDOW, "limit"))
    limit = P.parse_int(q, "limit", 100, 1, 1000)
    since, until = P.parse_window(q, None)
    rows = await read(request, *R.flaky_sql(since, until, limit))
    items = [{"test_name": r["test_name"], "level": r["level"], "runs": int(r["runs"]),
              "passed": int(r["passed"]), "failures": int(r["failures"]), "flaky_tasks": int(r["flaky_tasks"]),
              "flip_rate": round(min(int(r["passed"]), int(r["failures"])) / int(r["runs"]), 4)}
             for r in rows]
    return json_response({"items": items, "next_cursor": None})


@guarded
async def results_trends(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, (*WINDOW, "bucket"))
    bucket = P.parse_choice(q, "bucket", P.BUCKETS, "hour")
    assert bucket is not None
    since, until = P.parse_window(q, P.BUCKETS[bucket] * 48.0)
    rows = await read(request, *R.trends_sql(bucket, since, until))
    items = [{"bucket": P.iso_us(r["b_us"]), "runs": int(r["runs"]), "passed": int(r["passed"]),
              "failures": int(r["failures"]), "flaky_tasks": int(r["flaky_tasks"]),
              "failure_rate": round(int(r["failures"]) / int(r["runs"]), 4) if r["runs"] else None}
             for r in rows]
    return json_response({"bucket": bucket, "since": P.iso_dt(since), "until": P.iso_dt(until), "items": items,
                  "next_cursor": None})


ROUTES = {
    "/api/v1/results/summary": (results_summary, "Task and attempt counts, pass/fail, durations", list(WINDOW)),
    "/api/v1/results/by-dimension": (results_by_dimension, "Statistics per test, model, hardware_type, "
                                     "worker_id or type", [*WINDOW, "dimension", "limit"]),
    "/api/v1/results/error-prone": (results_error_prone, "Hardware x model pairs ranked by the Wilson lower "
                                    "bound of their failure rate", [*WINDOW, "min_runs", "limit"]),
    "/api/v1/results/flaky": (results_flaky, "Tests that both passed and failed", [*WINDOW, "limit"]),
    "/api/v1/results/trends": (results_trends, "Runs and failures per time bucket", [*WINDOW, "bucket"]),
}


def add_routes(app: web.Application) -> None:
    for path, (fn, _, _) in ROUTES.items():
        app.router.add_get(path, fn)
    if EXTRA_PATHS in app:
        app[EXTRA_PATHS].update(openapi_paths(ROUTES))


