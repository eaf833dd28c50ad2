"""The SQL behind the error analytics endpoints (also timed by bench/analytics.py).

Each builder returns ``(sql, params)``: filter values are always parameters, and the only
identifiers in the text come from fixed tables in this module.

Summary, trends and the pattern counts read the per-minute rollups (``error_minutes``,
``error_pattern_minutes``; migrations/duckdb/003_error_minutes.sql) for the whole
minutes of a window and ``error_events`` only for the partial minutes at its two edges, so their
counts are exact (equal to a count over error_events; tests/analytics/test_rollup.py). The
``*_raw`` builders are the pre-rollup queries, kept as the reference and the bench's baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
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


# -- the per-minute rollups (migrations/duckdb/003_error_minutes.sql) --------------------------
#
# Counts over a window [since, until) are exact: whole minutes come from the rollups, and the
# partial minutes at the two edges (at most one minute each) from error_events. The rollup is
# written in the same transaction as the events it counts, so both parts see the same commit.
MINUTE = timedelta(minutes=1)
G_CATEGORY = 0b011  # error_minutes.g of the per-category rows (GROUPING(category, worker_id, hardware_type))


@dataclass(frozen=True, slots=True)
class Split:
    """A window cut into whole minutes [lo, hi) (None: unbounded) and raw edge ranges."""
    rollup: bool
    lo: datetime | None
    hi: datetime | None
    edges: tuple[tuple[datetime | None, datetime | None], ...]


def _floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def split_window(since: datetime | None, until: datetime | None) -> Split:
    lo = None if since is None else _floor_minute(since)
    if since is not None and lo != since:
        lo += MINUTE  # type: ignore[operator]
    hi = None if until is None else _floor_minute(until)
    if lo is not None and hi is not None and lo >= hi:
        return Split(False, None, None, ((since, until),))  # no whole minute inside: all raw
    edges = []
    if since is not None and lo is not None and since < lo:
        edges.append((since, lo))
    if until is not None and hi is not None and hi < until:
        edges.append((hi, until))
    return Split(True, lo, hi, tuple(edges))


def _edges(split: Split, where: Where) -> Where:
    """error_events restricted to the split's raw edges (an OR of ranges)."""
    ors = []
    for a, b in split.edges:
        part = Where().window(a, b)
        ors.append("(" + " AND ".join(part.parts) + ")" if part.parts else "TRUE")
        where.params.extend(part.params)
    where.parts.append("(" + " OR ".join(ors) + ")")
    return where


def summary(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """Counts per category, worker and hardware type, and the total, from the rollup plus raw edges.

    Same rows as ``summary_raw`` (g: GROUPING bits over category, worker_id, hardware_type); columns
    outside a row's set are '' and a NULL worker/hardware type is '' (shown as "unknown")."""
    split = split_window(since, until)
    parts, params = [], []
    if split.rollup:
        w = Where().window(split.lo, split.hi, "minute")
        parts.append("SELECT g, category, worker_id, hardware_type, n FROM error_minutes" + w.sql())
        params += w.params
    if split.edges:
        w = _edges(split, Where())
        parts.append("SELECT GROUPING(category, worker_id, hardware_type) AS g, coalesce(category, '') AS category, "
                     "coalesce(worker_id, '') AS worker_id, coalesce(hardware_type, '') AS hardware_type, "
                     "count(*) AS n FROM (SELECT category, coalesce(worker_id, '') AS worker_id, "
                     f"coalesce(hardware_type, '') AS hardware_type FROM error_events{w.sql()}) "
                     "GROUP BY GROUPING SETS ((category), (worker_id), (hardware_type))")
        params += w.params
    sql = (f"WITH parts(g, category, worker_id, hardware_type, n) AS ({' UNION ALL '.join(parts)}) "
           "SELECT category, worker_id, hardware_type, g, sum(n) AS n FROM parts GROUP BY ALL "
           "UNION ALL SELECT NULL, NULL, NULL, 7, coalesce(sum(n), 0) FROM parts WHERE g = 3")
    return sql, params


def trends(bucket: str, since: datetime | None, until: datetime | None,
           category: str | None = None) -> tuple[str, list[Any]]:
    """Counts per bucket and category from the rollup plus raw edges (same rows as ``trends_raw``)."""
    interval = BUCKET_INTERVALS[bucket]  # a key checked by the handler, never user text
    split = split_window(since, until)
    parts, params = [], []
    if split.rollup:
        w = Where().window(split.lo, split.hi, "minute").eq("category", category)
        parts.append(f"SELECT time_bucket({interval}, minute) AS b, category, n FROM error_minutes "
                     f"WHERE g = {G_CATEGORY}" + "".join(" AND " + p for p in w.parts))
        params += w.params
    if split.edges:
        w = _edges(split, Where()).eq("category", category)
        parts.append(f'SELECT time_bucket({interval}, "timestamp") AS b, category, count(*) AS n '
                     f"FROM error_events{w.sql()} GROUP BY ALL")
        params += w.params
    sql = (f"SELECT epoch_us(b) AS b_us, category, sum(n) AS n FROM ({' UNION ALL '.join(parts)}) "
           "t(b, category, n) GROUP BY ALL ORDER BY b_us, category")
    return sql, params


def pattern_totals(pattern_ids: list[str], since: datetime | None, until: datetime | None
                   ) -> tuple[str, list[Any]]:
    """Exact errors per pattern in the window (rollup plus raw edges), and all errors in the window
    (the row with pattern_id NULL)."""
    split = split_window(since, until)
    per, every, p_per, p_every = [], [], [], []
    if split.rollup:
        w = Where().window(split.lo, split.hi, "minute")
        cond = "".join(" AND " + p for p in w.parts)
        per.append(f"SELECT pattern_id, n FROM error_pattern_minutes WHERE TRUE{cond} "
                   "AND pattern_id IN (SELECT unnest(?::VARCHAR[]))")
        p_per += [*w.params, pattern_ids]
        every.append(f"SELECT n FROM error_minutes WHERE g = {G_CATEGORY}{cond}")
        p_every += w.params
    if split.edges:
        w = _edges(split, Where())
        per.append(f"SELECT pattern_id, 1 FROM error_events{w.sql()} AND pattern_id IN (SELECT unnest(?::VARCHAR[]))")
        p_per += [*w.params, pattern_ids]
        every.append(f"SELECT 1 FROM error_events{w.sql()}")
        p_every += w.params
    # Two plain aggregates (no shared CTE): the pattern filter reaches the rollup scan directly.
    sql = (f"SELECT pattern_id, sum(n) AS n FROM ({' UNION ALL '.join(per)}) t(pattern_id, n) GROUP BY ALL "
           f"UNION ALL SELECT NULL, coalesce(sum(n), 0) FROM ({' UNION ALL '.join(every)}) u(n)")
    return sql, [*p_per, *p_every]


# -- straight from error_events (the pre-rollup queries: the reference in tests and the bench's
# baseline) ----------------------------------------------------------------------------------

def summary_raw(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """One scan: counts per category, worker and hardware type, and the total (GROUPING SETS)."""
    where = Where().window(since, until)
    sql = ("SELECT category, worker_id, hardware_type, GROUPING(category, worker_id, hardware_type) AS g, "
           f"count(*) AS n FROM error_events{where.sql()} "
           "GROUP BY GROUPING SETS ((category), (worker_id), (hardware_type), ())")
    return sql, where.params


def trends_raw(bucket: str, since: datetime | None, until: datetime | None,
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


def correlations(pattern_ids: list[str], since: datetime | None, until: datetime | None,
                 sample_percent: float | None = None) -> tuple[str, list[Any]]:
    """Per pattern, counts per worker, hardware type and tag value, and the total.

    ``sample_percent``: read only that share of the table (DuckDB system sampling, whole vectors,
    fixed seed so repeated calls agree); the counts are then those of the sample."""
    where = Where().window(since, until)
    where.parts.append("pattern_id IN (SELECT unnest(?::VARCHAR[]))")
    where.params.append(pattern_ids)
    sample = ""
    if sample_percent is not None:
        pct = float(sample_percent)  # a number computed by the caller, never user text
        if not 0 < pct <= 100:
            raise ValueError(f"sample_percent must be in (0, 100], got {sample_percent!r}")
        sample = f" TABLESAMPLE {pct:.6f}% (system, 42)"
    sql = ("WITH ev AS (SELECT pattern_id, worker_id, hardware_type, tags FROM error_events"
           f"{sample}{where.sql()}), "
           # JSON work per distinct tag set, not per event: tag sets repeat across a suite's tasks.
           "tag_sets AS (SELECT pattern_id, CAST(tags AS VARCHAR) AS tags, count(*) AS n FROM ev "
           "WHERE tags IS NOT NULL GROUP BY ALL), "
           # json_each hands keys over as values: no JSON path is built from a key (a quote in a
           # tag key once broke the whole query).
           "tagged AS (SELECT s.pattern_id, e.key AS k, json_extract_string(e.value, '$') AS v, s.n "
           "FROM tag_sets s, json_each(s.tags) e WHERE json_type(s.tags) = 'OBJECT') "
           "SELECT pattern_id, 'worker_id' AS dim, worker_id AS value, count(*) AS n FROM ev GROUP BY ALL "
           "UNION ALL SELECT pattern_id, 'hardware_type', hardware_type, count(*) FROM ev GROUP BY ALL "
           "UNION ALL SELECT pattern_id, 'tag:' || k, v, sum(n) FROM tagged GROUP BY ALL "
           "UNION ALL SELECT pattern_id, 'total', NULL, count(*) FROM ev GROUP BY ALL")
    return sql, where.params
