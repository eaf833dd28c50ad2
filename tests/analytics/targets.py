"""Task callables whose failures depend on the worker that runs them (set through its environment).

``DTF_TEST_FAIL_RATE`` (0..1): this worker fails that share of its tasks (a bad machine).
``DTF_TEST_FAIL_MODELS`` (comma list): this worker fails every task of these models (a bad
hardware x model pair). A failing attempt first spends ``fail_seconds`` (a degraded run is slow).
"""
from __future__ import annotations

import os
import random
import time


def work(seconds: float = 0.05, model: str | None = None, fail_seconds: float | None = None) -> str:
    rate = float(os.environ.get("DTF_TEST_FAIL_RATE") or 0)
    bad_models = {m for m in (os.environ.get("DTF_TEST_FAIL_MODELS") or "").split(",") if m}
    failing = (model is not None and model in bad_models) or random.random() < rate
    time.sleep(fail_seconds if failing and fail_seconds is not None else seconds)
    if failing:
        raise AssertionError(f"degraded run of {model or 'task'} on this worker")
    return "ok"
