"""Wiring of optional parts chosen by flags (error pipeline, aggregator, balancer, dashboard)."""
from __future__ import annotations

from typing import Any

from coordinator.analytics.balancing import integrate_load_balancer
from coordinator.analytics.results import integrate_result_aggregator
from coordinator.dashboard import integrate_dashboard


def apply_flags(coordinator: Any) -> None:
    """Install the extensions the coordinator's flags ask for."""
    if coordinator.config.dashboard:
        integrate_dashboard(coordinator)
    if coordinator.config.result_aggregator:
        integrate_result_aggregator(coordinator)
    if coordinator.config.load_balancer:
        integrate_load_balancer(coordinator)
