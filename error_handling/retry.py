"""Retry policies (SPEC §2): when to retry a failed attempt and how long to wait first.

A policy is immutable configuration. The delay comes from a tenacity wait strategy
(``policy.wait``) so the worker's reconnect loop (``tenacity.AsyncRetrying(wait=policy.wait,
stop=policy.stop)``) and the coordinator's retry scheduler (``policy.get_retry_delay``)
share one implementation.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from tenacity import stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from error_handling.categories import ErrorCategory


class _AttemptState:
    """The one field of tenacity's RetryCallState that wait strategies read."""

    __slots__ = ("attempt_number",)

    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


class wait_exponential_proportional_jitter(wait_base):
    """tenacity's ``wait_exponential`` times a uniform factor in [1 - jitter, 1 + jitter].

    The jittered value is clamped to [0, max_seconds] so jitter never exceeds the cap.
    (tenacity's own ``wait_exponential_jitter`` adds an absolute jitter instead; SPEC §2 asks
    for a proportional one.) ``attempt_number`` is the number of failed attempts so far.
    """

    def __init__(self, *, initial_seconds: float, max_seconds: float, factor: float,
                 jitter: float, rng: random.Random | None = None) -> None:
        self.exponential = wait_exponential(multiplier=initial_seconds, max=max_seconds,
                                            exp_base=factor)
        self.max_seconds = float(max_seconds)
        self.jitter = float(jitter)
        # The module-level functions share one global Random; an injected one makes tests exact.
        self._uniform = (rng or random).uniform
        # The exponential part depends on the attempt number alone: computed once per number
        # (tenacity's call is a large share of a decision); attempts are small integers.
        self._base: dict[int, float] = {}

    def __call__(self, retry_state: Any) -> float:
        return self.delay(retry_state.attempt_number, retry_state)

    def delay(self, attempt: Any, retry_state: Any = None) -> float:
        """The jittered delay after failed attempt ``attempt``."""
        delay = self._base.get(attempt) if type(attempt) is int else None
        if delay is None:
            delay = float(self.exponential(retry_state if retry_state is not None
                                           else _AttemptState(attempt)))
            if type(attempt) is int and len(self._base) < 256:
                self._base[attempt] = delay
        if self.jitter:
            delay *= self._uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return min(max(delay, 0.0), self.max_seconds)


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failure may be retried and the backoff between attempts.

    ``attempt`` everywhere is the number of failed attempts so far (1 after the first failure).
    """

    max_retries: int = 3
    initial_delay_seconds: float = 1.0
    max_delay_seconds: float = 60.0
    backoff_factor: float = 2.0
    jitter_factor: float = 0.1
    # Injected for deterministic tests; not part of the policy's identity.
    rng: random.Random | None = field(default=None, kw_only=True, compare=False, repr=False)
    wait: wait_base = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ValueError(f"max_retries must be an integer, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must not be negative, got {self.max_retries!r}")
        initial = _check_number("initial_delay_seconds", self.initial_delay_seconds)
        maximum = _check_number("max_delay_seconds", self.max_delay_seconds)
        factor = _check_number("backoff_factor", self.backoff_factor)
        jitter = _check_number("jitter_factor", self.jitter_factor)
        if factor < 1:
            raise ValueError(f"backoff_factor must be >= 1, got {self.backoff_factor!r}")
        if jitter > 1:
            raise ValueError(f"jitter_factor must be within [0, 1], got {self.jitter_factor!r}")
        if maximum < initial:
            raise ValueError(f"max_delay_seconds ({self.max_delay_seconds!r}) must be >= "
                             f"initial_delay_seconds ({self.initial_delay_seconds!r})")
        object.__setattr__(self, "wait", wait_exponential_proportional_jitter(
            initial_seconds=initial, max_seconds=maximum, factor=factor, jitter=jitter,
            rng=self.rng))

    @property
    def stop(self) -> stop_after_attempt:
        """tenacity stop condition matching ``should_retry``: max_retries retries, then give up."""
        return stop_after_attempt(self.max_retries + 1)

    def should_retry(self, attempt: int) -> bool:
        """True exactly when ``attempt`` (failed attempts so far) <= max_retries."""
        return attempt <= self.max_retries

    def get_retry_delay(self, attempt: int) -> float:
        """Seconds to wait before the retry that follows failed attempt number ``attempt``."""
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt!r}")
        return self.wait.delay(attempt)

    def nominal_delays(self) -> list[float]:
        """Delays before each allowed retry without jitter (for tables and docs)."""
        exact = wait_exponential(multiplier=self.initial_delay_seconds,
                                 max=self.max_delay_seconds, exp_base=self.backoff_factor)
        return [float(exact(_AttemptState(n))) for n in range(1, self.max_retries + 1)]

    def with_max_retries(self, max_retries: int) -> RetryPolicy:
        """The same backoff with another retry budget (a task's or task type's override)."""
        return replace(self, max_retries=max_retries)

    def describe(self) -> dict[str, Any]:
        """A flat, table-friendly description."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                               if f.name not in ("rng", "wait")}
        out["delays_seconds"] = self.nominal_delays()
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RetryPolicy:
        allowed = {"max_retries", "initial_delay_seconds", "max_delay_seconds",
                   "backoff_factor", "jitter_factor"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown retry policy field(s): {', '.join(sorted(unknown))}")
        return cls(**dict(data))


NO_RETRY = RetryPolicy(max_retries=0, initial_delay_seconds=0, max_delay_seconds=0,
                       backoff_factor=1.0, jitter_factor=0.0)

_C = ErrorCategory
# Why these numbers: network trouble is usually transient and worth waiting out; a lost or
# crashed worker only needs its task requeued elsewhere, quickly; hardware that lacks a
# capability will not grow it, so one re-match to compatible hardware is enough; a test's
# own failure or a broken configuration is deterministic, so retrying only hides it (a task's
# max_retries opts into flaky reruns).
DEFAULT_RETRY_POLICIES: Mapping[ErrorCategory, RetryPolicy] = MappingProxyType({
    _C.RESOURCE_ALLOCATION_ERROR: RetryPolicy(3, 2.0, 60.0, 2.0, 0.2),
    _C.RESOURCE_CLEANUP_ERROR: RetryPolicy(2, 1.0, 30.0, 2.0, 0.2),
    _C.NETWORK_CONNECTION_ERROR: RetryPolicy(5, 1.0, 60.0, 2.0, 0.2),
    _C.NETWORK_TIMEOUT_ERROR: RetryPolicy(3, 2.0, 60.0, 2.0, 0.2),
    _C.HARDWARE_AVAILABILITY_ERROR: RetryPolicy(3, 5.0, 120.0, 2.0, 0.2),
    _C.HARDWARE_CAPABILITY_ERROR: RetryPolicy(1, 1.0, 10.0, 1.0, 0.0),
    _C.HARDWARE_PERFORMANCE_ERROR: RetryPolicy(2, 5.0, 60.0, 2.0, 0.2),
    _C.WORKER_DISCONNECTION_ERROR: RetryPolicy(3, 0.5, 5.0, 2.0, 0.1),
    _C.WORKER_CRASH_ERROR: RetryPolicy(3, 0.5, 5.0, 2.0, 0.1),
    _C.WORKER_OVERLOAD_ERROR: RetryPolicy(3, 5.0, 60.0, 2.0, 0.2),
    _C.TEST_EXECUTION_ERROR: NO_RETRY,
    _C.TEST_DEPENDENCY_ERROR: RetryPolicy(2, 5.0, 60.0, 2.0, 0.1),
    _C.TEST_CONFIGURATION_ERROR: NO_RETRY,
    _C.UNKNOWN_ERROR: RetryPolicy(2, 1.0, 30.0, 2.0, 0.2),
})

# For a category with no policy of its own (e.g. a custom category nobody configured).
DEFAULT_RETRY_POLICY: RetryPolicy = DEFAULT_RETRY_POLICIES[_C.UNKNOWN_ERROR]


def describe_policies(policies: Mapping[Enum, RetryPolicy] | Iterable[tuple[Enum, RetryPolicy]]
                      = DEFAULT_RETRY_POLICIES) -> str:
    """A Markdown table of policies, e.g. for the README."""
    items = policies.items() if isinstance(policies, Mapping) else policies
    lines = ["| category | max_retries | initial_delay_seconds | max_delay_seconds | "
             "backoff_factor | jitter_factor | delays (no jitter) |",
             "|---|---|---|---|---|---|---|"]
    for category, policy in items:
        d = policy.describe()
        delays = ", ".join(f"{x:g}" for x in d["delays_seconds"]) or "never retried"
        name = category.name if isinstance(category, Enum) else str(category)
        lines.append(f"| {name} | {d['max_retries']} | {d['initial_delay_seconds']:g} | "
                     f"{d['max_delay_seconds']:g} | {d['backoff_factor']:g} | "
                     f"{d['jitter_factor']:g} | {delays} |")
    return "\n".join(lines)
