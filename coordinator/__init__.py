"""dtf coordinator: HTTP API, worker WebSocket, scheduler, durable state, error pipeline."""
from coordinator.analytics import integrate_load_balancer, integrate_result_aggregator
from coordinator.app import Coordinator, create_app
from coordinator.config import CoordinatorConfig
from coordinator.dashboard import integrate_dashboard
from coordinator.error_integration import execute_recovery_action, integrate_error_handler

__all__ = ["Coordinator", "CoordinatorConfig", "create_app", "execute_recovery_action", "integrate_dashboard",
           "integrate_error_handler", "integrate_load_balancer", "integrate_result_aggregator"]
