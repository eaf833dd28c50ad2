"""pytest plugin loaded by dtf with ``-p dtf_shard`` (its folder goes on PYTHONPATH).

It imports nothing from dtf, so it works under any interpreter that has pytest.

``--dtf-collect=FILE``: after collection, write every item's node id, marker names and weight,
and each test file's collection time, as JSON (``dtf test`` plans its shards from it). The
weight guesses a test's cost before any run has timed it: a Hypothesis test runs its body
``max_examples`` times (100 unless set), so it counts as that many plain tests (on attrs' suite
59 such tests take 87% of the time).

``--dtf-shard=FILE``: run only the node ids the JSON file lists. The session collects exactly as
the user's arguments collect (same rootdir, conftests, import mode, package context), so a test
behaves as it does in a whole run; files holding none of the shard's tests are not collected at
all (their import is the cost this saves), and the rest is deselected as ``-k`` would.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

# Files whose collection builds a package or loads fixtures: never skipped.
_ALWAYS = {"__init__.py", "conftest.py"}


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("dtf")
    group.addoption("--dtf-collect", default=None, help="write the collected node ids to this JSON file")
    group.addoption("--dtf-shard", default=None, help="run only the node ids this JSON file lists")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class _Shard:
    def __init__(self, config: Any, path: str) -> None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        self.nodeids = set(data["nodeids"])
        self.files = {_file_of(n) for n in self.nodeids}
        self.root = Path(config.rootpath)

    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path: Path, config: Any) -> bool | None:
        if collection_path.name in _ALWAYS or collection_path.is_dir():
            return None
        try:
            rel = collection_path.relative_to(self.root).as_posix()
        except ValueError:
            return None  # outside rootdir: node ids are not plain relative paths; let pytest decide
        return True if rel not in self.files else None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        keep = [i for i in items if i.nodeid in self.nodeids]
        dropped = [i for i in items if i.nodeid not in self.nodeids]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep


def _weight(item: Any) -> int:
    """How many plain tests' worth of work this item probably is (no duration recorded yet)."""
    func = getattr(item, "obj", None)
    if not getattr(func, "is_hypothesis_test", False):
        return 1
    settings = getattr(func, "_hypothesis_internal_use_settings", None)
    examples = getattr(settings, "max_examples", None)
    return max(1, min(1000, examples)) if isinstance(examples, int) else 100


class _Collect:
    def __init__(self, path: str) -> None:
        self.path = path
        self.module_seconds: dict[str, float] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: Any) -> Any:
        """Time each test file's collection (its import, its classes): every shard holding a test
        of it pays that again, which the plan counts before any test has been timed."""
        started = time.perf_counter()
        yield
        if isinstance(collector, (pytest.Module, pytest.Class)):
            file = collector.nodeid.split("::", 1)[0]
            self.module_seconds[file] = self.module_seconds.get(file, 0.0) + time.perf_counter() - started

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        rows = [{"nodeid": i.nodeid, "markers": sorted({m.name for m in i.iter_markers()}), "weight": _weight(i)}
                for i in items]
        # pytest-xdist loaded: a shard is told -n 0, so an addopts "-n auto" does not fork workers
        # inside every shard (dtf is the one distributing)
        Path(self.path).write_text(json.dumps({"rootdir": str(config.rootpath), "items": rows,
                                               "xdist": config.pluginmanager.hasplugin("xdist"),
                                               "module_seconds": {k: round(v, 4) for k, v in
                                                                  self.module_seconds.items()}}),
                                   encoding="utf-8")


def pytest_configure(config: Any) -> None:
    shard = config.getoption("--dtf-shard")
    if shard:
        config.pluginmanager.register(_Shard(config, shard), "dtf-shard-select")
    collect = config.getoption("--dtf-collect")
    if collect:
        config.pluginmanager.register(_Collect(collect), "dtf-collect-write")
