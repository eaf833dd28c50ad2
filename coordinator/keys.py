"""Typed application keys."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from coordinator.config import CoordinatorConfig
    from coordinator.engine import Engine
    from coordinator.metrics import Metrics

CONFIG: web.AppKey["CoordinatorConfig"] = web.AppKey("config")
ENGINE: web.AppKey["Engine"] = web.AppKey("engine")
METRICS: web.AppKey["Metrics"] = web.AppKey("metrics")
SOCKETS: web.AppKey[set] = web.AppKey("sockets")
COORDINATOR: web.AppKey[Any] = web.AppKey("coordinator")
PENDING_HELLOS: web.AppKey[Counter] = web.AppKey("pending_hellos")  # per address: sockets before hello
