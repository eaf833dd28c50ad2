"""Prometheus metrics: dtf's counters, gauges and histograms, exposed with prometheus-client."""
from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

DEFAULT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

HELP = {
    "dtf_tasks_submitted_total": "Tasks accepted by the API",
    "dtf_tasks_dispatched_total": "Task attempts handed to workers",
    "dtf_tasks_finished_total": "Tasks that reached a terminal status",
    "dtf_failures_total": "Failed attempts by source",
    "dtf_retries_total": "Retries scheduled by error category",
    "dtf_results_rejected_total": "Late or foreign results rejected by attempt fencing",
    "dtf_stale_attempts_fenced_total": "Attempts a reconnecting worker still held after they were given up",
    "dtf_worker_connections_total": "Worker connections accepted",
    "dtf_tasks_handed_back_total": "Held tasks queued again unstarted (a worker drained or left)",
    "dtf_task_duration_seconds": "From dispatch to accepted result",
    "dtf_sqlite_commit_seconds": "Group commits of the durable state",
    "dtf_task_dispatch_latency_seconds": "From runnable (queued or retry due) to handed to a worker",
    "dtf_task_completion_seconds": "From submission to a terminal status",
    "dtf_errors_total": "Error events by category (every failure, classified)",
    "dtf_recovery_actions_total": "Recovery actions executed, by action and success",
    "dtf_protocol_errors_total": "Malformed or refused worker messages",
    "dtf_worker_auth_failures_total": "WebSocket connections refused for a wrong worker token",
    "dtf_worker_takeovers_total": "Worker connections replaced by a new connection with the same id",
    "dtf_foreign_results_refused_total": "Results sent with another worker's attempt, refused",
    "dtf_sqlite_rows_written_total": "Rows written by group commits",
}


class Metrics:
    """Counters, gauges and histograms kept as plain numbers on the hot path (an increment is a
    dict update), exposed through prometheus-client's own collector and text format."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._hist: dict[str, tuple[list[int], list[float]]] = {}
        self._gauges: dict[str, Callable[[], dict[tuple, float] | float]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        self._counters[name][tuple(sorted(labels.items()))] += value

    def observe(self, name: str, value: float) -> None:
        counts, totals = self._hist.setdefault(name, ([0] * (len(DEFAULT_BUCKETS) + 1), [0.0, 0.0]))
        counts[bisect.bisect_left(DEFAULT_BUCKETS, value)] += 1
        totals[0] += value
        totals[1] += 1

    def gauge(self, name: str, fn: Callable[[], dict[tuple, float] | float], help_: str = "") -> None:
        self._gauges[name] = fn
        if help_:
            HELP[name] = help_

    def counter_value(self, name: str, **labels: str) -> float:
        return self._counters[name][tuple(sorted(labels.items()))]

    def render(self) -> str:
        return generate_latest(self.registry).decode()


class _Collector(Collector):
    """Reads the live numbers (and calls the gauges) at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        for name, series in sorted(m._counters.items()):
            family = CounterMetricFamily(name, HELP.get(name, name), labels=_label_names(series))
            for labels, value in sorted(series.items()):
                family.add_metric([str(v) for _, v in labels], value)
            yield family
        for name, fn in sorted(m._gauges.items()):
            value = fn()
            series = value if isinstance(value, dict) else {(): float(value)}
            family = GaugeMetricFamily(name, HELP.get(name, name), labels=_label_names(series))
            for labels, v in sorted(series.items()):
                family.add_metric([str(x) for _, x in labels], v)
            yield family
        for name, (counts, totals) in sorted(m._hist.items()):
            buckets, cumulative = [], 0
            for bound, count in zip(DEFAULT_BUCKETS, counts):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            buckets.append(("+Inf", int(totals[1])))
            family = HistogramMetricFamily(name, HELP.get(name, name))
            family.add_metric([], buckets, totals[0])
            yield family


def _label_names(series: dict[tuple, float]) -> list[str]:
    first = next(iter(series), ())
    return [k for k, _ in first]
