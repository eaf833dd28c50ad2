"""JSON error bodies, auth and limits for the HTTP API: 4xx naming the problem, never a stack trace."""
from __future__ import annotations

import hmac
import uuid
from typing import Awaitable, Callable

import structlog
from aiohttp import web

from coordinator.guard import make_guard_middleware
from coordinator.ratelimit import FailureCounter, RateLimitSettings, TokenBucketLimiter, retry_after_header

log = structlog.get_logger("dtf.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS = ("/health", "/openapi.json")
UNLIMITED_PATHS = ("/health",)
# The /ws handler records failed worker authentications here (a request-scoped key: no app state).
AUTH_FAILURES = "dtf.auth_failures"


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "field": field}}, status=status,
                             headers=headers)


def _too_many(seconds: float, message: str) -> web.Response:
    return error_response(429, "rate_limited", message, None, {"Retry-After": retry_after_header(seconds)})


def _presented_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else request.query.get("token", "")


def make_middlewares(api_token: str | None, limits: RateLimitSettings | None = None, *,
                     loopback_only: bool = False) -> list:
    """Errors as JSON, then the browser guard (guard.py), the per-address rate limit and the token."""
    limits = RateLimitSettings.from_env() if limits is None else limits
    buckets = TokenBucketLimiter(limits.http_rate_per_second, limits.http_burst, max_keys=limits.max_clients)
    failures = FailureCounter(limits.auth_failures_per_minute, 60.0, max_keys=limits.max_clients)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Every line logged while this request is handled names it.
        with structlog.contextvars.bound_contextvars(request_id=uuid.uuid4().hex[:12], method=request.method,
                                                     path=request.path):
            return await _errors_as_json(request, handler)

    async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
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
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNLIMITED_PATHS:
            return await handler(request)
        if request.path == "/ws":
            # Workers are judged by their token first (see ws.py): a guesser at the same address
            # must not shut a good worker out.
            request[AUTH_FAILURES] = failures
        # Per client address: whatever credential it presents (a fresh junk token per request
        # must not buy a fresh bucket).
        wait = buckets.acquire(request.remote or "unknown")
        if wait:
            return _too_many(wait, f"rate limit of {limits.http_rate_per_second:g} requests/s "
                                   f"(burst {limits.http_burst}) exceeded; retry later")
        return await handler(request)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if api_token is None or request.path in OPEN_PATHS or request.path == "/ws" \
                or request.path.startswith("/dashboard/static") \
                or (request.method == "GET" and request.path.startswith("/api/v1/trees/")):  # checks worker or API token itself
            return await handler(request)
        given = _presented_token(request)
        # The token decides first: only wrong tokens count against an address, and a right one is
        # never refused because someone else at that address guessed.
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), api_token.encode()):
            remote = ("api", request.remote or "unknown")
            wait = failures.retry_after(remote)
            if wait:
                return _too_many(wait, "too many failed authentications from this address")
            failures.record(remote)
            log.warning("api_auth_failed", peer=request.remote, path=request.path)
            return error_response(401, "unauthorized", "missing or wrong API token: send "
                                  "'Authorization: Bearer <token>'")
        return await handler(request)

    return [errors, make_guard_middleware(loopback_only=loopback_only), rate_limit, auth]
