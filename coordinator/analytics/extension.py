"""The analytics extension: error and result endpoints on every coordinator, patterns restored."""
from __future__ import annotations

from typing import Any

import structlog
from coordinator.host import Host
from coordinator.analytics import errors_api, results_api
from coordinator.testrun import api as testrun_api


log = structlog.get_logger("dtf.analytics")
SEED_LIMIT = 5000


class AnalyticsExtension:
    async def on_start(self, coordinator: Host, app: Any) -> None:
        """Give the live aggregator the stored patterns, so ids line up with history."""
        handler = coordinator.error_handler
        aggregator = getattr(handler, "aggregator", None)
        if aggregator is None or handler.sink is None or not getattr(handler.sink, "running", False):
            return
        rows = await handler.sink.query(
            "SELECT pattern_id, template, category FROM error_patterns WHERE template IS NOT NULL "
            "ORDER BY last_seen DESC LIMIT ?", [SEED_LIMIT])
        if rows:
            added = aggregator.seed_patterns(reversed(rows))
            log.info("patterns_restored", patterns=added)

    async def on_stop(self, coordinator: Host, app: Any) -> None:
        return None

    def on_app(self, coordinator: Host, app: Any) -> None:
        errors_api.add_routes(app)
        results_api.add_routes(app)
        testrun_api.add_routes(app)


def add_analytics(coordinator: Host) -> AnalyticsExtension:
    """Install the analytics routes (idempotent); after the error pipeline, whose sink they read."""
    found = coordinator.extension(AnalyticsExtension)
    if found is not None:
        return found
    ext = AnalyticsExtension()
    coordinator.add_extension(ext)
    return ext
