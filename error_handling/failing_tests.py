"""Which test failed: the identity a test failure is grouped by.

A test that says no is one ticket whatever form the report takes: pytest's ``FAILED
path::Class::test_x[param] - ...`` summary line, its ``____ Class.test_x[param] ____`` section
header, a traceback frame ``in test_x``, Hypothesis's ``Falsifying example: test_x(``, unittest's
``FAIL: test_x (module.Class...)``, Go's ``--- FAIL: TestX/sub``, GoogleTest's ``[  FAILED  ]
Suite.Name``, Rust's ``test path::name ... FAILED``, JUnit's ``Class > method() FAILED`` and
``<testcase name=...><failure``, XCTest's ``Test Case '-[Module.Class testName]' failed``, CTest's
``Test #12: name ...***Failed``, Jest's ``● describe › test``, a doctest's ``[doctest]
module.function``, lit's ``FAIL: SUITE :: path``, RSpec's ``rspec ./spec/file_spec.rb:42``. Its
templates share little (a bare ``E AssertionError:``, a summary line, an assert's operands); its
test's name is in every one.

``failing_test(message)`` names the test (without parameters or subtests: one test's cases share
its code and fail for one reason far more often than not), or None. ``ErrorAggregator`` groups a
``test_execution_error`` by that name when its template says nothing but that an assertion failed
(``says_nothing``: ``AssertionError: E AssertionError:``) and it names no root cause of
``causes.json``. A template that says what failed (``expected 10.01 got 10.00``) still decides:
one regression seen by several tests is one ticket, and check sets labelled blind scored lower
when every test failure was keyed by its test. Errors of other categories keep their templates
(a test that crashes the worker or runs out of memory is about the crash, not the test).
"""
from __future__ import annotations

import re

from error_handling.causes import PREFIX, READ_CHARS

# In order: the forms that say outright that this test failed come first; a traceback frame or
# a bare test-looking name last. Each regex runs only where its literal occurs in the message (a
# substring test costs far less than a regex search). Every repeat is bounded; a message is read
# at most READ_CHARS from each end, as by error_handling.causes.
_FORMS = tuple((literal, re.compile(p, re.MULTILINE)) for literal, p in (
    # pytest's short summary: FAILED path/to/test_x.py::Class::test_y[param] - reason
    ("FAILED ", r"\bFAILED [^\s:]{1,300}::(?:\w{1,200}::){0,4}(\w{1,200})"),
    # GoogleTest: [  FAILED  ] Suite.Name (12 ms)  /  [  FAILED  ] Prefix/Suite.Name/0
    ("[  FAILED  ]", r"\[  FAILED  \] ((?:\w{1,200}/)?\w{1,200}\.\w{1,200})"),
    # Go: --- FAIL: TestName (0.00s)  /  --- FAIL: TestName/sub_case
    ("--- FAIL: ", r"--- FAIL: (\w{1,200})"),
    # Rust: test module::name ... FAILED  /  ---- module::name stdout ----
    (" ... FAILED", r"\btest ((?:\w{1,200}::){0,8}\w{1,200}) \.\.\. FAILED"),
    (" stdout ----", r"---- ((?:\w{1,200}::){0,8}\w{1,200}) stdout ----"),
    # unittest: FAIL: test_x (module.Class.test_x)  /  ERROR: test_x (module.Class)
    (": test", r"^(?:FAIL|ERROR): (test\w{0,200}) \("),
    # pytest's section header: ____ Class.test_y[param] ____  /  ____ test_y ____
    ("___ ", r"(?<!_)_{3,200} (?:\w{1,200}\.){0,4}(test\w{0,200})(?:\[[^\]\n]{0,300}\])? ___"),
    # Hypothesis: Falsifying example: test_y(
    ("Falsifying example: ", r"Falsifying example: (test\w{0,200})\("),
    # JUnit under Gradle: OrderServiceIT > placesOrder() FAILED  /  FooTest > parses(String)[2] FAILED
    (" FAILED", r"\b\w{1,200} > (\w{1,200})\([^)\n]{0,200}\)(?:\[\d{1,9}\])? FAILED"),
    # XCTest: Test Case '-[Module.Class testName]' failed  /  Test Case 'Class.testName' failed
    ("Test Case '", r"Test Case '(?:-\[[\w.]{1,200} (\w{1,200})\]|[\w.]{0,200}\.(\w{1,200})\(?\)?)' failed"),
    # CTest: 12/40 Test #12: halo_exchange_np4 ........***Failed  (a passed test's line has no ***)
    ("***", r"Test {1,3}#\d{1,9}: (\S{1,300}) \.{0,300}[^\n\*]{0,40}\*\*\*(?:Failed|Exception|Timeout)"),
    # Jest and Vitest: ● describe › test name
    ("● ", r"● ((?:[^\n›●]{1,200} › ){1,6}[^\n›●]{1,200})"),
    # doctest under pytest: [doctest] package.module.function
    ("[doctest] ", r"\[doctest\] ([\w.]{1,300})"),
    # LLVM lit: FAIL: TRITON :: Conversion/to_llvm.mlir (112 of 431)
    ("FAIL: ", r"FAIL: [\w-]{1,100} :: (\S{1,300})"),
    # RSpec: rspec ./spec/models/order_spec.rb:42 # Order totals ...
    ("rspec ./", r"rspec (\./[^\s:]{1,300}:\d{1,9})"),
    # a JUnit XML report: <testcase name="parses[2]" classname="..."><failure
    ("<testcase", r"<testcase name=\"([^\"\[]{1,300})[^>]{0,500}>\s{0,200}<(?:failure|error)\b"),
    # a traceback frame of the test: File "...", line 12, in test_y  /  path.py:12: in test_y
    (" in test_", r"(?:, line \d{1,9},|\.py:\d{1,9}:) in (test_\w{1,200})\b"),
))
_NAME = "failing-test"
_TITLE = "a test fails"


def failing_test(message: str) -> str | None:
    """The name of the test ``message`` reports failing, or None."""
    if not message:
        return None
    if len(message) > 2 * READ_CHARS:
        message = f"{message[:READ_CHARS]}\n{message[-READ_CHARS:]}"
    for literal, form in _FORMS:
        if literal in message:
            match = form.search(message)
            if match is not None:
                return next(name for name in match.groups() if name).strip()
    return None


def failing_test_template(message: str) -> str | None:
    """The grouping template of a test failure that names its test (a cause-like template: one
    pattern, never compared by similarity), or None."""
    name = failing_test(message)
    return None if name is None else f"{PREFIX}{_NAME} {_TITLE} [{name}]"


# the words a test failure's template shows whatever failed (the type, pytest's marks, a bare assert)
_EMPTY_WORDS = frozenset("FAILED ERROR Error Exception AssertionError AssertionFailedError assert".split())
_WORD_RE = re.compile(r"[A-Za-z]{3,}")


def says_nothing(template: str) -> bool:
    """True when ``template`` names nothing but that an assertion failed (``AssertionError: E
    AssertionError:``, ``FAILED <PATH> - AssertionError:``): fewer than two words of its own."""
    words = 0
    for token in template.split(" "):
        token = token.strip(":,.()[]'\"")
        if token and token[0] != "<" and token not in _EMPTY_WORDS and _WORD_RE.search(token):
            words += 1
            if words >= 2:
                return False
    return True

