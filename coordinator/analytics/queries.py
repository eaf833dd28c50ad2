"""The SQL behind the error analytics endpoints (also timed by bench/analytics.py).

Each builder returns ``(sql, params)``: filter values are always parameters, and the only
identifiers in the text come from fixed tables in this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENT_FILTERS = ("category", "worker_id", "task_id", "hardware_type", "pattern_id")
ACTION_FILTERS = ("task_id", "worker_id", "action")
BUCKET_INTERVALS = {"minute": "INTERVAL 1 MINUTE", "hour": "INTERVAL 1 HOUR", "day": "INTERVAL 1 DAY"}

EVENT_COLUMNS = ("event_id, epoch_us(\"timestamp\") AS ts_us, task_id, worker_id, attempt, category, type, "
                 "message, traceback, hardware_type, pattern_id, retry, retry_delay, outcome, "
                 "CAST(actions AS VARCHAR) AS actions, CAST(tags AS VARCHAR) AS tags")
ACTION_COLUMNS = ("action_id, epoch_us(\"timestamp\") AS ts_us, action, task_id, worker_id, success, "
                  "detail, event_id")


@dataclass(slots=True)
class Where:
    """An AND of conditions with their parameters, in order."""
    parts: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def eq(self, column: str, value: Any) -> "Where":
        if value is not None:
            self.parts.append(f"{column} = ?")
            self.params.append(value)
        return self

    def window(self, since: datetime | None, until: datetime | None, column: str = '"timestamp"') -> "Where":
        if since is not None:
            self.parts.append(f"{column} >= ?")
            self.params.append(since)
        if until is not None:
            self.parts.append(f"{column} < ?")
            self.params.append(until)
        return self

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.parts)) if self.parts else ""


def _keyset(where: Where, cursor: tuple[datetime, str] | None, key: str) -> None:
    if cursor is not None:
        where.parts.append(f'("timestamp", {key}) < (?, ?)')
        where.params.extend(cursor)


def list_events(filters: dict[str, Any], since: datetime | None, until: datetime | None,
                cursor: tuple[datetime, str] | None, limit: int) -> tuple[str, list[Any]]:
    where = Where()
    for name in EVENT_FILTERS:
        where.eq(name, filters.get(name))
    where.window(since, until)
    _keyset(where, cursor, "event_id")
    sql = (f"SELECT {EVENT_COLUMNS} FROM error_events{where.sql()} "
           f'ORDER BY "timestamp" DESC, event_id DESC LIMIT ?')
    return sql, [*where.params, limit + 1]


def list_actions(filters: dict[str, Any], since: datetime | None, until: datetime | None,
                 cursor: tuple[datetime, str] | None, limit: int) -> tuple[str, list[Any]]:
    where = Where()
    for name in ACTION_FILTERS:
        where.eq(name, filters.get(name))
    where.window(since, until)
    _keyset(where, cursor, "action_id")
    sql = (f"SELECT {ACTION_COLUMNS} FROM recovery_actions{where.sql()} "
           f'ORDER BY "timestamp" DESC, action_id DESC LIMIT ?')
    return sql, [*where.params, limit + 1]


def summary(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """One scan: counts per category, worker and hardware type, and the total (GROUPING SETS)."""
    where = Where().window(since, until)
    sql = ("SELECT category, worker_id, hardware_type, GROUPING(category, worker_id, hardware_type) AS g, "
           f"count(*) AS n FROM error_events{where.sql()} "
           "GROUP BY GROUPING SETS ((category), (worker_id), (hardware_type), ())")
    return sql, where.params


def trends(bucket: str, since: datetime | None, until: datetime | None,
           category: str | None = None) -> tuple[str, list[Any]]:
    interval = BUCKET_INTERVALS[bucket]  # a key checked by the handler, never user text
    where = Where().window(since, until).eq("category", category)
    sql = (f'SELECT epoch_us(time_bucket({interval}, "timestamp")) AS b_us, category, count(*) AS n '
           f"FROM error_events{where.sql()} GROUP BY ALL ORDER BY b_us, category")
    return sql, where.params


def patterns(limit: int, category: str | None = None) -> tuple[str, list[Any]]:
    """The stored pattern table (upserted on every flush, so it survives restarts)."""
    where = Where().eq("category", category)
    sql = ("SELECT pattern_id, template, category, count, epoch_us(first_seen) AS first_us, "
           f"epoch_us(last_seen) AS last_us FROM error_patterns{where.sql()} "
           "ORDER BY count DESC, last_seen DESC, pattern_id LIMIT ?")
    return sql, [*where.params, limit]


def pattern_windows(pattern_ids: list[str], now: datetime, window_seconds: float) -> tuple[str, list[Any]]:
    """Per pattern: errors in the last window and in the window before (for the trend)."""
    sql = ("SELECT pattern_id, "
           "count(*) FILTER (WHERE \"timestamp\" > ?::TIMESTAMP - to_microseconds(?)) AS recent, "
           "count(*) FILTER (WHERE \"timestamp\" <= ?::TIMESTAMP - to_microseconds(?)) AS previous "
           "FROM error_events WHERE pattern_id IN (SELECT unnest(?::VARCHAR[])) "
           "AND \"timestamp\" > ?::TIMESTAMP - to_microseconds(?) GROUP BY pattern_id")
    w_us = int(window_seconds * 1_000_000)
    return sql, [now, w_us, now, w_us, pattern_ids, now, 2 * w_us]


def correlations(pattern_ids: list[str], since: datetime | None, until: datetime | None
                 ) -> tuple[str, list[Any]]:
    """Per pattern, counts per worker, hardware type and tag value (one scan, GROUPING SETS)."""
    where = Where().window(since, until)
    where.parts.append("pattern_id IN (SELECT unnest(?::VARCHAR[]))")
    where.params.append(pattern_ids)
    sql = ("WITH ev AS (SELECT pattern_id, worker_id, hardware_type, tags FROM error_events"
           f"{where.sql()}), "
           # JSON work per distinct tag set, not per event: tag sets repeat across a suite's tasks.
           "tag_sets AS (SELECT pattern_id, CAST(tags AS VARCHAR) AS tags, count(*) AS n FROM ev "
           "WHERE tags IS NOT NULL GROUP BY ALL), "
           "tagged AS (SELECT pattern_id, k, json_extract_string(tags, '$.\"' || k || '\"') AS v, n "
           "FROM (SELECT pattern_id, tags, n, unnest(json_keys(tags)) AS k FROM tag_sets "
           "WHERE json_type(tags) = 'OBJECT')) "
           "SELECT pattern_id, 'worker_id' AS dim, worker_id AS value, count(*) AS n FROM ev GROUP BY ALL "
           "UNION ALL SELECT pattern_id, 'hardware_type', hardware_type, count(*) FROM ev GROUP BY ALL "
           "UNION ALL SELECT pattern_id, 'tag:' || k, v, sum(n) FROM tagged GROUP BY ALL "
           "UNION ALL SELECT pattern_id, 'total', NULL, count(*) FROM ev GROUP BY ALL")
    return sql, where.params
