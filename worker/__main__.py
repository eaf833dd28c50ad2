"""python -m worker / dtf-worker."""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from worker.client import FatalWorkerError, WorkerAgent, WorkerConfig
from worker.executors import ExecutorSettings, build_executors
from worker.executors.trees import http_base
from worker.hardware import detect_hardware
from worker.logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dtf-worker", description="dtf worker agent: connects to a coordinator "
                                "over WebSocket and runs the tasks it is given. Every flag also reads "
                                "DTF_<FLAG> from the environment (e.g. DTF_WORKER_TOKEN for --token).")
    env = os.environ.get
    p.add_argument("--coordinator", default=env("DTF_COORDINATOR", "ws://127.0.0.1:8080/ws"),
                   help="coordinator WebSocket URL (default ws://127.0.0.1:8080/ws)")
    p.add_argument("--token", default=env("DTF_WORKER_TOKEN", env("DTF_TOKEN", "")), help="worker token")
    p.add_argument("--token-file", default=env("DTF_TOKEN_FILE"),
                   help="read the worker token from this file when --token is not given (waits up to 30 s "
                        "for it to appear, as when the coordinator generates it on its first start)")
    p.add_argument("--worker-id", default=env("DTF_WORKER_ID"), help="stable id (default: hostname-pid)")
    p.add_argument("--hardware", default=env("DTF_HARDWARE", "auto"),
                   help="'auto' to detect, or a list such as cpu,cuda to declare")
    p.add_argument("--concurrency", type=int, default=env("DTF_CONCURRENCY", "0") or "0",
                   help="tasks run at once (default: CPU count, for one worker per machine). The "
                        "coordinator may send more than that when tasks are short (prefetch); they wait here")
    p.add_argument("--pool-size", type=int, default=env("DTF_POOL_SIZE", "0") or "0",
                   help="child processes for python/benchmark/chaos tasks (default: --concurrency, at most the CPU count)")
    p.add_argument("--work-dir", default=env("DTF_WORK_DIR"), help="scratch space for tasks")
    p.add_argument("--tags", default=env("DTF_TAGS", ""), help="k=v,k=v labels for this worker")
    p.add_argument("--allow-types", default=env("DTF_ALLOW_TYPES", ""),
                   help="comma list of task types this worker runs (default: all)")
    p.add_argument("--allow-install", action="store_true", default=env("DTF_ALLOW_INSTALL", "").lower() in ("1", "true", "yes", "on"),
                   help="install declared packages that are missing")
    p.add_argument("--drain-seconds", type=float, default=env("DTF_DRAIN_SECONDS", "30"),
                   help="on SIGTERM, how long running tasks may finish")
    p.add_argument("--log-level", default=env("DTF_LOG_LEVEL", "INFO"))
    p.add_argument("--log-format", default=env("DTF_LOG_FORMAT", "console"), choices=["json", "console"])
    return p


def parse_tags(raw: str) -> dict[str, str]:
    tags = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if "=" not in part:
            raise ValueError(f"--tags: {part!r} is not k=v")
        k, v = part.split("=", 1)
        tags[k.strip()] = v.strip()
    return tags


def read_token_file(path: str, wait_seconds: float = 30.0) -> str:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            token = ""
        if token:
            return token
        if time.monotonic() >= deadline:
            raise OSError(f"--token-file {path}: no token there after {wait_seconds:.0f}s")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        tags = parse_tags(args.tags)
    except ValueError as exc:
        print(f"dtf-worker: {exc}", file=sys.stderr)
        return 2
    if args.concurrency < 0 or args.pool_size < 0:
        print("dtf-worker: --concurrency and --pool-size must be >= 1", file=sys.stderr)
        return 2
    # The token stays in this process only: no task, pool child or subprocess inherits it.
    for name in ("DTF_WORKER_TOKEN", "DTF_TOKEN"):
        os.environ.pop(name, None)
    if not args.token and args.token_file:
        try:
            args.token = read_token_file(args.token_file)
        except OSError as exc:
            print(f"dtf-worker: {exc}", file=sys.stderr)
            return 2
    configure_logging(args.log_level, args.log_format)
    cpus = os.cpu_count() or 1
    worker_id = args.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    # Absolute from the start: a task runs in its own cwd, so a relative path would point elsewhere.
    work_dir = Path(args.work_dir or Path(tempfile.gettempdir()) / f"dtf-worker-{worker_id}").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    allowed = [t.strip() for t in args.allow_types.split(",") if t.strip()] or None
    try:
        hw = detect_hardware(None if args.hardware == "auto" else args.hardware)
    except ValueError as exc:
        print(f"dtf-worker: {exc}", file=sys.stderr)
        return 2
    hardware = hw.to_dict()
    hardware["allow_install"] = bool(args.allow_install)
    hardware["hostname"] = socket.gethostname()  # `dtf test` ships its tree to workers elsewhere
    hardware["python"] = sys.executable  # and names an interpreter only when it is not this one
    if allowed:
        hardware["allowed_types"] = allowed
    concurrency = args.concurrency or cpus
    # One pool child per slot, up to one per core: more children than cores only contend.
    executors = build_executors(ExecutorSettings(pool_size=args.pool_size or min(concurrency, cpus), work_dir=work_dir,
                                                 allowed_types=allowed,
                                                 coordinator_http=http_base(args.coordinator),
                                                 coordinator_token=args.token or None))
    config = WorkerConfig(coordinator=args.coordinator, token=args.token, worker_id=worker_id, hardware=hardware,
                          concurrency=concurrency, work_dir=work_dir, tags=tags,
                          drain_seconds=args.drain_seconds, allow_install=bool(args.allow_install))
    async def amain() -> int:
        agent = WorkerAgent(config, executors)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.request_drain)
        try:
            await agent.run()
        except FatalWorkerError as exc:
            print(f"dtf-worker: {exc}", file=sys.stderr)
            return 3
        return 0

    try:
        import uvloop  # optional: plain asyncio where it is not installed (Windows)
    except ImportError:
        return asyncio.run(amain())
    return uvloop.run(amain())


if __name__ == "__main__":
    sys.exit(main())
