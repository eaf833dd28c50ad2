"""dtf coordinator: HTTP API, worker WebSocket, scheduler, durable state."""
from coordinator.app import Coordinator, create_app
from coordinator.config import CoordinatorConfig

__all__ = ["Coordinator", "CoordinatorConfig", "create_app"]
