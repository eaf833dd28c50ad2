"""The pytest executor's shard fields, without a coordinator: a shard runs only its node ids;
a restricted worker refuses an interpreter of the task's choosing."""
from __future__ import annotations

from worker.executors import ExecutorSettings, build_executors
from worker.executors.base import ExecContext, Outcome


def context(tmp_path) -> ExecContext:
    return ExecContext(task_id="t-1", attempt=1, timeout_seconds=60, work_dir=tmp_path / "work",
                       worker_id="w-1", hardware=["cpu"])


async def test_a_shard_runs_only_its_node_ids_and_does_not_import_other_files(tmp_path):
    suite = tmp_path / "s"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_a.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    (suite / "test_broken.py").write_text("raise ImportError('imported although no test of it was selected')\n")
    executor = build_executors(ExecutorSettings(work_dir=tmp_path / "work", allowed_types=["pytest"]))["pytest"]
    for warm in (False, True):
        result = await executor.run({"args": ["-q"], "cwd": str(suite), "select": ["test_a.py::test_two"],
                                     "warm": warm}, context(tmp_path))
        assert result.outcome is Outcome.PASSED, result
        assert [c["nodeid"] for c in result.details["cases"]] == ["test_a.py::test_two"]
    await executor.close()


async def test_a_restricted_worker_refuses_the_tasks_own_interpreter(tmp_path):
    executor = build_executors(ExecutorSettings(work_dir=tmp_path / "work", allowed_types=["pytest"]))["pytest"]
    result = await executor.run({"args": ["--version"], "python": "/bin/sh"}, context(tmp_path))
    assert result.outcome is Outcome.ERROR and "refused" in result.error["message"]
    await executor.close()


async def test_a_warmup_runs_no_test_and_imports_only_the_conftests(tmp_path):
    suite = tmp_path / "s"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    marker = tmp_path / "conftest-imported"
    (suite / "conftest.py").write_text(f"open({str(marker)!r}, 'a').write('x')\n")
    (suite / "test_a.py").write_text("def test_one():\n    raise AssertionError('a warm-up must not run tests')\n")
    (suite / "test_broken.py").write_text("raise ImportError('a warm-up must not import test modules')\n")
    executor = build_executors(ExecutorSettings(work_dir=tmp_path / "work", allowed_types=["pytest"]))["pytest"]
    result = await executor.run({"args": ["-q"], "cwd": str(suite), "warmup": True}, context(tmp_path))
    assert result.outcome is Outcome.PASSED and result.result == {"warmup": True, "warmed": True}, result
    assert result.details["cases"] == [] and marker.read_text() == "x"
    # the fork server it started is the one the next shard of this suite forks from
    assert len(executor._warm._servers) == 1
    shard = await executor.run({"args": ["-q"], "cwd": str(suite), "select": ["test_a.py::test_one"], "warm": True},
                               context(tmp_path))
    assert shard.outcome is Outcome.FAILED and len(executor._warm._servers) == 1
    await executor.close()
