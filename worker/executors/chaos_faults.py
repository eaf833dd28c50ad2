"""Faults that run inside a pool child (worker.executors.chaos sends them there by name).

Each one causes the real failure of its kind; nothing here fabricates an exception type.
"""
from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import socket
import sys
import time
from typing import Any

_CHUNK_BYTES = 64 * 1024 * 1024


def network(host: str = "127.0.0.1") -> None:
    """Connect to a port that was just bound and released: nothing listens there, so the kernel
    refuses the connection (ConnectionRefusedError, errno ECONNREFUSED)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    with socket.create_connection((host, port), timeout=5.0):
        pass


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def oom(headroom_mb: int = 256) -> None:
    """Lower RLIMIT_AS to what this process uses plus ``headroom_mb`` and allocate until the
    allocator fails: a real MemoryError. The limit is restored so this pool child stays usable."""
    if not sys.platform.startswith("linux"):
        raise OSError("the oom fault needs Linux: RLIMIT_AS is not enforced on this platform")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space_bytes() + headroom_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    hoard: list[bytearray] = []
    try:
        while True:
            hoard.append(bytearray(_CHUNK_BYTES))
    finally:
        hoard.clear()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def cuda_oom() -> dict[str, Any]:
    """With torch and a CUDA device: ask for twice the device's memory (a real
    torch.cuda.OutOfMemoryError). Without: say so, and the executor reports the documented
    message instead."""
    try:
        import torch  # type: ignore[import-not-found]  # optional: only this fault needs it
    except ImportError:
        return {"device": False, "reason": "torch is not installed"}
    if not torch.cuda.is_available():
        return {"device": False, "reason": "torch.cuda.is_available() is False"}
    _, total = torch.cuda.mem_get_info()
    torch.empty(int(total) * 2, dtype=torch.uint8, device="cuda")
    return {"device": True, "reason": "allocation unexpectedly succeeded"}


def crash(signal_name: str = "SIGKILL") -> None:
    sig = signal.Signals[signal_name]
    # a SIGSEGV/SIGABRT death would write a core file into the working directory
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    if sig not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(sig, signal.SIG_DFL)  # the default action, whatever Python installed
    os.kill(os.getpid(), sig)
    time.sleep(10)  # signal delivery is asynchronous for some signals; never return normally


def assertion(message: str = "chaos: injected assertion failure") -> None:
    raise AssertionError(message)


def import_missing(module: str) -> None:
    importlib.import_module(module)


def parse_config(text: str) -> Any:
    return json.loads(text)
