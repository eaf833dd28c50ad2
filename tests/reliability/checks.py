"""Invariants every reliability run must end with, read from the metrics text and the files."""
from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

TERMINAL = ("completed", "failed", "error", "timed_out", "cancelled")


def counter(metrics_text: str, name: str) -> float:
    """Sum of a counter's series in Prometheus text (0 when absent)."""
    total = 0.0
    for m in re.finditer(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$", metrics_text, re.M):
        total += float(m.group(1))
    return total


def sqlite_ledger(path: Path) -> dict[str, Any]:
    """Statuses and passed-attempt counts per task, after PRAGMA integrity_check (read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        statuses = dict(db.execute("SELECT task_id, status FROM tasks"))
        passed = dict(db.execute("SELECT task_id, COUNT(*) FROM attempts WHERE outcome='passed' GROUP BY task_id"))
        attempts = dict(db.execute("SELECT task_id, COUNT(*) FROM attempts GROUP BY task_id"))
    finally:
        db.close()
    return {"integrity": integrity, "statuses": statuses, "passed": passed, "attempts": attempts}


def check_exactly_once(ledger: dict[str, Any], submitted: list[str]) -> list[str]:
    """Every submitted task present and terminal; completed ones passed exactly once, others never."""
    problems = []
    if ledger["integrity"] != [("ok",)]:
        problems.append(f"sqlite integrity_check: {ledger['integrity'][:5]}")
    statuses, passed = ledger["statuses"], ledger["passed"]
    missing = set(submitted) - set(statuses)
    if missing:
        problems.append(f"{len(missing)} submitted tasks missing from the state, e.g. {sorted(missing)[:3]}")
    extra = set(statuses) - set(submitted)
    if extra:
        problems.append(f"{len(extra)} tasks in the state that nobody submitted")
    open_ = {t: s for t, s in statuses.items() if s not in TERMINAL}
    if open_:
        problems.append(f"{len(open_)} tasks not terminal, e.g. {list(open_.items())[:3]}")
    twice = {t: n for t, n in passed.items() if n != 1}
    if twice:
        problems.append(f"{len(twice)} tasks with more than one passed attempt, e.g. {list(twice.items())[:3]}")
    for tid, status in statuses.items():
        if (status == "completed") != (tid in passed):
            problems.append(f"task {tid} is {status} but has {passed.get(tid, 0)} passed attempts")
            break
    return problems


def duckdb_report(path: Path) -> dict[str, Any]:
    """Open the DuckDB file (replaying its WAL) and count task_results rows per (task, attempt)."""
    import duckdb
    # The coordinator's DuckDB process dies with it, a moment after the kill: wait that out
    # (a lock, not damage; anything else fails at once).
    deadline = time.monotonic() + 5
    while True:
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        report: dict[str, Any] = {"tables": sorted(tables)}
        report["error_events"] = con.execute("SELECT COUNT(*) FROM error_events").fetchone()[0]
        if "task_results" in tables:
            report["task_result_rows"] = con.execute(
                "SELECT COUNT(*) FROM task_results WHERE type IS DISTINCT FROM 'case'").fetchone()[0]
            report["duplicate_attempt_rows"] = con.execute(
                "SELECT COUNT(*) FROM (SELECT task_id, attempt FROM task_results WHERE type IS DISTINCT FROM 'case' "
                "GROUP BY task_id, attempt HAVING COUNT(*) > 1)").fetchone()[0]
            report["tasks_passed_twice"] = con.execute(
                "SELECT COUNT(*) FROM (SELECT task_id FROM task_results WHERE outcome = 'passed' "
                "AND type IS DISTINCT FROM 'case' GROUP BY task_id HAVING COUNT(*) > 1)").fetchone()[0]
            report["tasks_with_results"] = con.execute(
                "SELECT COUNT(DISTINCT task_id) FROM task_results").fetchone()[0]
    finally:
        con.close()
    return report
