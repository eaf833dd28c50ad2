"""Errors triggered for real on this machine (sockets, processes, rlimits, parsers, pytest, pip).

Each ``trigger_*`` function appends entries through ``Corpus.add_exc`` / ``Corpus.add``; labels
(``pattern``) name the error, so variations of one error share a label.
"""
from __future__ import annotations

import asyncio
import configparser
import ctypes
import importlib
import json
import os
import queue
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import tomllib
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import aiohttp

RA, RC = "resource_allocation_error", "resource_cleanup_error"
NC, NT = "network_connection_error", "network_timeout_error"
HA, HC, HP = "hardware_availability_error", "hardware_capability_error", "hardware_performance_error"
WD, WC, WO = "worker_disconnection_error", "worker_crash_error", "worker_overload_error"
TE, TD, TC = "test_execution_error", "test_dependency_error", "test_configuration_error"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """A local TCP server whose per-connection behaviour is a function; runs in a thread."""

    def __init__(self, handle: Callable[[socket.socket], None], backlog: int = 16) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def _reset(conn: socket.socket) -> None:
    conn.recv(1024)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def _close_after_request(conn: socket.socket) -> None:
    conn.recv(1024)
    conn.close()


def _silent(conn: socket.socket) -> None:
    threading.Event().wait(5)


def _garbage(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    threading.Event().wait(1)


def trigger_network(c) -> None:
    for port in (free_port() for _ in range(4)):
        c.expect(lambda: socket.create_connection(("127.0.0.1", port), timeout=2), NC, "socket-connection-refused")
    for port in (free_port() for _ in range(4)):
        c.expect(lambda: asyncio.run(asyncio.open_connection("127.0.0.1", port)), NC, "asyncio-connect-call-failed")
    for port in (free_port() for _ in range(4)):
        c.expect(lambda: asyncio.run(_aiohttp_get(f"http://127.0.0.1:{port}/tasks/{port % 97}")), NC, "aiohttp-cannot-connect")
    for port in (free_port() for _ in range(3)):
        c.expect(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2), NC, "urllib-connection-refused")

    reset = _Server(_reset)
    for _ in range(4):
        def recv_reset() -> None:
            with socket.create_connection(("127.0.0.1", reset.port), timeout=2) as s:
                s.sendall(b"ping")
                s.recv(1024)
        c.expect(recv_reset, NC, "connection-reset")
    for i in range(3):
        c.expect(lambda: asyncio.run(_aiohttp_get(f"http://127.0.0.1:{reset.port}/r{i}")), NC, "connection-reset")
    for i in range(3):
        c.expect(lambda: urllib.request.urlopen(f"http://127.0.0.1:{reset.port}/r{i}", timeout=2), NC, "connection-reset")
    for i in range(3):
        def broken_pipe() -> None:
            with socket.create_connection(("127.0.0.1", reset.port), timeout=2) as s:
                s.sendall(b"x")
                threading.Event().wait(0.05)
                for _ in range(50):
                    s.sendall(b"y" * 65536)
        c.expect(broken_pipe, NC, "connection-reset")
    reset.close()

    closer = _Server(_close_after_request)
    for i in range(3):
        c.expect(lambda: asyncio.run(_aiohttp_get(f"http://127.0.0.1:{closer.port}/c{i}")), NC, "aiohttp-server-disconnected")
    for i in range(3):
        c.expect(lambda: urllib.request.urlopen(f"http://127.0.0.1:{closer.port}/c{i}", timeout=2), NC, "urllib-remote-disconnected")
    closer.close()

    for i in range(4):
        c.expect(lambda: socket.getaddrinfo(f"nonexistent-{i}.invalid", 80), NC, "dns-gaierror")
    for i in range(3):
        c.expect(lambda: asyncio.run(_aiohttp_get(f"http://worker-{i}.nonexistent.invalid:8080/")), NC, "aiohttp-dns")
    for i in range(3):
        c.expect(lambda: urllib.request.urlopen(f"http://db-{i}.invalid/", timeout=2), NC, "urllib-dns")

    silent = _Server(_silent)
    for t in (0.1, 0.15, 0.2, 0.25):
        def read_timeout() -> None:
            with socket.create_connection(("127.0.0.1", silent.port), timeout=t) as s:
                s.recv(10)
        c.expect(read_timeout, NT, "socket-timed-out")
    for t in (0.1, 0.2, 0.3):
        c.expect(lambda: asyncio.run(_wait_for_read(silent.port, t)), NT, "asyncio-timeout")
    for t in (0.1, 0.2, 0.3):
        c.expect(lambda: asyncio.run(_aiohttp_get(f"http://127.0.0.1:{silent.port}/slow", sock_read=t)), NT, "aiohttp-read-timeout")
    for t in (0.1, 0.2, 0.3):
        c.expect(lambda: asyncio.run(_aiohttp_get(f"http://127.0.0.1:{silent.port}/slow", total=t)), NT, "asyncio-timeout")
    for t in (0.1, 0.2, 0.3):
        c.expect(lambda: urllib.request.urlopen(f"http://127.0.0.1:{silent.port}/slow", timeout=t), NT, "socket-timed-out")
    silent.close()
    for argv, t in ((["sleep", "5"], 0.2), (["sleep", "7"], 0.3), ([PY, "-c", "import time; time.sleep(9)"], 0.5),
                    (["sleep", "11"], 0.1)):
        c.expect(lambda: subprocess.run(argv, timeout=t), NT, "subprocess-timeout")

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        for _ in range(3):
            def bind_again() -> None:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            c.expect(bind_again, RA, "bind-address-in-use")
        for _ in range(2):
            c.expect(lambda: asyncio.run(_start_server(port)), RA, "asyncio-bind-in-use")

    _http_status_errors(c)
    _tls_errors(c)
    _websocket_errors(c)


async def _aiohttp_get(url: str, sock_read: float | None = None, total: float | None = None) -> None:
    timeout = aiohttp.ClientTimeout(total=total, sock_read=sock_read)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, raise_for_status=True) as resp:
            await resp.read()


async def _aiohttp_get_tls(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            await resp.read()


async def _wait_for_read(port: int, t: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await asyncio.wait_for(reader.read(10), t)
    finally:
        writer.close()


async def _start_server(port: int) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    server.close()


def _http_status_errors(c) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = int(self.path.split("/")[1])
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for code, n, cat in ((429, 3, WO), (503, 2, WO), (404, 2, TC)):
        for i in range(n):
            c.expect(lambda: asyncio.run(_aiohttp_get(f"{base}/{code}/jobs/{i + 7}")), cat, f"aiohttp-http-{code}")
            c.expect(lambda: urllib.request.urlopen(f"{base}/{code}/jobs/{i + 3}", timeout=2), cat, f"urllib-http-{code}")
    server.shutdown()


def _tls_errors(c) -> None:
    if shutil.which("openssl") is None:
        return
    key, cert = c.tmp / "key.pem", c.tmp / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)

    def tls(conn: socket.socket) -> None:
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as s:
                s.recv(1024)
        except (OSError, ssl.SSLError):
            pass

    server = _Server(tls)
    for host in ("localhost", "localhost"):
        def verify_default() -> None:
            ctx = ssl.create_default_context()
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as raw:
                ctx.wrap_socket(raw, server_hostname=host)
        c.expect(verify_default, TC, "tls-self-signed")
    for host in ("127.0.0.1", "db.internal"):
        def verify_mismatch() -> None:
            ctx = ssl.create_default_context(cafile=str(cert))
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as raw:
                ctx.wrap_socket(raw, server_hostname=host)
        c.expect(verify_mismatch, TC, "tls-hostname-mismatch")
    for i in range(2):
        c.expect(lambda: asyncio.run(_aiohttp_get_tls(f"https://127.0.0.1:{server.port}/t{i}")), TC, "aiohttp-tls-verify")
    server.close()
    plain = _Server(_garbage)
    for _ in range(2):
        def tls_to_plain() -> None:
            ctx = ssl.create_default_context()
            with socket.create_connection(("127.0.0.1", plain.port), timeout=2) as raw:
                ctx.wrap_socket(raw, server_hostname="localhost")
        c.expect(tls_to_plain, TC, "tls-to-plain-port")
    plain.close()


def _websocket_errors(c) -> None:
    from aiohttp import web

    async def scenario(kind: str, n: int) -> None:
        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(autoping=kind != "heartbeat")
            await ws.prepare(request)
            if kind == "close":
                await ws.close(code=1011)
            else:
                await asyncio.sleep(2)
            return ws

        app = web.Application()
        app.router.add_get("/ws", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"http://127.0.0.1:{port}/ws?worker=worker-{n}",
                                              heartbeat=0.2 if kind == "heartbeat" else None) as ws:
                    msg = await ws.receive(timeout=3)
                    if kind == "heartbeat" and ws.exception() is not None:
                        raise ws.exception()
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        await ws.send_str(f"result for task-{n}")
                        await asyncio.sleep(0.05)
                        await ws.send_str(f"result for task-{n}")
        finally:
            await runner.cleanup()

    for n in range(3):
        c.expect(lambda: asyncio.run(scenario("close", n)), WD, "ws-send-after-close", context={"stage": "websocket"},
                 optional=True)
    for n in range(2):
        c.expect(lambda: asyncio.run(scenario("heartbeat", n)), WD, "ws-heartbeat-timeout", context={"stage": "heartbeat"},
                 optional=True)


CHILD = """
import json, sys, traceback
try:
{body}
except BaseException as exc:
    t = type(exc)
    name = t.__qualname__ if t.__module__ in ("builtins", "__main__") else t.__module__ + "." + t.__qualname__
    print(json.dumps({{"type": name, "message": str(exc), "traceback": traceback.format_exc()}}))
"""


def child_exception(body: str, limits: dict[int, int] | None = None, uid: int | None = None,
                    ignore: tuple[int, ...] = ()) -> dict[str, Any]:
    """Run ``body`` in a child Python (rlimits, another uid) and return the exception it raised."""
    def pre() -> None:
        for sig in ignore:
            signal.signal(sig, signal.SIG_IGN)
        for which, value in (limits or {}).items():
            resource.setrlimit(which, (value, value))

    if uid is not None:  # after start-up: the interpreter itself may not be readable by that uid
        body = f"import os, shutil\nos.setgid({uid})\nos.setuid({uid})\n{body.strip()}"
    code = CHILD.format(body="\n".join("    " + ln for ln in body.strip().splitlines()))
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, preexec_fn=pre, timeout=30)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if not line.startswith("{"):
        raise RuntimeError(f"child raised nothing: rc={out.returncode} {out.stderr[-300:]}")
    return json.loads(line)


def trigger_system(c) -> None:
    for write in ("open('/dev/full', 'w').write('x' * 9000)", "os.write(os.open('/dev/full', os.O_WRONLY), b'y' * 512)",
                  "shutil.copyfileobj(io.BytesIO(b'z' * 70000), open('/dev/full', 'wb'))"):
        c.expect(lambda: exec(f"import io, os, shutil\n{write}\n", {}), RA, "enospc")
    for size in (1000, 4096, 65536):
        path = c.tmp / f"big-{size}.bin"
        c.add_child(child_exception(f"with open({str(path)!r}, 'wb') as f:\n    f.write(b'x' * {size * 2})",
                                    {resource.RLIMIT_FSIZE: size}, ignore=(signal.SIGXFSZ,)), RA, "efbig")
    for size in (2048, 8192):
        # Python ignores SIGXFSZ itself; `head` keeps the default action and dies of it
        c.expect(lambda: subprocess.run(["head", "-c", str(size * 4), "/dev/zero"], stdout=open(c.tmp / f"f-{size}.bin", "wb"),
                                        check=True, preexec_fn=lambda: resource.setrlimit(
                                            resource.RLIMIT_FSIZE, (size, size))), RA, "died-sigxfsz")
    for limit in (32, 48, 64):
        c.add_child(child_exception(f"fs = [open({str(c.tmp)!r} + f'/fd-{{i}}.txt', 'w') for i in range(1000)]",
                                    {resource.RLIMIT_NOFILE: limit}), RA, "emfile-open")
    for limit in (40, 80):
        c.add_child(child_exception("import socket\nss = [socket.socket() for i in range(1000)]",
                                    {resource.RLIMIT_NOFILE: limit}), RA, "emfile-socket")
    for mb in (400, 600, 800):
        c.add_child(child_exception("b = bytearray(1 << 31)", {resource.RLIMIT_AS: mb << 20}), RA, "memory-error")
    for mb in (500, 700):
        c.add_child(child_exception("import mmap\nm = mmap.mmap(-1, 1 << 32)", {resource.RLIMIT_AS: mb << 20}), RA, "enomem-mmap")

    for argv, label, cat in (
        ("import os; os.kill(os.getpid(), 9)", "died-sigkill", RA), ("import time; time.sleep(0.01); import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "died-sigkill", RA),
        ("import ctypes; ctypes.string_at(0)", "died-sigsegv", WC), ("import ctypes; ctypes.string_at(1)", "died-sigsegv", WC),
        ("import ctypes, sys; ctypes.memset(0, 0, 8)", "died-sigsegv", WC),
        ("import os; os.abort()", "died-sigabrt", WC), ("import os, sys; sys.stdout.flush(); os.abort()", "died-sigabrt", WC),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", "died-sigterm", WD),
        ("import os, signal, time; os.kill(os.getpid(), signal.SIGHUP)", "died-sighup", WD),
    ):
        c.expect(lambda: subprocess.run([PY, "-c", argv], check=True, capture_output=True), cat, label)
    for inner in ("kill -9 $$", "sleep 0.01; kill -9 $$"):
        c.expect(lambda: subprocess.run(["bash", "-c", f"bash -c '{inner}'; exit $?"], check=True, capture_output=True, text=True),
                 RA, "bash-killed-137")
    for n in (1, 2, 3):
        c.expect(lambda: subprocess.run(["sh", "-c", f"nonexistent-tool-{n} --version"], check=True, capture_output=True, text=True),
                 TD, "sh-not-found-127")
    for n in (1, 2):
        script = c.tmp / f"script-{n}.sh"
        script.write_text("echo hi\n")
        c.expect(lambda: subprocess.run(["sh", "-c", str(script)], check=True, capture_output=True, text=True), TC, "sh-permission-denied-126")
    for n in (1, 2, 3):
        c.expect(lambda: subprocess.run([f"nonexistent-cmd-{n}", "--run"]), TD, "subprocess-missing-executable")
    for n in (1, 2):
        tool = c.tmp / f"tool-{n}"
        tool.write_bytes(b"\x7fELF\x02garbage" * n)
        tool.chmod(0o755)
        c.expect(lambda: subprocess.run([str(tool)]), HC, "exec-format-error")
    for n in (1, 2, 3):
        c.expect(lambda: subprocess.run(["false"] if n < 3 else ["sh", "-c", f"exit {n}"], check=True), TE,
                 "command-nonzero-exit", context={"task_type": "command"})

    for path in ("/proc", "/sys", "/dev"):
        c.expect(lambda: os.rmdir(path), RC, "rmdir-busy", optional=True)
    for n in (1, 2, 3):
        d = c.tmp / f"work-task-{n}"
        (d / "out").mkdir(parents=True, exist_ok=True)
        c.expect(lambda: os.rmdir(d), RC, "rmdir-not-empty")
    for n in (1, 2):
        c.expect(lambda: os.mkdir(c.tmp / f"work-task-{n}"), RC, "mkdir-exists")
    for name in ("config-1.yaml", "settings/model-2.json", "data/train-3.csv"):
        c.expect(lambda: open(c.tmp / name), TC, "file-not-found")
    for n in (1, 2):
        c.expect(lambda: os.remove(c.tmp / f"scratch-{n}.lock"), RC, "cleanup-remove-missing", context={"stage": "cleanup"})
    if os.getuid() == 0:
        for n in (1, 2, 3):
            secret = c.tmp / f"secret-{n}.txt"
            secret.write_text("s")
            secret.chmod(0o600)
            c.add_child(child_exception(f"open({str(secret)!r})", uid=65534), TC, "permission-denied")
        for n in (1, 2):
            d = c.tmp / f"rootdir-{n}"
            (d / "sub").mkdir(parents=True, exist_ok=True)
            (d / "sub" / "f").write_text("x")
            c.add_child(child_exception(f"import shutil\nshutil.rmtree({str(d)!r})", uid=65534), RC, "cleanup-permission-denied",
                        context={"stage": "cleanup"})

    for n in (1, 2, 3):
        def pool_crash(n: int = n) -> None:
            with ProcessPoolExecutor(max_workers=1) as pool:
                pool.submit(os._exit, n).result(timeout=10)
        c.expect(pool_crash, WC, "broken-process-pool")
    for n in (1, 2):
        async def qfull(n: int = n) -> None:
            q: asyncio.Queue[int] = asyncio.Queue(maxsize=n)
            for i in range(n + 1):
                q.put_nowait(i)
        c.expect(lambda: asyncio.run(qfull()), WO, "asyncio-queue-full")
        q2: queue.Queue[int] = queue.Queue(maxsize=n)
        c.expect(lambda: [q2.put(i, timeout=0.01) for i in range(n + 1)], WO, "queue-full")

    for size in (4096, 65536):
        c.add_stderr([PY, "-c", f"from multiprocessing import shared_memory as s; x = s.SharedMemory(create=True, size={size})"],
                     "UserWarning", RC, "leaked-shared-memory")
    for n in (1, 2):
        c.add_stderr([PY, "-W", "always::ResourceWarning", "-c", f"f = open({str(c.tmp / f'res-{n}.txt')!r}, 'w'); del f"],
                     "ResourceWarning", RC, "unclosed-file")
        c.add_stderr([PY, "-c", "import aiohttp, asyncio, gc\nasync def m(): s = aiohttp.ClientSession()\nasyncio.run(m()); gc.collect()"],
                     "", RC, "aiohttp-unclosed-session")
        c.add_stderr([PY, "-c", f"import asyncio, gc\nasync def job_{n}(): await asyncio.sleep(10)\nasync def m(): asyncio.get_running_loop().create_task(job_{n}())\n"
                      "loop = asyncio.new_event_loop(); loop.run_until_complete(m()); loop.close(); del loop; gc.collect()"],
                     "", RC, "task-destroyed-pending")


def trigger_python(c) -> None:
    for name in ("torch_nightly", "nonexistent_mod_1", "vendor.helpers_2", "transformers_x"):
        c.expect(lambda: importlib.import_module(name), TD, "module-not-found")
    for mod, name in (("os", "nonexistent_1"), ("json", "fast_loads"), ("asyncio", "timeout_at_2")):
        c.expect(lambda: exec(f"from {mod} import {name}", {}), TD, "cannot-import-name")
    for lib in ("libcudart.so.12", "libcudnn.so.8", "libnccl.so.2", "libamdhip64.so.6"):
        c.expect(lambda: ctypes.CDLL(lib), TD, "shared-object-missing")
    for doc, label in (("", "json-expecting-value"), ("  ", "json-expecting-value"), ("{\"a\": }", "json-expecting-value"),
                       ("{'a': 1}", "json-property-name"), ("{'batch_size': 32, 'lr': 0.1}", "json-property-name"),
                       ("[1, 2", "json-delimiter"), ("{\"a\": 1 \"b\": 2}", "json-delimiter"),
                       ("\"abc", "json-unterminated-string"), ("{\"name\": \"bert", "json-unterminated-string"),
                       ("{\"a\": 1} x", "json-extra-data"), ("[1]\n[2]", "json-extra-data")):
        c.expect(lambda: json.loads(doc), TC, label, context={"stage": "config_loading"})
    for doc, label in (("a = ", "toml-invalid-value"), ("lr = 0.1\nepochs = \n", "toml-invalid-value"),
                       ("a = 1\na = 2", "toml-overwrite"), ("[model]\nname = 1\nname = 2", "toml-overwrite"),
                       ("[a\nb = 1", "toml-table-bracket"), ("[train\nx=1", "toml-table-bracket"),
                       ("name", "toml-expected-equals"), ("model\nlr = 1", "toml-expected-equals")):
        c.expect(lambda: tomllib.loads(doc), TC, label)
    for text in ("a=1\n", "batch_size = 32\n"):
        c.expect(lambda: configparser.ConfigParser().read_string(text), TC, "ini-no-section")
    try:
        import yaml  # noqa: F401  (optional: documented entries stand in when it is absent)
    except ImportError:
        pass
    else:
        for doc, label in (("a: b: c", "pyyaml-scanner"), ("key: [1, 2", "yaml-flow-sequence"),
                           ("x:\n  - a\n - b", "yaml-parser-block-end")):
            c.expect(lambda: yaml.safe_load(doc), TC, label)
    for key in ("model_name", "batch_size", "learning_rate"):
        c.expect(lambda: {"epochs": 3}[key], TC, "config-key-error", context={"stage": "config_loading"})
    for key in ("expected", "logits"):
        c.expect(lambda: {"output": 1}[key], TE, "test-key-error", context={"task_type": "python"})
    for expr, label in (("1 / 0", "zero-division"), ("10 % 0", "zero-modulo"),
                        ("None.shape", "attribute-none"), ("None.to('cuda')", "attribute-none"), ("None.items()", "attribute-none"),
                        ("1 + 'a'", "type-unsupported-operand"), ("[1] + 2", "type-can-only-concatenate"), ("2.5 - 'x'", "type-unsupported-operand"),
                        ("[1, 2][5]", "index-out-of-range"), ("[][0]", "index-out-of-range"),
                        ("int('abc')", "int-invalid-literal"), ("int('3.5')", "int-invalid-literal"), ("int('')", "int-invalid-literal"),
                        ("b'\\xff\\xfe'.decode('utf-8')", "unicode-decode"), ("b'ok\\x80'.decode('utf-8')", "unicode-decode")):
        c.expect(lambda: eval(expr), TE, label, context={"task_type": "python"})
    for a, b in ((3, 4), (10, 12), (0, 1)):
        def check(a: int = a, b: int = b) -> None:
            assert a == b, f"expected {b}, got {a}"
        c.expect(check, TE, "assert-expected-got", context={"task_type": "python"})
    for n in (1, 2):
        def recurse(k: int = 0) -> int:
            return recurse(k + n)
        c.expect(recurse, TE, "recursion-error", context={"task_type": "python"})
