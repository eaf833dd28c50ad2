"""What the DuckDB sink writes: the tables' columns as loaded from JSON, and the SQL of a flush.

The sink (``events.py``) encodes rows and runs these statements; keeping them here keeps the
sink about batching, threads and the DuckDB process.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping

import orjson


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    name: str
    columns: Mapping[str, str]  # column -> DuckDB type as read from JSON
    timestamps: frozenset[str]  # epoch-seconds columns stored as TIMESTAMP
    id_column: str | None = None  # filled with a uuid in SQL when a row has none


def table(name: str, timestamps: Iterable[str], id_column: str | None = None,
           **columns: str) -> Table:
    return Table(name=name, columns=columns, timestamps=frozenset(timestamps),
                  id_column=id_column)


EVENTS = table(
    "error_events", ["timestamp"], "event_id", event_id="VARCHAR", timestamp="DOUBLE", task_id="VARCHAR",
    worker_id="VARCHAR", attempt="INTEGER", category="VARCHAR", type="VARCHAR",
    message="VARCHAR", traceback="VARCHAR", exit_code="BIGINT", signal="INTEGER",
    hardware_type="VARCHAR", task_type="VARCHAR", pattern_id="VARCHAR", rule="VARCHAR",
    retry="BOOLEAN", retry_delay="DOUBLE", max_retries="INTEGER", outcome="VARCHAR",
    actions="JSON", tags="JSON", context="JSON")
ACTIONS = table(
    "recovery_actions", ["timestamp"], "action_id", action_id="VARCHAR", event_id="VARCHAR",
    action="VARCHAR", task_id="VARCHAR", worker_id="VARCHAR", success="BOOLEAN",
    detail="VARCHAR", timestamp="DOUBLE")
RESULTS = table(
    "task_results", ["started_at", "finished_at"], task_id="VARCHAR", attempt="INTEGER",
    type="VARCHAR", status="VARCHAR", outcome="VARCHAR", worker_id="VARCHAR",
    hardware_type="VARCHAR", tags="JSON", started_at="DOUBLE", finished_at="DOUBLE",
    duration_seconds="DOUBLE", error_category="VARCHAR", test_name="VARCHAR", flaky="BOOLEAN",
    result="JSON", error_message="VARCHAR")
TABLES = {t.name: t for t in (ACTIONS, RESULTS)}  # events go through the spool file
# Event keys that feed the pattern table but are not columns of error_events.
EVENT_EXTRA = frozenset({"template"})
# What a batch of events is read as: error_events' columns plus the pattern's template.
EVENTS_IN = table("error_events", ["timestamp"], "event_id", **EVENTS.columns, template="VARCHAR")
# The order of an event row given as a tuple (``submit_event_rows``): error_events' columns,
# then the pattern's template. Tuples encode to JSON arrays, half the work of objects.
EVENT_FIELDS: tuple[str, ...] = tuple(EVENTS_IN.columns)


def epoch(value: Any) -> Any:
    """Seconds since the epoch for a datetime (naive = UTC); numbers pass through."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    return value


def json_default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    # Context may carry anything (exceptions, paths); storage keeps its text.
    return str(value)


DUMP_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def insert_sql(table: Table, path: Path, into_temp: str | None = None,
               positional: bool = False) -> str:
    """Load a JSON array of objects (or, ``positional``, of arrays in column order)."""
    cols = ", ".join(f"'{c}': '{t}'" for c, t in table.columns.items())
    if positional:  # each row one VARCHAR[] (nested values as their JSON text), cast per column
        cols = "'j': 'VARCHAR[]'"
    exprs = []
    for i, (c, kind) in enumerate(table.columns.items(), start=1):
        q = f"(j[{i}])::{kind}" if positional else f'"{c}"'
        if c in table.timestamps:
            exprs.append(f"make_timestamp(CAST(round({q} * 1000000) AS BIGINT))")
        elif c == table.id_column:
            exprs.append(f"coalesce({q}, CAST(uuid() AS VARCHAR))")
        else:
            exprs.append(q)
    target = ", ".join(f'"{c}"' for c in table.columns)
    src = str(path).replace("'", "''")
    aliased = ", ".join(f'{e} AS "{c}"' for e, c in zip(exprs, table.columns))
    records = ", records='false'" if positional else ""
    select = (f"SELECT {aliased} FROM read_json('{src}', format='array'{records}, "
              f"columns={{{cols}}}, maximum_object_size=268435456)")
    if into_temp is not None:
        return f"CREATE OR REPLACE TEMP TABLE {into_temp} AS {select}"
    return f"INSERT INTO {table.name} ({target}) {select}"


# A batch of events is parsed once into a temporary table, copied into error_events, and its
# counts added to the rollups (migrations/duckdb/003_error_minutes.sql) and to error_patterns in
# the same transaction. Same GROUP BYs as the migration's backfill, so each rollup equals its
# GROUP BY over error_events.
BATCH = "dtf_event_batch"
_EVENT_COLUMNS = ", ".join(f'"{c}"' for c in EVENTS.columns)
COPY_EVENTS = f"INSERT INTO error_events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM {BATCH}"
ROLLUP_SQL = (
    "INSERT INTO error_minutes SELECT minute, GROUPING(category, worker_id, hardware_type)::UTINYINT, "
    "coalesce(category, ''), coalesce(worker_id, ''), coalesce(hardware_type, ''), count(*) "
    "FROM (SELECT time_bucket(INTERVAL 1 MINUTE, \"timestamp\") AS minute, category, "
    f"coalesce(worker_id, '') AS worker_id, coalesce(hardware_type, '') AS hardware_type FROM {BATCH}) "
    "GROUP BY GROUPING SETS ((minute, category), (minute, worker_id), (minute, hardware_type)) "
    "ON CONFLICT (minute, g, category, worker_id, hardware_type) DO UPDATE SET n = error_minutes.n + EXCLUDED.n",
    "INSERT INTO error_pattern_minutes SELECT time_bucket(INTERVAL 1 MINUTE, \"timestamp\"), pattern_id, count(*) "
    f"FROM {BATCH} WHERE pattern_id IS NOT NULL GROUP BY ALL "
    "ON CONFLICT (minute, pattern_id) DO UPDATE SET n = error_pattern_minutes.n + EXCLUDED.n",
)
# any_value skips NULLs: a batch's template and category come from any event that has them.
PATTERN_UPSERT = (
    "INSERT INTO error_patterns (pattern_id, template, category, count, first_seen, last_seen) "
    "SELECT pattern_id, any_value(template), any_value(category), count(*), min(\"timestamp\"), "
    f"max(\"timestamp\") FROM {BATCH} WHERE pattern_id IS NOT NULL GROUP BY pattern_id "
    "ON CONFLICT (pattern_id) DO UPDATE SET count = error_patterns.count + EXCLUDED.count, "
    "template = coalesce(EXCLUDED.template, error_patterns.template), "
    "category = coalesce(EXCLUDED.category, error_patterns.category), "
    "first_seen = least(error_patterns.first_seen, EXCLUDED.first_seen), "
    "last_seen = greatest(error_patterns.last_seen, EXCLUDED.last_seen)")
