"""SQL over task_results (views result_attempts / result_cases, migration 002) for reports."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from coordinator.analytics import params as P
from coordinator.analytics.dims import COUNTED_OUTCOMES, FAILED_OUTCOMES
from coordinator.analytics.queries import BUCKET_INTERVALS, Where
from coordinator.analytics.stats import wilson_lower, wilson_upper
from coordinator.models import FAULT_OUTCOMES

# dimension name in the API -> column of result_attempts (a fixed map: no user text in SQL)
DIMENSIONS = {"test": "test_name", "model": "model", "hardware_type": "hardware_type",
              "worker_id": "worker_id", "type": "type"}
_FAILED = "outcome IN (" + ", ".join(f"'{o}'" for o in FAILED_OUTCOMES) + ")"
# completed, not flaky, and an attempt ended by an infrastructure fault: a retry, not a flaky test
_RETRIED = ("status = 'completed' AND NOT flaky AND outcome IN ("
            + ", ".join(f"'{o}'" for o in sorted(FAULT_OUTCOMES)) + ")")
_COUNTED = "outcome IN (" + ", ".join(f"'{o}'" for o in COUNTED_OUTCOMES) + ")"


def _where(since: datetime | None, until: datetime | None) -> Where:
    where = Where().window(since, until, "finished_at")
    where.parts.append(_COUNTED)
    return where


def summary_sql(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    w = Where().window(since, until, "finished_at")
    sql = ("SELECT count(DISTINCT task_id) AS tasks, "
           "count(DISTINCT task_id) FILTER (WHERE status = 'completed') AS completed, "
           "count(DISTINCT task_id) FILTER (WHERE status = 'failed') AS failed, "
           "count(DISTINCT task_id) FILTER (WHERE status = 'error') AS error, "
           "count(DISTINCT task_id) FILTER (WHERE status = 'timed_out') AS timed_out, "
           "count(DISTINCT task_id) FILTER (WHERE status = 'cancelled') AS cancelled, "
           "count(DISTINCT task_id) FILTER (WHERE flaky) AS flaky, "
           f"count(DISTINCT task_id) FILTER (WHERE {_RETRIED}) AS retried, "
           f"count(*) FILTER (WHERE {_COUNTED}) AS attempts, count(*) FILTER (WHERE {_FAILED}) AS failed_attempts, "
           "avg(duration_seconds) FILTER (WHERE outcome = 'passed') AS mean_duration, "
           "quantile_cont(duration_seconds, 0.95) FILTER (WHERE outcome = 'passed') AS p95_duration "
           f"FROM result_attempts{w.sql()}")
    return sql, w.params


def by_dimension_sql(dimension: str, since: datetime | None, until: datetime | None, limit: int
                     ) -> tuple[str, list[Any]]:
    column = DIMENSIONS[dimension]
    w = _where(since, until)
    sql = (f"SELECT {column} AS value, count(*) AS runs, count(*) FILTER (WHERE outcome = 'passed') AS passed, "
           f"count(*) FILTER (WHERE {_FAILED}) AS failures, count(DISTINCT task_id) AS tasks, "
           "count(DISTINCT task_id) FILTER (WHERE flaky) AS flaky_tasks, "
           "avg(duration_seconds) AS mean_duration, quantile_cont(duration_seconds, 0.95) AS p95_duration "
           f"FROM result_attempts{w.sql()} GROUP BY {column} ORDER BY failures DESC, runs DESC LIMIT ?")
    return sql, [*w.params, limit]


def pairs_sql(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    w = _where(since, until)
    sql = ("SELECT hardware_type, model, count(*) AS runs, "
           f"count(*) FILTER (WHERE {_FAILED}) AS failures, "
           "list(DISTINCT error_category) FILTER (WHERE error_category IS NOT NULL) AS categories "
           f"FROM result_attempts{w.sql()} GROUP BY ALL")
    return sql, w.params


def flaky_sql(since: datetime | None, until: datetime | None, limit: int) -> tuple[str, list[Any]]:
    """Tests that both passed and failed (attempts or cases), or had a task marked flaky."""
    w = _where(since, until)
    sql = ("WITH flaky_runs AS (SELECT test_name, 'task' AS level, outcome, flaky, task_id FROM result_attempts"
           f"{w.sql()} UNION ALL SELECT test_name, 'case', outcome, flaky, task_id FROM result_cases{w.sql()}) "
           "SELECT test_name, level, count(*) AS runs, count(*) FILTER (WHERE outcome = 'passed') AS passed, "
           f"count(*) FILTER (WHERE {_FAILED}) AS failures, "
           "count(DISTINCT task_id) FILTER (WHERE flaky) AS flaky_tasks FROM flaky_runs GROUP BY ALL "
           f"HAVING (passed > 0 AND failures > 0) OR flaky_tasks > 0 "
           "ORDER BY least(passed, failures) * 1.0 / runs DESC, runs DESC, test_name LIMIT ?")
    return sql, [*w.params, *w.params, limit]


def trends_sql(bucket: str, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    interval = BUCKET_INTERVALS[bucket]
    w = _where(since, until)
    sql = (f"SELECT epoch_us(time_bucket({interval}, finished_at)) AS b_us, count(*) AS runs, "
           f"count(*) FILTER (WHERE outcome = 'passed') AS passed, count(*) FILTER (WHERE {_FAILED}) AS failures, "
           f"count(DISTINCT task_id) FILTER (WHERE flaky) AS flaky_tasks FROM result_attempts{w.sql()} "
           "GROUP BY ALL ORDER BY b_us")
    return sql, w.params


def rate_fields(failures: int, runs: int) -> dict[str, Any]:
    return {"runs": runs, "failures": failures, "failure_rate": round(failures / runs, 4) if runs else None,
            "wilson_lower": round(wilson_lower(failures, runs), 4),
            "wilson_upper": round(wilson_upper(failures, runs), 4)}


def rank_pairs(rows: list[dict[str, Any]], min_runs: int = 1) -> list[dict[str, Any]]:
    """Hardware x model pairs, most confidently error-prone first (Wilson lower bound)."""
    out = []
    for r in rows:
        runs, failures = int(r["runs"]), int(r["failures"])
        if runs < min_runs:
            continue
        out.append({"hardware_type": r["hardware_type"], "model": r["model"], **rate_fields(failures, runs),
                    "categories": sorted(r.get("categories") or [])})
    out.sort(key=lambda p: (-p["wilson_lower"], -p["failures"], str(p["hardware_type"]), str(p["model"])))
    return out


async def hardware_model_rates(sink: Any, since: datetime | None, until: datetime | None,
                               min_runs: int = 1) -> dict[str, Any]:
    """Failure rates per hardware x model from task results; without results (aggregator off)
    only error counts per pair from the error events, with no rate."""
    rows = await sink.query(*pairs_sql(since, until))
    if rows:
        return {"source": "task_results", "items": rank_pairs(rows, min_runs)}
    w = Where().window(since, until)
    errs = await sink.query("SELECT hardware_type, json_extract_string(tags, '$.model') AS model, count(*) AS n "
                            f"FROM error_events{w.sql()} GROUP BY ALL ORDER BY n DESC LIMIT 100", w.params)
    return {"source": "error_events", "items": [
        {"hardware_type": r["hardware_type"], "model": r["model"], "errors": int(r["n"]), "failure_rate": None}
        for r in errs]}


def iso_bucket(b_us: int) -> str | None:
    return P.iso_us(b_us)
