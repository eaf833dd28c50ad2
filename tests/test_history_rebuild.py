"""A kill -9 may lose the last DuckDB batch; the restart rebuilds it from SQLite, once."""
from __future__ import annotations

import duckdb

from tests.harness import Cluster


def counts(path) -> tuple[int, int, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        events = con.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM error_events").fetchone()
        results = con.execute("SELECT COUNT(DISTINCT task_id) FROM task_results").fetchone()[0]
        return events[0], events[1], results
    finally:
        con.close()


def test_history_lost_in_a_crash_is_rebuilt_from_state(tmp_path):
    c = Cluster(tmp_path, coordinator_args=["--result-aggregator"])
    try:
        c.start_coordinator()
        c.start_worker("w1", concurrency=4)
        c.submit([{"type": "chaos", "config": {"fault": "assertion"}} for _ in range(15)] +
                 [{"type": "python", "config": {"callable": "operator:add", "args": [1, 2]}} for _ in range(15)])
        c.wait_all_terminal(30)
        c.kill_coordinator()  # likely inside the 0.5 s flush window: some history is not in DuckDB
        c.start_coordinator()
        c.kill_coordinator()
        c.start_coordinator()  # a second restart must not add anything twice
        items = c.api.get("/api/v1/errors?limit=100")["items"]
        assert len(items) == 15 and {i["category"] for i in items} == {"test_execution_error"}
    finally:
        c.stop()
    events, distinct, results = counts(tmp_path / "events.duckdb")
    assert events == distinct == 15
    assert results == 30
