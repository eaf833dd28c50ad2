"""Contract gaps: a pre-classified custom category survives handle_error; memory follows
error_history_size (distinct errors do not make the handler or the aggregator grow)."""
from __future__ import annotations

import gc
import tracemalloc
from enum import Enum

from error_handling import DistributedErrorHandler, ErrorCategory, ErrorInfo
from error_handling.patterns import ErrorAggregator


class CustomErrorCategory(str, Enum):
    QUANTUM_DECOHERENCE = "quantum_decoherence"


class QPUError(Exception):
    category = CustomErrorCategory.QUANTUM_DECOHERENCE


async def test_pre_classified_custom_category_survives_handle_error() -> None:
    handler = DistributedErrorHandler(custom_categories=CustomErrorCategory)
    # no rule mentions it: only the category the report carries can decide
    report = {"type": "QPUError", "message": "qubit 7 lost coherence after 31 us",
              "category": "quantum_decoherence"}
    decision = await handler.handle_error(report, {"task_id": "q1", "attempt": 1})
    assert decision.category is CustomErrorCategory.QUANTUM_DECOHERENCE
    assert decision.rule == "pre-classified"
    decision = await handler.handle_error(QPUError("qubit 3 lost coherence"), {"attempt": 1})
    assert decision.category is CustomErrorCategory.QUANTUM_DECOHERENCE
    enum_report = {**report, "category": CustomErrorCategory.QUANTUM_DECOHERENCE}
    assert handler.categorize_error(enum_report) is CustomErrorCategory.QUANTUM_DECOHERENCE
    assert handler.categorize_error(ErrorInfo(message="x", category="quantum_decoherence")) \
        is CustomErrorCategory.QUANTUM_DECOHERENCE


def test_unknown_or_unregistered_pre_classification_is_classified_as_usual() -> None:
    handler = DistributedErrorHandler()
    refused = {"type": "ConnectionRefusedError", "message": "[Errno 111] Connection refused"}
    for category in ("unknown_error", "not_a_category_anyone_registered"):
        assert handler.categorize_error({**refused, "category": category}) \
            is ErrorCategory.NETWORK_CONNECTION_ERROR


def _distinct(i: int) -> dict:
    # distinct wording (no shared template), a long traceback that caches would keep alive
    word = "".join(chr(97 + (i // 26 ** k) % 26) for k in range(3))
    return {"type": f"Err{word.title()}Failure", "message": f"subsystem {word} broke in stage {word}x",
            "traceback": f"Traceback (most recent call last):\n  File \"app_{word}.py\", line 1\n" + "x" * 4000}


def _grown(run, rounds: int = 3) -> list[int]:
    """Traced memory after each round of 1,000 distinct errors, from the size after a first
    error (rules compiled, the model read)."""
    sizes = []
    tracemalloc.start()
    try:
        run(-1, 1)
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        for r in range(rounds):
            run(r)
            gc.collect()
            sizes.append(tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    return sizes


async def test_handler_memory_is_bounded_by_error_history_size() -> None:
    handler = DistributedErrorHandler(error_history_size=50)

    def run(r: int, n: int = 1000) -> None:
        for i in range(n):
            handler.decide(_distinct(10_000 + r * 1000 + i), {"attempt": 1, "worker_id": f"w{i}"})

    sizes = _grown(run)
    agg = handler.aggregator
    assert agg is not None and len(agg) == 50
    assert len(agg.get_patterns()) <= 50
    assert handler._classifier.cache_info()["size"] <= 200
    # the third thousand adds (nearly) nothing over the second: nothing per error is kept
    assert sizes[2] - sizes[1] < 200_000, sizes
    assert sizes[1] < 3_000_000, sizes  # 200 cached 4 kB tracebacks at most, not 1,000s


def test_aggregator_memory_is_bounded_by_error_history_size() -> None:
    agg = ErrorAggregator(error_history_size=50)

    def run(r: int, n: int = 1000) -> None:
        for i in range(n):
            agg.add_error(_distinct(10_000 + r * 1000 + i), {"worker_id": f"w{i}", "tags": {"shard": str(i)}})

    sizes = _grown(run)
    assert len(agg) == 50 and len(agg.get_patterns()) <= 50
    assert len(agg._exact) <= 50 * 16 and len(agg._templates) <= 200
    assert sizes[2] - sizes[1] < 100_000, sizes


def test_failing_test_grouping_memory_is_bounded_too() -> None:
    agg = ErrorAggregator(error_history_size=50)

    def run(r: int, n: int = 1000) -> None:
        for i in range(n):
            report = _distinct(10_000 + r * 1000 + i)
            report["message"] += f"\nFAILED tests/test_app.py::test_case_{r}_{i} - AssertionError"
            agg.add_error(report, {"worker_id": f"w{i}"}, category="test_execution_error")

    sizes = _grown(run)
    assert len(agg) == 50 and len(agg.get_patterns()) <= 50
    assert len(agg._test_templates) <= 200 and not agg._templates
    assert sizes[2] - sizes[1] < 100_000, sizes
