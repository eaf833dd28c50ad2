"""DistributedErrorHandler: decisions, override precedence, custom categories, and the fast paths that
keep the slow paths' results (events, stop and backpressure: test_handler_events.py)."""
from __future__ import annotations

import json
import random
import uuid
from enum import Enum

import duckdb
import pytest

from error_handling import (DistributedErrorHandler, ErrorCategory, ErrorDecision, ErrorInfo,
                            RecoveryAction, RetryPolicy)
from error_handling.handler import Outcome
from error_handling.retry import DEFAULT_RETRY_POLICIES, DEFAULT_RETRY_POLICY

from tests.error_handling.handler_stubs import C, StubClassifier, ctx, stub_handler


# -- the guide's example ----------------------------------------------------------------------

async def test_guide_example_verbatim():
    handler = DistributedErrorHandler(retry_policies={ErrorCategory.NETWORK_CONNECTION_ERROR: RetryPolicy(max_retries=5, initial_delay_seconds=1, max_delay_seconds=60, backoff_factor=2.0, jitter_factor=0.2)}, enable_pattern_detection=True, pattern_similarity_threshold=0.8, error_history_size=1000)
    policy = handler.get_retry_policy(ErrorCategory.NETWORK_CONNECTION_ERROR)
    assert (policy.max_retries, policy.initial_delay_seconds, policy.max_delay_seconds,
            policy.backoff_factor, policy.jitter_factor) == (5, 1, 60, 2.0, 0.2)
    err = ConnectionRefusedError(111, "Connection refused")
    assert handler.categorize_error(err) == ErrorCategory.NETWORK_CONNECTION_ERROR
    d = await handler.handle_error(err, {"task_id": "t1", "worker_id": "w1",
                                         "hardware_type": "cpu", "attempt": 2})
    assert isinstance(d, ErrorDecision)
    assert d.category == ErrorCategory.NETWORK_CONNECTION_ERROR
    assert d.retry is True and d.outcome == Outcome.RETRY == "retry"
    assert 2 * 0.8 <= d.retry_delay <= 2 * 1.2
    assert d.actions == ["reconnect"]
    assert isinstance(d.pattern_id, str) and d.pattern_id
    assert uuid.UUID(d.event_id).version == 4
    assert (d.attempt, d.max_retries) == (2, 5)
    d6 = await handler.handle_error(err, {"task_id": "t1", "worker_id": "w1", "attempt": 6})
    assert d6.retry is False and d6.retry_delay is None and d6.outcome == "error"
    assert d6.pattern_id == d.pattern_id  # same error, same pattern


def test_categorize_real_errors():
    handler = DistributedErrorHandler()
    assert handler.categorize_error(AssertionError("assert 1 == 2")) == C.TEST_EXECUTION_ERROR
    assert handler.categorize_error({"type": "RuntimeError",
                                     "message": "CUDA out of memory. Tried to allocate 2.00 GiB"}
                                    ) == C.RESOURCE_ALLOCATION_ERROR
    assert isinstance(handler.categorize_error({"type": "X", "message": "???"}), Enum)


# -- decisions --------------------------------------------------------------------------------

async def test_strategy_actions_and_delay_per_category():
    h = stub_handler()
    d = await h.handle_error({"type": "E", "message": "oom"}, ctx(C.RESOURCE_ALLOCATION_ERROR))
    assert d.actions == ["request_resource_cleanup", "reallocate_task"]
    assert d.retry and d.max_retries == DEFAULT_RETRY_POLICIES[C.RESOURCE_ALLOCATION_ERROR].max_retries
    assert d.rule == "stub"
    d = await h.handle_error({"type": "E", "message": "x"}, ctx(C.UNKNOWN_ERROR))
    assert d.actions == [] and d.retry and d.outcome == "retry"


async def test_failover_through_the_handler():
    h = stub_handler()
    d = await h.handle_error({"message": "refused"}, ctx(C.NETWORK_CONNECTION_ERROR,
                             reconnect_failures=3, backup_coordinator="ws://b:8080/ws"))
    assert d.actions == ["reconnect", "failover"]


async def test_strategy_cannot_push_a_retry_past_max_retries():
    pushy_calls = []

    def pushy(error, context):  # always asks for a requeue, even when attempts are spent
        pushy_calls.append(context["attempt"])
        return ["mark_worker_crashed", "reassign_task", "reassign_task_to_different_worker"]

    h = stub_handler(recovery_strategies={C.WORKER_CRASH_ERROR: pushy},
                     retry_policies={C.WORKER_CRASH_ERROR: RetryPolicy(2, 1, 10, 2.0, 0.0)})
    results = [await h.handle_error({"message": "died"}, ctx(C.WORKER_CRASH_ERROR, attempt=a))
               for a in (1, 2, 3, 4)]
    assert [d.retry for d in results] == [True, True, False, False]
    assert [d.retry_delay for d in results] == [1, 2, None, None]
    spent = results[2]
    assert spent.outcome == Outcome.ERROR
    assert spent.actions == ["mark_worker_crashed"]  # requeue actions are dropped...
    assert spent.dropped_actions == ("reassign_task", "reassign_task_to_different_worker")
    assert results[0].actions == ["mark_worker_crashed", "reassign_task",
                                  "reassign_task_to_different_worker"]
    assert pushy_calls == [1, 2, 3, 4]


@pytest.mark.parametrize("category", list(ErrorCategory))
async def test_retry_is_exactly_should_retry_for_every_category(category):
    h = stub_handler()
    policy = h.get_retry_policy(category)
    for attempt in range(1, policy.max_retries + 3):
        d = await h.handle_error({"message": "m"}, ctx(category, attempt=attempt))
        assert d.retry is (attempt <= policy.max_retries)
        assert (d.retry_delay is None) is (not d.retry)
        if not d.retry:
            assert not set(d.actions) & {"reassign_task", "reallocate_task",
                                         "reassign_task_to_different_worker",
                                         "reassign_task_with_increased_timeout",
                                         "reallocate_to_compatible_hardware",
                                         "reallocate_to_alternative_hardware"}


async def test_test_failure_is_a_verdict_not_retried():
    h = stub_handler()
    d = await h.handle_error(AssertionError("assert 2 == 3"), ctx(C.TEST_EXECUTION_ERROR))
    assert (d.retry, d.retry_delay, d.outcome, d.actions) == (False, None, Outcome.FAILED,
                                                              ["record_test_failure"])
    d = await h.handle_error(ZeroDivisionError("division by zero"), ctx(C.TEST_EXECUTION_ERROR))
    assert (d.retry, d.outcome, d.actions) == (False, Outcome.ERROR, ["record_test_error"])
    d = await h.handle_error({"message": "bad yaml"}, ctx(C.TEST_CONFIGURATION_ERROR))
    assert (d.retry, d.outcome, d.actions) == (False, "error", ["record_test_error"])


async def test_task_max_retries_reruns_a_failed_test_on_another_worker():
    h = stub_handler()
    c = ctx(C.TEST_EXECUTION_ERROR, max_retries=2)
    first = await h.handle_error(AssertionError("flaky"), c)
    assert first.retry and first.outcome == "retry" and first.max_retries == 2
    assert first.actions == ["reassign_task_to_different_worker"]
    assert first.dropped_actions == ("record_test_failure",)
    last = await h.handle_error(AssertionError("flaky"), {**c, "attempt": 3})
    assert (last.retry, last.outcome, last.actions) == (False, "failed", ["record_test_failure"])


async def test_override_precedence_task_then_type_then_category_then_default():
    class Custom(str, Enum):
        QUIRK = "quirk"

    h = stub_handler(
        custom_categories=Custom,
        retry_policies={C.NETWORK_CONNECTION_ERROR: RetryPolicy(5, 1, 60, 2.0, 0.0)},
        task_type_policies={"benchmark": RetryPolicy(1, 7, 7, 1.0, 0.0), "pytest": 4,
                            "chaos": {C.NETWORK_CONNECTION_ERROR: 2}})
    net = C.NETWORK_CONNECTION_ERROR
    assert h.resolve_policy(net, {}).max_retries == 5                                  # category
    assert h.resolve_policy(net, {"task_type": "benchmark"}) == RetryPolicy(1, 7, 7, 1.0, 0.0)
    assert h.resolve_policy(net, {"task_type": "pytest"}).max_retries == 4              # type
    assert h.resolve_policy(net, {"task_type": "pytest"}).initial_delay_seconds == 1    # keeps backoff
    assert h.resolve_policy(net, {"task_type": "chaos"}).max_retries == 2
    assert h.resolve_policy(C.WORKER_CRASH_ERROR, {"task_type": "chaos"}) == \
        DEFAULT_RETRY_POLICIES[C.WORKER_CRASH_ERROR]
    assert h.resolve_policy(net, {"task_type": "benchmark", "max_retries": 9}).max_retries == 9
    assert h.resolve_policy(net, {"task_type": "pytest", "max_retries": 0}).max_retries == 0
    assert h.resolve_policy(Custom.QUIRK, {}) == DEFAULT_RETRY_POLICY                    # default
    d = await h.handle_error({"message": "x"}, ctx(net, attempt=3, task_type="chaos"))
    assert not d.retry and d.max_retries == 2
    d = await h.handle_error({"message": "x"}, ctx(net, attempt=3, task_type="chaos", max_retries=3))
    assert d.retry and d.max_retries == 3 and d.retry_delay == 4


@pytest.mark.parametrize("bad", [{"attempt": 0}, {"attempt": "1"}, {"max_retries": -1},
                                 {"max_retries": True}])
async def test_invalid_context_is_rejected(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        await stub_handler().handle_error({"message": "x"}, {**ctx(C.UNKNOWN_ERROR), **bad})


async def test_register_replaces_policy_and_strategy():
    h = stub_handler()
    h.register_recovery_strategy(C.NETWORK_TIMEOUT_ERROR, lambda e, c: ["page_oncall"])
    h.register_retry_policy("network_timeout_error", RetryPolicy(0, 0, 0, 1.0, 0.0))
    assert h.get_retry_policy(C.NETWORK_TIMEOUT_ERROR).max_retries == 0
    d = await h.handle_error({"message": "t"}, ctx(C.NETWORK_TIMEOUT_ERROR))
    assert d.actions == ["page_oncall"] and not d.retry
    h.register_recovery_strategy(C.NETWORK_TIMEOUT_ERROR, None)
    assert h.get_recovery_strategy(C.NETWORK_TIMEOUT_ERROR) is None
    with pytest.raises(TypeError):
        h.register_recovery_strategy(C.NETWORK_TIMEOUT_ERROR, "nope")
    with pytest.raises(ValueError, match="unknown error category"):
        h.get_retry_policy("no_such_category")


async def test_injected_rng_makes_delays_deterministic():
    a = stub_handler(rng=random.Random(5))
    b = stub_handler(rng=random.Random(5))
    da = [(await a.handle_error({"message": "m"}, ctx(C.NETWORK_CONNECTION_ERROR, attempt=n))).retry_delay
          for n in (1, 2, 3)]
    db = [(await b.handle_error({"message": "m"}, ctx(C.NETWORK_CONNECTION_ERROR, attempt=n))).retry_delay
          for n in (1, 2, 3)]
    assert da == db and len(set(da)) == 3


def test_add_rule_delegates_to_the_classifier():
    stub = StubClassifier()
    h = stub_handler(classifier=stub)
    h.add_rule("a rule", first=False)
    assert stub.rules == [("a rule", False)]


async def test_pattern_detection_can_be_disabled():
    h = stub_handler(enable_pattern_detection=False)
    d = await h.handle_error({"message": "x"}, ctx(C.UNKNOWN_ERROR))
    assert d.pattern_id is None and h.aggregator is None


async def test_decision_to_dict_is_json():
    d = await stub_handler().handle_error({"message": "x"}, ctx(C.WORKER_CRASH_ERROR))
    out = json.loads(json.dumps(d.to_dict()))
    assert out["category"] == "worker_crash_error" and out["outcome"] == "retry"
    assert out["actions"] == ["mark_worker_crashed", "reassign_task_to_different_worker"]


async def test_without_a_sink_handle_error_only_decides():
    h = stub_handler()
    await h.start()  # no-op without a sink
    await h.handle_error({"message": "x"}, ctx(C.UNKNOWN_ERROR))
    assert h.record_action("e", RecoveryAction.RECONNECT) is None
    s = h.stats()
    assert s["events"] == 1 and s["queue_depth"] == 0 and s["dropped"] == 0
    await h.stop()


# -- custom categories end to end -------------------------------------------------------------

class CustomErrorCategory(str, Enum):
    QUANTUM_DECOHERENCE = "quantum_decoherence"


async def test_custom_category_end_to_end(tmp_path):
    from error_handling.classify import ClassificationRule

    seen = []

    def recalibrate(error, context):
        seen.append(context["category"])
        return ["recalibrate_qubits", RecoveryAction.REASSIGN_TASK]

    path = tmp_path / "events.duckdb"
    handler = DistributedErrorHandler(
        custom_categories=CustomErrorCategory,
        retry_policies={CustomErrorCategory.QUANTUM_DECOHERENCE: RetryPolicy(
            max_retries=2, initial_delay_seconds=3, max_delay_seconds=30, backoff_factor=2.0,
            jitter_factor=0.0)},
        recovery_strategies={CustomErrorCategory.QUANTUM_DECOHERENCE: recalibrate},
        event_sink=path)
    handler.add_rule(ClassificationRule(name="quantum_decoherence",
                                         category=CustomErrorCategory.QUANTUM_DECOHERENCE,
                                         message=r"decoherence"))
    await handler.start()
    err = {"type": "QPUError", "message": "qubit 7 lost coherence: decoherence after 31 us"}
    assert handler.categorize_error(err) is CustomErrorCategory.QUANTUM_DECOHERENCE
    d1 = await handler.handle_error(err, {"task_id": "q1", "worker_id": "qpu-1", "attempt": 1,
                                          "hardware_type": "qpu", "tags": {"model": "vqe"}})
    d3 = await handler.handle_error(err, {"task_id": "q1", "worker_id": "qpu-2", "attempt": 3})
    assert d1.category is CustomErrorCategory.QUANTUM_DECOHERENCE
    assert (d1.retry, d1.retry_delay, d1.actions) == (True, 3, ["recalibrate_qubits", "reassign_task"])
    assert (d3.retry, d3.outcome, d3.actions, d3.dropped_actions) == (
        False, "error", ["recalibrate_qubits"], ("reassign_task",))
    assert seen == [CustomErrorCategory.QUANTUM_DECOHERENCE] * 2
    handler.record_action(d1.event_id, "recalibrate_qubits", "q1", "qpu-1", True, "done")
    await handler.stop()
    con = duckdb.connect(str(path))
    rows = con.execute("SELECT event_id, category, worker_id, retry, outcome, hardware_type, "
                       "tags->>'model', pattern_id FROM error_events ORDER BY attempt").fetchall()
    assert rows == [(d1.event_id, "quantum_decoherence", "qpu-1", True, "retry", "qpu", "vqe", d1.pattern_id),
                    (d3.event_id, "quantum_decoherence", "qpu-2", False, "error", None, None, d3.pattern_id)]
    assert con.execute("SELECT event_id, action, success, detail FROM recovery_actions").fetchall() == [
        (d1.event_id, "recalibrate_qubits", True, "done")]
    assert con.execute("SELECT category, count FROM error_patterns").fetchall() == [
        ("quantum_decoherence", 2)]
    con.close()


# -- fast paths keep the slow paths' results ---------------------------------------------------

def test_fixed_actions_only_where_the_category_alone_decides():
    from error_handling.recovery import (NetworkRecoveryStrategy, TestExecutionRecoveryStrategy,
                                         WorkerRecoveryStrategy)
    assert WorkerRecoveryStrategy().fixed_actions(C.WORKER_CRASH_ERROR) == (
        RecoveryAction.MARK_WORKER_CRASHED, RecoveryAction.REASSIGN_TASK_TO_DIFFERENT_WORKER)
    assert NetworkRecoveryStrategy().fixed_actions(C.NETWORK_CONNECTION_ERROR) is None  # failover
    assert NetworkRecoveryStrategy().fixed_actions(C.NETWORK_TIMEOUT_ERROR) == (RecoveryAction.INCREASE_TIMEOUT,)
    assert TestExecutionRecoveryStrategy().fixed_actions(C.TEST_EXECUTION_ERROR) is None  # verdict

    class Louder(WorkerRecoveryStrategy):  # a subclass that decides for itself is always asked
        def determine_actions(self, error, context):
            return ["page_the_oncall"]
    assert Louder().fixed_actions(C.WORKER_CRASH_ERROR) is None
    h = stub_handler(recovery_strategies={C.WORKER_CRASH_ERROR: Louder()})
    d, _ = h.decide({"message": "boom"}, ctx(C.WORKER_CRASH_ERROR))
    assert d.actions == ["page_the_oncall"]


def test_decision_and_info_fast_builders_equal_the_dataclass_constructors():
    from error_handling.model import normalize_error
    h = stub_handler()
    d, info = h.decide({"type": "OSError", "message": "m", "exit_code": 3}, ctx(C.UNKNOWN_ERROR))
    assert d == ErrorDecision(**{f: getattr(d, f) for f in ErrorDecision.__dataclass_fields__})
    assert info == ErrorInfo(type="OSError", message="m", exit_code=3, context=info.context)
    assert normalize_error({"message": "x"}) == ErrorInfo(message="x")
    with pytest.raises(AttributeError):  # still frozen
        d.retry = False


@pytest.mark.parametrize("value, exit_code, signal", [
    (137, 137, 137), (137.0, 137, 137), (-9, -9, -9),
    (3221225477, 3221225477, None),         # an NTSTATUS exit status: no signal number
    (2 ** 70, None, None), (1e29, None, None),  # what no column holds: a hostile worker's number
    (float("inf"), None, None), (float("nan"), None, None), ("137", None, None), (True, None, None),
])
def test_a_reports_exit_status_and_signal_are_numbers_a_column_holds(value, exit_code, signal):
    from error_handling.model import normalize_error
    info = normalize_error({"type": "WorkerCrash", "message": "m", "exit_code": value, "signal": value})
    assert (info.exit_code, info.signal) == (exit_code, signal)


async def test_a_hostile_exit_status_is_stored_without_it(tmp_path):
    handler = DistributedErrorHandler(event_sink=tmp_path / "e.duckdb")
    await handler.start()
    try:
        decision = await handler.handle_error({"type": "WorkerCrash", "message": "died", "exit_code": 1e29})
        await handler.handle_error({"type": "WorkerCrash", "message": "died", "exit_code": 3221225477})
        await handler.flush()
        rows = await handler.sink.query("SELECT exit_code FROM error_events ORDER BY exit_code NULLS FIRST")
        assert decision.category is not None and rows == [{"exit_code": None}, {"exit_code": 3221225477}]
    finally:
        await handler.stop()


async def test_duckdb_rows_and_mapping_rows_store_the_same_event(tmp_path):
    from error_handling.event_tables import EVENT_FIELDS

    class MappingSink:  # any sink without submit_event_rows gets mappings
        batch_size, running, pending = 100, True, 0

        def __init__(self):
            self.rows = []

        def submit_events(self, rows):
            self.rows.extend(rows)

        async def flush(self):
            return None

    mapping = MappingSink()
    h1 = stub_handler(event_sink=mapping)
    h2 = stub_handler(event_sink=tmp_path / "e.duckdb")
    err = {"type": "OSError", "message": "[Errno 28] No space left on device", "exit_code": 1}
    c = ctx(C.RESOURCE_CLEANUP_ERROR, tags={"model": "bert"}, task_type="python")
    d1 = await h1.handle_error(err, c)
    d2 = await h2.handle_error(err, c)
    await h1.stop()
    await h2.flush()
    (row,) = mapping.rows
    assert list(row) == list(EVENT_FIELDS)
    assert row["template"] and row["pattern_id"] == d1.pattern_id
    stored = (await h2.sink.query("SELECT * FROM error_events"))[0]
    for key in ("task_id", "worker_id", "attempt", "category", "type", "message", "exit_code",
                "hardware_type", "task_type", "pattern_id", "retry", "outcome", "max_retries"):
        assert stored[key] == row[key], key
    assert json.loads(stored["tags"]) == {"model": "bert"}
    assert json.loads(stored["actions"]) == [str(a) for a in d2.actions]
    patterns = await h2.sink.query("SELECT template, count FROM error_patterns")
    assert patterns == [{"template": row["template"], "count": 1}]
    await h2.handle_error(err, c)  # the template is not sent again, and is kept
    await h2.flush()
    assert await h2.sink.query("SELECT template, count FROM error_patterns") == \
        [{"template": row["template"], "count": 2}]
    await h2.stop()
