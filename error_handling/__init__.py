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
    "clear_process_memos": "error_handling.memos",
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

