"""The closed set of error categories (SPEC §6) and support for user-defined ones."""
from __future__ import annotations

from enum import Enum, StrEnum
from typing import Iterable


class ErrorCategory(StrEnum):
    RESOURCE_ALLOCATION_ERROR = "resource_allocation_error"
    RESOURCE_CLEANUP_ERROR = "resource_cleanup_error"
    NETWORK_CONNECTION_ERROR = "network_connection_error"
    NETWORK_TIMEOUT_ERROR = "network_timeout_error"
    HARDWARE_AVAILABILITY_ERROR = "hardware_availability_error"
    HARDWARE_CAPABILITY_ERROR = "hardware_capability_error"
    HARDWARE_PERFORMANCE_ERROR = "hardware_performance_error"
    WORKER_DISCONNECTION_ERROR = "worker_disconnection_error"
    WORKER_CRASH_ERROR = "worker_crash_error"
    WORKER_OVERLOAD_ERROR = "worker_overload_error"
    TEST_EXECUTION_ERROR = "test_execution_error"
    TEST_DEPENDENCY_ERROR = "test_dependency_error"
    TEST_CONFIGURATION_ERROR = "test_configuration_error"
    UNKNOWN_ERROR = "unknown_error"

    def __str__(self) -> str:  # serialise by value in f-strings and logs
        return self.value


class CategoryRegistry:
    """Resolves category values (built-in or custom) to their enum members.

    Custom categories are a separate ``str`` Enum (Python forbids extending an Enum
    that has members); their values must not clash with the built-in ones.
    """

    def __init__(self, custom: type[Enum] | Iterable[Enum] | None = None) -> None:
        self._by_value: dict[str, Enum] = {c.value: c for c in ErrorCategory}
        if custom is not None:
            self.register(custom)

    def register(self, custom: type[Enum] | Iterable[Enum]) -> None:
        for member in custom:
            value = getattr(member, "value", None)
            if not isinstance(value, str) or not value:
                raise ValueError(f"custom category {member!r} must have a non-empty string value")
            existing = self._by_value.get(value)
            if existing is not None and existing is not member:
                raise ValueError(f"custom category value {value!r} clashes with {existing!r}")
            self._by_value[value] = member

    def resolve(self, value: str | Enum) -> Enum:
        if isinstance(value, Enum) and value.value in self._by_value:
            return self._by_value[value.value]
        try:
            return self._by_value[str(value)]
        except KeyError:
            raise ValueError(f"unknown error category {value!r}") from None

    def get(self, value: str) -> Enum | None:
        """The member with this value, or None."""
        return self._by_value.get(value)

    def __contains__(self, value: object) -> bool:
        key = value.value if isinstance(value, Enum) else value
        return key in self._by_value

    def values(self) -> list[str]:
        return list(self._by_value)

    def members(self) -> list[Enum]:
        return list(self._by_value.values())
