"""The per-minute rollup (error_minutes): kept by the DuckDB writer, backfilled by migration 003, and
read by the summary, trends and patterns endpoints with exact counts at the window edges."""
from __future__ import annotations

import random
import shutil
import urllib.parse
from datetime import datetime, timedelta
from types import SimpleNamespace

import duckdb
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from coordinator.analytics import errors_api
from coordinator.analytics import queries as Q
from coordinator.analytics.patterns_view import window_correlations
from coordinator.keys import COORDINATOR
from error_handling.events import DuckDBEventSink
from error_handling.migrate import apply_migrations, discover

T0 = datetime(2024, 5, 1, 12, 0, 0)
CATEGORIES = ["network_connection_error", "test_assertion_error", "resource_exhaustion"]

# The rollups' definitions: what they must equal at any commit (migration 003's backfill).
REFERENCE = (
    "SELECT minute, GROUPING(category, worker_id, hardware_type)::UTINYINT AS g, "
    "coalesce(category, '') AS category, coalesce(worker_id, '') AS worker_id, "
    "coalesce(hardware_type, '') AS hardware_type, count(*) AS n "
    "FROM (SELECT time_bucket(INTERVAL 1 MINUTE, \"timestamp\") AS minute, category, "
    "coalesce(worker_id, '') AS worker_id, coalesce(hardware_type, '') AS hardware_type FROM error_events) "
    "GROUP BY GROUPING SETS ((minute, category), (minute, worker_id), (minute, hardware_type))")
ROLLUP = "SELECT minute, g, category, worker_id, hardware_type, n FROM error_minutes"
PATTERN_REFERENCE = ("SELECT time_bucket(INTERVAL 1 MINUTE, \"timestamp\") AS minute, pattern_id, count(*) AS n "
                     "FROM error_events WHERE pattern_id IS NOT NULL GROUP BY ALL")
PATTERN_ROLLUP = "SELECT minute, pattern_id, n FROM error_pattern_minutes"


def make_events(rng: random.Random, n: int, start: datetime, span_seconds: float) -> list[dict]:
    out = []
    for _ in range(n):
        ts = start + timedelta(microseconds=rng.randrange(int(span_seconds * 1_000_000)))
        out.append({
            "timestamp": ts, "category": rng.choice(CATEGORIES),
            "worker_id": rng.choice(["w1", "w2", "w3", None, ""]),
            "hardware_type": rng.choice(["cpu", "cuda", None]),
            "pattern_id": rng.choice(["pat-a", "pat-b", "pat-c", None]),
            "tags": rng.choice([{"model": "bert"}, {"model": "gpt", "suite": "s1"}, None]),
            "message": "boom"})
    return out


def exact_boundary_events() -> list[dict]:
    """Events exactly on and one microsecond around minute boundaries."""
    out = []
    for minute in range(0, 10):
        base = T0 + timedelta(minutes=minute)
        for delta in (-1, 0, 1):
            out.append({"timestamp": base + timedelta(microseconds=delta), "category": CATEGORIES[minute % 3],
                        "worker_id": "w-edge", "hardware_type": "cpu", "pattern_id": "pat-a"})
    return out


async def rollup_matches(sink: DuckDBEventSink) -> None:
    for rollup_sql, reference_sql in ((ROLLUP, REFERENCE), (PATTERN_ROLLUP, PATTERN_REFERENCE)):
        rollup = await sink.query(f"{rollup_sql} ORDER BY ALL")
        reference = await sink.query(f"{reference_sql} ORDER BY ALL")
        assert rollup == reference and rollup


async def test_rollup_equals_group_by_after_flushes_and_a_restart(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "e.duckdb"
    async with DuckDBEventSink(path, batch_size=50) as sink:
        for i in range(5):  # several flushes, overlapping minutes (upserts add up)
            for e in make_events(rng, 120, T0 + timedelta(seconds=40 * i), 300):
                sink.submit_event(e)
            await sink.flush()
            await rollup_matches(sink)
        for e in exact_boundary_events():
            sink.submit_event(e)
        epoch0 = (T0 - datetime(1970, 1, 1)).total_seconds()  # the handler's fast path: epoch seconds
        sink.submit_events([{"event_id": f"fast-{i}", "timestamp": epoch0 + i * 1.7,
                             "category": "resource_exhaustion", "worker_id": "w9"} for i in range(70)])
        await sink.flush()
        await rollup_matches(sink)
        assert sink.flushes >= 6
    async with DuckDBEventSink(path, batch_size=50) as sink:  # a restart: the rollup was committed
        await rollup_matches(sink)
        for e in make_events(rng, 200, T0 - timedelta(minutes=3), 900):  # late and new minutes
            sink.submit_event(e)
        await sink.flush()
        await rollup_matches(sink)
        total = await sink.query("SELECT sum(n) AS n FROM error_minutes WHERE g = 3")
        assert total == [{"n": 5 * 120 + 30 + 70 + 200}]


async def test_failed_batch_leaves_no_rollup_counts(tmp_path):
    async with DuckDBEventSink(tmp_path / "e.duckdb") as sink:
        sink.submit_event({"timestamp": T0, "category": "resource_exhaustion", "worker_id": "w1", "pattern_id": "p"})
        await sink.flush()
        sink.submit_events([{"timestamp": T0.timestamp(), "category": None, "worker_id": "w1"}])  # NOT NULL
        await sink.flush()  # the bad row is set aside; nothing of it reaches the rollups
        assert sink.rejected_rows == 1
        await rollup_matches(sink)
        assert (await sink.query("SELECT sum(n) AS n FROM error_minutes WHERE g = 3")) == [{"n": 1}]


def test_migration_backfills_existing_events(tmp_path):
    older = tmp_path / "older"
    older.mkdir()
    for mig in discover():
        if mig.version < 3:
            shutil.copy(mig.path, older / mig.path.name)
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    assert apply_migrations(con, older) == 2
    rng = random.Random(3)
    for e in make_events(rng, 500, T0, 1800) + exact_boundary_events():
        con.execute('INSERT INTO error_events (event_id, "timestamp", category, worker_id, hardware_type, pattern_id) '
                    "VALUES (?, ?, ?, ?, ?, ?)", [str(rng.random()), e["timestamp"], e["category"], e["worker_id"],
                                                  e["hardware_type"], e["pattern_id"]])
    assert apply_migrations(con) == len(discover())
    for rollup_sql, reference_sql in ((ROLLUP, REFERENCE), (PATTERN_ROLLUP, PATTERN_REFERENCE)):
        assert con.execute(f"{rollup_sql} ORDER BY ALL").fetchall() == \
            con.execute(f"{reference_sql} ORDER BY ALL").fetchall()
    # and the writer can upsert into the backfilled table
    con.execute("INSERT INTO error_minutes VALUES (?, 3, 'resource_exhaustion', '', '', 1) ON CONFLICT "
                "(minute, g, category, worker_id, hardware_type) DO UPDATE SET n = error_minutes.n + 1", [T0])
    con.execute("INSERT INTO error_pattern_minutes VALUES (?, 'pat-a', 1) ON CONFLICT (minute, pattern_id) "
                "DO UPDATE SET n = error_pattern_minutes.n + 1", [T0])
    con.close()


# -- exact counts at the window edges -----------------------------------------------------------

def windows() -> list[tuple[datetime | None, datetime | None]]:
    m = timedelta(minutes=1)
    s = timedelta(seconds=1)
    return [
        (None, None), (T0, None), (None, T0 + 5 * m), (T0 + 2 * m, T0 + 7 * m),  # aligned
        (T0 + 17 * s, None), (None, T0 + 5 * m + 13 * s), (T0 + 61 * s, T0 + 9 * m + 59 * s),  # partial edges
        (T0 + 3 * m + 5 * s, T0 + 3 * m + 50 * s),  # inside one minute
        (T0 + 3 * m + 5 * s, T0 + 4 * m + 2 * s),  # two partial minutes, none whole
        (T0 + 3 * m - timedelta(microseconds=1), T0 + 6 * m + timedelta(microseconds=1)),
        (T0 + 4 * m, T0 + 4 * m), (T0 + 50 * m, None), (None, T0 - 50 * m),  # empty
    ]


def norm_summary(rows: list[dict]) -> dict:
    """{(g, key): n}, NULL and '' both "unknown" (summary_raw keeps them apart; the endpoint shows
    one "unknown", which the rollup query sums)."""
    out: dict = {}
    for r in rows:
        g = int(r["g"])
        key = {0b111: "", 0b011: r["category"], 0b101: r["worker_id"] or "unknown",
               0b110: r["hardware_type"] or "unknown"}[g]
        out[(g, key)] = out.get((g, key), 0) + int(r["n"])
    return out


@pytest.fixture
async def sink(tmp_path):
    rng = random.Random(11)
    async with DuckDBEventSink(tmp_path / "e.duckdb", batch_size=100) as s:
        for e in make_events(rng, 1500, T0 - timedelta(seconds=30), 11 * 60) + exact_boundary_events():
            s.submit_event(e)
        await s.flush()
        yield s


@pytest.mark.parametrize("since, until", windows())
async def test_rollup_queries_equal_raw_counts(sink, since, until):
    assert norm_summary(await sink.query(*Q.summary(since, until))) == \
        norm_summary(await sink.query(*Q.summary_raw(since, until)))
    for bucket in ("minute", "hour", "day"):
        for category in (None, CATEGORIES[0]):
            new = await sink.query(*Q.trends(bucket, since, until, category))
            raw = await sink.query(*Q.trends_raw(bucket, since, until, category))
            assert [(r["b_us"], r["category"], int(r["n"])) for r in new] == \
                [(r["b_us"], r["category"], int(r["n"])) for r in raw]
    ids = ["pat-a", "pat-b", "pat-missing"]
    totals = {r["pattern_id"]: int(r["n"]) for r in await sink.query(*Q.pattern_totals(ids, since, until))}
    where = Q.Where().window(since, until)
    raw = {r["pattern_id"]: int(r["n"]) for r in await sink.query(
        f"SELECT pattern_id, count(*) AS n FROM error_events{where.sql()} GROUP BY ALL", where.params)}
    assert totals == {**{p: raw[p] for p in ids if p in raw}, None: sum(raw.values())}
    exact = await window_correlations(sink.query, ids, since, until)
    assert {p: c["total"] for p, c in exact.items()} == {p: raw[p] for p in ids if p in raw}


async def test_sampled_correlations_keep_exact_totals(sink, monkeypatch):
    from coordinator.analytics import patterns_view
    ids = ["pat-a", "pat-b", "pat-c"]
    exact = await window_correlations(sink.query, ids, None, None)
    monkeypatch.setattr(patterns_view, "SAMPLE_ROWS", 100)
    sampled = await window_correlations(sink.query, ids, None, None)
    assert {p: c["total"] for p, c in sampled.items()} == {p: c["total"] for p, c in exact.items()}
    for p, c in sampled.items():
        for dim in ("worker_id", "hardware_type"):
            assert set(c["correlations"][dim]) <= set(exact[p]["correlations"][dim])
            assert all(0 <= share <= 1 for share in c["correlations"][dim].values())


# -- through HTTP: the endpoints' counts equal raw counts over the same window ------------------

@pytest.fixture
async def client(sink):
    handler = SimpleNamespace(sink=sink, flush=sink.flush, aggregator=None)
    app = web.Application()
    app[COORDINATOR] = SimpleNamespace(error_handler=handler)
    errors_api.add_routes(app)
    async with TestClient(TestServer(app)) as c:
        yield c


async def get(client: TestClient, path: str, **query: str) -> dict:
    resp = await client.get(path + "?" + urllib.parse.urlencode(query))
    assert resp.status == 200, await resp.text()
    return await resp.json()


def iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds") + "Z"


@pytest.mark.parametrize("since, until", [w for w in windows() if w[0] is not None and w[1] is not None])
async def test_endpoints_count_exactly_at_window_edges(client, sink, since, until):
    where = Q.Where().window(since, until)
    raw = await sink.query(f"SELECT category, coalesce(worker_id, '') AS w, pattern_id, count(*) AS n "
                           f"FROM error_events{where.sql()} GROUP BY ALL", where.params)
    total = sum(int(r["n"]) for r in raw)
    by_cat: dict[str, int] = {}
    by_worker: dict[str, int] = {}
    by_pattern: dict[str, int] = {}
    for r in raw:
        by_cat[r["category"]] = by_cat.get(r["category"], 0) + int(r["n"])
        key = r["w"] or "unknown"
        by_worker[key] = by_worker.get(key, 0) + int(r["n"])
        if r["pattern_id"]:
            by_pattern[r["pattern_id"]] = by_pattern.get(r["pattern_id"], 0) + int(r["n"])
    body = await get(client, "/api/v1/errors/summary", since=iso(since), until=iso(until))
    assert body["total"] == total and body["by_category"] == by_cat and body["by_worker"] == by_worker
    trends = await get(client, "/api/v1/errors/trends", since=iso(since), until=iso(until), bucket="minute")
    assert sum(i["total"] for i in trends["items"]) == total
    patterns = await get(client, "/api/v1/errors/patterns", since=iso(since), until=iso(until))
    assert {i["pattern_id"]: i["window_count"] for i in patterns["items"] if i["window_count"]} == by_pattern
