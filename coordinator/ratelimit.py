"""Per-client limits: a token bucket per (client address, credential) for the HTTP API, and a
sliding count of failed authentications per address that shuts out token guessers (HTTP and /ws).

Settings come from the environment with generous defaults (the ``dtf`` CLI, the dashboard and
the test suite stay far below them); 0 turns a limit off. Behind a reverse proxy every client
shares the proxy's address, so raise the limits there or let the proxy do the limiting.
"""
from __future__ import annotations

import math
import os
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Hashable, Mapping

Clock = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class RateLimitSettings:
    http_rate_per_second: float = 200.0     # sustained requests per second per client
    http_burst: int = 400                   # requests a client may send at once
    auth_failures_per_minute: int = 60      # failed API/worker authentications per address
    max_clients: int = 10_000               # clients remembered; the longest idle are forgotten
    connections_per_address: int = 256      # open connections one address may hold
    header_timeout_seconds: float = 10.0    # a request's head must arrive within this

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "RateLimitSettings":
        env = os.environ if env is None else env
        defaults = cls()

        def read(name: str, default: float, cast: Callable[[str], float]) -> float:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return default
            try:
                value = cast(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if value < 0 or math.isnan(value):
                raise ValueError(f"{name} must be >= 0 (0 turns the limit off), got {raw!r}")
            return value

        return cls(http_rate_per_second=read("DTF_RATE_LIMIT_PER_SECOND", defaults.http_rate_per_second, float),
                   http_burst=int(read("DTF_RATE_LIMIT_BURST", defaults.http_burst, int)),
                   auth_failures_per_minute=int(read("DTF_AUTH_FAILURES_PER_MINUTE",
                                                     defaults.auth_failures_per_minute, int)),
                   connections_per_address=int(read("DTF_MAX_CONNECTIONS_PER_ADDRESS",
                                                    defaults.connections_per_address, int)),
                   header_timeout_seconds=read("DTF_HEADER_TIMEOUT_SECONDS", defaults.header_timeout_seconds,
                                               float))


class TokenBucketLimiter:
    """One bucket per key: ``burst`` tokens, refilled at ``rate_per_second``."""

    def __init__(self, rate_per_second: float, burst: int, *, max_keys: int = 10_000,
                 clock: Clock = time.monotonic) -> None:
        self.rate = rate_per_second
        self.burst = max(1, burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, key: Hashable) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        if not self.enabled:
            return 0.0
        ts = self.clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), ts))
        tokens = min(float(self.burst), tokens + (ts - at) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, ts)  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # a forgotten client starts again with a full bucket
        return wait


class FailureCounter:
    """At most ``limit`` failures per key within ``window_seconds``; then the key waits."""

    def __init__(self, limit: int, window_seconds: float = 60.0, *, max_keys: int = 10_000,
                 clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self.clock = clock
        self._seen: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def record(self, key: Hashable) -> None:
        if self.limit <= 0:
            return
        times = self._seen.pop(key, None) or deque(maxlen=self.limit)
        times.append(self.clock())
        self._seen[key] = times
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)

    def retry_after(self, key: Hashable) -> float:
        """0.0 when the key may try again, else the seconds until its oldest failure ages out."""
        if self.limit <= 0:
            return 0.0
        times = self._seen.get(key)
        if times is None or len(times) < self.limit:
            return 0.0
        left = self.window_seconds - (self.clock() - times[0])
        return left if left > 0 else 0.0


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
