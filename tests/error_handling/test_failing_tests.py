"""A test failure groups by the test that failed (error_handling.failing_tests), whatever form
the report takes; other categories, named causes and ``group_by_cause=False`` keep their way."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from error_handling.causes import is_cause
from error_handling.failing_tests import _FORMS, failing_test, says_nothing
from error_handling.patterns import ErrorAggregator

TEST_FAILURE = "test_execution_error"


_FORMS_NAMED = [
    ("FAILED tests/test_orders.py::TestTotals::test_vat_rounding[eur-0.19] - assert 11.9 == 11.91", "test_vat_rounding"),
    ("FAILED tests\\unit\\test_paths.py::test_relative - AssertionError: 'a\\\\b' != 'a/b'", "test_relative"),
    ("________________ TestLstsq.test_random_exact[gelsd-complex128] ________________\n"
     "E   AssertionError: \nE   Not equal to tolerance rtol=1e-13", "test_random_exact"),
    ("_____________________________ test_warmup _____________________________\n>       assert lr == 0.1", "test_warmup"),
    ("Falsifying example: test_moment_property(\n    data=array([1e308, -1e308]),\n)", "test_moment_property"),
    ('Traceback (most recent call last):\n  File "/srv/app/tests/test_io.py", line 41, in test_roundtrip\n'
     "    assert load(dump(x)) == x\nAssertionError", "test_roundtrip"),
    ("tests/test_io.py:41: in test_roundtrip\n    assert load(dump(x)) == x\nE   AssertionError", "test_roundtrip"),
    ("======================================================================\n"
     "FAIL: test_parse_header (http_tests.HeaderTests.test_parse_header)\n"
     "----------------------------------------------------------------------\nAssertionError: 3 != 4", "test_parse_header"),
    ("=== RUN   TestScaleDown/idle_runners\n    scaler_test.go:88: got 3 want 2\n"
     "--- FAIL: TestScaleDown/idle_runners (0.01s)\nFAIL\tci/scaler\t0.412s", "TestScaleDown"),
    ("[ RUN      ] RingBuffer.WrapsAround\nring_test.cc:57: Failure\nExpected equality of these values:\n"
     "[  FAILED  ] RingBuffer.WrapsAround (0 ms)", "RingBuffer.WrapsAround"),
    ("running 12 tests\ntest cache::tests::evicts_lru ... FAILED\n\nfailures:\n\n"
     "---- cache::tests::evicts_lru stdout ----\nthread 'cache::tests::evicts_lru' panicked", "cache::tests::evicts_lru"),
    ("OrderRepositoryIT > bulkInsertTenThousandOrders() FAILED\n    org.opentest4j.AssertionFailedError at "
     "OrderRepositoryIT.java:88\n> Task :orders:integrationTest FAILED", "bulkInsertTenThousandOrders"),
    ("Test Case '-[AppTests.TokenizerTests testDecodeEmpty]' started.\nTokenizerTests.swift:41: error: "
     "XCTAssertEqual failed\nTest Case '-[AppTests.TokenizerTests testDecodeEmpty]' failed (0.004 seconds).", "testDecodeEmpty"),
    ("Test Case 'TokenizerTests.testDecodeEmpty()' failed (0.004 seconds).", "testDecodeEmpty"),
    ("1/3 Test #1: codec_roundtrip_test ..........   Passed    0.21 sec\n"
     "2/3 Test #2: halo_exchange_np4 ............***Failed    3.08 sec", "halo_exchange_np4"),
    ("FAIL  src/mappers/__tests__/cartMapper.test.ts\n  ● cartMapper › maps line totals\n\n    expect(received).toBe(expected)",
     "cartMapper › maps line totals"),
    ("_______________ [doctest] scipy.stats._stats_py.pearsonr _______________\n082     >>> r\nExpected:\n    0.83",
     "scipy.stats._stats_py.pearsonr"),
    ("FAIL: TRITON :: Conversion/tritongpu_to_llvm.mlir (112 of 431)\n******************** TEST 'TRITON :: ...' FAILED",
     "Conversion/tritongpu_to_llvm.mlir"),
    ("Failures:\n  1) runner_fleet: installs the agent\nrspec ./spec/unit/recipes/default_spec.rb:42 # runner_fleet: installs",
     "./spec/unit/recipes/default_spec.rb:42"),
    ('<testcase name="topMatchesGolden[Pixel 8]" classname="org.example.AccuracyTest" time="2.1">\n'
     '  <failure message="expected tabby">', "topMatchesGolden"),
]


@pytest.mark.parametrize(("message", "name"), _FORMS_NAMED)
def test_each_form_names_its_test(message: str, name: str) -> None:
    assert failing_test(message) == name


@pytest.mark.parametrize("message", [
    "", "AssertionError: assert 3 == 4", "ImportError: cannot import name 'testing' from 'numpy'",
    "collected 0 items / 1 error", "test session starts", "FAILED (failures=2)", "> Task :app:test FAILED",
    "  ● Test suite failed to run", "3/3 Test #3: dispatch_test ....   Passed    0.02 sec",
    '<testcase name="parses" classname="a.B" time="0.1"/>',
])
def test_no_test_named(message: str) -> None:
    assert failing_test(message) is None


def _group(reports: list[str], category: str = TEST_FAILURE, **kwargs) -> tuple[ErrorAggregator, list[str]]:
    aggregator = ErrorAggregator(**kwargs)
    return aggregator, [aggregator.add_error({"type": "AssertionError", "message": m}, category=category)
                        for m in reports]


# one test's failure in three report forms: a CI log tail, pytest's section, a plain traceback
_ONE_TEST = [
    "2024-11-15T03:12:44.90Z FAILED scipy/linalg/tests/test_basic.py::TestLstsq::test_random_complex_exact - "
    "AssertionError: \n2024-11-15T03:12:44.90Z Not equal to tolerance rtol=1.11022e-13, atol=1.11022e-13\n"
    "##[error]Process completed with exit code 1.",
    "_________ TestLstsq.test_random_complex_exact[gelss-complex128] __________\n"
    "scipy/linalg/tests/test_basic.py:1188: in test_random_complex_exact\n    assert_allclose(\n"
    "E   AssertionError: \nE   Not equal to tolerance rtol=1.11022e-13, atol=1.11022e-13\nE   driver: gelss",
    "FAILED scipy\\linalg\\tests\\test_basic.py::TestLstsq::test_random_complex_exact - AssertionError: \n"
    "Mismatched elements: 1 / 600 (0.167%)\n= 1 failed, 40211 passed, 3906 skipped in 1034.12s =",
]


def test_one_test_across_report_forms_is_one_pattern() -> None:
    aggregator, ids = _group(_ONE_TEST)
    assert len(set(ids)) == 1
    assert aggregator.pattern_template(ids[0]).endswith("[test_random_complex_exact]")
    # by template alone the three forms are three patterns: what naming the test adds
    assert len(set(_group(_ONE_TEST, group_by_cause=False)[1])) == 3


def test_two_tests_with_one_wording_stay_apart() -> None:
    _, ids = _group(["FAILED tests/test_a.py::test_total - assert 3 == 4",
                     "FAILED tests/test_b.py::test_discount - assert 3 == 4"])
    assert ids[0] != ids[1]


def test_other_categories_keep_their_templates() -> None:
    # a test that crashed the worker is about the crash: grouped with the crash, not with the test
    crash = ["Fatal Python error: Segmentation fault\n\nFAILED tests/test_fft.py::test_plan_cache - worker crashed",
             "Fatal Python error: Segmentation fault\n\nFAILED tests/test_io.py::test_mmap - worker crashed"]
    aggregator, ids = _group(crash, category="worker_crash_error")
    assert ids[0] == ids[1] and not is_cause(aggregator.pattern_template(ids[0]))


def test_a_named_cause_comes_before_the_test() -> None:
    aggregator, ids = _group(["FAILED tests/test_save.py::test_checkpoint - OSError: [Errno 28] No space left on device",
                              "FAILED tests/test_export.py::test_onnx - OSError: [Errno 28] No space left on device"])
    assert ids[0] == ids[1] and "disk-full" in aggregator.pattern_template(ids[0])


def test_the_same_message_in_two_categories_is_cached_apart() -> None:
    aggregator = ErrorAggregator()
    report = {"type": "AssertionError", "message": "FAILED tests/test_a.py::test_total - assert 3 == 4"}
    as_test = aggregator.add_error(report, category=TEST_FAILURE)
    as_other = aggregator.add_error(report, category="unknown_error")
    assert as_test != as_other
    assert aggregator.add_error(report, category=TEST_FAILURE) == as_test
    assert aggregator.add_error(report, category="unknown_error") == as_other


def test_every_repeat_is_bounded() -> None:
    """A hostile worker's message must not make a form backtrack over it once per position."""
    unbounded = re.compile(r"(?<!\\)[*+]|\{\d+,\}")
    for _literal, form in _FORMS:
        assert unbounded.search(form.pattern) is None, form.pattern


def test_the_literal_gate_changes_no_answer() -> None:
    """Each form runs only where its literal occurs: the same answers as every form tried in order."""
    def ungated(message: str) -> str | None:
        match = next((m for m in (form.search(message) for _l, form in _FORMS) if m), None)
        return None if match is None else next(name for name in match.groups() if name).strip()

    corpus = Path(__file__).resolve().parents[1] / "data" / "error_corpus.jsonl"
    messages = [m for m, _name in _FORMS_NAMED] + [
        json.loads(line)["message"] or "" for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert sum(failing_test(m) is not None for m in messages) > 100  # the check reads real hits
    for message in messages:
        assert failing_test(message) == ungated(message), message[:200]


@pytest.mark.parametrize("message", [
    "_" * 200_000, "___ " * 50_000, "FAILED " * 30_000, "FAILED a::" + "b::" * 60_000,
    "---- " + "a::" * 60_000 + " stdout ----", ", line 1, in test_" * 10_000, "test " + "a::" * 60_000 + " ... FAILED",
])
def test_hostile_messages_end_in_bounded_time(message: str) -> None:
    started = time.process_time()
    failing_test(message)
    # a few milliseconds each; a form that backtracked per position took minutes on the first
    assert time.process_time() - started < 5


def test_a_template_that_says_what_failed_keeps_grouping_across_tests() -> None:
    # one regression seen by two tests, each message naming what differs: the template decides
    aggregator, ids = _group([
        "FAILED tests/test_fees.py::test_wire_fee - AssertionError: fee rounded half down: expected 10.01 got 10.00",
        "FAILED tests/test_fees.py::test_sepa_fee - AssertionError: fee rounded half down: expected 0.35 got 0.34"])
    assert ids[0] == ids[1] and not is_cause(aggregator.pattern_template(ids[0]))


@pytest.mark.parametrize(("template", "empty"), [
    ("AssertionError: E AssertionError:", True), ("AssertionError: FAILED <PATH> - AssertionError:", True),
    ("AssertionError: E AssertionError: assert <NUM> == <NUM>", True), ("AssertionError:", True),
    ("AssertionError: E AssertionError: dtypes do not match.", False),
    ("AssertionFailedError: expected: <<NUM>> but was: <<NUM>>", False),
])
def test_says_nothing(template: str, empty: bool) -> None:
    assert says_nothing(template) is empty
