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
        # with each pattern's latest report: its words let outputs that joined it by their words
        # (error_handling.word_index) find it again
        rows = await handler.sink.query(
            "SELECT p.pattern_id, p.template, p.category, e.type, e.message FROM error_patterns p "
            "LEFT JOIN (SELECT pattern_id, arg_max(type, \"timestamp\") AS type, "
            "arg_max(message, \"timestamp\") AS message FROM error_events WHERE pattern_id IS NOT NULL "
            "GROUP BY pattern_id) e USING (pattern_id) "
            "WHERE p.template IS NOT NULL ORDER BY p.last_seen DESC LIMIT ?", [SEED_LIMIT])
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
