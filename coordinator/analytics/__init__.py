"""Analytics over the error and result history (DuckDB), and the load balancer that uses it.

The public names load on first use (PEP 562): importing one analytics module does not import
the others.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BalancerSettings": "coordinator.analytics.balancer", "LoadBalancer": "coordinator.analytics.balancer",
    "integrate_load_balancer": "coordinator.analytics.balancing",
    "AnalyticsExtension": "coordinator.analytics.extension", "add_analytics": "coordinator.analytics.extension",
    "ResultAggregator": "coordinator.analytics.results",
    "integrate_result_aggregator": "coordinator.analytics.results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'coordinator.analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
