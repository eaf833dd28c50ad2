"""The periodic checks: silent workers, expired leases, attempts nobody reclaimed, probation.

A collaborator of the engine, built by it with what it reads and calls: the store's health,
the registry (``Fleet``), the worker sessions, and the engine's task side (``Watched``)."""
from __future__ import annotations

import asyncio
from typing import Protocol

from coordinator.config import CoordinatorConfig
from coordinator.engine_workers import WorkerSessions
from coordinator.failures import FailureEvent, FailureSource
from coordinator.fleet import Fleet
from coordinator.models import AttemptOutcome, Task, now
from coordinator.store import Store
from worker.protocol import CommandName


class Watched(Protocol):
    """What the monitor needs of the engine: its tasks, whether any wait, and where failures go."""

    tasks: dict[str, Task]

    def kick(self) -> None: ...

    def has_queued(self) -> bool: ...

    async def report_failure(self, event: FailureEvent) -> None: ...


class HealthMonitor:
    def __init__(self, config: CoordinatorConfig, store: Store, fleet: Fleet, sessions: WorkerSessions,
                 engine: Watched) -> None:
        self.config = config
        self.store = store
        self.fleet = fleet
        self.sessions = sessions
        self.engine = engine

    async def run(self) -> None:
        interval = min(0.25, self.config.heartbeat_interval_seconds / 2)
        while True:
            await asyncio.sleep(interval)
            await self.check()

    async def check(self) -> None:
        if not self.store.healthy:
            # While commits fail, workers' frames wait on us (their results are not acknowledged):
            # their silence is ours, not theirs. Judge nobody until the state is durable again.
            return
        ts = now()
        engine = self.engine
        self.fleet.forget_departed(ts)
        if engine.has_queued():
            engine.kick()  # conditions lift with time (probation, reconnects): look again
        for w in list(self.fleet.workers.values()):
            if w.connected and ts - w.last_seen > self.config.heartbeat_timeout_seconds:
                await self.sessions.worker_unresponsive(w)
            self.fleet.advance_recovery(w, ts)
            for tid, number in list(w.running.items()):
                task = engine.tasks.get(tid)
                cur = task.current if task else None
                if task is not None and cur is not None and cur.number == number and ts > cur.lease_deadline:
                    await engine.report_failure(FailureEvent(
                        source=FailureSource.LEASE_EXPIRED, task_id=tid, attempt=number, worker_id=w.worker_id,
                        outcome=AttemptOutcome.TIMED_OUT,
                        error={"type": "LeaseExpired", "message": f"no result from {w.worker_id} within "
                               f"{task.timeout_seconds:.1f}s timeout + {self.config.lease_grace_seconds:.1f}s grace",
                               "context": {"stage": "execution"}}))
                    if w.connected:
                        await self.fleet.send_command(w, CommandName.CANCEL, task_id=tid, attempt=number)
        for tid in self.sessions.overdue_reclaims(ts):
            task = engine.tasks.get(tid)
            cur = task.current if task else None
            if task is not None and task.status.active and cur is not None:
                await engine.report_failure(FailureEvent(
                    source=FailureSource.COORDINATOR_RESTART, task_id=tid, attempt=cur.number,
                    worker_id=cur.worker_id, outcome=AttemptOutcome.LOST,
                    error={"type": "WorkerDisconnected", "message": f"worker {cur.worker_id} did not reclaim "
                           "the task in time after a restart or reconnect", "context": {"stage": "connection"}}))
