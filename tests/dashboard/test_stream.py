"""The live stream and the page routes, in-process (no browser): auth, snapshot, events,
heartbeats, the bounded per-client queue and the clean close on shutdown."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import orjson
import pytest
from yarl import URL

from coordinator import Coordinator, integrate_dashboard
from tests.harness import free_port

TOKEN = "stream-token"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Coordinator, str, Any]]:
    coordinator = Coordinator(port=free_port(), db_path=str(tmp_path / "events.duckdb"),
                              state_path=str(tmp_path / "state.sqlite"), api_token=TOKEN, worker_token="w")
    ext = integrate_dashboard(coordinator, heartbeat_seconds=0.3, queue_size=8)
    await coordinator.start()
    try:
        yield coordinator, f"http://127.0.0.1:{coordinator.bound_port}", ext
    finally:
        await coordinator.stop()


async def read_event(resp: aiohttp.ClientResponse, timeout: float = 5.0) -> tuple[str, Any]:
    """The next SSE event (name, decoded data), skipping the retry line."""
    name, data = None, None
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), timeout)).decode()
        if line == "":
            raise EOFError("stream ended")
        line = line.rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = orjson.loads(line[6:])
        elif line == "" and name is not None:
            return name, data


async def test_auth_applies_to_page_and_stream_but_not_static(running: Any) -> None:
    _, base, _ = running
    async with aiohttp.ClientSession() as http:
        for path in ("/dashboard", "/api/v1/stream"):
            async with http.get(base + path) as resp:
                assert resp.status == 401, path
        async with http.get(base + "/dashboard/static/js/main.js") as resp:
            assert resp.status == 200
            assert "javascript" in resp.headers["Content-Type"]
        async with http.get(URL(base + "/dashboard/static/%2e%2e/extension.py", encoded=True)) as resp:
            assert resp.status in (403, 404)  # no way out of the static folder
        async with http.get(base + f"/dashboard?token={TOKEN}") as resp:
            assert resp.status == 200
            csp = resp.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "connect-src 'self'" in csp
            html = await resp.text()
            assert 'content="on"' in html and "__DTF_" not in html


async def test_snapshot_then_events_then_heartbeat(running: Any) -> None:
    coordinator, base, _ = running
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with http.get(base + "/api/v1/stream") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
            name, snap = await read_event(resp)
            assert name == "snapshot"
            assert set(snap) >= {"status", "workers", "running", "recent", "flaky"}
            bus = coordinator.engine.bus
            bus.publish("error", event_id="e1", message="<b>boom</b>\nline two", category="unknown_error")
            bus.publish("action", action="reconnect", task_id="t1", worker_id="w1", success=True)
            name, error = await read_event(resp)
            assert name == "error_event"  # never "error": EventSource reserves that name
            assert (error["event_id"], error["message"], error["kind"]) == ("e1", "<b>boom</b>\nline two", "error")
            name, action = await read_event(resp)
            assert (name, action["action"], action["success"]) == ("action", "reconnect", True)
            name, beat = await read_event(resp, timeout=3.0)
            assert name == "heartbeat" and "server_time" in beat


async def test_slow_client_is_told_what_it_lost(running: Any) -> None:
    coordinator, base, ext = running
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with http.get(base + "/api/v1/stream") as resp:
            assert (await read_event(resp))[0] == "snapshot"
            sub = next(iter(ext.hub._subs))
            for i in range(20):  # the queue holds 8: the oldest 12 go
                sub.put({"kind": "action", "action": f"a{i}"})
            names = [await read_event(resp) for _ in range(9)]
            assert [d["action"] for n, d in names if n == "action"] == [f"a{i}" for i in range(12, 20)]
            assert ("dropped", {"count": 12}) in names


async def test_shutdown_says_bye_and_ends_the_stream(tmp_path: Path) -> None:
    coordinator = Coordinator(port=free_port(), db_path=str(tmp_path / "e.duckdb"),
                              state_path=str(tmp_path / "s.sqlite"))
    integrate_dashboard(coordinator)
    await coordinator.start()
    stopped = False
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{coordinator.bound_port}/api/v1/stream") as resp:
                assert (await read_event(resp))[0] == "snapshot"
                loop = asyncio.get_running_loop()
                started = loop.time()
                stop = asyncio.create_task(coordinator.stop())
                assert (await read_event(resp))[0] == "bye"
                assert await asyncio.wait_for(resp.content.read(), 5) == b""
                await stop
                stopped = True
                assert loop.time() - started < 4.0  # the browser never holds the shutdown
    finally:
        if not stopped:
            await coordinator.stop()


async def test_integrate_dashboard_is_idempotent(tmp_path: Path) -> None:
    coordinator = Coordinator(port=free_port(), db_path=str(tmp_path / "e.duckdb"))
    assert integrate_dashboard(coordinator) is integrate_dashboard(coordinator)
