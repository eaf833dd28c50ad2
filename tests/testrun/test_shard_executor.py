"""The pytest executor's shard fields, without a coordinator: a shard runs only its node ids;
a restricted worker refuses an interpreter of the task's choosing."""
from __future__ import annotations

import pytest

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


async def test_a_warmup_runs_no_test_and_no_tree_code_and_preloads_only_installed_modules(tmp_path):
    pytest.importorskip("hypothesis")
    suite = tmp_path / "s"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    marker = tmp_path / "conftest-imported"
    (suite / "conftest.py").write_text(f"import hypothesis\nopen({str(marker)!r}, 'a').write('x')\n")
    (suite / "localmod.py").write_text(f"open({str(marker)!r}, 'a').write('local')\n")
    (suite / "test_a.py").write_text("import localmod\n\ndef test_one():\n    raise AssertionError('boom')\n")
    executor = build_executors(ExecutorSettings(work_dir=tmp_path / "work"))["pytest"]
    result = await executor.run({"args": ["-q"], "cwd": str(suite), "warmup": True,
                                 "preload": ["hypothesis", "localmod", "conftest"]}, context(tmp_path))
    assert result.outcome is Outcome.PASSED and result.result == {"warmup": True, "warmed": True}, result
    assert result.details["cases"] == []
    (server,) = executor._warm._servers.values()  # the fork server this suite's shards will use
    shard = await executor.run({"args": ["-q"], "cwd": str(suite), "select": ["test_a.py::test_one"], "warm": True},
                               context(tmp_path))
    assert shard.outcome is Outcome.FAILED and list(executor._warm._servers.values()) == [server]
    # the server imported hypothesis (installed) but never the tree's modules: only the shard ran them, once
    assert marker.read_text() == "xlocal" and "hypothesis" in server.preload
    await executor.close()
    # a restricted worker (no arbitrary code) starts the server but imports nothing of the task's choosing
    restricted = build_executors(ExecutorSettings(work_dir=tmp_path / "work2", allowed_types=["pytest"]))["pytest"]
    result = await restricted.run({"args": ["-q"], "cwd": str(suite), "warmup": True, "preload": ["hypothesis"]},
                                  context(tmp_path))
    assert result.result == {"warmup": True, "warmed": True}
    assert [s.preload for s in restricted._warm._servers.values()] == [[]]
    await restricted.close()
