"""Dramatiq with Redis at its defaults, driven like dtf in bench/throughput.py.

A ``redis-server`` with its default settings on a loopback port of its own, and the ``dramatiq``
command with no flags but the module (one process per core, 8 threads each). Messages are sent
one ``actor.send`` at a time, as a Dramatiq user's code does; a batch is done when Redis holds no
unacknowledged message of the queue any more (Dramatiq deletes a message at its ack).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUEUE_MESSAGES = "dramatiq:default.msgs"  # hash of enqueued, not yet acknowledged messages


def missing() -> list[str]:
    """What is not installed for the Dramatiq comparison (empty: it can run)."""
    gone = [m for m in ("dramatiq", "redis") if importlib.util.find_spec(m) is None]
    if shutil.which("redis-server") is None:
        gone.append("redis-server")
    return gone


class DramatiqCluster:
    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp = tmp
        self.url = f"redis://127.0.0.1:{port}/0"
        self.env = {**os.environ, "DTF_BENCH_REDIS_URL": self.url}
        self.redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                       "--dir", str(tmp)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, cwd=tmp)
        import redis
        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.workers = subprocess.Popen([sys.executable, "-m", "dramatiq", "--path", str(HERE), "--",
                                         "dramatiq_app"], env=self.env, cwd=tmp,
                                        stdout=subprocess.DEVNULL, stderr=open(tmp / "dramatiq.log", "wb"),
                                        start_new_session=True)
        os.environ["DTF_BENCH_REDIS_URL"] = self.url
        sys.path.insert(0, str(HERE))
        import dramatiq_app
        self.actor = dramatiq_app.add

    def batch(self, n: int, chunk: int = 1000) -> float:
        """Seconds from the first send to the last acknowledgement of ``n`` no-op messages."""
        send, hlen = self.actor.send, self.client.hlen
        t0 = time.perf_counter()
        for i in range(0, n, chunk):
            for _ in range(min(chunk, n - i)):
                send(1, 2)
        while hlen(QUEUE_MESSAGES):
            time.sleep(0.02)
        return time.perf_counter() - t0

    def stop(self) -> None:
        for proc in (self.workers, self.redis):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM) if proc is self.workers else proc.terminate()
                except ProcessLookupError:
                    pass
        for proc in (self.workers, self.redis):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
