"""Worker tests. The functions below run inside pool children ("tests.worker:echo"); they live
here, not in the test modules, so a child does not import pytest to resolve them."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def echo(value):
    return value


def die(code):
    os._exit(code)


def kill_self(signum):
    os.kill(os.getpid(), signum)


def nap(seconds, started_file=None):
    if started_file:  # tells the test the call is running in the child now
        Path(started_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


def spawn_and_hang(pid_file):
    """Start a grandchild, record its pid, then hang: the timeout kill must take both."""
    proc = subprocess.Popen(["sleep", "60"])
    Path(pid_file).write_text(str(proc.pid))
    time.sleep(60)


def fail_assert():
    assert 1 == 2, "one is not two"


def boom(message):
    raise KeyError(message)


def return_object():
    return object()


def spin(n):
    total = 0
    for i in range(n):
        total += i
    return total
