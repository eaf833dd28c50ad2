"""Remote mode: serve the page here and proxy ``/api/v1/*`` (the SSE stream included) to a
coordinator elsewhere, adding its API token so the browser never needs it.

Bound to a loopback address the proxy is open to this machine, like ``kubectl proxy``; bound to
any other address it demands the same token from the browser (``Authorization: Bearer`` or
``?token=``). Since it adds a token, the browser guard of ``coordinator/guard.py`` applies here as
it does on the coordinator (cross-site requests, rebinding Host names), and only GET is forwarded
unless ``--allow-writes`` says otherwise.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from coordinator.config import is_loopback
from coordinator.dashboard.pages import add_page_routes
from coordinator.httperrors import error_response, make_middlewares

log = structlog.get_logger("dtf.dashboard")

# Hop-by-hop and framing headers are the proxy's own business, never forwarded.
_SKIP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
                 "host", "authorization", "upgrade", "te", "trailer", "proxy-authorization"}
_STREAM_PATH = "/api/v1/stream"


@dataclass(frozen=True, kw_only=True)
class RemoteConfig:
    coordinator_url: str
    host: str = "127.0.0.1"
    port: int = 8085
    api_token: str | None = None
    error_tracking: bool = False
    allow_writes: bool = False
    request_timeout_seconds: float = 30.0
    log_level: str = "INFO"


SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("dashboard_upstream_session")
REMOTE: web.AppKey[RemoteConfig] = web.AppKey("dashboard_remote_config")
STREAMS: web.AppKey[set] = web.AppKey("dashboard_upstream_streams")


def create_remote_app(config: RemoteConfig) -> web.Application:
    local_token = None if is_loopback(config.host) else config.api_token
    app = web.Application(middlewares=make_middlewares(local_token, loopback_only=is_loopback(config.host)))
    app[REMOTE] = config
    app[STREAMS] = set()
    app.cleanup_ctx.append(_session_ctx)
    app.on_shutdown.append(_close_streams)
    add_page_routes(app, error_tracking=config.error_tracking, mode="remote")
    app.router.add_get("/", _to_dashboard)
    app.router.add_get("/health", _health)
    app.router.add_route("*", "/api/v1/{tail:.*}", _proxy)
    return app


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(auto_decompress=True)
    try:
        yield
    finally:
        await app[SESSION].close()


async def _close_streams(app: web.Application) -> None:
    for upstream in list(app[STREAMS]):
        upstream.close()  # the handler's read loop ends and it returns


async def _to_dashboard(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard")


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "coordinator": request.app[REMOTE].coordinator_url})


def _upstream_request(request: web.Request) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    """URL, query (less the browser's own ``token``) and headers (with the coordinator's token)."""
    config = request.app[REMOTE]
    query = [(k, v) for k, v in request.query.items() if k != "token"]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP_HEADERS}
    if config.api_token:
        headers["Authorization"] = f"Bearer {config.api_token}"
    return config.coordinator_url.rstrip("/") + request.path, query, headers


async def _proxy(request: web.Request) -> web.StreamResponse:
    config = request.app[REMOTE]
    if request.method not in ("GET", "HEAD") and not config.allow_writes:
        return error_response(405, "method_not_allowed", f"this dashboard proxy forwards only GET; start it "
                              f"with --allow-writes to forward {request.method}")
    session = request.app[SESSION]
    url, query, headers = _upstream_request(request)
    body = await request.read() if request.can_read_body else None
    streaming = request.path == _STREAM_PATH
    timeout = aiohttp.ClientTimeout(total=None if streaming else config.request_timeout_seconds,
                                    sock_connect=10)
    try:
        upstream = await session.request(request.method, url, params=query, headers=headers, data=body,
                                         timeout=timeout, allow_redirects=False)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return error_response(502, "bad_gateway", f"cannot reach the coordinator at "
                              f"{config.coordinator_url}: {type(exc).__name__}: {exc}")
    try:
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _SKIP_HEADERS}
        if not (streaming and upstream.status == 200):
            return web.Response(status=upstream.status, body=await upstream.read(), headers=out_headers)
        return await _relay_stream(request, upstream, out_headers)
    finally:
        upstream.release()


async def _relay_stream(request: web.Request, upstream: aiohttp.ClientResponse,
                        headers: dict[str, str]) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers=headers)
    await resp.prepare(request)
    streams = request.app[STREAMS]
    streams.add(upstream)
    try:
        async for chunk in upstream.content.iter_any():
            await resp.write(chunk)
    except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError):
        pass  # either side went away; the browser reconnects and gets a fresh snapshot
    finally:
        streams.discard(upstream)
    return resp
