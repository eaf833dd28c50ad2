"""The error analytics endpoints on a real coordinator and worker, reading real DuckDB rows."""
from __future__ import annotations

import urllib.parse
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from coordinator.client import ApiError
from error_handling import ErrorCategory
from tests.harness import Cluster

EVENT_FIELDS = {"event_id", "task_id", "worker_id", "attempt", "category", "type", "message", "traceback",
                "hardware_type", "pattern_id", "timestamp", "retry", "retry_delay", "outcome", "actions", "tags"}
ACTION_FIELDS = {"action", "task_id", "worker_id", "success", "detail", "timestamp", "event_id"}
N_ASSERT, N_CONFIG = 7, 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("analytics"), coordinator_args=["--result-aggregator"])
    c.start_coordinator()
    c.start_worker("w1", concurrency=2)
    c.start_worker("w2", concurrency=2)
    tasks = [{"type": "chaos", "config": {"fault": "assertion", "on_attempts": [1]}, "tags": {"model": "bert"}}
             for _ in range(N_ASSERT)]
    tasks += [{"type": "chaos", "config": {"fault": "config", "on_attempts": [1]}, "tags": {"model": "gpt"}}
              for _ in range(N_CONFIG)]
    tasks += [{"type": "python", "config": {"callable": "operator:add", "args": [1, 2]}, "tags": {"model": "bert"}}
              for _ in range(5)]
    c.ids = c.submit(tasks)
    c.wait_all_terminal(len(tasks), timeout=90)
    yield c
    c.stop()


def get(c: Cluster, path: str, **query: object) -> dict:
    return c.api.get(path + ("?" + urllib.parse.urlencode(query) if query else ""))


def error_of(c: Cluster, path: str, **query: object) -> str:
    with pytest.raises(ApiError) as info:
        get(c, path, **query)
    return str(info.value)


def all_pages(c: Cluster, path: str, **query: object) -> list[dict]:
    items, cursor = [], None
    while True:
        page = get(c, path, **query, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_errors_have_the_spec_fields_newest_first(cluster):
    page = get(cluster, "/api/v1/errors", limit=1000)
    items = page["items"]
    assert len(items) == N_ASSERT + N_CONFIG and page["next_cursor"] is None
    assert all(set(i) == EVENT_FIELDS for i in items)
    stamps = [i["timestamp"] for i in items]
    assert stamps == sorted(stamps, reverse=True)
    assert all(s.endswith("Z") and datetime.fromisoformat(s) for s in stamps)
    first = items[0]
    assert first["task_id"] in cluster.ids and first["worker_id"] in ("w1", "w2") and first["attempt"] == 1
    assert isinstance(first["actions"], list) and first["actions"]
    assert first["tags"]["model"] in ("bert", "gpt") and first["pattern_id"].startswith("pat-")


def test_keyset_pagination_covers_every_event_once(cluster):
    everything = [i["event_id"] for i in get(cluster, "/api/v1/errors", limit=1000)["items"]]
    paged = [i["event_id"] for i in all_pages(cluster, "/api/v1/errors", limit=3)]
    assert paged == everything
    filtered = all_pages(cluster, "/api/v1/errors", limit=2, category="test_configuration_error")
    assert len(filtered) == N_CONFIG


def test_filters(cluster):
    by_cat = get(cluster, "/api/v1/errors", category="test_execution_error")["items"]
    assert len(by_cat) == N_ASSERT and {i["type"] for i in by_cat} == {"AssertionError"}
    one = by_cat[0]
    by_task = get(cluster, "/api/v1/errors", task_id=one["task_id"])["items"]
    assert [i["event_id"] for i in by_task] == [one["event_id"]]
    by_pattern = get(cluster, "/api/v1/errors", pattern_id=one["pattern_id"])["items"]
    assert len(by_pattern) == N_ASSERT
    w1 = get(cluster, "/api/v1/errors", worker_id="w1")["items"]
    w2 = get(cluster, "/api/v1/errors", worker_id="w2")["items"]
    assert len(w1) + len(w2) == N_ASSERT + N_CONFIG and all(i["worker_id"] == "w1" for i in w1)
    assert len(get(cluster, "/api/v1/errors", hardware_type="cpu")["items"]) == N_ASSERT + N_CONFIG
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert get(cluster, "/api/v1/errors", since=future)["items"] == []
    assert len(get(cluster, "/api/v1/errors", until=future)["items"]) == N_ASSERT + N_CONFIG
    middle = by_cat[len(by_cat) // 2]["timestamp"]
    newer = get(cluster, "/api/v1/errors", since=middle)["items"]
    older = get(cluster, "/api/v1/errors", until=middle)["items"]
    assert len(newer) + len(older) == N_ASSERT + N_CONFIG


@pytest.mark.parametrize("query, field", [
    ({"category": "' OR 1=1 --"}, "category"),
    ({"category": "no_such_category"}, "category"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2024-13-45T00:00:00Z"}, "until"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1; DROP TABLE error_events"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"categroy": "test_execution_error"}, "categroy"),
])
def test_bad_input_is_a_400_naming_the_field(cluster, query, field):
    message = error_of(cluster, "/api/v1/errors", **query)
    assert "HTTP 400" in message and f"(field: {field})" in message


def test_unknown_category_lists_the_valid_ones(cluster):
    message = error_of(cluster, "/api/v1/errors", category="bogus")
    assert all(c.value in message for c in ErrorCategory)


def test_injection_in_a_free_text_filter_matches_nothing_and_harms_nothing(cluster):
    for value in ("' OR 1=1 --", "w1' OR '1'='1", "w1'; DROP TABLE error_events; --"):
        assert get(cluster, "/api/v1/errors", worker_id=value)["items"] == []
        assert get(cluster, "/api/v1/recovery-actions", task_id=value)["items"] == []
    assert len(get(cluster, "/api/v1/errors", limit=1000)["items"]) == N_ASSERT + N_CONFIG


def test_recovery_actions(cluster):
    items = all_pages(cluster, "/api/v1/recovery-actions", limit=4)
    assert all(ACTION_FIELDS <= set(i) for i in items)
    names = {i["action"] for i in items}
    assert {"record_test_failure", "record_test_error"} <= names
    failures = get(cluster, "/api/v1/recovery-actions", action="record_test_failure", limit=1000)["items"]
    assert len(failures) == N_ASSERT and all(i["event_id"] for i in failures)
    assert "HTTP 400" in error_of(cluster, "/api/v1/recovery-actions", since="soon")


def test_summary_counts_by_category_worker_hardware(cluster):
    s = get(cluster, "/api/v1/errors/summary")
    assert s["total"] == N_ASSERT + N_CONFIG
    assert s["by_category"] == {"test_execution_error": N_ASSERT, "test_configuration_error": N_CONFIG}
    assert sum(s["by_worker"].values()) == s["total"] and s["by_hardware_type"] == {"cpu": s["total"]}
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert get(cluster, "/api/v1/errors/summary", since=future)["total"] == 0
    assert "HTTP 400" in error_of(cluster, "/api/v1/errors/summary", window_seconds="-5")


def test_trends_buckets(cluster):
    for bucket in ("minute", "hour", "day"):
        t = get(cluster, "/api/v1/errors/trends", bucket=bucket)
        assert sum(i["total"] for i in t["items"]) == N_ASSERT + N_CONFIG
        assert all(i["bucket"].endswith("Z") for i in t["items"])
    assert "(field: bucket)" in error_of(cluster, "/api/v1/errors/trends", bucket="week")


def test_patterns_and_correlations(cluster):
    items = get(cluster, "/api/v1/errors/patterns")["items"]
    assert [p["count"] for p in items] == [N_ASSERT, N_CONFIG]
    top = items[0]
    assert top["category"] == "test_execution_error" and "AssertionError" in top["template"]
    assert top["trend"] == "new" and top["first_seen"] <= top["last_seen"]
    assert top["correlations"]["tags"]["model"] == {"bert": 1.0}
    assert "100% of these with model=bert" in top["summary"]
    corr = get(cluster, "/api/v1/errors/correlations", pattern_id=top["pattern_id"])
    assert [i["pattern_id"] for i in corr["items"]] == [top["pattern_id"]]
    assert sum(corr["items"][0]["correlations"]["worker_id"].values()) == pytest.approx(1.0, abs=0.01)
    pairs = {(p["hardware_type"], p["model"]): p for p in corr["hardware_model"]["items"]}
    assert corr["hardware_model"]["source"] == "task_results"
    assert pairs[("cpu", "gpt")]["failure_rate"] == 1.0
    assert pairs[("cpu", "bert")]["failures"] == N_ASSERT and pairs[("cpu", "bert")]["runs"] == N_ASSERT + 5


def test_results_endpoints(cluster):
    s = get(cluster, "/api/v1/results/summary")
    assert s["aggregator_enabled"] and s["tasks"] == N_ASSERT + N_CONFIG + 5
    assert s["by_status"]["completed"] == 5 and s["by_status"]["failed"] == N_ASSERT
    models = {i["value"]: i for i in get(cluster, "/api/v1/results/by-dimension", dimension="model")["items"]}
    assert models["gpt"]["failures"] == N_CONFIG and models["bert"]["passed"] == 5
    ranked = get(cluster, "/api/v1/results/error-prone")["items"]
    assert (ranked[0]["hardware_type"], ranked[0]["model"]) == ("cpu", "gpt")
    assert "(field: dimension)" in error_of(cluster, "/api/v1/results/by-dimension", dimension="x' OR 1=1")


def test_openapi_lists_the_analytics_paths(cluster):
    paths = cluster.api.get("/openapi.json")["paths"]
    for p in ("/api/v1/errors", "/api/v1/errors/summary", "/api/v1/errors/patterns", "/api/v1/errors/trends",
              "/api/v1/errors/correlations", "/api/v1/recovery-actions", "/api/v1/results/error-prone"):
        assert "get" in paths[p]


def test_results_and_patterns_survive_a_restart(cluster):
    """Last: stops the coordinator, reads DuckDB directly, then restarts on the same file."""
    before = get(cluster, "/api/v1/errors/patterns")["items"]
    cluster.coordinator.terminate()
    cluster.coordinator.wait(30)
    con = duckdb.connect(str(cluster.tmp / "events.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT status, count(DISTINCT task_id) FROM task_results GROUP BY ALL").fetchall()
        assert dict(rows) == {"completed": 5, "failed": N_ASSERT, "error": N_CONFIG}
        assert con.execute("SELECT count(*) FROM error_events").fetchone()[0] == N_ASSERT + N_CONFIG
    finally:
        con.close()
    cluster.start_coordinator()
    after = get(cluster, "/api/v1/errors/patterns")["items"]
    assert [(p["pattern_id"], p["count"]) for p in after] == [(p["pattern_id"], p["count"]) for p in before]
