"""dtf's error-handling library: categorise, decide retry and recovery, group into patterns, store."""
from error_handling.categories import CategoryRegistry, ErrorCategory
from error_handling.model import ErrorInfo, normalize_error

__all__ = ["CategoryRegistry", "ErrorCategory", "ErrorInfo", "normalize_error"]
