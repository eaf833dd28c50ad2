"""A hostile or buggy worker socket against a live coordinator: only that connection pays.

A real worker completes tasks throughout; every offending socket is closed with the expected
code; afterwards /health is ok, every task completed exactly once, and the log holds no traceback.
"""
from __future__ import annotations

import asyncio

import aiohttp
import orjson

from worker.protocol import MAX_FRAME_BYTES, CloseCode, MessageType, encode
from tests.security.conftest import RawWorker, hello, until

PROTO, UNAUTH, TOO_BIG = CloseCode.PROTOCOL_ERROR, CloseCode.UNAUTHORIZED, CloseCode.FRAME_TOO_LARGE
OK = '{"v": 1, "type": "heartbeat"}'


def _deep(n: int) -> str:
    return "[" * n + "]" * n


# (frames sent after connecting, expected close code). "HELLO" stands for a valid hello.
CASES = [
    ([OK], PROTO),                                               # anything before hello
    ([encode(MessageType.RESULTS, items=[])], PROTO),            # results before hello
    ([b"\x00\x01binary"], PROTO),                                 # binary frames
    (["not json"], PROTO),
    (['{"v": 1, "type": "hello", "worker_id": ["x"], "token": "wtok", "hardware": {}}'], PROTO),
    ([hello("intruder", "wrong")], UNAUTH),
    ([hello("bad id with spaces", "wtok")], PROTO),
    (["x" * (MAX_FRAME_BYTES + 1)], TOO_BIG),                     # over the limit before hello
    (["HELLO", "HELLO"], PROTO),                                  # hello twice
    (["HELLO", b"\x00binary"], PROTO),
    (["HELLO", '{"v": 1, "type": "heartbeat", "held": [1, 2, 3]}'], PROTO),
    (["HELLO", '{"v": 1, "type": "heartbeat", "held": [{"task_id": {}, "attempt": 1, "lease": "l"}]}'], PROTO),
    (["HELLO", '{"v": 1, "type": "results", "items": ["not a dict"]}'], PROTO),
    (["HELLO", '{"v": 1, "type": "started", "items": [{"task_id": "t", "attempt": true, "lease": "l"}]}'], PROTO),
    (["HELLO", '{"v": 1, "type": "heartbeat", "load": ' + _deep(300) + "}"], PROTO),
    (["HELLO", encode(MessageType.TASKS, items=[])], PROTO),      # a coordinator-only message
    (["HELLO", '{"v": 9, "type": "heartbeat"}'], PROTO),
    (["HELLO", "x" * (MAX_FRAME_BYTES + 10)], TOO_BIG),
    (["HELLO", encode(MessageType.HEARTBEAT, held=[{"task_id": "t", "attempt": 1, "lease": "l"}] * 10_001)], PROTO),
]


async def test_fuzzing_client_is_closed_and_others_unaffected(cluster) -> None:
    await asyncio.to_thread(cluster.start_coordinator)
    await asyncio.to_thread(cluster.start_worker, "real-1")
    task = {"type": "python", "config": {"callable": "operator:add", "args": [1, 2]},
            "requirements": {"hardware": ["cpu"]}}  # never matched to the fuzzing sockets
    submitted: list[str] = []
    async with aiohttp.ClientSession() as session:
        for i, (frames, expected) in enumerate(CASES):
            # Keep the real worker busy while the hostile sockets come and go.
            submitted += await asyncio.to_thread(cluster.submit, [task] * 5)
            raw = await RawWorker(session, cluster.ws_url).connect()
            for frame in frames:
                if frame == "HELLO":
                    await raw.send(hello(f"fuzz-{i}", "wtok"))
                    if raw.inbox == []:
                        await raw.expect_type("welcome")
                else:
                    await raw.send(frame)
            code = await raw.closed_with()
            if code == 1009 and expected is TOO_BIG:  # cut by the socket reader: also "too big"
                code = TOO_BIG
            assert code == expected, f"case {i}: {str(frames)[:120]} closed with {code}, expected {expected}"
    await until(lambda: cluster.status()["tasks"].get("completed", 0) == len(submitted), 60,
                "every task completed")
    assert (await asyncio.to_thread(cluster.api.get, "/health"))["status"] == "ok"
    for tid in submitted[:: max(1, len(submitted) // 10)]:
        t = await asyncio.to_thread(cluster.task, tid)
        assert [a["outcome"] for a in t["attempts"]] == ["passed"] and t["result"] == 3
    assert cluster.worker("real-1")["connected"]
    metrics = await asyncio.to_thread(cluster.api.get, "/metrics")
    assert "dtf_protocol_errors_total" in metrics and "dtf_worker_auth_failures_total 1" in metrics
    log = (cluster.tmp / "coordinator.log").read_text(errors="replace")
    assert "Traceback" not in log and "frame_handling_failed" not in log


async def test_a_worker_cannot_act_for_another(cluster) -> None:
    """B learns A's task id, attempt and lease: its started/results are refused; A's task is untouched."""
    await asyncio.to_thread(cluster.start_coordinator)
    async with aiohttp.ClientSession() as session:
        a = await RawWorker(session, cluster.ws_url).connect()
        await a.send(hello("worker-a", "wtok", types=["hw-a"]))
        await a.expect_type("welcome")
        b = await RawWorker(session, cluster.ws_url).connect()
        await b.send(hello("worker-b", "wtok", types=["hw-b"]))
        await b.expect_type("welcome")
        [tid] = await asyncio.to_thread(cluster.submit, [{
            "type": "python", "config": {"callable": "operator:add", "args": [1, 2]},
            "requirements": {"hardware": ["hw-a"]}}])
        item = (await a.expect_type("tasks"))["items"][0]
        key = {"task_id": tid, "attempt": item["attempt"], "lease": item["lease"]}
        await b.send(encode(MessageType.STARTED, items=[key]))
        await b.send(encode(MessageType.RESULTS, items=[{**key, "outcome": "failed", "result": "forged",
                                                         "error": {"type": "Forged", "message": "by b"}}]))
        acks = (await b.expect_type("result_acks"))["items"]
        assert acks[0]["status"] == "rejected" and acks[0]["reason"] == "attempt belongs to another worker"
        t = await asyncio.to_thread(cluster.task, tid)
        assert t["status"] == "assigned" and t["attempts"][0]["worker_id"] == "worker-a"
        assert t["attempts"][0]["outcome"] is None and t["error"] is None
        # A's own report still counts, exactly once.
        await a.send(encode(MessageType.RESULTS, items=[{**key, "outcome": "passed", "result": 3}]))
        assert (await a.expect_type("result_acks"))["items"][0]["status"] == "accepted"
        await a.send(encode(MessageType.RESULTS, items=[{**key, "outcome": "passed", "result": 3}]))
        assert (await a.expect_type("result_acks"))["items"][0]["status"] == "duplicate"
        t = await asyncio.to_thread(cluster.task, tid)
        assert t["status"] == "completed" and t["result"] == 3 and len(t["attempts"]) == 1
        # Unknown tasks and wrong leases are refused without closing the socket.
        await b.send(encode(MessageType.RESULTS, items=[{"task_id": "nope", "attempt": 1, "lease": "x",
                                                         "outcome": "passed"}]))
        assert (await b.expect_type("result_acks"))["items"][0]["reason"] == "unknown task"
        # Taking over a connected worker's id is allowed (shared token) but visible.
        c = await RawWorker(session, cluster.ws_url).connect()
        await c.send(hello("worker-a", "wtok", types=["hw-a"]))
        await c.expect_type("welcome")
        assert await a.closed_with() == CloseCode.SUPERSEDED
        metrics = await asyncio.to_thread(cluster.api.get, "/metrics")
        assert "dtf_foreign_results_refused_total 1" in metrics
        assert "dtf_worker_takeovers_total 1" in metrics
        for s in (b, c):
            await s.close()
    log = (cluster.tmp / "coordinator.log").read_text(errors="replace")
    assert "foreign_results_refused" in log and "worker_connection_superseded" in log


async def test_deep_result_from_a_task_is_stored_as_an_error(cluster) -> None:
    await asyncio.to_thread(cluster.start_coordinator)
    async with aiohttp.ClientSession() as session:
        a = await RawWorker(session, cluster.ws_url).connect()
        await a.send(hello("deep", "wtok"))
        await a.expect_type("welcome")
        [tid] = await asyncio.to_thread(cluster.submit, [{
            "type": "python", "config": {"callable": "operator:add", "args": [1, 2]},
            "requirements": {"hardware": ["fuzzhw"]}}])
        item = (await a.expect_type("tasks"))["items"][0]
        result = orjson.loads(_deep(150))
        await a.send(encode(MessageType.RESULTS, items=[{"task_id": tid, "attempt": item["attempt"],
                                                         "lease": item["lease"], "outcome": "passed",
                                                         "result": result}]))
        assert (await a.expect_type("result_acks"))["items"][0]["status"] == "accepted"
        t = await until(lambda: (lambda t: t if t["status"] in ("error", "queued", "retry_wait", "assigned")
                                 and t["attempts"][0]["outcome"] else None)(cluster.task(tid)), 10,
                        "the attempt recorded")
        assert t["attempts"][0]["outcome"] == "error"
        await a.close()
    assert (await asyncio.to_thread(cluster.api.get, "/health"))["status"] == "ok"
    page = await asyncio.to_thread(cluster.api.get, "/api/v1/tasks?limit=5")
    assert page["items"][0]["task_id"] == tid
