"""Analytics over the error and result history (DuckDB), and the load balancer that uses it."""
from coordinator.analytics.balancer import BalancerSettings, LoadBalancer
from coordinator.analytics.balancing import integrate_load_balancer
from coordinator.analytics.extension import AnalyticsExtension, add_analytics
from coordinator.analytics.results import ResultAggregator, integrate_result_aggregator

__all__ = ["AnalyticsExtension", "BalancerSettings", "LoadBalancer", "ResultAggregator", "add_analytics",
           "integrate_load_balancer", "integrate_result_aggregator"]
