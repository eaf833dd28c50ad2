"""Recovery strategies (SPEC §7): which actions follow a failure of a given category.

A strategy is a pure function of (error, context) returning action names; executing them
(requeueing, changing worker state, telling a worker to reconnect) is the caller's job.
The category a strategy is asked about comes from ``context["category"]`` (the handler
puts it there), else from the error itself (``error.category`` or ``error["category"]``).
"""
from __future__ import annotations

from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any, Callable, Mapping, Union

from error_handling.categories import ErrorCategory


class RecoveryAction(StrEnum):
    """Every built-in action name of SPEC §7; the value is the plain name."""

    REQUEST_RESOURCE_CLEANUP = "request_resource_cleanup"
    MARK_RESOURCE_UNAVAILABLE = "mark_resource_unavailable"
    REALLOCATE_TASK = "reallocate_task"
    INCREASE_TIMEOUT = "increase_timeout"
    RECONNECT = "reconnect"
    FAILOVER = "failover"
    MARK_HARDWARE_UNAVAILABLE = "mark_hardware_unavailable"
    REALLOCATE_TO_ALTERNATIVE_HARDWARE = "reallocate_to_alternative_hardware"
    REALLOCATE_TO_COMPATIBLE_HARDWARE = "reallocate_to_compatible_hardware"
    UPDATE_HARDWARE_REQUIREMENTS = "update_hardware_requirements"
    MARK_WORKER_UNAVAILABLE = "mark_worker_unavailable"
    MARK_WORKER_SLOW = "mark_worker_slow"
    MARK_WORKER_CRASHED = "mark_worker_crashed"
    REASSIGN_TASK = "reassign_task"
    REASSIGN_TASK_WITH_INCREASED_TIMEOUT = "reassign_task_with_increased_timeout"
    REASSIGN_TASK_TO_DIFFERENT_WORKER = "reassign_task_to_different_worker"
    CHECK_DEPENDENCIES = "check_dependencies"
    RESOLVE_DEPENDENCIES = "resolve_dependencies"
    RECORD_TEST_FAILURE = "record_test_failure"
    RECORD_TEST_ERROR = "record_test_error"

    def __str__(self) -> str:
        return self.value


A = RecoveryAction

# Actions that only make sense when the task runs again: they put it back in the queue or
# shape its next attempt. The handler drops them when the policy says no retry.
NEXT_ATTEMPT_ACTIONS: frozenset[RecoveryAction] = frozenset({
    A.REALLOCATE_TASK, A.INCREASE_TIMEOUT, A.REALLOCATE_TO_ALTERNATIVE_HARDWARE,
    A.REALLOCATE_TO_COMPATIBLE_HARDWARE, A.UPDATE_HARDWARE_REQUIREMENTS, A.REASSIGN_TASK,
    A.REASSIGN_TASK_WITH_INCREASED_TIMEOUT, A.REASSIGN_TASK_TO_DIFFERENT_WORKER,
    A.RESOLVE_DEPENDENCIES,
})
# Actions that end the task; the handler drops them when the task is retried instead.
TERMINAL_ACTIONS: frozenset[RecoveryAction] = frozenset({A.RECORD_TEST_FAILURE,
                                                         A.RECORD_TEST_ERROR})


def category_of(error: Any, context: Mapping[str, Any] | None) -> Any:
    """The category a strategy is asked about: context first, then the error."""
    if context:
        cat = context.get("category")
        if cat is not None:
            return cat
    cat = getattr(error, "category", None)
    if cat is None and isinstance(error, Mapping):
        cat = error.get("category")
    return cat


def _value(category: Any) -> Any:
    # ``_value_`` is the plain attribute behind ``.value`` (a property, slow on a hot path).
    return category._value_ if isinstance(category, Enum) else category


def _type_name(error: Any) -> str:
    if isinstance(error, BaseException):
        return type(error).__name__
    name = getattr(error, "type", None)
    if name is None and isinstance(error, Mapping):
        name = error.get("type")
    return str(name or "")


def is_test_verdict(error: Any, context: Mapping[str, Any] | None) -> bool:
    """True when the failure is the test's own verdict (it ran and failed) rather than an error.

    An explicit ``context["verdict"]`` wins; otherwise an AssertionError (the exception, or a
    reported type whose name ends in ``AssertionError``) is a verdict.
    """
    verdict = (context or {}).get("verdict")
    if verdict is not None:
        return str(_value(verdict)).lower() == "failed"
    exc = error if isinstance(error, BaseException) else getattr(error, "exception", None)
    if isinstance(exc, AssertionError):
        return True
    return _type_name(error).endswith("AssertionError")


class RecoveryStrategy:
    """Base class: maps a category to a fixed list of actions; override ``determine_actions``
    for anything that depends on the error or the context."""

    name = "RecoveryStrategy"
    actions_by_category: Mapping[str, tuple[RecoveryAction, ...]] = MappingProxyType({})

    def determine_actions(self, error: Any, context: Mapping[str, Any] | None) -> list[str]:
        cat = category_of(error, context)
        return list(self.actions_by_category.get(_value(cat), ()))

    def fixed_actions(self, category: Any) -> tuple[Any, ...] | None:
        """The actions for ``category`` when they depend on the category alone (the handler
        then skips ``determine_actions`` and its context copy), else None: always None for a
        ``determine_actions`` this module did not write, and for the categories that one works
        out from the error or the context."""
        contextual = _CONTEXTUAL_CATEGORIES.get(type(self).determine_actions)
        value = _value(category)
        if contextual is None or value in contextual:
            return None
        return self.actions_by_category.get(value, ())

    def handles(self) -> list[str]:
        """Category values this strategy has actions for (for docs and tables)."""
        return list(self.actions_by_category)

    def __call__(self, error: Any, context: Mapping[str, Any] | None) -> list[str]:
        return self.determine_actions(error, context)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _table(entries: dict[ErrorCategory, tuple[RecoveryAction, ...]]
           ) -> Mapping[str, tuple[RecoveryAction, ...]]:
    return MappingProxyType({c.value: acts for c, acts in entries.items()})


C = ErrorCategory
_NETWORK_CONNECTION = C.NETWORK_CONNECTION_ERROR.value
_TEST_EXECUTION = C.TEST_EXECUTION_ERROR.value


class ResourceRecoveryStrategy(RecoveryStrategy):
    name = "ResourceRecoveryStrategy"
    actions_by_category = _table({
        C.RESOURCE_ALLOCATION_ERROR: (A.REQUEST_RESOURCE_CLEANUP, A.REALLOCATE_TASK),
        C.RESOURCE_CLEANUP_ERROR: (A.REQUEST_RESOURCE_CLEANUP, A.MARK_RESOURCE_UNAVAILABLE),
    })


class NetworkRecoveryStrategy(RecoveryStrategy):
    """``reconnect``; plus ``failover`` once ``context["reconnect_failures"]`` has reached
    ``failover_after`` and ``context["backup_coordinator"]`` names a backup."""

    name = "NetworkRecoveryStrategy"
    actions_by_category = _table({
        C.NETWORK_CONNECTION_ERROR: (A.RECONNECT,),
        C.NETWORK_TIMEOUT_ERROR: (A.INCREASE_TIMEOUT,),
    })

    def __init__(self, *, failover_after: int = 3) -> None:
        if failover_after < 1:
            raise ValueError(f"failover_after must be >= 1, got {failover_after!r}")
        self.failover_after = failover_after

    def determine_actions(self, error: Any, context: Mapping[str, Any] | None) -> list[str]:
        actions = super().determine_actions(error, context)
        if _value(category_of(error, context)) == _NETWORK_CONNECTION and context:
            failures = context.get("reconnect_failures") or 0
            if failures >= self.failover_after and context.get("backup_coordinator"):
                actions.append(A.FAILOVER)
        return actions

    def __repr__(self) -> str:
        return f"NetworkRecoveryStrategy(failover_after={self.failover_after})"


class HardwareRecoveryStrategy(RecoveryStrategy):
    name = "HardwareRecoveryStrategy"
    actions_by_category = _table({
        C.HARDWARE_AVAILABILITY_ERROR: (A.MARK_HARDWARE_UNAVAILABLE,
                                        A.REALLOCATE_TO_ALTERNATIVE_HARDWARE),
        C.HARDWARE_CAPABILITY_ERROR: (A.UPDATE_HARDWARE_REQUIREMENTS,
                                      A.REALLOCATE_TO_COMPATIBLE_HARDWARE),
        C.HARDWARE_PERFORMANCE_ERROR: (A.MARK_WORKER_SLOW, A.REALLOCATE_TO_COMPATIBLE_HARDWARE),
    })


class WorkerRecoveryStrategy(RecoveryStrategy):
    name = "WorkerRecoveryStrategy"
    actions_by_category = _table({
        C.WORKER_DISCONNECTION_ERROR: (A.MARK_WORKER_UNAVAILABLE, A.REASSIGN_TASK),
        C.WORKER_CRASH_ERROR: (A.MARK_WORKER_CRASHED, A.REASSIGN_TASK_TO_DIFFERENT_WORKER),
        C.WORKER_OVERLOAD_ERROR: (A.MARK_WORKER_SLOW, A.REASSIGN_TASK_WITH_INCREASED_TIMEOUT),
    })


class TestExecutionRecoveryStrategy(RecoveryStrategy):
    """A test's verdict (assertion) is recorded as ``failed``; anything it raised as ``error``."""

    __test__ = False  # not a pytest test class despite the name
    name = "TestExecutionRecoveryStrategy"
    actions_by_category = _table({
        C.TEST_EXECUTION_ERROR: (A.RECORD_TEST_ERROR,),
        C.TEST_DEPENDENCY_ERROR: (A.CHECK_DEPENDENCIES, A.RESOLVE_DEPENDENCIES),
        C.TEST_CONFIGURATION_ERROR: (A.RECORD_TEST_ERROR,),
    })

    def determine_actions(self, error: Any, context: Mapping[str, Any] | None) -> list[str]:
        if _value(category_of(error, context)) == _TEST_EXECUTION:
            verdict = is_test_verdict(error, context)
            return [A.RECORD_TEST_FAILURE if verdict else A.RECORD_TEST_ERROR]
        return super().determine_actions(error, context)


# Each determine_actions written here -> the categories it decides from the error or context.
_CONTEXTUAL_CATEGORIES: dict[Callable[..., Any], frozenset[str]] = {
    RecoveryStrategy.determine_actions: frozenset(),
    NetworkRecoveryStrategy.determine_actions: frozenset({_NETWORK_CONNECTION}),
    TestExecutionRecoveryStrategy.determine_actions: frozenset({_TEST_EXECUTION}),
}

StrategyLike = Union[RecoveryStrategy, Callable[[Any, Mapping[str, Any]], list[str]]]


def default_recovery_strategies() -> dict[Enum, RecoveryStrategy | None]:
    """Fresh instances of the SPEC §7 mapping; UNKNOWN_ERROR has none (retry only)."""
    resource, network = ResourceRecoveryStrategy(), NetworkRecoveryStrategy()
    hardware, worker = HardwareRecoveryStrategy(), WorkerRecoveryStrategy()
    test = TestExecutionRecoveryStrategy()
    out: dict[Enum, RecoveryStrategy | None] = {}
    for strategy in (resource, network, hardware, worker, test):
        for value in strategy.handles():
            out[ErrorCategory(value)] = strategy
    out[C.UNKNOWN_ERROR] = None
    return {c: out[c] for c in ErrorCategory}  # declaration order, for tables


def describe_strategies(strategies: Mapping[Enum, StrategyLike | None] | None = None) -> str:
    """A Markdown table: category, strategy, default actions (for the README)."""
    strategies = default_recovery_strategies() if strategies is None else strategies
    lines = ["| category | strategy | actions |", "|---|---|---|"]
    for category, strategy in strategies.items():
        name = category.name if isinstance(category, Enum) else str(category)
        if strategy is None:
            lines.append(f"| {name} | none | retry under its policy only |")
            continue
        if isinstance(strategy, TestExecutionRecoveryStrategy) and \
                _value(category) == C.TEST_EXECUTION_ERROR.value:
            acts = "record_test_failure (test's verdict) or record_test_error (it raised)"
        else:
            acts = ", ".join(str(a) for a in strategy(None, {"category": category})) or "-"
            if isinstance(strategy, NetworkRecoveryStrategy) and \
                    _value(category) == C.NETWORK_CONNECTION_ERROR.value:
                acts += (f"; failover after {strategy.failover_after} failed reconnects "
                         "when a backup coordinator is configured")
        sname = getattr(strategy, "name", None) or type(strategy).__name__
        lines.append(f"| {name} | {sname} | {acts} |")
    return "\n".join(lines)
