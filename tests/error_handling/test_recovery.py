"""Recovery strategies return exactly the SPEC §7 actions per category."""
from __future__ import annotations

import pytest

from error_handling import (ErrorCategory, ErrorInfo, HardwareRecoveryStrategy,
                            NetworkRecoveryStrategy, RecoveryAction, RecoveryStrategy,
                            ResourceRecoveryStrategy, TestExecutionRecoveryStrategy,
                            WorkerRecoveryStrategy)
from error_handling.recovery import default_recovery_strategies, describe_strategies, is_test_verdict

C = ErrorCategory

SPEC_TABLE = {
    C.RESOURCE_ALLOCATION_ERROR: (ResourceRecoveryStrategy, ["request_resource_cleanup", "reallocate_task"]),
    C.RESOURCE_CLEANUP_ERROR: (ResourceRecoveryStrategy, ["request_resource_cleanup", "mark_resource_unavailable"]),
    C.NETWORK_CONNECTION_ERROR: (NetworkRecoveryStrategy, ["reconnect"]),
    C.NETWORK_TIMEOUT_ERROR: (NetworkRecoveryStrategy, ["increase_timeout"]),
    C.HARDWARE_AVAILABILITY_ERROR: (HardwareRecoveryStrategy, ["mark_hardware_unavailable", "reallocate_to_alternative_hardware"]),
    C.HARDWARE_CAPABILITY_ERROR: (HardwareRecoveryStrategy, ["update_hardware_requirements", "reallocate_to_compatible_hardware"]),
    C.HARDWARE_PERFORMANCE_ERROR: (HardwareRecoveryStrategy, ["mark_worker_slow", "reallocate_to_compatible_hardware"]),
    C.WORKER_DISCONNECTION_ERROR: (WorkerRecoveryStrategy, ["mark_worker_unavailable", "reassign_task"]),
    C.WORKER_CRASH_ERROR: (WorkerRecoveryStrategy, ["mark_worker_crashed", "reassign_task_to_different_worker"]),
    C.WORKER_OVERLOAD_ERROR: (WorkerRecoveryStrategy, ["mark_worker_slow", "reassign_task_with_increased_timeout"]),
    C.TEST_DEPENDENCY_ERROR: (TestExecutionRecoveryStrategy, ["check_dependencies", "resolve_dependencies"]),
    C.TEST_CONFIGURATION_ERROR: (TestExecutionRecoveryStrategy, ["record_test_error"]),
}


@pytest.mark.parametrize("category", list(SPEC_TABLE))
def test_default_actions_per_category(category):
    cls, expected = SPEC_TABLE[category]
    strategy = default_recovery_strategies()[category]
    assert type(strategy) is cls
    actions = strategy.determine_actions(ErrorInfo(message="x"), {"category": category})
    assert actions == expected
    assert all(type(a) is RecoveryAction for a in actions)  # typed, compares as plain str


def test_unknown_has_no_strategy():
    assert default_recovery_strategies()[C.UNKNOWN_ERROR] is None
    assert set(default_recovery_strategies()) == set(ErrorCategory)


def test_action_enum_values_are_plain_names():
    names = {a.value for a in RecoveryAction}
    assert len(names) == 20
    for _cls, actions in SPEC_TABLE.values():
        assert set(actions) <= names
    assert {"failover", "record_test_failure"} <= names
    assert all(a.value == a.name.lower() for a in RecoveryAction)
    assert f"{RecoveryAction.RECONNECT}" == "reconnect"


@pytest.mark.parametrize("failures, backup, expected", [
    (0, "ws://backup:8080/ws", ["reconnect"]),
    (2, "ws://backup:8080/ws", ["reconnect"]),
    (3, "ws://backup:8080/ws", ["reconnect", "failover"]),
    (7, "ws://backup:8080/ws", ["reconnect", "failover"]),
    (7, None, ["reconnect"]),
    (7, "", ["reconnect"]),
])
def test_network_failover_threshold(failures, backup, expected):
    ctx = {"category": C.NETWORK_CONNECTION_ERROR, "reconnect_failures": failures}
    if backup is not None:
        ctx["backup_coordinator"] = backup
    assert NetworkRecoveryStrategy(failover_after=3).determine_actions(None, ctx) == expected


def test_network_failover_threshold_is_configurable_and_validated():
    ctx = {"category": C.NETWORK_CONNECTION_ERROR, "reconnect_failures": 1,
           "backup_coordinator": "ws://b/ws"}
    assert NetworkRecoveryStrategy(failover_after=1).determine_actions(None, ctx)[-1] == "failover"
    with pytest.raises(ValueError, match="failover_after"):
        NetworkRecoveryStrategy(failover_after=0)


def test_timeout_never_fails_over():
    ctx = {"category": C.NETWORK_TIMEOUT_ERROR, "reconnect_failures": 10, "backup_coordinator": "b"}
    assert NetworkRecoveryStrategy().determine_actions(None, ctx) == ["increase_timeout"]


@pytest.mark.parametrize("error, ctx, expected", [
    (AssertionError("assert 1 == 2"), {}, "record_test_failure"),
    (ErrorInfo(type="AssertionError", message="assert x"), {}, "record_test_failure"),
    (ErrorInfo(type="pytest.AssertionError"), {}, "record_test_failure"),
    ({"type": "AssertionError", "message": "boom"}, {}, "record_test_failure"),
    (ErrorInfo(type="ValueError", message="bad"), {"verdict": "failed"}, "record_test_failure"),
    (ErrorInfo(type="ValueError", message="bad"), {}, "record_test_error"),
    (ZeroDivisionError("division by zero"), {}, "record_test_error"),
    # an explicit verdict wins over the type
    (ErrorInfo(type="AssertionError"), {"verdict": "error"}, "record_test_error"),
])
def test_test_execution_verdict_or_error(error, ctx, expected):
    ctx = {**ctx, "category": C.TEST_EXECUTION_ERROR}
    assert TestExecutionRecoveryStrategy().determine_actions(error, ctx) == [expected]


def test_category_may_come_from_the_error():
    err = {"category": "worker_crash_error", "message": "segfault"}
    assert WorkerRecoveryStrategy().determine_actions(err, {}) == [
        "mark_worker_crashed", "reassign_task_to_different_worker"]


def test_strategy_for_foreign_category_returns_nothing():
    assert ResourceRecoveryStrategy().determine_actions(None, {"category": C.WORKER_CRASH_ERROR}) == []


def test_strategies_are_pure():
    ctx = {"category": C.NETWORK_CONNECTION_ERROR, "reconnect_failures": 5, "backup_coordinator": "b"}
    before = dict(ctx)
    s = NetworkRecoveryStrategy()
    first = s.determine_actions(None, ctx)
    first.append("mutated")
    assert s.determine_actions(None, ctx) == ["reconnect", "failover"]
    assert ctx == before


def test_custom_subclass():
    class Quarantine(RecoveryStrategy):
        def determine_actions(self, error, context):
            return ["quarantine_node"]
    assert Quarantine()(None, {}) == ["quarantine_node"]


def test_is_test_verdict():
    assert is_test_verdict(AssertionError(), None)
    assert not is_test_verdict(RuntimeError(), None)
    assert is_test_verdict(None, {"verdict": "FAILED"})


def test_describe_strategies_table():
    table = describe_strategies()
    assert table.count("\n") == len(ErrorCategory) + 1
    assert "| UNKNOWN_ERROR | none | retry under its policy only |" in table
    assert "failover" in table
