"""Flaky means the test: only a failed run of the test before the pass makes a task flaky."""
from __future__ import annotations

import pytest

from coordinator.engine import passed_after_test_failure
from coordinator.models import Attempt, AttemptOutcome as O, Task, TaskStatus


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


@pytest.mark.parametrize("history, retried", [
    ((O.CRASHED, O.PASSED), True),                     # infrastructure faults, then a pass
    ((O.ERROR, O.TIMED_OUT, O.PASSED), True),
    ((O.LOST, O.PASSED), True),
    ((O.FAILED, O.PASSED), False),                     # flaky, counted as such instead
    ((O.CRASHED, O.FAILED, O.PASSED), False),
    ((O.CANCELLED, O.PASSED), False),
    ((O.PASSED,), False),
])
def test_retried_means_completed_after_an_infrastructure_fault(history, retried) -> None:
    task = Task(task_id="t", seq=1, type="chaos", config={}, requirements={}, priority=0, timeout_seconds=1.0,
                max_retries=None, tags={}, depends_on=[], created_at=0.0, status=TaskStatus.COMPLETED,
                attempts=attempts(*history))
    task.flaky = passed_after_test_failure(task.attempts)
    assert task.retried is retried
    assert task.to_api()["retried"] is retried
    task.status = TaskStatus.ERROR           # a task that did not complete was not "retried" into success
    assert task.retried is False
