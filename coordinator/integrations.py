"""Wiring of optional parts chosen by flags (error pipeline, aggregator, balancer, dashboard)."""
from __future__ import annotations

from typing import Any


def apply_flags(coordinator: Any) -> None:
    """Nothing is optional yet beyond what the flags name; later parts register here."""
    return None
