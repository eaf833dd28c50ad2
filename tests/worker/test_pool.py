"""The process pool with real child processes: results, isolation of crashes and hangs,
re-dispatch of queued calls, recycling, cancellation, and a clean close."""
from __future__ import annotations

import asyncio
import math
import os
import signal
import time

import psutil
import pytest

from worker.executors.pool import CallStatus, PoolClosedError, PoolStartError, ProcessPool

HERE = "tests.worker"  # the child-side callables live in tests/worker/__init__.py


# ---- helpers ----------------------------------------------------------------------------------

def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def gone(pid: int) -> bool:
    """Not running and not a zombie: it was reaped."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_DEAD
    except psutil.NoSuchProcess:
        return True


def dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
async def pool():
    pools: list[ProcessPool] = []

    async def make(**kwargs) -> ProcessPool:
        kwargs.setdefault("size", 1)
        p = ProcessPool(**kwargs)
        await p.start()
        pools.append(p)
        return p

    yield make
    for p in pools:
        await p.close()


# ---- tests ------------------------------------------------------------------------------------

async def test_call_returns_json_result(pool):
    p = await pool(size=2)
    result = await p.call("operator:add", [1, 2])
    assert result.status is CallStatus.OK and result.value == 3
    assert (await p.call(f"{HERE}:echo", [{"a": (1, 2)}])).value == {"a": [1, 2]}
    assert (await p.call("builtins:dict", kwargs={"x": 1})).value == {"x": 1}


async def test_exceptions_carry_qualified_type_message_and_traceback(pool):
    p = await pool()
    decode = await p.call("json:loads", ["{bad"])
    assert decode.status is CallStatus.RAISED
    assert decode.error["type"] == "json.decoder.JSONDecodeError"
    assert "Expecting property name" in decode.error["message"]
    assert "json/decoder.py" in decode.error["traceback"]
    assert "_pool_child.py" not in decode.error["traceback"]  # the report starts at user code
    missing = await p.call("no_such_module_xyz:f")
    assert missing.error["type"] == "ModuleNotFoundError"
    assert "no_such_module_xyz" in missing.error["message"]
    bad_target = await p.call("operator.add")
    assert bad_target.error["type"] == "ValueError"
    assertion = await p.call(f"{HERE}:fail_assert")
    assert assertion.error["type"] == "AssertionError" and assertion.error["assertion"] is True
    assert "one is not two" in assertion.error["message"]


async def test_result_that_is_not_json_names_its_type(pool):
    p = await pool()
    result = await p.call("builtins:set", [[1, 2]])
    assert result.status is CallStatus.RAISED
    assert result.error["type"] == "TypeError"
    assert "not JSON-serialisable" in result.error["message"] and "set" in result.error["message"]
    assert (await p.call("operator:add", [2, 2])).value == 4  # the child survived


@pytest.mark.parametrize("target,args,field,expected", [
    (f"{HERE}:die", [3], "exit_code", 3),
    (f"{HERE}:kill_self", [int(signal.SIGKILL)], "signal", int(signal.SIGKILL)),
])
async def test_crash_kills_only_that_call_and_queued_calls_complete(pool, target, args, field, expected):
    # An infinite pipelining budget queues calls behind any call, seen or not: the 5 echoes
    # (submitted in one loop iteration) sit in the same child's pipe behind the crash.
    p = await pool(size=1, max_inflight_per_child=16, pipeline_budget_seconds=math.inf)
    old_pid = p.pids()[0]
    results = await asyncio.gather(p.call(target, args), *(p.call(f"{HERE}:echo", [i]) for i in range(5)))
    crash, rest = results[0], results[1:]
    assert crash.status is CallStatus.CRASHED
    assert crash.error[field] == expected
    assert [r.status for r in rest] == [CallStatus.OK] * 5
    assert [r.value for r in rest] == list(range(5))
    assert p.stats.crashed == 1 and p.stats.redispatched == 5
    new_pid = p.pids()[0]
    assert new_pid != old_pid and all(r.pid == new_pid for r in rest)
    assert gone(old_pid)


async def test_timeout_kills_the_hung_child_with_sigkill_and_others_complete(pool):
    p = await pool(size=1)
    old_pid = p.pids()[0]
    started = time.monotonic()
    hung, *rest = await asyncio.gather(p.call(f"{HERE}:nap", [60], timeout_seconds=0.4),
                                       *(p.call(f"{HERE}:echo", [i], timeout_seconds=5) for i in range(4)))
    assert time.monotonic() - started < 10
    assert hung.status is CallStatus.TIMED_OUT
    assert hung.error["signal"] == signal.SIGKILL and hung.pid == old_pid
    assert [r.value for r in rest] == [0, 1, 2, 3]
    assert gone(old_pid) and p.pids()[0] != old_pid
    assert p.stats.timed_out == 1


async def test_timeout_counts_from_when_the_call_starts_not_when_it_was_queued(pool):
    p = await pool(size=1)
    # each takes 0.5 s under a 0.9 s limit; the second waits 0.5 s behind the first, which must
    # not count against it
    first, second = await asyncio.gather(p.call(f"{HERE}:nap", [0.5], timeout_seconds=0.9),
                                         p.call(f"{HERE}:nap", [0.5], timeout_seconds=0.9))
    assert first.status is CallStatus.OK and second.status is CallStatus.OK
    assert first.value == second.value  # same child: the second was pipelined behind the first


async def test_timeout_kills_subprocesses_the_task_started(pool, tmp_path):
    p = await pool(size=1)
    pid_file = tmp_path / "grandchild.pid"
    result = await p.call(f"{HERE}:spawn_and_hang", [str(pid_file)], timeout_seconds=1.0)
    assert result.status is CallStatus.TIMED_OUT
    grandchild = int(pid_file.read_text())
    # SIGKILL went to the child's whole process group, so the grandchild is dead already; it is
    # init's orphan now, and init reaps it when it gets round to it (a zombie until then)
    deadline = time.monotonic() + 2  # signal delivery to another process is not instant
    while not dead(grandchild) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert dead(grandchild)


async def test_children_are_recycled_after_max_tasks(pool):
    p = await pool(size=1, max_tasks_per_child=3)
    pids = [(await p.call("os:getpid")).value for _ in range(7)]
    assert pids[0] == pids[1] == pids[2]
    assert pids[3] == pids[4] == pids[5] and pids[3] != pids[0]
    assert pids[6] not in (pids[0], pids[3])
    assert p.stats.recycled >= 2
    # each retiree exited on EOF once its last reply was read, and was reaped; the replacement's
    # start-up (tens of ms) comes after that, so both deaths were handled before the 7th reply
    assert gone(pids[0]) and gone(pids[3])
    assert p.pids() == [pids[6]]


async def test_pipelined_calls_keep_order_and_values(pool):
    p = await pool(size=2, max_inflight_per_child=32)
    results = await asyncio.gather(*(p.call("operator:mul", [i, 3]) for i in range(3000)))
    assert [r.value for r in results] == [i * 3 for i in range(3000)]
    assert {r.pid for r in results} == set(p.pids())  # both children did work


async def test_a_short_call_never_queues_behind_a_long_one_while_a_child_is_idle(pool, tmp_path):
    p = await pool(size=2)
    await p.call(f"{HERE}:echo", [0])  # seen once: echo is known to be short
    marker = tmp_path / "started"
    long_call = asyncio.ensure_future(p.call(f"{HERE}:nap", [1.5, str(marker)]))
    await _started(marker)
    results = await asyncio.gather(*(p.call(f"{HERE}:echo", [i]) for i in range(40)))
    assert not long_call.done(), "the short calls finished before the long one"
    long_pid = (await long_call).pid
    assert [r.value for r in results] == list(range(40))
    assert all(r.pid != long_pid for r in results), "a short call was queued behind the long one"


async def test_unseen_calls_wait_for_an_idle_child_and_known_short_ones_are_pipelined(pool):
    p = await pool(size=1)
    events: list[str] = []

    def track(name: str):
        return lambda: events.append(f"{name} handed to a child after {p.stats.completed} replies")

    await asyncio.gather(p.call(f"{HERE}:nap", [0.2], on_start=track("a")),
                         p.call(f"{HERE}:nap", [0.2], on_start=track("b")))
    # nap had no estimate when both were submitted: the second waited for the child to be idle
    assert events == ["a handed to a child after 0 replies", "b handed to a child after 1 replies"], events
    await p.call(f"{HERE}:echo", [0])
    started = []
    calls = [asyncio.ensure_future(p.call(f"{HERE}:echo", [i], on_start=lambda: started.append(1)))
             for i in range(20)]
    seen_at_first_reply = []
    calls[0].add_done_callback(lambda _: seen_at_first_reply.append(len(started)))
    assert [r.value for r in await asyncio.gather(*calls)] == list(range(20))
    assert seen_at_first_reply[0] > 1, "known short calls were not pipelined"
    assert all(r.run_seconds is not None and r.run_seconds < 0.5 for r in await asyncio.gather(*calls))


async def _started(marker, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not marker.exists():
        assert asyncio.get_running_loop().time() < deadline, "the call never started"
        await asyncio.sleep(0.01)


async def test_cancelling_a_running_call_replaces_its_child(pool, tmp_path):
    p = await pool(size=1)
    old_pid = p.pids()[0]
    marker = tmp_path / "started"
    task = asyncio.ensure_future(p.call(f"{HERE}:nap", [60, str(marker)]))
    queued = asyncio.ensure_future(p.call(f"{HERE}:echo", ["after"]))
    await _started(marker)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await asyncio.wait_for(queued, 10)
    assert after.value == "after" and after.pid != old_pid
    assert gone(old_pid)


async def test_close_kills_children_reaps_them_and_closes_fds(tmp_path):
    before = fd_count()
    p = ProcessPool(size=2)
    await p.start()
    pids = p.pids()
    assert len(pids) == 2 and all(psutil.pid_exists(pid) for pid in pids)
    marker = tmp_path / "started"
    running = asyncio.ensure_future(p.call(f"{HERE}:nap", [60, str(marker)]))
    queued = [asyncio.ensure_future(p.call("operator:add", [1, 1])) for _ in range(40)]
    await _started(marker)
    await p.close()
    assert all(gone(pid) for pid in pids)
    assert psutil.Process().children() == []
    with pytest.raises(PoolClosedError):
        await running
    outcomes = await asyncio.gather(*queued, return_exceptions=True)
    assert all(isinstance(o, PoolClosedError) or o.status is CallStatus.OK for o in outcomes)
    assert fd_count() == before
    with pytest.raises(PoolClosedError):
        await p.call("operator:add", [1, 1])


async def test_crash_and_timeout_churn_leaks_no_fds_or_zombies():
    p = ProcessPool(size=2)
    await p.start()
    baseline = fd_count()
    for _ in range(3):
        await p.call(f"{HERE}:die", [1])
        await p.call(f"{HERE}:nap", [30], timeout_seconds=0.2)
    assert (await p.call("operator:add", [1, 1])).value == 2
    assert fd_count() == baseline  # each replacement holds exactly what its victim held
    assert len(psutil.Process().children()) == 2
    await p.close()
    assert psutil.Process().children() == []


async def test_children_that_die_before_starting_fail_the_calls_instead_of_looping(monkeypatch):
    import worker.executors.pool_records as records
    monkeypatch.setattr(records, "_BOOT", "import sys; sys.exit(3)")
    p = ProcessPool(size=1, startup_timeout_seconds=10)
    with pytest.raises(PoolStartError, match="exited unexpectedly with code 3"):
        await p.start()
    assert p.stats.spawned == 3
    with pytest.raises(PoolStartError):
        await p.call("operator:add", [1, 1])  # the next call tries again, and fails again
    assert p.stats.spawned == 6
    await p.close()
    assert psutil.Process().children() == []


async def test_spawn_failure_is_reported_to_the_caller(monkeypatch):
    import worker.executors.pool_records as records
    p = ProcessPool(size=1)
    await p.start()
    monkeypatch.setattr(records.sys, "executable", "/nonexistent/python")
    assert (await p.call(f"{HERE}:die", [1])).status is CallStatus.CRASHED
    with pytest.raises(PoolStartError, match="FileNotFoundError"):
        await p.call("operator:add", [1, 1])
    await p.close()
