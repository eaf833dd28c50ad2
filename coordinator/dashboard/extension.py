"""``integrate_dashboard(coordinator)``: the page, its static files and the live stream, in-process."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from coordinator.dashboard.pages import add_page_routes
from coordinator.dashboard.stream import StreamHub
from coordinator.hooks import EngineHooks
from coordinator.host import Host



class DashboardExtension:
    """A coordinator extension: routes in ``on_app``, the engine hook in ``register_hooks``, streams
    closed on shutdown (before aiohttp waits for handlers, so a stop is never held by a browser)."""

    def __init__(self, *, heartbeat_seconds: float = 15.0, queue_size: int = 1000,
                 max_clients: int = 100) -> None:
        self.hub = StreamHub(heartbeat_seconds=heartbeat_seconds, queue_size=queue_size,
                             max_clients=max_clients)

    def on_app(self, coordinator: Host, app: web.Application) -> None:
        add_page_routes(app, error_tracking=True, mode="embedded")
        app.router.add_get("/api/v1/stream", self.hub.handle)
        app.on_shutdown.append(self.hub.shutdown)

    def register_hooks(self, hooks: EngineHooks) -> None:
        hooks.on_terminal(self.hub.task_finished)  # each finished task goes to the open streams

    async def on_start(self, coordinator: Host, app: Any) -> None:
        self.hub.reopen()  # a coordinator may be started again after a stop

    async def on_stop(self, coordinator: Host, app: Any) -> None:
        await self.hub.shutdown()


def integrate_dashboard(coordinator: Host, **options: Any) -> DashboardExtension:
    """Serve /dashboard, /dashboard/static/... and /api/v1/stream from this coordinator. Idempotent.

    Call before ``start()``/``run()``. ``options``: heartbeat_seconds, queue_size, max_clients.
    """
    found = coordinator.extension(DashboardExtension)
    if found is not None:
        return found
    ext = DashboardExtension(**options)
    coordinator.add_extension(ext)
    return ext
