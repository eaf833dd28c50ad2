"""RetryPolicy: SPEC §2 semantics, validation, and tenacity interop."""
from __future__ import annotations

import random

import pytest
import tenacity
from tenacity import AsyncRetrying, RetryError, stop_after_attempt

from error_handling import DEFAULT_RETRY_POLICIES, ErrorCategory, RetryPolicy
from error_handling.retry import NO_RETRY, describe_policies


def exact(**kw) -> RetryPolicy:
    base = dict(max_retries=5, initial_delay_seconds=10, max_delay_seconds=60,
                backoff_factor=2.0, jitter_factor=0.0)
    return RetryPolicy(**{**base, **kw})


def test_exact_delays_without_jitter():
    p = exact()
    assert [p.get_retry_delay(a) for a in (1, 2, 3)] == [10, 20, 40]


def test_delay_is_capped_at_max():
    p = exact(max_retries=10)
    assert [p.get_retry_delay(a) for a in (3, 4, 5, 10, 200)] == [40, 60, 60, 60, 60]


def test_factor_one_is_constant():
    p = exact(backoff_factor=1.0)
    assert {p.get_retry_delay(a) for a in range(1, 8)} == {10}


def test_zero_delay_policy():
    assert NO_RETRY.get_retry_delay(1) == 0


@pytest.mark.parametrize("max_retries, attempt, expected", [
    (0, 1, False), (1, 1, True), (1, 2, False), (3, 3, True), (3, 4, False), (5, 0, True),
])
def test_should_retry_off_by_one(max_retries, attempt, expected):
    assert exact(max_retries=max_retries).should_retry(attempt) is expected


def test_jitter_stays_within_bounds_and_spreads():
    p = RetryPolicy(max_retries=9, initial_delay_seconds=1, max_delay_seconds=1000,
                    backoff_factor=2.0, jitter_factor=0.2, rng=random.Random(7))
    samples = [p.get_retry_delay(3) for _ in range(5000)]  # nominal 4
    assert min(samples) >= 4 * 0.8 and max(samples) <= 4 * 1.2
    # Uniform over the whole band, not a constant: both edges are approached.
    assert min(samples) < 3.3 and max(samples) > 4.7
    assert abs(sum(samples) / len(samples) - 4.0) < 0.05


def test_jitter_never_exceeds_the_cap():
    p = RetryPolicy(max_retries=9, initial_delay_seconds=1, max_delay_seconds=8,
                    backoff_factor=2.0, jitter_factor=1.0, rng=random.Random(3))
    samples = [p.get_retry_delay(9) for _ in range(2000)]  # capped at 8 before jitter
    assert max(samples) <= 8 and min(samples) >= 0
    assert max(samples) == 8  # the upper half of the band is clamped to the cap


def test_injected_rng_is_deterministic():
    a = RetryPolicy(5, 1, 60, 2.0, 0.5, rng=random.Random(42))
    b = RetryPolicy(5, 1, 60, 2.0, 0.5, rng=random.Random(42))
    assert [a.get_retry_delay(n) for n in range(1, 6)] == [b.get_retry_delay(n) for n in range(1, 6)]
    assert a == b  # the RNG is not part of the policy's identity


@pytest.mark.parametrize("field, value", [
    ("max_retries", -1), ("initial_delay_seconds", -0.5), ("max_delay_seconds", -1),
    ("backoff_factor", 0.5), ("backoff_factor", -2), ("jitter_factor", -0.1),
    ("jitter_factor", 1.5), ("max_retries", 1.5), ("initial_delay_seconds", float("nan")),
])
def test_invalid_values_name_the_field(field, value):
    kw = dict(max_retries=3, initial_delay_seconds=1, max_delay_seconds=60,
              backoff_factor=2.0, jitter_factor=0.1)
    kw[field] = value
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kw)


def test_max_below_initial_is_rejected():
    with pytest.raises(ValueError, match="max_delay_seconds"):
        RetryPolicy(3, 10, 5, 2.0, 0.0)


def test_policy_is_frozen_and_hashable():
    p = exact()
    with pytest.raises(AttributeError):
        p.max_retries = 9  # type: ignore[misc]
    assert hash(p) == hash(exact())
    assert p.with_max_retries(1).max_retries == 1 and p.max_retries == 5
    assert p.with_max_retries(1).get_retry_delay(2) == 20


def test_attempt_below_one_is_rejected():
    with pytest.raises(ValueError, match="attempt"):
        exact().get_retry_delay(0)


async def test_tenacity_async_retrying_uses_policy_wait():
    p = exact(max_retries=3)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("refused")

    with pytest.raises(RetryError):
        async for attempt in AsyncRetrying(wait=p.wait, stop=stop_after_attempt(4),
                                           sleep=fake_sleep):
            with attempt:
                await flaky()
    assert calls == 4
    assert slept == [p.get_retry_delay(a) for a in (1, 2, 3)] == [10, 20, 40]


async def test_policy_stop_matches_should_retry():
    p = exact(max_retries=2)
    calls = 0

    async def nosleep(_s: float) -> None:
        return None

    with pytest.raises(RetryError):
        async for attempt in AsyncRetrying(wait=p.wait, stop=p.stop, sleep=nosleep):
            with attempt:
                calls += 1
                raise OSError("down")
    # Attempts that were retried are exactly those with should_retry True.
    assert calls == 3
    assert [p.should_retry(a) for a in (1, 2, 3)] == [True, True, False]


def test_wait_composes_with_other_tenacity_waits():
    p = exact()
    combined = p.wait + tenacity.wait_fixed(1)
    state = type("S", (), {"attempt_number": 2})()
    assert combined(state) == 21


def test_default_policies_cover_every_category():
    assert set(DEFAULT_RETRY_POLICIES) == set(ErrorCategory)
    d = DEFAULT_RETRY_POLICIES
    assert d[ErrorCategory.TEST_EXECUTION_ERROR].max_retries == 0
    assert d[ErrorCategory.TEST_CONFIGURATION_ERROR].max_retries == 0
    assert not d[ErrorCategory.TEST_EXECUTION_ERROR].should_retry(1)
    net = d[ErrorCategory.NETWORK_CONNECTION_ERROR]
    assert net.max_retries > d[ErrorCategory.UNKNOWN_ERROR].max_retries
    assert net.max_delay_seconds >= d[ErrorCategory.WORKER_CRASH_ERROR].max_delay_seconds
    assert d[ErrorCategory.WORKER_CRASH_ERROR].initial_delay_seconds <= 1
    assert 1 <= d[ErrorCategory.HARDWARE_CAPABILITY_ERROR].max_retries <= 2
    assert d[ErrorCategory.UNKNOWN_ERROR].max_retries >= 1


def test_describe_is_table_friendly():
    row = exact(max_retries=3).describe()
    assert row == {"max_retries": 3, "initial_delay_seconds": 10, "max_delay_seconds": 60,
                   "backoff_factor": 2.0, "jitter_factor": 0.0,
                   "delays_seconds": [10.0, 20.0, 40.0]}
    table = describe_policies()
    assert table.count("\n") == len(ErrorCategory) + 1
    assert "| TEST_EXECUTION_ERROR | 0 |" in table and "never retried" in table


def test_from_mapping_rejects_unknown_fields():
    assert RetryPolicy.from_mapping({"max_retries": 2}).max_retries == 2
    with pytest.raises(ValueError, match="max_retry"):
        RetryPolicy.from_mapping({"max_retry": 2})
