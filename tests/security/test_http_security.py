"""Tokens, body and rate limits, and hostile query strings against a live coordinator."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from worker.protocol import CloseCode
from tests.harness import wait_until
from tests.security.conftest import RawWorker, hello

INJECTIONS = ["' OR '1'='1", "x'; DROP TABLE error_events; --", "1 UNION SELECT * FROM recovery_actions",
              "%' OR 1=1 --", "\\'", "\x00", "a" * 5000, "${jndi:ldap://127.0.0.1/a}", "../../etc/passwd",
              "<script>alert(1)</script>", "category = category", "null", "[]", "{}"]


def call(cluster, method: str, path: str, *, token: str | None = "atok", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{cluster.port}{path}", data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, hdrs, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, hdrs, raw = exc.code, dict(exc.headers), exc.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode(errors="replace")


def assert_json_error(status: int, body: Any, expected: int) -> None:
    assert status == expected, body
    assert set(body["error"]) == {"code", "message", "field"} and body["error"]["message"]
    assert "Traceback" not in json.dumps(body)


def api_routes(cluster) -> list[tuple[str, str]]:
    """Every operation in the OpenAPI document (analytics ones included) except the open ones."""
    doc = call(cluster, "GET", "/openapi.json", token=None)[2]
    routes = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if op.get("security") == []:
                continue
            routes.append((method.upper(), path.replace("{task_id}", "t1").replace("{worker_id}", "w1")))
    return routes


def test_every_api_route_needs_the_token(cluster) -> None:
    cluster.env["DTF_AUTH_FAILURES_PER_MINUTE"] = "0"  # off here: this test fails on purpose, often
    cluster.start_coordinator()
    routes = api_routes(cluster)
    assert ("GET", "/api/v1/errors") in routes and ("GET", "/metrics") in routes and len(routes) >= 10
    for method, path in routes:
        body = b"{}" if method == "POST" else None
        for token in (None, "wrong", "atok " * 2, ""):
            status, _, reply = call(cluster, method, path, token=token, body=body)
            assert_json_error(status, reply, 401)
        status, _, _ = call(cluster, method, path, body=body)
        assert status != 401 and status < 500, (method, path, status)
    assert call(cluster, "GET", "/health", token=None)[0] == 200
    # The query-string form is checked the same way.
    assert call(cluster, "GET", "/api/v1/status?token=wrong", token=None)[0] == 401
    assert call(cluster, "GET", "/api/v1/status?token=atok", token=None)[0] == 200


async def test_worker_socket_needs_the_token(cluster) -> None:
    cluster.start_coordinator()
    async with aiohttp.ClientSession() as session:
        # Without the token in the upgrade request no socket is opened at all.
        for token in (None, "", "wrong", "wtok2", "WTOK"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await RawWorker(session, cluster.ws_url, token=token).connect()
            assert info.value.status == 401
        # The hello's token must match as well.
        raw = await RawWorker(session, cluster.ws_url).connect()
        await raw.send(hello("intruder", "wrong"))
        assert await raw.closed_with() == CloseCode.UNAUTHORIZED
    assert cluster.worker("intruder") == {}


def test_body_size_limit_is_a_json_413(cluster) -> None:
    cluster.start_coordinator()
    big = b'{"type": "python", "config": {"callable": "operator:add", "args": ["' + b"x" * (17 * 1024 * 1024) + b'"]}}'
    status, _, body = call(cluster, "POST", "/api/v1/tasks", body=big, headers={"Content-Type": "application/json"})
    assert_json_error(status, body, 413)
    assert call(cluster, "GET", "/health", token=None)[0] == 200


@pytest.mark.parametrize("bad", [
    {"type": "python", "config": {"callable": "operator:add", "kwargs": {"a": [[[[[[[[[[]]]]]]]]]]}},
     "priority": 2 ** 64 - 1},
    {"type": "python", "config": {"callable": "operator:add", "args": [1], "x": "DEEP"}},
])
def test_input_that_would_break_storage_is_a_400(cluster, bad) -> None:
    cluster.start_coordinator()
    raw = json.dumps(bad).replace('"DEEP"', "[" * 300 + "]" * 300).encode()
    status, _, body = call(cluster, "POST", "/api/v1/tasks", body=raw)
    assert_json_error(status, body, 400)
    # The store still commits: a normal submission is durable and listed.
    tid = cluster.api.post("/api/v1/tasks", {"type": "command", "config": {"argv": ["true"]}})["task_id"]
    assert cluster.task(tid)["status"] == "queued"
    status, _, body = call(cluster, "GET", "/api/v1/tasks?cursor=99999999999999999999999")
    assert_json_error(status, body, 400)


def test_http_rate_limit_per_client(cluster) -> None:
    cluster.env.update(DTF_RATE_LIMIT_PER_SECOND="2", DTF_RATE_LIMIT_BURST="5")
    cluster.start_coordinator()
    statuses = [call(cluster, "GET", "/api/v1/status")[0] for _ in range(12)]
    assert statuses[:5] == [200] * 5 and 429 in statuses
    status, headers, body = call(cluster, "GET", "/api/v1/status")
    assert_json_error(status, body, 429)
    assert int(headers["Retry-After"]) >= 1
    assert all(call(cluster, "GET", "/health", token=None)[0] == 200 for _ in range(20))
    # The bucket is the address's: a fresh junk token per request buys no fresh bucket.
    for junk in ("other-1", "other-2", "other-3"):
        assert call(cluster, "GET", "/api/v1/status", token=junk)[0] == 429
    wait_until(lambda: call(cluster, "GET", "/api/v1/status")[0] == 200, 10, 0.2, "the bucket to refill")


async def test_failed_worker_authentications_are_limited_per_address(cluster) -> None:
    cluster.env.update(DTF_AUTH_FAILURES_PER_MINUTE="3")
    cluster.start_coordinator()
    async with aiohttp.ClientSession() as session:
        statuses = []
        for i in range(6):  # a different junk token each time: still one address
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await RawWorker(session, cluster.ws_url, token=f"guess-{i}").connect()
            statuses.append(info.value.status)
        assert statuses[:3] == [401] * 3 and statuses[3:] == [429] * 3
        # The guesser shares the address with a good worker: the right token still gets in.
        good = await RawWorker(session, cluster.ws_url).connect()
        await good.send(hello("good-worker", "wtok"))
        await good.expect_type("welcome")
        await good.close()
    for _ in range(3):
        assert call(cluster, "GET", "/api/v1/status", token="guess")[0] == 401
    status, headers, body = call(cluster, "GET", "/api/v1/status", token="guess")
    assert_json_error(status, body, 429)
    assert "Retry-After" in headers
    assert call(cluster, "GET", "/api/v1/status")[0] == 200  # the real token still works


def test_error_filters_are_safe_against_injection(cluster) -> None:
    cluster.start_coordinator()
    cluster.start_worker("w-inj")
    [tid] = cluster.submit([{"type": "command", "config": {"argv": ["false"]}}])
    wait_until(lambda: cluster.task(tid)["status"] == "failed", 30, message="the failing task")
    wait_until(lambda: cluster.api.get("/api/v1/errors?worker_id=w-inj")["items"], 10, message="its error event")
    for bad in INJECTIONS:
        q = urllib.request.quote(bad, safe="")
        for name in ("category", "hardware_type"):
            for path in ("/api/v1/errors", "/api/v1/errors/trends", "/api/v1/errors/patterns"):
                if name == "hardware_type" and path != "/api/v1/errors":
                    continue
                status, _, body = call(cluster, "GET", f"{path}?{name}={q}")
                assert status in (200, 400), (path, name, bad, status, body)
                if name == "category":
                    assert_json_error(status, body, 400)
                elif status == 200:
                    assert body["items"] == []
        for name in ("worker_id", "task_id", "pattern_id"):
            status, _, body = call(cluster, "GET", f"/api/v1/errors?{name}={q}")
            assert status in (200, 400), (name, bad, status, body)
            if status == 200:
                assert body["items"] == [], f"{name}={bad!r} matched rows"
            else:
                assert_json_error(status, body, 400)
        for name in ("since", "until", "limit", "cursor", "bucket"):
            path = "/api/v1/errors/trends" if name == "bucket" else "/api/v1/errors"
            assert_json_error(*call(cluster, "GET", f"{path}?{name}={q}")[::2], 400)
        status, _, body = call(cluster, "GET", f"/api/v1/recovery-actions?worker_id={q}")
        assert status in (200, 400) and (status == 400 or body["items"] == [])
    # The table is still there and the honest filter still finds its row.
    assert cluster.api.get("/api/v1/errors?worker_id=w-inj")["items"][0]["task_id"] == tid
