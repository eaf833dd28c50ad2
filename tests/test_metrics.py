"""/metrics as Prometheus itself reads it: prometheus-client's parser on a live coordinator."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from coordinator.metrics import Metrics
from tests.harness import Cluster, wait_until


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_large_counters_keep_every_digit() -> None:
    m = Metrics()
    m.inc("dtf_tasks_submitted_total", 1_234_568)
    m.inc("dtf_tasks_submitted_total", 987_654_321)
    [sample] = families(m.render())["dtf_tasks_submitted"].samples
    assert sample.value == 988_888_889  # the old renderer printed 1.23457e+06 (six digits)


def test_live_metrics_parse_with_counters_gauges_and_histograms(tmp_path) -> None:
    cluster = Cluster(tmp_path)
    try:
        cluster.start_coordinator()
        cluster.start_worker("m-1")
        ids = cluster.submit([{"type": "python", "config": {"callable": "operator:add", "args": [1, 2]}}] * 5)
        wait_until(lambda: all(cluster.task(t)["status"] == "completed" for t in ids), 30, message="tasks")
        parsed = families(cluster.api.get("/metrics"))
        submitted = parsed["dtf_tasks_submitted"]
        assert submitted.type == "counter" and submitted.samples[0].value == 5
        assert all(s.value == int(s.value) for f in parsed.values() if f.type == "counter" for s in f.samples)
        tasks = {s.labels["status"]: s.value for s in parsed["dtf_tasks"].samples}
        assert parsed["dtf_tasks"].type == "gauge" and tasks["completed"] == 5
        duration = parsed["dtf_task_duration_seconds"]
        assert duration.type == "histogram"
        count = next(s for s in duration.samples if s.name.endswith("_count"))
        assert count.value == 5
    finally:
        cluster.stop()
