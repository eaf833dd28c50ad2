"""Real coordinator and worker processes for end-to-end tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from coordinator.client import ApiClient, ApiError

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
               message: str = "condition") -> Any:
    """Poll until predicate() is truthy or the deadline passes (then fail with message)."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except ApiError as exc:
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}" +
                         (f" (last error: {last_exc})" if last_exc else ""))


class Cluster:
    """A coordinator process and worker processes sharing a temp directory."""

    def __init__(self, tmp: Path, *, worker_token: str | None = "wtok", api_token: str | None = "atok",
                 coordinator_args: list[str] | None = None) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.worker_token = worker_token
        self.api_token = api_token
        self.coordinator_args = coordinator_args or []
        self.coordinator: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.api = ApiClient(f"http://127.0.0.1:{self.port}", api_token)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start_coordinator(self, extra: list[str] | None = None) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "coordinator", "--port", str(self.port),
               "--state-path", str(self.tmp / "state.sqlite"), "--db-path", str(self.tmp / "events.duckdb"),
               "--log-level", "INFO", *self.coordinator_args, *(extra or [])]
        cmd += ["--worker-token", self.worker_token] if self.worker_token is not None else []
        cmd += ["--api-token", self.api_token] if self.api_token is not None else []
        log = open(self.tmp / "coordinator.log", "ab")
        self.coordinator = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp)
        wait_until(self._healthy, 30, message="coordinator health")
        return self.coordinator

    def _healthy(self) -> bool:
        if self.coordinator is not None and self.coordinator.poll() is not None:
            raise AssertionError(f"coordinator exited with {self.coordinator.returncode}:\n{self.log()}")
        try:
            return self.api.get("/health")["status"] == "ok"
        except ApiError:
            return False

    def start_worker(self, worker_id: str, *, concurrency: int = 2, token: str | None = None,
                     extra: list[str] | None = None, wait: bool = True) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "worker", "--coordinator", self.ws_url, "--worker-id", worker_id,
               "--token", (self.worker_token or "") if token is None else token, "--concurrency", str(concurrency),
               "--work-dir", str(self.tmp / "work" / worker_id), "--log-level", "INFO", *(extra or [])]
        log = open(self.tmp / f"{worker_id}.log", "ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp)
        self.workers[worker_id] = proc
        if wait:
            wait_until(lambda: self.worker(worker_id).get("connected"), 30, message=f"{worker_id} connected")
        return proc

    def worker(self, worker_id: str) -> dict[str, Any]:
        try:
            return self.api.get(f"/api/v1/workers/{worker_id}")
        except ApiError:
            return {}

    def submit(self, tasks: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for i in range(0, len(tasks), 5000):
            ids += self.api.post("/api/v1/tasks", {"tasks": tasks[i:i + 5000]})["task_ids"]
        return ids

    def task(self, task_id: str) -> dict[str, Any]:
        return self.api.get(f"/api/v1/tasks/{task_id}")

    def status(self) -> dict[str, Any]:
        return self.api.get("/api/v1/status")

    def wait_all_terminal(self, total: int, timeout: float = 120.0) -> dict[str, int]:
        terminal = ("completed", "failed", "error", "timed_out", "cancelled")

        def done() -> dict[str, int] | None:
            counts = self.status()["tasks"]
            return counts if sum(counts.get(s, 0) for s in terminal) >= total else None
        return wait_until(done, timeout, 0.1, f"{total} tasks to finish")

    def kill_coordinator(self) -> None:
        assert self.coordinator is not None
        self.coordinator.send_signal(signal.SIGKILL)
        self.coordinator.wait()

    def log(self, name: str = "coordinator") -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def stop(self) -> None:
        procs = list(self.workers.values()) + ([self.coordinator] if self.coordinator else [])
        for p in procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
