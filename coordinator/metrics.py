"""A small Prometheus registry: counters, gauges and histograms rendered as text format 0.0.4."""
from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Callable

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
    def __init__(self) -> None:
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._hist: dict[str, tuple[list[int], list[float]]] = {}
        self._gauges: dict[str, Callable[[], dict[tuple, float] | float]] = {}

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
        out: list[str] = []
        for name, series in sorted(self._counters.items()):
            out.append(f"# HELP {name} {HELP.get(name, name)}\n# TYPE {name} counter")
            for labels, value in sorted(series.items()):
                out.append(f"{name}{_labels(labels)} {value:g}")
        for name, fn in sorted(self._gauges.items()):
            out.append(f"# HELP {name} {HELP.get(name, name)}\n# TYPE {name} gauge")
            value = fn()
            if isinstance(value, dict):
                for labels, v in sorted(value.items()):
                    out.append(f"{name}{_labels(labels)} {v:g}")
            else:
                out.append(f"{name} {value:g}")
        for name, (counts, totals) in sorted(self._hist.items()):
            out.append(f"# HELP {name} {HELP.get(name, name)}\n# TYPE {name} histogram")
            cumulative = 0
            for bound, count in zip(DEFAULT_BUCKETS, counts):
                cumulative += count
                out.append(f'{name}_bucket{{le="{bound:g}"}} {cumulative}')
            out.append(f'{name}_bucket{{le="+Inf"}} {int(totals[1])}')
            out.append(f"{name}_sum {totals[0]:g}\n{name}_count {int(totals[1])}")
        return "\n".join(out) + "\n"


def _labels(labels: tuple) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
