"""The dashboard: a static page (fleet, tasks, errors, recovery actions, history), its live stream
(Server-Sent Events from the engine's bus), and a remote mode that serves the page against another
coordinator (``python -m coordinator.dashboard --coordinator URL --error-tracking``)."""
from coordinator.dashboard.extension import DashboardExtension, integrate_dashboard

__all__ = ["DashboardExtension", "integrate_dashboard"]
