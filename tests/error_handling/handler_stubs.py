"""A stand-in classifier for the handler's tests: decisions must not depend on the real rule set."""
from __future__ import annotations

import random

from error_handling import DistributedErrorHandler, ErrorCategory, ErrorInfo

C = ErrorCategory


class StubClassifier:
    """Classifies by an explicit ``category`` in the error's context (decision tests must not
    depend on the real rule set)."""

    def __init__(self):
        self.calls = 0
        self.rules = []

    def explain(self, info: ErrorInfo):
        self.calls += 1
        return info.context.get("force_category", C.UNKNOWN_ERROR), "stub"

    def classify(self, info):
        return self.explain(info)[0]

    def add_rule(self, rule, first=True):
        self.rules.append((rule, first))


def stub_handler(**kw) -> DistributedErrorHandler:
    kw.setdefault("classifier", StubClassifier())
    kw.setdefault("rng", random.Random(0))
    return DistributedErrorHandler(**kw)


def ctx(category, attempt=1, **extra):
    return {"task_id": "t1", "worker_id": "w1", "hardware_type": "cuda", "attempt": attempt,
            "force_category": category, **extra}
