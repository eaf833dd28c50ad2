"""dtf's error-handling library: categorise, decide retry and recovery, group into patterns, store."""
from error_handling.categories import CategoryRegistry, ErrorCategory
from error_handling.events import DuckDBEventSink
from error_handling.handler import DistributedErrorHandler, ErrorDecision, Outcome
from error_handling.model import ErrorInfo, normalize_error
from error_handling.patterns import ErrorAggregator
from error_handling.recovery import (HardwareRecoveryStrategy, NetworkRecoveryStrategy,
                                     RecoveryAction, RecoveryStrategy, ResourceRecoveryStrategy,
                                     TestExecutionRecoveryStrategy, WorkerRecoveryStrategy)
from error_handling.retry import DEFAULT_RETRY_POLICIES, RetryPolicy

__all__ = [
    "CategoryRegistry", "DEFAULT_RETRY_POLICIES", "DistributedErrorHandler", "DuckDBEventSink",
    "ErrorAggregator", "ErrorCategory", "ErrorDecision", "ErrorInfo", "HardwareRecoveryStrategy",
    "NetworkRecoveryStrategy", "Outcome", "RecoveryAction", "RecoveryStrategy",
    "ResourceRecoveryStrategy", "RetryPolicy", "TestExecutionRecoveryStrategy",
    "WorkerRecoveryStrategy", "normalize_error",
]
