"""The worker WebSocket: authenticate first, bind the worker id, then one reader per socket."""
from __future__ import annotations

import asyncio
import hmac
import re
from typing import TYPE_CHECKING

import structlog
from aiohttp import WSMsgType, web

from coordinator.httperrors import AUTH_FAILURES, error_response
from coordinator.keys import PENDING_HELLOS
from worker.protocol import (MAX_FRAME_BYTES, CloseCode, MessageType, ProtocolError, decode, encode,
                                encode_frame)
from coordinator.ratelimit import retry_after_header

if TYPE_CHECKING:
    from coordinator.engine import Engine

log = structlog.get_logger("dtf.ws")
HELLO_TIMEOUT_SECONDS = 10.0
WORKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")  # \Z: "$" would let "w-1\n" in
MAX_PENDING_HELLOS_PER_ADDRESS = 16
# aiohttp buffers at most this much of one frame. Frames between MAX_FRAME_BYTES and this reach
# decode() and are closed with 4413; larger ones are cut by aiohttp itself with 1009 (too big).
READER_LIMIT_BYTES = 2 * MAX_FRAME_BYTES
INTERNAL_ERROR = 1011
FOREIGN_ATTEMPT = "attempt belongs to another worker"


class WorkerConnection:
    def __init__(self, ws: web.WebSocketResponse, worker_id: str, peer: str | None = None) -> None:
        self.ws = ws
        self.worker_id = worker_id
        self.peer = peer
        self.superseded = False

    async def send(self, text: str | bytes) -> None:
        if self.ws.closed:
            raise ConnectionError(f"connection to {self.worker_id} is closed")
        if isinstance(text, bytes):
            await self.ws.send_frame(text, WSMsgType.TEXT)  # already UTF-8 JSON: a text frame
        else:
            await self.ws.send_str(text)

    async def close_with(self, code: int, message: str) -> None:
        if not self.ws.closed:
            await self.ws.close(code=code, message=message.encode()[:120])


def token_ok(expected: str | None, given: str) -> bool:
    if expected is None:
        return True
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else ""


def _refuse_token(request: web.Request, engine: "Engine", remote: str) -> web.Response:
    """A missing or wrong worker token: 401, or 429 once this address has guessed too often.

    Only wrong tokens count, and a right token is judged before any count: a guesser sharing an
    address with good workers cannot shut them out.
    """
    engine.metrics.inc("dtf_worker_auth_failures_total")
    failures = request.get(AUTH_FAILURES)
    if failures is not None:
        wait = failures.retry_after(("ws", remote))
        if wait:
            return error_response(429, "rate_limited", "too many failed worker authentications from this "
                                  "address; check the worker token", headers={"Retry-After": retry_after_header(wait)})
        failures.record(("ws", remote))
    log.warning("worker_rejected", reason="missing or wrong token", peer=remote)
    return error_response(401, "unauthorized", "missing or wrong worker token: send 'Authorization: Bearer "
                          "<worker token>' with the upgrade request")


async def worker_socket(request: web.Request, engine: "Engine", worker_token: str | None,
                        connections: set[web.WebSocketResponse]) -> web.StreamResponse:
    # The token travels in the upgrade request: a socket is only opened (and only then may it
    # buffer frames of up to READER_LIMIT_BYTES) for a worker that holds it.
    remote = request.remote or "unknown"
    if worker_token is not None and not token_ok(worker_token, _bearer(request)):
        return _refuse_token(request, engine, remote)
    pending = request.app[PENDING_HELLOS]
    if pending[remote] >= MAX_PENDING_HELLOS_PER_ADDRESS:
        return error_response(429, "rate_limited", "too many sockets from this address are still to say "
                              "hello", headers={"Retry-After": "1"})
    pending[remote] += 1  # counted before the first await: concurrent upgrades see each other
    waiting = True

    def hello_arrived() -> None:
        nonlocal waiting
        if waiting:
            waiting = False
            pending[remote] -= 1
            if pending[remote] <= 0:
                del pending[remote]

    # No per-message deflate: batches are small JSON and compressing them costs more CPU than it saves.
    ws = web.WebSocketResponse(max_msg_size=READER_LIMIT_BYTES, heartbeat=None, autoping=True, compress=False)
    conn: WorkerConnection | None = None
    abnormal = True
    reason = "connection lost"
    try:
        await ws.prepare(request)
        connections.add(ws)
        try:
            try:
                first = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT_SECONDS)
            finally:
                hello_arrived()
        except asyncio.TimeoutError:
            await ws.close(code=CloseCode.PROTOCOL_ERROR, message=b"hello expected first")
            return ws
        if first.type is not WSMsgType.TEXT:
            await ws.close(code=CloseCode.PROTOCOL_ERROR, message=b"hello expected first")
            return ws
        try:
            hello = decode(first.data)
            if hello.type is not MessageType.HELLO:
                raise ProtocolError("the first frame must be hello")
        except ProtocolError as exc:
            await ws.close(code=exc.code, message=str(exc).encode()[:120])
            return ws
        if not token_ok(worker_token, hello.body["token"]):
            log.warning("worker_rejected", reason="bad token in hello", peer=remote)
            engine.metrics.inc("dtf_worker_auth_failures_total")
            await ws.close(code=CloseCode.UNAUTHORIZED, message=b"invalid worker token")
            return ws
        worker_id = hello.body["worker_id"]
        if not isinstance(worker_id, str) or not WORKER_ID.match(worker_id):
            await ws.close(code=CloseCode.PROTOCOL_ERROR, message=b"invalid worker_id")
            return ws
        structlog.contextvars.bind_contextvars(worker_id=worker_id)  # on every line of this socket
        _note_takeover(engine, worker_id, remote)
        conn = WorkerConnection(ws, worker_id, remote)
        try:
            welcome = engine.sessions.hello(conn, hello.body)
        except ProtocolError as exc:
            conn = None
            await ws.close(code=exc.code, message=str(exc).encode()[:120])
            return ws
        await conn.send(encode(MessageType.WELCOME, **welcome))
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.TEXT:
                try:
                    await _handle(engine, conn, msg.data)
                except ProtocolError as exc:
                    log.warning("protocol_error", worker_id=worker_id, error=str(exc), peer=request.remote)
                    engine.metrics.inc("dtf_protocol_errors_total")
                    reason = f"protocol error: {exc}"
                    await ws.close(code=exc.code, message=str(exc).encode()[:120])
                    break
                except (ConnectionError, RuntimeError) as exc:  # our reply could not be sent
                    reason = f"send failed: {exc}"
                    break
                except Exception:
                    # A frame we failed to handle: this connection ends, the coordinator and the
                    # other workers carry on.
                    log.exception("frame_handling_failed", worker_id=worker_id)
                    engine.metrics.inc("dtf_protocol_errors_total")
                    reason = "internal error handling a frame"
                    await ws.close(code=INTERNAL_ERROR, message=b"internal error")
                    break
            elif msg.type is WSMsgType.CLOSE:
                # A close frame is a clean goodbye; a socket that just ends is a crash or a cut link.
                abnormal = False
                reason = f"closed by worker (code {msg.data})"
                break
            elif msg.type is WSMsgType.BINARY:
                reason = "binary frames are not part of the protocol"
                await ws.close(code=CloseCode.PROTOCOL_ERROR, message=reason.encode())
                break
            elif msg.type is WSMsgType.ERROR:
                reason = f"socket error: {ws.exception()}"
                if ws.close_code == 1009:
                    reason = "frame too large"
                    engine.metrics.inc("dtf_protocol_errors_total")
                break
            else:  # CLOSED / CLOSING: the transport ended without a close frame
                break
    finally:
        hello_arrived()
        connections.discard(ws)
        if conn is not None and not conn.superseded:
            await engine.sessions.connection_closed(conn, abnormal=abnormal, reason=reason)
    return ws


def _note_takeover(engine: "Engine", worker_id: str, peer: str | None) -> None:
    """A hello for a worker id that is connected right now supersedes that connection.

    Workers share one token, so the coordinator cannot tell a fast reconnect (the old socket is
    half-open) from another token holder taking the id over: it allows it, and makes it visible.
    """
    record = engine.workers.get(worker_id)
    old = record.connection if record is not None else None
    if old is None:
        return
    engine.metrics.inc("dtf_worker_takeovers_total")
    log.warning("worker_connection_superseded", worker_id=worker_id, old_peer=getattr(old, "peer", None),
                new_peer=peer, running=len(record.running))


async def _handle(engine: "Engine", conn: WorkerConnection, raw: str) -> None:
    msg = decode(raw)
    body = msg.body
    t = msg.type
    if t is MessageType.HEARTBEAT:
        engine.sessions.heartbeat(conn, body)
    elif t is MessageType.STARTED:
        engine.sessions.heartbeat(conn, {})
        engine.sessions.started(conn, body["items"])
    elif t is MessageType.RESULTS:
        engine.sessions.heartbeat(conn, {})
        acks = await engine.results(conn, body["items"])
        foreign = sum(1 for a in acks if a.get("reason") == FOREIGN_ATTEMPT)
        if foreign:
            # Only the assigned worker knows an attempt's lease: this is impersonation or a bug.
            engine.metrics.inc("dtf_foreign_results_refused_total", foreign)
            log.warning("foreign_results_refused", worker_id=conn.worker_id, peer=conn.peer, count=foreign)
        await conn.send(encode_frame(MessageType.RESULT_ACKS, items=acks))
    elif t is MessageType.COMMAND_RESULT:
        engine.sessions.heartbeat(conn, {})
        await engine.sessions.command_result(conn, body)
    else:
        raise ProtocolError(f"a worker may not send {t.value}")
