"""dtf's error-handling library: categorise, decide retry and recovery, group into patterns, store.

The public names load on first use (PEP 562): a worker that needs only ``RetryPolicy`` for its
reconnect loop does not import DuckDB with the event sink.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CategoryRegistry": "error_handling.categories", "ErrorCategory": "error_handling.categories",
    "DuckDBEventSink": "error_handling.events",
    "DistributedErrorHandler": "error_handling.handler", "ErrorDecision": "error_handling.handler",
    "Outcome": "error_handling.handler",
    "ErrorInfo": "error_handling.model", "normalize_error": "error_handling.model",
    "ErrorAggregator": "error_handling.patterns",
    "HardwareRecoveryStrategy": "error_handling.recovery", "NetworkRecoveryStrategy": "error_handling.recovery",
    "RecoveryAction": "error_handling.recovery", "RecoveryStrategy": "error_handling.recovery",
    "ResourceRecoveryStrategy": "error_handling.recovery",
    "TestExecutionRecoveryStrategy": "error_handling.recovery", "WorkerRecoveryStrategy": "error_handling.recovery",
    "DEFAULT_RETRY_POLICIES": "error_handling.retry", "RetryPolicy": "error_handling.retry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'error_handling' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def clear_process_memos() -> None:
    """Empty the process-wide memos of word features, codes and type facts (each bounded): what
    a process that has seen no failure yet holds. For measuring a first sight honestly."""
    from error_handling import features, similarity, type_knowledge  # (on use: importing the package stays light)
    for memo in (features._CONCEPT_CACHE, features._TOKEN_FEATURES, similarity._CODE_MEMO,
                 similarity._MIN_COMMON, type_knowledge._TYPE_FACTS):
        memo.clear()
