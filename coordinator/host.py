"""The coordinator as its extensions see it: a small Protocol, so that the error pipeline, the
analytics, the balancer and the dashboard depend on this, not on ``app.py`` (which builds them)."""
from __future__ import annotations

from typing import Any, Protocol, TypeVar

from aiohttp import web

from coordinator.config import CoordinatorConfig

T = TypeVar("T")


class Host(Protocol):
    config: CoordinatorConfig
    engine: Any            # the Engine, once the application has started
    error_handler: Any     # the DistributedErrorHandler every failure goes through
    app: web.Application | None

    def add_extension(self, ext: Any) -> None: ...

    def extension(self, kind: type[T]) -> T | None: ...

    async def execute_recovery_action(self, action: Any, task_id: str | None, worker_id: str | None) -> bool: ...
