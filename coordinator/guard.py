"""The front door against browsers and slow clients: who may talk to the coordinator at all.

A coordinator runs code by design, so a web page the user happens to visit must not be able to
submit a task (cross-site request forgery) or reach it through a DNS name that resolves to
127.0.0.1 (DNS rebinding), and a client that trickles headers must not hold connections forever.

- Browsers mark every request: a cross-site ``Origin`` or ``Sec-Fetch-Site`` is refused, except a
  top-level navigation to a page (a link to the dashboard still opens it).
- State-changing requests must be ``application/json``: a page can send a "simple" cross-site
  request (``text/plain``, a form) without asking; JSON needs a CORS preflight nobody answers.
- Bound to loopback, the coordinator answers only to loopback ``Host`` names, which a rebinding
  page cannot send (its requests carry its own host name).
- ``/ws`` is for workers, never for browsers: any ``Origin`` on it is refused.
- Connections per client address are capped, and a request's head must arrive within a deadline
  (``RateLimitSettings``: aiohttp's keep-alive deadline, which also runs before a first request).
"""
from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Awaitable, Callable

import structlog
from aiohttp import web

log = structlog.get_logger("dtf.guard")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback_host(host: str) -> bool:
    """True for names and addresses that only ever mean this machine."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8080`` -> ``[::1]``, ``a:80`` -> ``a``)."""
    if host_header.startswith("["):
        end = host_header.find("]")
        return host_header[:end + 1] if end > 0 else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _refuse(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "field": None}}, status=status)


def refusal(request: web.Request, *, loopback_only: bool) -> web.Response | None:
    """Why this request may not proceed (a JSON 4xx), or None."""
    if loopback_only and not is_loopback_host(_host_name(request.headers.get("Host", ""))):
        return _refuse(403, "forbidden_host", "this coordinator is bound to a loopback address and answers "
                       "only to localhost / 127.0.0.1 / [::1] in the Host header")
    origin = request.headers.get("Origin")
    if request.path == "/ws":
        if origin is not None:
            return _refuse(403, "forbidden_origin", "/ws is for dtf workers; browsers may not open it")
        return None
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    navigation = request.method in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Mode") == "navigate" \
        and not request.path.startswith("/api/")
    if site in ("cross-site", "same-site") and not navigation:
        return _refuse(403, "forbidden_origin", f"{site} requests are refused (request forgery protection)")
    if origin is not None and origin != f"{request.scheme}://{request.host}" and not navigation:
        return _refuse(403, "forbidden_origin", f"requests from origin {origin[:100]!r} are refused "
                       "(request forgery protection)")
    if request.method in UNSAFE_METHODS and request.content_type not in ("application/json",) \
            and not request.content_type.endswith("+json"):
        return _refuse(415, "unsupported_media_type", "send the body as JSON with 'Content-Type: "
                       "application/json'")
    return None


def make_guard_middleware(*, loopback_only: bool) -> Callable:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = refusal(request, loopback_only=loopback_only)
        if refused is not None:
            log.warning("request_refused", path=request.path, method=request.method, peer=request.remote,
                        status=refused.status, host=request.headers.get("Host", "")[:100],
                        origin=request.headers.get("Origin", "")[:100])
            return refused
        return await handler(request)

    return guard


class ConnectionCap:
    """At most ``limit`` open connections per client address on one aiohttp server.

    Installed on a ``web.Server`` (the protocol factory a site listens with): its connection
    callbacks count per peer address and close a connection over the cap before any byte of it is
    read.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()
        self.refused = 0

    def install(self, server: web.Server) -> None:
        made, lost = server.connection_made, server.connection_lost
        peers: dict[int, str] = {}

        def connection_made(handler, transport) -> None:  # type: ignore[no-untyped-def]
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
            made(handler, transport)
            if self.limit and self.open[address] >= self.limit:
                self.refused += 1
                if self.refused == 1 or self.refused % 1000 == 0:
                    log.warning("connection_refused", peer=address, open=self.open[address], refused=self.refused)
                handler.force_close()
                transport.close()
                return
            self.open[address] += 1
            peers[id(handler)] = address

        def connection_lost(handler, exc=None) -> None:  # type: ignore[no-untyped-def]
            address = peers.pop(id(handler), None)
            if address is not None:
                self.open[address] -= 1
                if self.open[address] <= 0:
                    del self.open[address]
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
