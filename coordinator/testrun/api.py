"""HTTP routes behind ``dtf test``: per-test results, recorded durations, shipped trees.

- ``GET /api/v1/results/cases``: every stored test case (outcome, duration, worker, hardware,
  failure text), filtered by run, suite, test, outcome, worker or task.
- ``GET /api/v1/results/durations?suite=``: each test's median recorded duration, for sharding.
- ``POST /api/v1/trees`` (API token) stores a working tree archive under its SHA-256;
  ``GET /api/v1/trees/{digest}`` serves it to workers, who present their worker token.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from pathlib import Path

import orjson
from aiohttp import web

from coordinator.analytics import params as P
from coordinator.analytics.errors_api import guarded, openapi_paths, read
from coordinator.httperrors import error_response
from coordinator.keys import CONFIG
from coordinator.openapi import EXTRA_PATHS

TREE_PREFIX = "/api/v1/trees/"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
CASE_FILTERS = ("run", "suite", "test_name", "outcome", "worker_id", "task_id")


def _tree_dir(request: web.Request) -> Path:
    return Path(request.app[CONFIG].state_path).resolve().parent / "trees"


@guarded
async def results_cases(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, (*CASE_FILTERS, "limit"))
    limit = P.parse_int(q, "limit", 1000, 1, 100_000)
    where, params = [], []
    for name in CASE_FILTERS:
        value = P.parse_text(q, name, 1000)
        if value is None:
            continue
        if name in ("run", "suite"):
            where.append(f"json_extract_string(tags, '$.{name}') = ?")
        else:
            where.append(f"{name} = ?")
        params.append(value)
    sql = ("SELECT task_id, attempt, test_name, outcome, duration_seconds, worker_id, hardware_type, "
           "error_message, json_extract_string(result, '$.text') AS text, tags, finished_at "
           "FROM result_cases" + (" WHERE " + " AND ".join(where) if where else "") +
           " ORDER BY finished_at, task_id, test_name LIMIT ?")
    rows = await read(request, sql, [*params, limit])
    items = [{"test_name": r["test_name"], "outcome": r["outcome"], "duration_seconds": r["duration_seconds"],
              "worker_id": r["worker_id"], "hardware_type": r["hardware_type"], "task_id": r["task_id"],
              "attempt": r["attempt"], "message": r["error_message"], "text": r["text"],
              "tags": orjson.loads(r["tags"]) if isinstance(r["tags"], str) else r["tags"],
              "finished_at": P.iso_dt(r["finished_at"])} for r in rows]
    return web.json_response({"items": items, "next_cursor": None}, dumps=lambda o: orjson.dumps(o).decode())


@guarded
async def results_durations(request: web.Request) -> web.Response:
    q = request.query
    P.reject_unknown(q, ("suite", "limit"))
    suite = P.parse_text(q, "suite", 1000)
    if suite is None:
        raise P.bad("'suite' is required", "suite")
    limit = P.parse_int(q, "limit", 100_000, 1, 1_000_000)
    sql = ("SELECT test_name, median(duration_seconds) AS d, count(*) AS runs FROM result_cases "
           "WHERE json_extract_string(tags, '$.suite') = ? AND duration_seconds IS NOT NULL "
           "AND outcome IN ('passed', 'failed', 'skipped') GROUP BY test_name ORDER BY test_name LIMIT ?")
    rows = await read(request, sql, [suite, limit])
    return web.json_response({"suite": suite, "items": [
        {"test_name": r["test_name"], "duration_seconds": float(r["d"]), "runs": int(r["runs"])} for r in rows]})


async def put_tree(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        digest, archive = body["sha256"], base64.b64decode(body["archive_b64"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return error_response(400, "invalid_tree", "send {'sha256': hex digest, 'archive_b64': base64 of a "
                              "tar.gz}", "archive_b64")
    if not isinstance(digest, str) or hashlib.sha256(archive).hexdigest() != digest:
        return error_response(400, "invalid_tree", "'sha256' is not the digest of the archive", "sha256")
    folder = _tree_dir(request)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.tar.gz"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(archive)
        tmp.replace(path)
    return web.json_response({"sha256": digest, "size": len(archive)}, status=201)


def _token_ok(request: web.Request) -> bool:
    config = request.app[CONFIG]
    header = request.headers.get("Authorization", "")
    given = (header[7:] if header.startswith("Bearer ") else "").encode("utf-8", "surrogatepass")
    tokens = [t for t in (config.worker_token, config.api_token) if t]
    return not tokens or any(hmac.compare_digest(given, t.encode()) for t in tokens)


async def get_tree(request: web.Request) -> web.StreamResponse:
    """Workers hold the worker token, not the API token: either is accepted here (the auth
    middleware passes tree downloads through to this check)."""
    if not _token_ok(request):
        return error_response(401, "unauthorized", "missing or wrong worker or API token")
    digest = request.match_info["digest"]
    if not _DIGEST.match(digest):
        return error_response(400, "invalid_query", "a tree is named by its SHA-256 hex digest", "digest")
    path = _tree_dir(request) / f"{digest}.tar.gz"
    if not path.is_file():
        return error_response(404, "not_found", f"no tree {digest[:12]}", "digest")
    return web.FileResponse(path, headers={"Content-Type": "application/gzip"})


async def has_tree(request: web.Request) -> web.Response:
    digest = request.match_info["digest"]
    found = bool(_DIGEST.match(digest)) and (_tree_dir(request) / f"{digest}.tar.gz").is_file()
    return web.json_response({"sha256": digest, "stored": found})


DOCUMENTED = {
    "/api/v1/results/cases": (results_cases, "Every stored test case: outcome, duration, worker, hardware, "
                              "failure text", [*CASE_FILTERS, "limit"]),
    "/api/v1/results/durations": (results_durations, "Median recorded duration per test of a suite",
                                  ["suite", "limit"]),
}


def add_routes(app: web.Application) -> None:
    for path, (fn, _, _) in DOCUMENTED.items():
        app.router.add_get(path, fn)
    if EXTRA_PATHS in app:
        app[EXTRA_PATHS].update(openapi_paths(DOCUMENTED))
    app.router.add_post("/api/v1/trees", put_tree)
    app.router.add_get("/api/v1/trees/{digest}", get_tree)
    app.router.add_get("/api/v1/tree-status/{digest}", has_tree)
