"""The loop that runs inside each pool child process.

Started as a fresh interpreter (see pool.py for why not fork). It reads length-prefixed pickle
frames from one pipe, runs them strictly in order, and writes one reply frame per request to the
other pipe. It exits 0 when the request pipe reaches EOF (the parent retired or closed it).

Kept free of asyncio and of the rest of the package so that it starts fast.
"""
from __future__ import annotations

import importlib
import math
import os
import pickle
import signal
import statistics
import struct
import sys
import time
import traceback
from enum import IntEnum
from typing import Any, Callable

import orjson

_HEADER = struct.Struct("<I")
_READ_CHUNK = 1 << 16


class Op(IntEnum):
    INIT = 0    # payload: {"sys_path": [...], "memory_limit_mb": int | None}
    CALL = 1    # payload: (target, args, kwargs)
    BENCH = 2   # payload: (target, args, kwargs, iterations, warmup)


class Status(IntEnum):
    # every reply is (call_id, status, value, run_seconds)
    OK = 0      # value: the result as JSON bytes
    RAISED = 1  # value: {"type", "message", "traceback"}
    READY = 2   # value: the child's pid (sent once, after INIT)


def encode(obj: Any) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def qualified_type_name(exc: BaseException) -> str:
    """Builtins by bare name (``ValueError``), everything else module-qualified
    (``json.decoder.JSONDecodeError``): the error classifier matches on these."""
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve(target: str) -> Callable[..., Any]:
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(f"callable {target!r} must look like 'package.module:function'")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target!r} resolves to a {type(obj).__name__}, which is not callable")
    return obj


def measure(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
            iterations: int, warmup: int) -> dict[str, Any]:
    """Time ``iterations`` calls after ``warmup`` untimed ones; figures in seconds."""
    for _ in range(warmup):
        fn(*args, **kwargs)
    clock = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    for _ in range(iterations):
        start = clock()
        fn(*args, **kwargs)
        append(clock() - start)
    samples.sort()
    n = len(samples)
    secs = [s / 1e9 for s in samples]
    # nearest-rank percentile: the smallest sample with at least 95 % of samples at or below it
    p95 = secs[max(0, math.ceil(0.95 * n) - 1)]
    return {
        "iterations": n,
        "warmup": warmup,
        "min": secs[0],
        "median": statistics.median(secs),
        "mean": statistics.fmean(secs),
        "p95": p95,
        "max": secs[-1],
        "stdev": statistics.stdev(secs) if n > 1 else 0.0,
    }


class _Child:
    def __init__(self, req_fd: int, rep_fd: int) -> None:
        self.req_fd = req_fd
        self.rep_fd = rep_fd
        self.cache: dict[str, Callable[..., Any]] = {}
        self.dumps = orjson.dumps

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.rep_fd, view)
            view = view[written:]

    def lookup(self, target: str) -> Callable[..., Any]:
        fn = self.cache.get(target)
        if fn is None:
            fn = self.cache[target] = resolve(target)
        return fn

    def to_json(self, target: str, value: Any) -> bytes:
        try:
            return self.dumps(value)
        except TypeError as exc:
            raise TypeError(f"return value of {target} is not JSON-serialisable: "
                            f"{type(value).__module__}.{type(value).__qualname__} ({exc})") from None

    def handle(self, op: int, payload: Any) -> tuple[int, Any]:
        if op == Op.CALL:
            target, args, kwargs = payload
            return Status.OK, self.to_json(target, self.lookup(target)(*args, **kwargs))
        if op == Op.BENCH:
            target, args, kwargs, iterations, warmup = payload
            stats = measure(self.lookup(target), args, kwargs, iterations, warmup)
            return Status.OK, self.dumps(stats)
        if op == Op.INIT:
            sys.path[:] = payload["sys_path"]
            limit_mb = payload.get("memory_limit_mb")
            if limit_mb:
                import resource  # Unix only: a memory limit is asked for only where it exists
                _, hard = resource.getrlimit(resource.RLIMIT_AS)
                resource.setrlimit(resource.RLIMIT_AS, (int(limit_mb) * 1024 * 1024, hard))
            return Status.READY, os.getpid()
        raise ValueError(f"unknown pool op {op!r}")

    def run(self) -> None:
        buf = bytearray()
        header_size = _HEADER.size
        unpack = _HEADER.unpack_from
        clock = time.perf_counter
        while True:
            chunk = os.read(self.req_fd, _READ_CHUNK)
            if not chunk:
                return  # parent closed the pipe: retire quietly
            buf += chunk
            offset = 0
            while len(buf) - offset >= header_size:
                (size,) = unpack(buf, offset)
                end = offset + header_size + size
                if len(buf) < end:
                    break
                call_id, op, payload = pickle.loads(buf[offset + header_size:end])
                offset = end
                began = clock()
                try:
                    status, value = self.handle(op, payload)
                    # the run time travels with the reply: the parent sizes its pipelining from it
                    reply = encode((call_id, status, value, clock() - began))
                # A task may raise anything, SystemExit and KeyboardInterrupt included; all of it is
                # that task's report, and the child stays alive for the next one.
                except BaseException as exc:  # noqa: BLE001
                    tb = exc.__traceback__
                    # the report starts at user code: drop this module's dispatch frames
                    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
                        tb = tb.tb_next
                    reply = encode((call_id, Status.RAISED, {
                        "type": qualified_type_name(exc),
                        "message": str(exc),
                        "traceback": "".join(traceback.format_exception(type(exc), exc, tb)),
                        "assertion": isinstance(exc, AssertionError),
                    }, clock() - began))
                # One write per reply, before the next call starts: a later call that hangs or
                # crashes must not take finished replies down with it.
                self.write(reply)
            if offset:
                del buf[:offset]


def main(argv: list[str]) -> None:
    # The parent owns this process's life: Ctrl-C at the terminal must not kill children mid-task.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    req_fd, rep_fd = int(argv[0]), int(argv[1])
    _Child(req_fd, rep_fd).run()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)  # skip interpreter teardown (atexit, GC of every module): the slow part


if __name__ == "__main__":
    main(sys.argv[1:])
