"""Attacks from a web page and from slow or unauthenticated clients, against live processes.

Each test performs the attack the outside review reproduced (issue: security and data safety,
items 1-5) and checks it now fails while the honest client still works.
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import psutil
import pytest

from tests.harness import Cluster, free_port, wait_until
from tests.security.conftest import RawWorker, hello
from tests.security.test_http_security import call

COMMAND_TASK = b'{"type": "command", "config": {"argv": ["touch", "pwned"]}}'


@pytest.fixture
def open_cluster(tmp_path: Path):
    """A coordinator started with no token at all (as `python -m coordinator` allows on loopback)."""
    c = Cluster(tmp_path, worker_token=None, api_token=None)
    try:
        yield c
    finally:
        c.stop()


def submitted(cluster: Cluster) -> int:
    return sum(cluster.status()["tasks"].values())


def test_a_web_page_cannot_submit_tasks_to_a_tokenless_coordinator(open_cluster) -> None:
    c = open_cluster
    c.start_coordinator()
    # What a page may send without a CORS preflight: text/plain, a form, no content type.
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, _, body = call(c, "POST", "/api/v1/tasks", token=None, body=COMMAND_TASK,
                               headers={"Content-Type": ctype})
        assert status == 415 and body["error"]["code"] == "unsupported_media_type", (ctype, body)
    # A page's fetch() with JSON is marked by the browser: cross-site is refused.
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"},
                    {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}):
        status, _, body = call(c, "POST", "/api/v1/tasks", token=None, body=COMMAND_TASK, headers=headers)
        assert status == 403 and body["error"]["code"] == "forbidden_origin", (headers, body)
        assert call(c, "POST", "/api/v1/tasks/t1/cancel", token=None, body=b"{}", headers=headers)[0] == 403
    # DNS rebinding: the page's own name resolves to 127.0.0.1, so its requests carry that name.
    for host in (f"evil.example:{c.port}", "evil.example", f"127.0.0.1.nip.example:{c.port}"):
        status, _, body = call(c, "POST", "/api/v1/tasks", token=None, body=COMMAND_TASK,
                               headers={"Host": host})
        assert status == 403 and body["error"]["code"] == "forbidden_host", (host, body)
        assert call(c, "GET", "/api/v1/tasks", token=None, headers={"Host": host})[0] == 403
    assert submitted(c) == 0
    # The honest clients: the CLI (JSON, no Origin) and a same-origin page.
    assert call(c, "POST", "/api/v1/tasks", token=None, body=COMMAND_TASK)[0] == 201
    same = {"Origin": f"http://127.0.0.1:{c.port}", "Sec-Fetch-Site": "same-origin"}
    assert call(c, "POST", "/api/v1/tasks", token=None, body=COMMAND_TASK, headers=same)[0] == 201
    assert call(c, "GET", "/api/v1/status", token=None, headers={"Host": f"localhost:{c.port}"})[0] == 200
    assert call(c, "GET", "/api/v1/status", token=None, headers={"Host": f"[::1]:{c.port}"})[0] == 200
    assert submitted(c) == 2


async def test_a_web_page_cannot_pose_as_a_worker(open_cluster) -> None:
    c = open_cluster
    await asyncio.to_thread(c.start_coordinator)
    await asyncio.to_thread(c.submit, [{"type": "command", "config": {"argv": ["true"], "env": {"DB_PASSWORD": "s"}}}])
    async with aiohttp.ClientSession() as session:
        for origin in ("http://evil.example", f"http://127.0.0.1:{c.port}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(c.ws_url, headers={"Origin": origin})
            assert info.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(c.ws_url, headers={"Host": "evil.example"})
        assert info.value.status == 403
        # A real worker (no Origin) still connects and gets the task.
        raw = await RawWorker(session, c.ws_url, token=None).connect()
        await raw.send(hello("honest", ""))
        await raw.expect_type("welcome")
        await raw.close()


def test_dtf_up_generates_tokens_and_the_cli_finds_them(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / ".dtf"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")}
    dtf = str(Path(sys.executable).with_name("dtf"))
    proc = subprocess.Popen([dtf, "up", "--workers", "1", "--port", str(port), "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        out = []
        for line in proc.stdout:
            out.append(line)
            if "press Ctrl-C" in line:
                break
        api_token = (data / "api_token").read_text().strip()
        worker_token = (data / "worker_token").read_text().strip()
        assert len(api_token) >= 32 and len(worker_token) >= 32 and api_token != worker_token
        for name in ("api_token", "worker_token"):
            assert (data / name).stat().st_mode & 0o777 == 0o600
        assert f"dashboard  http://127.0.0.1:{port}/dashboard?token={api_token}" in "".join(out)
        # The attack of the review: a page's POST, now without the token, is refused.
        assert call(SimpleNamespace(port=port), "POST", "/api/v1/tasks", token=None, body=COMMAND_TASK)[0] == 401
        assert not (tmp_path / "pwned").exists()
        # Neither token is on a command line another user could read.
        for p in psutil.Process(proc.pid).children(recursive=True):
            assert api_token not in " ".join(p.cmdline()) and worker_token not in " ".join(p.cmdline())
        # The CLI, run where `dtf up` ran, finds the address and the token by itself.
        def status() -> bool:
            run = subprocess.run([dtf, "status"], capture_output=True, text=True, timeout=60, env=env,
                                 cwd=tmp_path)
            assert run.returncode == 0, run.stderr
            return "local-1" in run.stdout
        wait_until(status, 30, 0.2, "dtf status to list the worker")
        env_dir = {**env, "DTF_DATA_DIR": str(data)}
        token = subprocess.run([dtf, "token"], capture_output=True, text=True, timeout=60, env=env_dir)
        assert token.stdout.strip() == api_token
    finally:
        proc.send_signal(2)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_dashboard_proxy_forwards_reads_only_and_refuses_pages(cluster, tmp_path: Path) -> None:
    cluster.start_coordinator(["--dashboard"])
    port = free_port()
    proxy = subprocess.Popen([sys.executable, "-m", "coordinator.dashboard", "--coordinator",
                              f"http://127.0.0.1:{cluster.port}", "--api-token", "atok", "--port", str(port)],
                             stdout=open(tmp_path / "proxy.log", "ab"), stderr=subprocess.STDOUT, env=cluster.env)
    try:
        p = SimpleNamespace(port=port)
        def up() -> bool:
            try:
                return call(p, "GET", "/health", token=None)[0] == 200
            except OSError:
                return False
        wait_until(up, 30, message="the proxy")
        assert call(p, "GET", "/api/v1/status", token=None)[0] == 200  # it adds the token: that is its job
        status, _, body = call(p, "POST", "/api/v1/tasks", token=None, body=COMMAND_TASK)
        assert status == 405 and "--allow-writes" in body["error"]["message"]
        for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Host": "evil.example"}):
            assert call(p, "GET", "/api/v1/status", token=None, headers=headers)[0] == 403, headers
        # A link from elsewhere still opens the page itself.
        nav = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        assert call(p, "GET", "/dashboard", token=None, headers=nav)[0] == 200
        assert sum(cluster.status()["tasks"].values()) == 0
    finally:
        proxy.terminate()
        proxy.wait(15)


async def test_no_socket_is_opened_or_buffered_before_authentication(cluster) -> None:
    await asyncio.to_thread(cluster.start_coordinator)
    coordinator = psutil.Process(cluster.coordinator.pid)
    before = coordinator.memory_info().rss
    big = "x" * (3 * 1024 * 1024)
    async with aiohttp.ClientSession() as session:
        for _ in range(40):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                ws = await session.ws_connect(cluster.ws_url, max_msg_size=0)
                await ws.send_str(big)
            assert info.value.status == 401
    grown = (coordinator.memory_info().rss - before) / 2 ** 20
    assert grown < 40, f"the coordinator grew {grown:.0f} MiB for sockets that never authenticated"
    # Authenticated but silent sockets are capped per address until they say hello.
    async with aiohttp.ClientSession() as session:
        held = [await RawWorker(session, cluster.ws_url).connect() for _ in range(16)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await RawWorker(session, cluster.ws_url).connect()
        assert info.value.status == 429
        await held[0].send(hello("late-hello", "wtok"))
        await held[0].expect_type("welcome")
        spare = await RawWorker(session, cluster.ws_url).connect()  # a slot came free
        for s in held + [spare]:
            await s.close()


def _partial_header_connections(port: int, n: int, source: str) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket, timeout: float) -> bool:
    s.settimeout(timeout)
    try:
        return s.recv(1024) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_slow_headers_are_cut_off_and_one_address_cannot_take_every_connection(cluster) -> None:
    cluster.env.update(DTF_HEADER_TIMEOUT_SECONDS="2", DTF_MAX_CONNECTIONS_PER_ADDRESS="20")
    cluster.start_coordinator()
    started = time.monotonic()
    socks = _partial_header_connections(cluster.port, 25, "127.0.0.2")
    try:
        # Over the cap: closed at once, before a byte is read.
        assert sum(_closed_by_server(s, 0.5) for s in socks[20:]) == 5
        # Another address is unaffected while the 20 are held.
        assert call(cluster, "GET", "/health", token=None)[0] == 200
        # The 20 that trickle headers are cut at the header deadline.
        assert all(_closed_by_server(s, 10) for s in socks[:20])
        assert time.monotonic() - started < 8
        again = _partial_header_connections(cluster.port, 1, "127.0.0.2")
        socks += again
        again[0].sendall(b"x\r\n\r\n")
        assert again[0].recv(64).startswith(b"HTTP/1.1 401")  # the address may connect again
    finally:
        for s in socks:
            s.close()
