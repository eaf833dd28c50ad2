"""The Dramatiq side of bench/throughput.py: one no-op actor on a Redis broker.

Loaded by the ``dramatiq`` command (``dramatiq dramatiq_app`` with this directory on its path)
and by the bench to enqueue; the broker's URL comes from DTF_BENCH_REDIS_URL.
"""
from __future__ import annotations

import operator
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["DTF_BENCH_REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor
def add(a: int, b: int) -> int:
    return operator.add(a, b)  # the same no-op as dtf's {"callable": "operator:add"}
