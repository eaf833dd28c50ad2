"""The engine's periodic checks: silent workers, expired leases, unreclaimed attempts, probation.
A mixin of ``Engine``; it shares the engine's state."""
from __future__ import annotations

import asyncio

from coordinator.failures import FailureEvent, FailureSource
from coordinator.models import AttemptOutcome, TaskStatus, now
from worker.protocol import CommandName


class HealthMonitor:
    async def _monitor_loop(self) -> None:
        interval = min(0.25, self.config.heartbeat_interval_seconds / 2)
        while True:
            await asyncio.sleep(interval)
            await self.check_health()

    def _forget_departed_workers(self, ts: float) -> None:
        """Disconnected workers holding nothing are forgotten after ``worker_retention_seconds``,
        and beyond ``max_departed_workers`` the longest gone go first: a stream of made-up worker
        ids cannot grow the registry (memory, SQLite, /api/v1/workers) without bound."""
        departed = [w for w in self.workers.values() if not w.connected and not w.running]
        if len(departed) <= self.config.max_departed_workers and \
                not any(ts - w.last_seen > self.config.worker_retention_seconds for w in departed):
            return
        departed.sort(key=lambda w: w.last_seen)
        excess = len(departed) - self.config.max_departed_workers
        for i, w in enumerate(departed):
            if i < excess or ts - w.last_seen > self.config.worker_retention_seconds:
                del self.workers[w.worker_id]
                self.store.forget_worker(w.worker_id)

    async def check_health(self) -> None:
        if not self.store.healthy:
            # While commits fail, workers' frames wait on us (their results are not acknowledged):
            # their silence is ours, not theirs. Judge nobody until the state is durable again.
            return
        ts = now()
        self._forget_departed_workers(ts)
        if self.status_counts[TaskStatus.QUEUED]:
            self.kick()  # conditions lift with time (probation, reconnects): look again
        for w in list(self.workers.values()):
            if w.connected and ts - w.last_seen > self.config.heartbeat_timeout_seconds:
                await self.worker_unresponsive(w)
            self._advance_recovery(w, ts)
            for tid, number in list(w.running.items()):
                task = self.tasks.get(tid)
                cur = task.current if task else None
                if cur is not None and cur.number == number and ts > cur.lease_deadline:
                    await self.report_failure(FailureEvent(
                        source=FailureSource.LEASE_EXPIRED, task_id=tid, attempt=number, worker_id=w.worker_id,
                        outcome=AttemptOutcome.TIMED_OUT,
                        error={"type": "LeaseExpired", "message": f"no result from {w.worker_id} within "
                               f"{task.timeout_seconds:.1f}s timeout + {self.config.lease_grace_seconds:.1f}s grace",
                               "context": {"stage": "execution"}}))
                    if w.connected:
                        await self.send_command(w, CommandName.CANCEL, task_id=tid, attempt=number)
        for tid, deadline in list(self.orphans.items()):
            if ts >= deadline:
                self.orphans.pop(tid, None)
                task = self.tasks.get(tid)
                cur = task.current if task else None
                if task is not None and task.status.active and cur is not None:
                    await self.report_failure(FailureEvent(
                        source=FailureSource.COORDINATOR_RESTART, task_id=tid, attempt=cur.number,
                        worker_id=cur.worker_id, outcome=AttemptOutcome.LOST,
                        error={"type": "WorkerDisconnected", "message": f"worker {cur.worker_id} did not reclaim "
                               "the task in time after a restart or reconnect", "context": {"stage": "connection"}}))
