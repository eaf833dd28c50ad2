"""JSON error bodies, auth and limits for the HTTP API: 4xx naming the problem, never a stack trace."""
from __future__ import annotations

import hmac
from typing import Awaitable, Callable

import structlog
from aiohttp import web

log = structlog.get_logger("dtf.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS = ("/health", "/openapi.json")


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "field": field}}, status=status)


def make_middlewares(api_token: str | None) -> list:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type == "application/json":
                raise
            code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                    413: "body_too_large", 429: "rate_limited"}.get(exc.status, "http_error")
            return error_response(exc.status, code, exc.reason or exc.text or "error")
        except Exception:  # the one place an unexpected error becomes a 500 without internals
            log.exception("unhandled_error", path=request.path, method=request.method)
            return error_response(500, "internal_error", "internal error; see the coordinator log")

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if api_token is None or request.path in OPEN_PATHS or request.path == "/ws" \
                or request.path.startswith("/dashboard/static"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
        if not hmac.compare_digest(given.encode(), api_token.encode()):
            return error_response(401, "unauthorized", "missing or wrong API token: send "
                                  "'Authorization: Bearer <token>'")
        return await handler(request)

    return [errors, auth]
