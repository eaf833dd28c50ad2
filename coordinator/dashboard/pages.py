"""The page and its static files: ``/dashboard`` (HTML) and ``/dashboard/static/...`` (JS, CSS).

The page is plain files read at request time (no build step). It loads nothing from another
host: the Content-Security-Policy below allows only this origin, so a stray outside URL would
fail loudly in the browser instead of leaking a request.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def render_index(*, error_tracking: bool, mode: str) -> str:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return (html.replace("__DTF_ERROR_TRACKING__", "on" if error_tracking else "off")
                .replace("__DTF_MODE__", mode))


def add_page_routes(app: web.Application, *, error_tracking: bool, mode: str) -> None:
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=render_index(error_tracking=error_tracking, mode=mode),
                            content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)

    async def slash(request: web.Request) -> web.Response:
        query = f"?{request.query_string}" if request.query_string else ""
        raise web.HTTPFound(f"/dashboard{query}")

    app.router.add_get("/dashboard", index)
    app.router.add_get("/dashboard/", slash)
    app.router.add_static("/dashboard/static", STATIC_DIR, show_index=False, follow_symlinks=False)

    async def static_headers(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/dashboard/static/"):
            response.headers.setdefault("Cache-Control", "no-cache")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")

    app.on_response_prepare.append(static_headers)
