"""``integrate_load_balancer(coordinator)``: the balancer wired into the engine (and its state at
GET /api/v1/balancer)."""
from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from coordinator.analytics.balancer import BalancerSettings, LoadBalancer
from coordinator.api import json_response
from coordinator.hooks import EngineHooks
from coordinator.host import Host
from coordinator.analytics.dims import FAILED_OUTCOMES
from coordinator.error_integration import integrate_error_handler


log = structlog.get_logger("dtf.balancer")
HISTORY_SECONDS = 3600


class BalancerExtension:
    def __init__(self, settings: BalancerSettings | None = None) -> None:
        self.balancer = LoadBalancer(settings)

    def register_hooks(self, hooks: EngineHooks) -> None:
        """The balancer chooses among the free workers and learns from each terminal task."""
        hooks.choose_workers_with(self.balancer)
        hooks.on_terminal(self.balancer.on_terminal)

    async def on_start(self, coordinator: Host, app: Any) -> None:
        engine = coordinator.engine
        assert engine is not None
        self.balancer.bind(lambda: engine.workers, engine.kick)
        await self._seed(coordinator)

    async def _seed(self, coordinator: Host) -> None:
        """Pairs known to fail from the stored results (--result-aggregator) count from the start."""
        handler = coordinator.error_handler
        sink = getattr(handler, "sink", None)
        if sink is None or not getattr(sink, "running", False):
            return
        failed = ", ".join(f"'{o}'" for o in FAILED_OUTCOMES)
        rows = await sink.query(
            "SELECT hardware_type, model, count(*) FILTER (WHERE outcome = 'passed') AS ok, "
            f"count(*) FILTER (WHERE outcome IN ({failed})) AS bad FROM result_attempts "
            "WHERE model IS NOT NULL AND finished_at > (now() AT TIME ZONE 'UTC') - to_seconds(?) GROUP BY ALL",
            [HISTORY_SECONDS])
        for r in rows:
            self.balancer.record_pair(r["hardware_type"], r["model"], int(r["ok"]), int(r["bad"]))
        if rows:
            log.info("balancer_seeded", pairs=len(rows))

    async def on_stop(self, coordinator: Host, app: Any) -> None:
        return None  # the engine that asked the balancer is stopped; the next one is built with it again

    def on_app(self, coordinator: Host, app: web.Application) -> None:
        async def state(request: web.Request) -> web.Response:
            return json_response(self.balancer.snapshot())
        app.router.add_get("/api/v1/balancer", state)


def integrate_load_balancer(coordinator: Host, settings: BalancerSettings | None = None) -> LoadBalancer:
    """Steer work away from failing/slow workers and error-prone hardware x model pairs (idempotent)."""
    found = coordinator.extension(BalancerExtension)
    if found is not None:
        return found.balancer
    integrate_error_handler(coordinator)
    ext = BalancerExtension(settings)
    coordinator.add_extension(ext)
    return ext.balancer
