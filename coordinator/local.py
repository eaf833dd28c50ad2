"""``dtf up``: a coordinator and N local workers as real processes, optionally running the demo."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from coordinator import tokens
from coordinator.client import ApiClient, ApiError
from coordinator.demo import run_demo


def start_coordinator(port: int, data_dir: Path, *, host: str = "127.0.0.1", log_level: str = "WARNING",
                      extra: list[str] | None = None) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "coordinator", "--host", host, "--port", str(port),
           "--state-path", str(data_dir / "coordinator_state.sqlite"),
           "--db-path", str(data_dir / "dtf_events.duckdb"), "--log-level", log_level, *(extra or [])]
    return subprocess.Popen(cmd, stdout=open(data_dir / "coordinator.log", "ab"), stderr=subprocess.STDOUT)


def start_worker(url: str, worker_id: str, data_dir: Path, *, concurrency: int = 0, log_level: str = "WARNING",
                 extra: list[str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "worker", "--coordinator", url, "--worker-id", worker_id,
           "--work-dir", str(data_dir / "work" / worker_id), "--log-level", log_level, *(extra or [])]
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    return subprocess.Popen(cmd, stdout=open(data_dir / f"{worker_id}.log", "ab"), stderr=subprocess.STDOUT)


def local_share(workers: int) -> int:
    """Slots (and pool children) per local worker: the machine's cores shared among them. A worker
    alone on a machine takes every core by default; several on one machine each taking every core
    would run more processes than there are cores, and contend for them."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def wait_healthy(client: ApiClient, proc: subprocess.Popen, timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ApiError(f"the coordinator exited with code {proc.returncode}; see its log")
        try:
            client.get("/health")
            return
        except ApiError:
            time.sleep(0.1)
    raise ApiError("the coordinator did not become healthy in time")


def stop_all(procs: list[subprocess.Popen], timeout_seconds: float = 15.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Never an open coordinator: tokens given in the environment win, else they are generated once
    # into the data dir (0600) where `dtf submit/status/...` find the API token by themselves.
    api_token = os.environ.get("DTF_API_TOKEN") or tokens.read_or_create(data_dir / tokens.API_TOKEN_FILE)
    worker_token_file = data_dir / tokens.WORKER_TOKEN_FILE
    if os.environ.get("DTF_WORKER_TOKEN"):
        worker_token_file = None
    else:
        tokens.read_or_create(worker_token_file)
    base = f"http://{args.host}:{args.port}"
    client = ApiClient(base, api_token)
    # The whole product: results and analytics in DuckDB (so `dtf report` has something to
    # say), the error-aware balancer, and the dashboard where it is installed.
    extra = ["--result-aggregator", "--load-balancer"] + (["--dashboard"] if _has_dashboard() else [])
    # Tokens travel as files, never on a command line other users can read with ps.
    if not os.environ.get("DTF_API_TOKEN"):
        extra += ["--api-token-file", str(data_dir / tokens.API_TOKEN_FILE)]
    if worker_token_file is not None:
        extra += ["--worker-token-file", str(worker_token_file)]
    worker_extra = ["--token-file", str(worker_token_file)] if worker_token_file is not None else []
    coordinator = start_coordinator(args.port, data_dir, host=args.host, log_level=args.log_level,
                                    extra=extra)
    procs = [coordinator]
    try:
        wait_healthy(client, coordinator)
        tokens.write_address(data_dir, base)
        ws_url = f"ws://{args.host}:{args.port}/ws"
        concurrency = args.concurrency or local_share(args.workers)
        for i in range(1, args.workers + 1):
            procs.append(start_worker(ws_url, f"local-{i}", data_dir, concurrency=concurrency,
                                      log_level=args.log_level, extra=worker_extra))
        print(f"dtf is up: coordinator {base} with {args.workers} local workers")
        print(f"  API        {base}/api/v1/status")
        if _has_dashboard():
            print(f"  dashboard  {base}/dashboard?token={api_token}")
        print(f"  API token  {data_dir / tokens.API_TOKEN_FILE} (found there by `dtf submit`, `dtf status`, ...;"
              " `dtf token` prints it)")
        print(f"  metrics    {base}/metrics")
        where = "" if data_dir == Path("./.dtf").resolve() else f" --data-dir {data_dir}"
        print(f"  report     dtf report{where}")
        print(f"  state      {data_dir} (SQLite state, DuckDB history, logs)")
        if args.demo:
            _wait_workers(client, args.workers)
            code = run_demo(client, data_dir)
            if args.exit_after_demo:
                return code
        print("press Ctrl-C to stop")
        while all(p.poll() is None for p in procs[:1]):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    finally:
        stop_all(procs[1:])
        stop_all(procs[:1])


def _wait_workers(client: ApiClient, n: int, timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        workers = client.get("/api/v1/workers")["items"]
        if sum(1 for w in workers if w.get("connected")) >= n:
            return
        time.sleep(0.1)
    raise ApiError(f"fewer than {n} workers connected within {timeout_seconds:.0f}s; see the worker logs")


def _has_dashboard() -> bool:
    return (Path(__file__).parent / "dashboard").is_dir()
