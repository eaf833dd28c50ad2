"""Local collection through the shipped plugin: node ids with markers, a cache keyed by the
tree, and collection errors told with pytest's exit code."""
from __future__ import annotations

import os
import sys
import time

import pytest

from coordinator.testrun.collect import CollectError, collect, conftest_imports


def suite(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    cuda: gpu\n")
    (root / "test_a.py").write_text("import pytest\n\n@pytest.mark.cuda\ndef test_gpu():\n    pass\n\n"
                                    "class TestK:\n    def test_x(self):\n        pass\n")
    return root


def test_node_ids_and_markers_then_cached_until_the_tree_changes(tmp_path):
    root = suite(tmp_path)
    cache = tmp_path / "cache"
    first = collect(["-q"], python=sys.executable, cwd=root, cache_dir=cache)
    assert not first.cached and first.rootdir == str(root)
    assert [(i.nodeid, i.hardware) for i in first.items] == [("test_a.py::test_gpu", "cuda"),
                                                             ("test_a.py::TestK::test_x", None)]
    assert set(first.module_seconds) == {"test_a.py"} and first.module_seconds["test_a.py"] > 0  # its collection, timed
    assert collect(["-q"], python=sys.executable, cwd=root, cache_dir=cache).cached
    # our own report inside the tree is not an edit
    (root / "report.xml").write_text("<testsuites/>")
    assert collect(["-q"], python=sys.executable, cwd=root, cache_dir=cache,
                   exclude=[root / "report.xml"]).cached
    # other arguments, or an edited file, collect again
    assert not collect(["-q", "-k", "gpu"], python=sys.executable, cwd=root, cache_dir=cache).cached
    test_file = root / "test_a.py"
    test_file.write_text(test_file.read_text() + "\ndef test_new():\n    pass\n")
    later = time.time() + 2
    os.utime(test_file, (later, later))
    again = collect(["-q"], python=sys.executable, cwd=root, cache_dir=cache)
    assert not again.cached and "test_a.py::test_new" in [i.nodeid for i in again.items]


def test_a_collection_error_carries_pytests_exit_code(tmp_path):
    root = suite(tmp_path)
    (root / "test_b.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(CollectError) as info:
        collect(["-q"], python=sys.executable, cwd=root, cache_dir=None)
    assert info.value.exit_code == 2 and "not_a_module_anywhere" in str(info.value)


def test_a_hypothesis_test_is_weighed_by_its_examples(tmp_path):
    pytest.importorskip("hypothesis")
    root = tmp_path / "h"
    root.mkdir()
    (root / "test_h.py").write_text(
        "from hypothesis import given, settings, strategies as st\n\n"
        "@given(st.integers())\ndef test_default(x):\n    pass\n\n"
        "@settings(max_examples=7)\n@given(st.integers())\ndef test_seven(x):\n    pass\n\n"
        "class TestK:\n    @given(st.text())\n    def test_method(self, s):\n        pass\n\n"
        "def test_plain():\n    pass\n")
    got = collect(["-q"], python=sys.executable, cwd=root, cache_dir=None)
    assert {i.nodeid: i.weight for i in got.items} == {
        "test_h.py::test_default": 100, "test_h.py::test_seven": 7, "test_h.py::TestK::test_method": 100,
        "test_h.py::test_plain": 1}


def test_conftest_imports_are_read_not_run(tmp_path):
    root = tmp_path / "c"
    (root / "sub").mkdir(parents=True)
    (root / "conftest.py").write_text("import os, hypothesis.strategies\nfrom attr import define\n"
                                      "from . import sibling\nraise SystemExit('never run')\n")
    (root / "sub" / "conftest.py").write_text("def f():\n    import numpy\n")
    (root / "sub" / "test_x.py").write_text("import pandas\n")  # not a conftest
    (root / "broken").mkdir()
    (root / "broken" / "conftest.py").write_text("def (:\n")
    assert conftest_imports(root) == ["os", "hypothesis", "attr", "numpy"]
