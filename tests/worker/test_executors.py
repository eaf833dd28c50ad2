"""Every executor, every outcome, with real subprocesses, real pytest runs and real faults."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from worker.executors import ExecutorSettings, build_executors, executor_for, pool_pids
from worker.executors.base import ExecContext, Outcome
from worker.executors.chaos import Fault

CALLABLES = "tests.worker"  # child-side helpers live in tests/worker/__init__.py


class FakeControl:
    def __init__(self) -> None:
        self.disconnects = 0
        self.exit_codes: list[int] = []

    def disconnect(self) -> None:
        self.disconnects += 1

    def exit_worker(self, code: int) -> None:
        self.exit_codes.append(code)


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
async def executors(work_dir):
    settings = ExecutorSettings(pool_size=2, work_dir=work_dir, kill_grace_seconds=0.3,
                                output_tail_bytes=2048)
    built = build_executors(settings)
    for executor in built.values():
        await executor.start()
    yield built
    for executor in built.values():
        await executor.close()


@pytest.fixture
def ctx(work_dir):
    def make(timeout_seconds: float = 30.0, attempt: int = 1, control=None) -> ExecContext:
        return ExecContext(task_id="t-1", attempt=attempt, timeout_seconds=timeout_seconds,
                           work_dir=work_dir, worker_id="w-1", hardware=["cpu"], control=control)
    return make


async def run(executors, type_name, config, context):
    result = await executor_for(executors, type_name).run(config, context)
    json.dumps(result.result)  # results and errors go on the wire as JSON
    json.dumps(result.error)
    json.dumps(result.details)
    return result


# ---- factory ----------------------------------------------------------------------------------

def test_build_executors_honours_allowed_types(work_dir):
    built = build_executors(ExecutorSettings(work_dir=work_dir, allowed_types=["command", "python"]))
    assert sorted(built) == ["command", "python"]
    assert executor_for(built, "pytest") is None
    assert {e.type_name for e in build_executors(ExecutorSettings(work_dir=work_dir)).values()} == \
        {"command", "pytest", "python", "benchmark", "chaos"}
    with pytest.raises(ValueError, match="gpu_magic"):
        build_executors(ExecutorSettings(allowed_types=["gpu_magic"]))


async def test_executors_share_one_pool_whose_pids_are_reported(executors):
    pids = pool_pids(executors)
    assert len(pids) == 2 and all(psutil.pid_exists(pid) for pid in pids)
    assert {p.pid for p in psutil.Process().children()} >= pids


# ---- command ----------------------------------------------------------------------------------

async def test_command_exit_zero_passes_with_tails(executors, ctx, work_dir):
    result = await run(executors, "command",
                       {"command": "echo out-$FOO; echo err >&2; pwd", "env": {"FOO": "bar"}}, ctx())
    assert result.outcome is Outcome.PASSED and result.result == {"exit_code": 0}
    assert "out-bar" in result.details["stdout"] and "err" in result.details["stderr"]
    task_dir = Path(result.details["stdout"].splitlines()[-1])
    assert task_dir.parent == work_dir  # default cwd: a per-task directory under work_dir ...
    assert not task_dir.exists()          # ... removed afterwards


async def test_command_nonzero_exit_fails_with_last_stderr_line(executors, ctx):
    result = await run(executors, "command", {"argv": [sys.executable, "-c",
                       "import sys; print('noise', file=sys.stderr); sys.exit('expected 3 rows, got 2')"]},
                       ctx())
    assert result.outcome is Outcome.FAILED
    assert result.error["type"] == "CommandFailed" and result.error["exit_code"] == 1
    assert result.error["message"].endswith("expected 3 rows, got 2")
    assert "noise" in result.error["stderr"]


async def test_command_killed_by_signal_is_a_crash(executors, ctx):
    result = await run(executors, "command", {"command": "kill -SEGV $$"}, ctx())
    assert result.outcome is Outcome.CRASHED
    assert result.error["type"] == "ProcessKilled" and result.error["signal"] == signal.SIGSEGV
    assert result.error["message"] == "process killed by signal 11 (SIGSEGV)"


async def test_command_not_found_is_an_error(executors, ctx):
    direct = await run(executors, "command", {"argv": ["dtf-no-such-program", "x"]}, ctx())
    assert direct.outcome is Outcome.ERROR and direct.error["type"] == "FileNotFoundError"
    assert "dtf-no-such-program" in direct.error["message"]
    shell = await run(executors, "command", {"command": "dtf-no-such-program"}, ctx())
    assert shell.outcome is Outcome.ERROR and shell.error["type"] == "FileNotFoundError"
    assert "not found" in shell.error["message"] and shell.error["exit_code"] == 127


async def test_command_timeout_terminates_the_group(executors, ctx):
    started = time.monotonic()
    result = await run(executors, "command", {"argv": ["sleep", "30"]}, ctx(timeout_seconds=0.3))
    assert time.monotonic() - started < 5
    assert result.outcome is Outcome.TIMED_OUT and result.error["type"] == "TimeoutError"
    assert result.details["escalated_to_sigkill"] is False  # sleep dies on SIGTERM


async def test_command_ignoring_sigterm_is_escalated_to_sigkill(executors, ctx):
    # '' traps are inherited across exec: sleep ignores SIGTERM too
    result = await run(executors, "command", {"command": "trap '' TERM; sleep 30"},
                       ctx(timeout_seconds=0.3))
    assert result.outcome is Outcome.TIMED_OUT
    assert result.details["escalated_to_sigkill"] is True
    assert result.error["signal"] == signal.SIGKILL
    assert "then SIGKILL" in result.error["message"]


async def test_command_background_children_do_not_outlive_it(executors, ctx):
    result = await run(executors, "command", {"command": "sleep 60 & echo $!"}, ctx())
    assert result.outcome is Outcome.PASSED
    orphan = int(result.details["stdout"].split()[0])
    assert result.duration_seconds < 10  # it did not wait for the 60 s sleep
    assert await until_dead(orphan)  # SIGKILLed with its group once it outlived the command


async def until_dead(pid: int, within_seconds: float = 2.0) -> bool:
    """Dead or a zombie (init reaps orphans in its own time); signal delivery is not instant."""
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return True
        except psutil.NoSuchProcess:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_command_output_tail_is_bounded(executors, ctx):
    result = await run(executors, "command", {"command": "yes line | head -n 5000; echo END"}, ctx())
    assert len(result.details["stdout"]) <= 2048 and result.details["stdout"].endswith("END\n")


async def test_command_bad_config_is_a_configuration_error(executors, ctx):
    result = await run(executors, "command", {"argv": ["true"], "command": "true"}, ctx())
    assert result.outcome is Outcome.ERROR and result.error["type"] == "ValueError"
    assert result.error["context"]["stage"] == "config"


# ---- pytest -----------------------------------------------------------------------------------

def write(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


async def test_pytest_all_passing(executors, ctx, tmp_path):
    write(tmp_path, "test_ok.py", """
        def test_one(): assert 1 + 1 == 2
        def test_two(): pass
    """)
    result = await run(executors, "pytest", {"args": ["-q", "test_ok.py"], "cwd": str(tmp_path)}, ctx())
    assert result.outcome is Outcome.PASSED
    assert result.details["summary"] == {"passed": 2, "failed": 0, "error": 0, "skipped": 0}
    assert [c["nodeid"] for c in result.details["cases"]] == ["test_ok.py::test_one", "test_ok.py::test_two"]


async def test_pytest_failures_report_every_case(executors, ctx, tmp_path):
    write(tmp_path, "test_mixed.py", """
        import pytest

        def test_pass(): pass

        def test_fail():
            assert [1, 2] == [1, 3]

        @pytest.mark.skip(reason="not today")
        def test_skip(): pass

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture exploded")

        def test_error(broken): pass

        class TestGroup:
            def test_method(self): assert True
    """)
    result = await run(executors, "pytest", {"args": ["test_mixed.py"], "cwd": str(tmp_path)}, ctx())
    assert result.outcome is Outcome.FAILED
    assert result.details["summary"] == {"passed": 2, "failed": 1, "error": 1, "skipped": 1}
    cases = {c["nodeid"]: c for c in result.details["cases"]}
    assert cases["test_mixed.py::test_fail"]["outcome"] == "failed"
    assert "assert [1, 2] == [1, 3]" in cases["test_mixed.py::test_fail"]["text"]
    assert cases["test_mixed.py::test_skip"]["outcome"] == "skipped"
    assert "not today" in cases["test_mixed.py::test_skip"]["message"]
    assert cases["test_mixed.py::test_error"]["outcome"] == "error"
    assert "fixture exploded" in cases["test_mixed.py::test_error"]["text"]
    assert cases["test_mixed.py::TestGroup::test_method"]["outcome"] == "passed"
    assert result.error["type"] == "TestsFailed" and result.error["exit_code"] == 1
    assert "test_mixed.py::test_fail" in result.error["message"]
    assert "assert [1, 2] == [1, 3]" in result.error["traceback"]


async def test_pytest_collection_error_is_an_error_with_the_real_exception(executors, ctx, tmp_path):
    write(tmp_path, "test_imports.py", "import dtf_missing_dependency_xyz\n\ndef test_x(): pass\n")
    result = await run(executors, "pytest", {"args": ["test_imports.py"], "cwd": str(tmp_path)}, ctx())
    assert result.outcome is Outcome.ERROR and result.error["exit_code"] == 2
    assert result.error["type"] == "ModuleNotFoundError"
    assert "dtf_missing_dependency_xyz" in result.error["message"]


async def test_pytest_usage_error(executors, ctx, tmp_path):
    result = await run(executors, "pytest", {"args": ["--dtf-no-such-flag"], "cwd": str(tmp_path)}, ctx())
    assert result.outcome is Outcome.ERROR and result.error["exit_code"] == 4
    assert result.error["type"] == "pytest.UsageError"
    assert "--dtf-no-such-flag" in result.error["message"]


async def test_pytest_no_tests_collected(executors, ctx, tmp_path):
    write(tmp_path, "test_empty.py", "X = 1\n")
    result = await run(executors, "pytest", {"args": ["test_empty.py"], "cwd": str(tmp_path)}, ctx())
    assert result.outcome is Outcome.ERROR and result.error["exit_code"] == 5
    assert "no tests ran" in result.error["message"]


async def test_pytest_internal_error(executors, ctx, tmp_path):
    write(tmp_path, "conftest.py", """
        def pytest_collection_modifyitems(items):
            raise ValueError("hook exploded")
    """)
    write(tmp_path, "test_a.py", "def test_a(): pass\n")
    result = await run(executors, "pytest", {"args": ["test_a.py"], "cwd": str(tmp_path)}, ctx())
    assert result.outcome is Outcome.ERROR and result.error["exit_code"] == 3
    assert result.error["type"] == "ValueError" and "hook exploded" in result.error["message"]


async def test_pytest_killed_by_signal_is_a_crash(executors, ctx, tmp_path):
    write(tmp_path, "test_die.py", "import os, signal\n\ndef test_die(): os.kill(os.getpid(), signal.SIGKILL)\n")
    result = await run(executors, "pytest", {"args": ["test_die.py"], "cwd": str(tmp_path)}, ctx())
    assert result.outcome is Outcome.CRASHED and result.error["signal"] == signal.SIGKILL


async def test_pytest_timeout(executors, ctx, tmp_path):
    write(tmp_path, "test_slow.py", "import time\n\ndef test_slow(): time.sleep(30)\n")
    result = await run(executors, "pytest", {"args": ["test_slow.py"], "cwd": str(tmp_path)},
                       ctx(timeout_seconds=1.5))
    assert result.outcome is Outcome.TIMED_OUT and result.error["type"] == "TimeoutError"


# ---- python -----------------------------------------------------------------------------------

async def test_python_operator_add(executors, ctx):
    result = await run(executors, "python", {"callable": "operator:add", "args": [1, 2]}, ctx())
    assert result.outcome is Outcome.PASSED and result.result == 3


async def test_python_assertion_is_a_failure(executors, ctx):
    result = await run(executors, "python", {"callable": f"{CALLABLES}:fail_assert"}, ctx())
    assert result.outcome is Outcome.FAILED and result.error["type"] == "AssertionError"
    assert "one is not two" in result.error["message"]
    assert "assertion" not in result.error


async def test_python_exception_is_an_error_with_traceback(executors, ctx):
    result = await run(executors, "python", {"callable": f"{CALLABLES}:boom", "kwargs": {"message": "k"}}, ctx())
    assert result.outcome is Outcome.ERROR and result.error["type"] == "KeyError"
    assert "in boom" in result.error["traceback"]


async def test_python_result_must_be_json(executors, ctx):
    result = await run(executors, "python", {"callable": f"{CALLABLES}:return_object"}, ctx())
    assert result.outcome is Outcome.ERROR and result.error["type"] == "TypeError"
    assert "builtins.object" in result.error["message"]


async def test_python_crash_and_timeout(executors, ctx):
    crash = await run(executors, "python", {"callable": f"{CALLABLES}:die", "args": [7]}, ctx())
    assert crash.outcome is Outcome.CRASHED
    assert crash.error["type"] == "ProcessExited" and crash.error["exit_code"] == 7
    slow = await run(executors, "python", {"callable": f"{CALLABLES}:nap", "args": [30]},
                     ctx(timeout_seconds=0.3))
    assert slow.outcome is Outcome.TIMED_OUT and slow.error["type"] == "TimeoutError"
    assert slow.error["signal"] == signal.SIGKILL
    after = await run(executors, "python", {"callable": "operator:add", "args": [2, 2]}, ctx())
    assert after.result == 4


async def test_python_bad_config(executors, ctx):
    result = await run(executors, "python", {"callable": "operator.add"}, ctx())
    assert result.outcome is Outcome.ERROR and result.error["context"]["stage"] == "config"


# ---- benchmark --------------------------------------------------------------------------------

async def test_benchmark_reports_real_timings(executors, ctx):
    result = await run(executors, "benchmark", {"callable": "time:sleep", "args": [0.002],
                                                "iterations": 20, "warmup": 2}, ctx())
    assert result.outcome is Outcome.PASSED
    stats = result.result
    assert stats["iterations"] == 20 and stats["warmup"] == 2
    assert 0.002 <= stats["min"] <= stats["median"] <= stats["p95"] <= stats["max"] < 1
    assert stats["min"] <= stats["mean"] <= stats["max"] and stats["stdev"] >= 0


async def test_benchmark_errors(executors, ctx):
    bad = await run(executors, "benchmark", {"callable": "operator:add", "iterations": 0}, ctx())
    assert bad.outcome is Outcome.ERROR and bad.error["context"]["stage"] == "config"
    raised = await run(executors, "benchmark", {"callable": f"{CALLABLES}:boom", "args": ["x"]}, ctx())
    assert raised.outcome is Outcome.ERROR and raised.error["type"] == "KeyError"


# ---- chaos ------------------------------------------------------------------------------------

async def chaos(executors, context, **config):
    return await run(executors, "chaos", config, context)


async def test_chaos_only_on_listed_attempts(executors, ctx):
    result = await chaos(executors, ctx(attempt=2), fault="crash", on_attempts=[1])
    assert result.outcome is Outcome.PASSED and result.result == {"fault": None}


async def test_chaos_network_is_a_real_refused_connection(executors, ctx):
    result = await chaos(executors, ctx(), fault="network")
    assert result.outcome is Outcome.ERROR and result.error["type"] == "ConnectionRefusedError"
    assert "Connection refused" in result.error["message"] and "[Errno" in result.error["message"]


async def test_chaos_timeout(executors, ctx):
    result = await chaos(executors, ctx(timeout_seconds=0.3), fault="timeout")
    assert result.outcome is Outcome.TIMED_OUT and result.error["type"] == "TimeoutError"


async def test_chaos_oom_is_a_real_memory_error(executors, ctx):
    result = await chaos(executors, ctx(), fault="oom")
    assert result.outcome is Outcome.ERROR and result.error["type"] == "MemoryError"
    assert "chaos_faults.py" in result.error["traceback"]
    after = await run(executors, "python", {"callable": "operator:add", "args": [1, 1]}, ctx())
    assert after.result == 2  # the limit was restored: the child still allocates normally


async def test_chaos_cuda_oom_without_a_device(executors, ctx):
    result = await chaos(executors, ctx(), fault="oom", kind="cuda")
    assert result.outcome is Outcome.ERROR
    assert result.error["type"] == "torch.cuda.OutOfMemoryError"
    assert result.error["message"].startswith("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0;")
    assert result.error["context"]["hardware_type"] == "cuda"
    assert result.details["real"] is False  # no torch with CUDA here, stated in the report


@pytest.mark.parametrize("name,number", [("SIGKILL", 9), ("SIGSEGV", 11)])
async def test_chaos_crash_kills_a_child(executors, ctx, name, number):
    result = await chaos(executors, ctx(), fault="crash", signal=name)
    assert result.outcome is Outcome.CRASHED and result.error["type"] == "ProcessKilled"
    assert result.error["signal"] == number and name in result.error["message"]


async def test_chaos_crash_worker_exits_the_worker(executors, ctx):
    control = FakeControl()
    result = await chaos(executors, ctx(control=control), fault="crash", target="worker")
    assert control.exit_codes == [137] and result.outcome is Outcome.CRASHED


async def test_chaos_hang_escalates_to_sigkill(executors, ctx):
    result = await chaos(executors, ctx(timeout_seconds=0.8), fault="hang")
    assert result.outcome is Outcome.TIMED_OUT
    assert result.details["escalated_to_sigkill"] is True and result.error["signal"] == signal.SIGKILL


async def test_chaos_slow_and_disconnect(executors, ctx):
    slow = await chaos(executors, ctx(), fault="slow", seconds=0.2)
    assert slow.outcome is Outcome.PASSED and slow.duration_seconds >= 0.2
    too_slow = await chaos(executors, ctx(timeout_seconds=0.1), fault="slow", seconds=5)
    assert too_slow.outcome is Outcome.TIMED_OUT
    control = FakeControl()
    gone = await chaos(executors, ctx(control=control), fault="disconnect", seconds=0.05)
    assert gone.outcome is Outcome.PASSED and control.disconnects == 1


def fake_tool(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


async def test_chaos_hardware_unavailable_without_a_gpu(executors, ctx, tmp_path, monkeypatch):
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("a CUDA device is present")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # no nvidia-smi at all
    result = await chaos(executors, ctx(), fault="hardware_unavailable")
    assert result.outcome is Outcome.ERROR and result.error["type"] == "RuntimeError"
    assert result.error["message"] == "CUDA error: no CUDA-capable device is detected"
    assert result.error["context"]["hardware_type"] == "cuda"
    # nvidia-smi present but the driver is not: its real complaint travels with the report
    fake_tool(bin_dir, "nvidia-smi", "echo \"NVIDIA-SMI has failed because it couldn't communicate "
                                     "with the NVIDIA driver.\"; exit 9\n")
    failed = await chaos(executors, ctx(), fault="hardware_unavailable")
    assert failed.outcome is Outcome.ERROR
    assert "couldn't communicate with the NVIDIA driver" in failed.error["stderr"]


@pytest.mark.parametrize("fault,outcome,error_type", [
    ("assertion", Outcome.FAILED, "AssertionError"),
    ("import", Outcome.ERROR, "ModuleNotFoundError"),
    ("config", Outcome.ERROR, "json.decoder.JSONDecodeError"),
])
async def test_chaos_raised_faults(executors, ctx, fault, outcome, error_type):
    result = await chaos(executors, ctx(), fault=fault)
    assert result.outcome is outcome and result.error["type"] == error_type
    assert result.error["traceback"]


async def test_chaos_unknown_fault_names_the_valid_ones(executors, ctx):
    result = await chaos(executors, ctx(), fault="meteor")
    assert result.outcome is Outcome.ERROR and result.error["type"] == "ValueError"
    assert all(f.value in result.error["message"] for f in Fault)
    assert result.error["context"]["stage"] == "config"
