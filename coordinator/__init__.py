"""dtf coordinator: HTTP API, worker WebSocket, scheduler, durable state, error pipeline.

The public names load on first use (PEP 562), so the CLI's client commands (``dtf test``,
``dtf status``) do not import the whole service to make a few HTTP requests.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Coordinator": "coordinator.app", "create_app": "coordinator.app",
    "CoordinatorConfig": "coordinator.config",
    "integrate_load_balancer": "coordinator.analytics",
    "integrate_result_aggregator": "coordinator.analytics",
    "integrate_dashboard": "coordinator.dashboard",
    "execute_recovery_action": "coordinator.error_integration",
    "integrate_error_handler": "coordinator.error_integration",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'coordinator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
