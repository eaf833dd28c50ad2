"""DistributedErrorHandler's events: every event reaches DuckDB by stop(), a slow or failing sink
applies backpressure or drops and counts without hanging, actions and stats are stored."""
from __future__ import annotations

import asyncio

import duckdb
import pytest

from tests.error_handling.handler_stubs import C, ctx, stub_handler


# -- events, stop, backpressure --------------------------------------------------------------

async def test_stop_flushes_every_event(tmp_path):
    path = tmp_path / "events.duckdb"
    h = stub_handler(event_sink=path, queue_size=64)
    cats = [C.NETWORK_CONNECTION_ERROR, C.WORKER_CRASH_ERROR, C.TEST_EXECUTION_ERROR]
    decisions = [await h.handle_error({"type": "E", "message": f"failure kind {i % 3}"},
                                      ctx(cats[i % 3], attempt=1 + i % 4, task_id=f"t{i}"))
                 for i in range(3000)]
    await h.stop()
    assert h.stats()["events"] == 3000 and h.stats()["dropped"] == 0
    con = duckdb.connect(str(path))
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM error_events").fetchone() == (3000, 3000)
    by_cat = dict(con.execute("SELECT category, count(*) FROM error_events GROUP BY 1").fetchall())
    assert by_cat == {c.value: 1000 for c in cats}
    assert con.execute("SELECT sum(count) FROM error_patterns").fetchone()[0] == 3000
    row = con.execute("SELECT retry, retry_delay, outcome, actions FROM error_events "
                      "WHERE event_id = ?", [decisions[0].event_id]).fetchone()
    assert row == (True, decisions[0].retry_delay, "retry", '["reconnect"]')
    con.close()


class SlowSink:
    """A sink whose writer is stuck until ``gate`` opens."""

    batch_size = 1
    running = True

    def __init__(self):
        self.gate = asyncio.Event()
        self.submitted: list[dict] = []
        self.flushed = 0

    @property
    def pending(self):
        return len(self.submitted) - self.flushed

    def submit_events(self, rows):
        self.submitted.extend(rows)

    async def flush(self):
        await self.gate.wait()
        self.flushed = len(self.submitted)


async def test_backpressure_awaits_without_blocking_the_loop():
    sink = SlowSink()
    h = stub_handler(event_sink=sink, queue_size=2)
    await h.start()
    ticks = 0
    stop_ticking = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop_ticking.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    tasks = [asyncio.create_task(h.handle_error({"message": f"m{i}"}, ctx(C.UNKNOWN_ERROR, task_id=f"t{i}")))
             for i in range(10)]

    async def saturated():
        while not (h.stats()["queue_depth"] == 2 and sink.pending == 2):
            await asyncio.sleep(0)
    await asyncio.wait_for(saturated(), timeout=5)
    before = ticks
    for _ in range(50):
        await asyncio.sleep(0)
    assert ticks > before  # the loop keeps running other coroutines
    done = [t for t in tasks if t.done()]
    assert len(done) == 4  # 2 taken by the stuck writer + 2 in the queue; the rest wait
    assert h.stats()["queue_depth"] == 2
    # a waiting handle_error can be cancelled, and the cancellation propagates
    tasks[-1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[-1]
    sink.gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks[:-1]), timeout=5)
    await asyncio.wait_for(h.stop(), timeout=5)
    stop_ticking.set()
    await ticking
    assert [e["task_id"] for e in sink.submitted] == [f"t{i}" for i in range(9)]
    assert h.stats()["dropped"] == 0


async def test_a_failing_sink_drops_and_counts_but_never_hangs():
    class BrokenSink:
        batch_size = 10
        running = True
        pending = 0

        def submit_events(self, rows):
            raise RuntimeError("disk full")

        async def flush(self):
            return None

    h = stub_handler(event_sink=BrokenSink(), queue_size=4)
    for i in range(20):
        await asyncio.wait_for(h.handle_error({"message": "x"}, ctx(C.UNKNOWN_ERROR)), timeout=5)
    await asyncio.wait_for(h.stop(), timeout=5)
    assert h.stats()["dropped"] == 20


async def test_record_action_and_stats_with_duckdb(tmp_path):
    h = stub_handler(event_sink=tmp_path / "e.duckdb")
    d = await h.handle_error({"message": "gone"}, ctx(C.WORKER_DISCONNECTION_ERROR))
    for action in d.actions:
        h.record_action(d.event_id, action, "t1", "w1", success=True, detail=None)
    await h.flush()
    rows = await h.sink.query("SELECT action, event_id FROM recovery_actions ORDER BY action")
    assert rows == [{"action": "mark_worker_unavailable", "event_id": d.event_id},
                    {"action": "reassign_task", "event_id": d.event_id}]
    s = h.stats()
    assert s["events_by_category"] == {"worker_disconnection_error": 1}
    assert s["events_by_outcome"] == {"retry": 1}
    assert s["actions_recorded"] == 2 and s["queue_size"] == 10000
    await h.stop()


