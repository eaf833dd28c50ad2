"""Patterns and correlations: the stored history (DuckDB) joined with the live aggregator.

DuckDB holds every event, so counts, first/last seen and the trend come from it and survive a
restart; the live aggregator (bounded memory) adds what it holds now (``live``) and its shown
template when it has merged variants since the pattern was stored.

Window counts (``window_count``) come from the per-minute rollup plus the raw edge minutes, exact.
Correlations over a window of more than SAMPLE_ROWS errors are estimated from a sample (see
``window_correlations``). The trend's recent/previous counts (a few minutes) read error_events.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from coordinator.analytics import params as P
from coordinator.analytics import queries as Q
from error_handling.patterns import summarize_correlations
from coordinator.analytics.results_queries import hardware_model_rates

TOP_VALUES = 5


def history_trend(first_us: int | None, recent: int, previous: int, now: datetime, window_seconds: float) -> str:
    """The aggregator's rule (error_handling/patterns.py), applied to the full history."""
    if first_us is not None:
        first = datetime(1970, 1, 1) + timedelta(microseconds=first_us)
        if first > now - timedelta(seconds=window_seconds):
            return "new"
    if recent >= 2 * previous and recent - previous >= 2:
        return "rising"
    if previous >= 2 * recent and previous - recent >= 2:
        return "falling"
    return "steady"


def fold_correlations(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows of (pattern_id, dim, value, n) -> per pattern: total and shares per dimension."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    totals: dict[str, int] = {}
    for r in rows:
        pid, dim, n = r["pattern_id"], r["dim"], int(r["n"])
        if dim == "total":
            totals[pid] = n
            continue
        counts.setdefault(pid, {}).setdefault(dim, {})[str(r["value"]) if r["value"] is not None else "unknown"] = n
    out: dict[str, dict[str, Any]] = {}
    for pid, total in totals.items():
        dims = counts.get(pid, {})

        def shares(values: dict[str, int]) -> dict[str, float]:
            top = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]
            return {k: round(v / total, 4) for k, v in top}
        out[pid] = {"total": total, "correlations": {
            "worker_id": shares(dims.get("worker_id", {})),
            "hardware_type": shares(dims.get("hardware_type", {})),
            "tags": {d[4:]: shares(v) for d, v in sorted(dims.items()) if d.startswith("tag:")}}}
    return out


# Correlations (shares per worker, hardware type and tag value) over a window holding more errors
# than this are computed from a system sample of about this many rows (a fixed seed, so the same
# data gives the same answer); the counts (window totals) stay exact, from the rollup.
SAMPLE_ROWS = 250_000


async def window_correlations(query: Any, ids: list[str], since: datetime | None, until: datetime | None
                              ) -> dict[str, dict[str, Any]]:
    """Per pattern: the exact error count in the window (``total``) and the correlations, exact when
    the window holds at most SAMPLE_ROWS errors, else estimated from a sample (each sampled count
    scaled by the pattern's exact total over its sampled total, so shares are sample shares)."""
    totals_rows = await query(*Q.pattern_totals(ids, since, until))
    totals = {r["pattern_id"]: int(r["n"]) for r in totals_rows if r["pattern_id"] is not None}
    in_window = sum(int(r["n"] or 0) for r in totals_rows if r["pattern_id"] is None)
    if in_window <= SAMPLE_ROWS:
        return fold_correlations(await query(*Q.correlations(ids, since, until)))
    rows = await query(*Q.correlations(ids, since, until, 100.0 * SAMPLE_ROWS / in_window))
    sampled = {r["pattern_id"]: int(r["n"]) for r in rows if r["dim"] == "total"}
    scaled = [{"pattern_id": pid, "dim": "total", "value": None, "n": n} for pid, n in totals.items() if n > 0]
    for r in rows:
        pid = r["pattern_id"]
        if r["dim"] != "total" and totals.get(pid) and sampled.get(pid):
            scaled.append({**r, "n": round(int(r["n"]) * totals[pid] / sampled[pid])})
    return fold_correlations(scaled)


async def describe_patterns(handler: Any, *, limit: int, category: str | None, since: datetime | None,
                            until: datetime | None) -> list[dict[str, Any]]:
    sink = handler.sink
    stored = await sink.query(*Q.patterns(limit, category))
    if not stored:
        return []
    ids = [r["pattern_id"] for r in stored]
    aggregator = getattr(handler, "aggregator", None)
    window = float(getattr(aggregator, "window_seconds", 300.0))
    now = P.utcnow()
    windows = {r["pattern_id"]: r for r in await sink.query(*Q.pattern_windows(ids, now, window))}
    corr = await window_correlations(sink.query, ids, since, until)
    items = []
    for r in stored:
        pid = r["pattern_id"]
        w = windows.get(pid, {})
        c = corr.get(pid, {"total": 0, "correlations": {"worker_id": {}, "hardware_type": {}, "tags": {}}})
        live = aggregator.get_pattern(pid) if aggregator is not None else None
        items.append({
            "pattern_id": pid, "template": (live or {}).get("template") or r["template"],
            "category": r["category"], "count": int(r["count"]),
            "first_seen": P.iso_us(r["first_us"]), "last_seen": P.iso_us(r["last_us"]),
            "trend": history_trend(r["first_us"], int(w.get("recent") or 0), int(w.get("previous") or 0),
                                   now, window),
            "window_count": c["total"], "correlations": c["correlations"],
            "summary": summarize_correlations(c["correlations"]),
            "live": None if live is None else {"held": live.get("held"), "trend": live.get("trend"),
                                               "correlations": live.get("correlations")},
        })
    return items


async def correlation_items(handler: Any, *, limit: int, pattern_id: str | None, since: datetime | None,
                            until: datetime | None, min_share: float) -> dict[str, Any]:
    sink = handler.sink
    if pattern_id is not None:
        stored = await sink.query("SELECT pattern_id, template, category FROM error_patterns WHERE pattern_id = ?",
                                  [pattern_id])
    else:
        stored = await sink.query(*Q.patterns(limit))
    ids = [r["pattern_id"] for r in stored]
    corr = fold_correlations(await sink.query(*Q.correlations(ids, since, until))) if ids else {}
    items = []
    for r in stored:
        c = corr.get(r["pattern_id"])
        if c is None:
            continue
        items.append({"pattern_id": r["pattern_id"], "template": r["template"], "category": r["category"],
                      "count": c["total"], "correlations": c["correlations"],
                      "summary": summarize_correlations(c["correlations"], min_share)})
    items.sort(key=lambda i: -i["count"])
    pairs = await hardware_model_rates(sink, since, until)
    return {"since": P.iso_dt(since), "until": P.iso_dt(until), "items": items, "next_cursor": None,
            "hardware_model": pairs}
