"""The shipped classifier, built once per test module that asks for it."""
from __future__ import annotations

import pytest

from error_handling.classify import Classifier


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier()
