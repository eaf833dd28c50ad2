"""Flaky means the test: only a failed run of the test before the pass makes a task flaky."""
from __future__ import annotations

import pytest

from coordinator.engine import passed_after_test_failure
from coordinator.models import Attempt, AttemptOutcome as O


def attempts(*outcomes: O) -> list[Attempt]:
    out = []
    for n, outcome in enumerate(outcomes, start=1):
        a = Attempt(number=n, worker_id=f"w{n}", lease=f"l{n}", dispatched_at=float(n))
        a.outcome = outcome
        out.append(a)
    return out


@pytest.mark.parametrize("history, flaky", [
    ((O.FAILED, O.PASSED), True),                      # the test ran, failed, then passed
    ((O.CRASHED, O.FAILED, O.PASSED), True),
    ((O.ERROR, O.PASSED), False),                      # network fault, config, OOM: not the test
    ((O.CRASHED, O.PASSED), False),
    ((O.TIMED_OUT, O.PASSED), False),
    ((O.LOST, O.CANCELLED, O.PASSED), False),
    ((O.PASSED,), False),
    ((O.ERROR, O.CRASHED, O.TIMED_OUT, O.PASSED), False),
])
def test_flaky_only_after_a_failed_test(history, flaky) -> None:
    assert passed_after_test_failure(attempts(*history)) is flaky


def test_the_passing_attempt_itself_is_not_evidence() -> None:
    # only attempts before the last count: a lone "failed" that is the latest says nothing yet
    assert passed_after_test_failure(attempts(O.FAILED)) is False
