"""The type-word layer: the words of an exception's class name, when they name one category."""
from __future__ import annotations

import pytest

from error_handling.categories import ErrorCategory as C
from error_handling.classify import Classifier
from error_handling.type_knowledge import type_word_category


@pytest.mark.parametrize("type_name, expected", [
    ("nbclient.exceptions.DeadKernelError", ("worker_crash_error", "dead")),
    ("paramiko.ssh_exception.AuthenticationException", ("test_configuration_error", "authentication")),
    ("ConnectTimeoutError", None),          # connect and timeout name two categories: no decision
    ("ValueError", None),                   # no word that names a category
    ("GPUDeviceError", ("hardware_availability_error", "gpu")),
])
def test_type_words(type_name: str, expected: tuple[str, str] | None) -> None:
    assert type_word_category(type_name) == expected


def test_type_words_come_after_confident_rules_and_can_be_turned_off() -> None:
    clf = Classifier()
    # a message rule is sure: it wins over the class name's words
    assert clf.explain({"type": "DeadKernelError", "message": "CUDA out of memory. Tried to allocate 2 GiB"})[0] \
        is C.RESOURCE_ALLOCATION_ERROR
    assert clf.explain({"type": "DeadKernelError", "message": "kernel 3"}) == (C.WORKER_CRASH_ERROR, "type-word:dead")
    off = Classifier(type_words=False, model=False)
    assert off.explain({"type": "DeadKernelError", "message": "kernel 3"}) == (C.UNKNOWN_ERROR, None)
