"""The engine's side of worker connections: hello, goodbye, heartbeats, start notices, commands,
and worker states with their probation. A mixin of ``Engine``; it shares the engine's state."""
from __future__ import annotations

import asyncio
from typing import Any

import structlog

from coordinator.credit import work_kind
from coordinator.failures import FailureEvent, FailureSource
from coordinator.models import AttemptOutcome, TaskStatus, WorkerState, now, within
from worker.protocol import CommandName, MessageType, ProtocolError, attempt_key, encode
from coordinator.workers import WorkerRecord

log = structlog.get_logger("dtf.engine")


class WorkerSessions:
    def hello(self, conn: Any, body: dict[str, Any]) -> dict[str, Any]:
        """Register (or re-register) a worker; returns the welcome body."""
        wid = conn.worker_id
        hardware = body.get("hardware") or {}
        concurrency = body.get("concurrency", 1)
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= 10_000:
            raise ProtocolError("hello: 'concurrency' must be an integer from 1 to 10000")
        held_items = body.get("held") or []
        if not isinstance(held_items, list):
            raise ProtocolError("hello: 'held' must be a list")
        held = {}
        for item in held_items:
            tid, attempt, lease = attempt_key(item)
            held[tid] = (attempt, lease)
        w = self.workers.get(wid)
        old_conn = w.connection if w else None
        if w is None:
            w = WorkerRecord(worker_id=wid, hardware=hardware)
            self.workers[wid] = w
        w.hardware = hardware
        w.tags = body.get("tags") or {}
        w.concurrency = concurrency
        w.connection = conn
        w.reconnect_requested_until = 0.0
        w.last_seen = now()
        if w.condition in (WorkerState.DISCONNECTED, WorkerState.DRAINING):
            w.set_condition(None)
        elif w.condition in (WorkerState.CRASHED, WorkerState.UNAVAILABLE) and \
                (w.condition_until is None or w.condition_until <= now()):
            # Back after a crash or silence: a one-slot trial before full service.
            w.set_condition(None)
            w.probation_until = now() + self.config.probation_seconds
        if old_conn is not None and old_conn is not conn:
            old_conn.superseded = True
            asyncio.create_task(old_conn.close_with(4409, "superseded by a new connection"))
        cancel = []
        for tid, (attempt, lease) in held.items():
            task = self.tasks.get(tid)
            cur = task.current if task else None
            if task is not None and task.status.active and cur and cur.number == attempt and cur.lease == lease \
                    and cur.worker_id == wid:
                w.running[tid] = attempt
                self.orphans.pop(tid, None)
            elif not (task is not None and cur and cur.number == attempt and cur.lease == lease
                      and cur.outcome is not None):
                # An attempt we gave up (or never knew): fenced; the worker stops it.
                cancel.append({"task_id": tid, "attempt": attempt, "lease": lease})
                self.metrics.inc("dtf_stale_attempts_fenced_total")
                log.info("stale_attempt_fenced", task_id=tid, attempt=attempt, worker_id=wid)
        # Tasks we thought it ran but it no longer holds were lost with its previous connection.
        for tid, number in list(w.running.items()):
            if tid not in held:
                w.running.pop(tid)
                task = self.tasks.get(tid)
                if task is None or not task.current or task.current.number != number or not task.status.active:
                    continue
                self.orphans.pop(tid, None)
                if task.current.started_at is None:
                    # Sent while the old connection was closing and never started: not a failure.
                    self._give_back(task, f"assignment to {wid} crossed its reconnect")
                    self.kick()
                else:
                    asyncio.create_task(self.report_failure(FailureEvent(
                        source=FailureSource.CONNECTION_LOST, task_id=tid, attempt=number, worker_id=wid,
                        outcome=AttemptOutcome.LOST,
                        error={"type": "WorkerDisconnected",
                               "message": f"worker {wid} reconnected without task {tid}"})))
        self.worker_changed(w)
        self.metrics.inc("dtf_worker_connections_total")
        log.info("worker_connected", worker_id=wid, hardware=hardware.get("types"), concurrency=concurrency,
                 reclaimed=len(w.running))
        self.kick()
        return {"worker_id": wid, "heartbeat_interval": self.config.heartbeat_interval_seconds,
                "heartbeat_timeout": self.config.heartbeat_timeout_seconds,
                "backup_coordinator": self.config.backup_coordinator, "cancel": cancel}

    async def connection_closed(self, conn: Any, *, abnormal: bool, reason: str) -> None:
        w = self.workers.get(conn.worker_id)
        if w is None or w.connection is not conn:
            return
        w.connection = None
        lost = list(w.running.items())
        was_draining = w.condition is WorkerState.DRAINING
        if not abnormal and self.expect_reconnect.pop(w.worker_id, 0) > now():
            # We asked it to reconnect (or fail over): its tasks keep running and are reclaimed
            # by its next hello; whatever is not reclaimed in time is handled as lost.
            w.set_condition(WorkerState.DISCONNECTED)
            self.worker_changed(w)
            deadline = now() + self.config.restart_grace_seconds
            for tid, _ in lost:
                self.orphans[tid] = deadline
            log.info("worker_reconnecting", worker_id=w.worker_id, running=len(lost))
            return
        if w.condition is not WorkerState.UNAVAILABLE:
            crashed = abnormal and bool(lost)
            w.set_condition(WorkerState.CRASHED if crashed else WorkerState.DISCONNECTED)
        self.worker_changed(w)
        log.warning("worker_disconnected", worker_id=w.worker_id, state=w.state.value, running=len(lost),
                    reason=reason)
        etype = "WorkerCrashed" if w.condition is WorkerState.CRASHED else "WorkerDisconnected"
        # A drained worker that says goodbye ran nothing it did not announce.
        drained = not abnormal and was_draining
        lost = self._give_back_unstarted(w, lost, f"{w.worker_id} left before starting it", drained=drained)
        for tid, number in lost:
            w.running.pop(tid, None)
            await self.report_failure(FailureEvent(
                source=FailureSource.CONNECTION_LOST, task_id=tid, attempt=number, worker_id=w.worker_id,
                outcome=AttemptOutcome.LOST,
                error={"type": etype, "message": f"worker {w.worker_id} connection closed while running "
                                                 f"the task ({reason})", "context": {"stage": "connection"}}))
        self.kick()

    def _give_back_unstarted(self, w: WorkerRecord, lost: list[tuple[str, int]], reason: str, *,
                             drained: bool = False) -> list[tuple[str, int]]:
        """A lost worker's prefetched tasks go back to the queue at once, without a failure.

        Which ones it never started: the coordinator knows those it heard a start notice for, and
        a worker runs at most its concurrency at once. Of the rest, the earliest dispatched that
        could still fill its slots may have started unannounced (a task that kills its worker
        dies before its notice leaves): they stay failures, so poison is still detected. Returns
        the attempts that remain to be reported as failures."""
        started = []
        unannounced = []
        for tid, number in lost:
            task = self.tasks.get(tid)
            cur = task.current if task else None
            if task is None or cur is None or cur.number != number or not task.status.active:
                started.append((tid, number))  # report_failure sorts these out (fencing)
            elif cur.started_at is not None:
                started.append((tid, number))
            elif self.credit.estimates.expected(task.kind or work_kind(task)) is None:
                # Work never seen to finish is held one per slot and is what kills a worker
                # before its notice leaves (a poison task never gets an estimate): a failure.
                started.append((tid, number))
            else:
                unannounced.append((tid, number))  # in dispatch order: the worker starts them so
        maybe = 0 if drained else max(0, w.concurrency - len(started))
        for tid, number in unannounced[maybe:]:
            w.running.pop(tid, None)
            self._give_back(self.tasks[tid], reason)
            self.metrics.inc("dtf_tasks_handed_back_total")
        if len(unannounced) > maybe:
            self.kick()
        return started + unannounced[:maybe]

    def heartbeat(self, conn: Any, body: dict[str, Any]) -> None:
        w = self.workers.get(conn.worker_id)
        if w is None:
            return
        ts = now()
        w.last_seen = ts
        load = body.get("load")
        if isinstance(load, dict):
            w.load = load
            self.health.on_load(w, load)
        if body.get("draining"):
            w.set_condition(WorkerState.DRAINING)
        released = body.get("released")
        if isinstance(released, list) and released:
            self._released(w, released)
        held = body.get("held")
        if isinstance(held, list):
            # Tasks waiting locally for a free executor keep their lease alive.
            for item in held:
                if isinstance(item, dict):
                    task = self.tasks.get(item.get("task_id", ""))
                    cur = task.current if task else None
                    if cur and cur.number == item.get("attempt") and cur.started_at is None:
                        cur.lease_deadline = ts + task.timeout_seconds + self.config.lease_grace_seconds

    def _assigned_to(self, worker_id: str, item: Any) -> Any:
        """The task whose current attempt ``item`` names, assigned to ``worker_id`` and not yet
        running; else None (late, foreign or already started)."""
        tid, attempt, lease = attempt_key(item)
        task = self.tasks.get(tid)
        cur = task.current if task else None
        if task is None or cur is None or cur.number != attempt or cur.lease != lease \
                or cur.worker_id != worker_id or task.status is not TaskStatus.ASSIGNED:
            return None
        return task

    def _released(self, w: WorkerRecord, items: list[Any]) -> None:
        """A draining worker hands back what it held but never started: queued again at once."""
        for item in items:
            task = self._assigned_to(w.worker_id, item)
            if task is None:
                continue
            w.running.pop(task.task_id, None)
            self._give_back(task, f"handed back unstarted by {w.worker_id}")
            self.metrics.inc("dtf_tasks_handed_back_total")
        self.kick()

    def started(self, conn: Any, items: list[Any]) -> None:
        ts = now()
        for item in items:
            task = self._assigned_to(conn.worker_id, item)
            if task is None:
                continue
            cur = task.current
            # The worker's clock is its own: its start time is kept only within dispatch .. now.
            cur.started_at = within(item.get("started_at"), cur.dispatched_at, ts, default=ts)
            cur.lease_deadline = ts + task.timeout_seconds + self.config.lease_grace_seconds
            # Kept in memory only: after a crash "assigned" and "running" recover the same way,
            # and the result carries its timing, so this costs no write.
            self._set_status(task, TaskStatus.RUNNING)

    def worker_changed(self, w: WorkerRecord) -> None:
        """Persist and announce a worker's registry entry after a state change."""
        self.store.save_worker(w.worker_id, w.hardware, w.tags, w.state.value, w.first_seen, w.last_seen)
        if self.bus.active:
            self.bus.publish("worker", **w.to_api())

    def set_worker_condition(self, w: WorkerRecord, state: WorkerState, factor: float = 1.0) -> None:
        """An explicit state that lifts after the probation period, followed by a one-slot trial."""
        w.set_condition(state)
        w.condition_until = now() + self.config.probation_seconds * factor
        w.probation_until = None
        self.worker_changed(w)
        log.info("worker_state", worker_id=w.worker_id, state=state.value,
                 until=round(w.condition_until - now(), 1))
        self.kick()

    def _advance_recovery(self, w: WorkerRecord, ts: float) -> None:
        """Penalty, then trial, then full service: a worker recovers through probation."""
        if w.condition_until is not None and ts >= w.condition_until:
            w.condition_until = None
            w.excluded_hardware.clear()
            w.unavailable_resources.clear()
            if w.connected and w.condition in (WorkerState.SLOW, WorkerState.OVERLOADED,
                                               WorkerState.UNAVAILABLE, WorkerState.CRASHED):
                w.set_condition(None)
                w.probation_until = ts + self.config.probation_seconds
                log.info("worker_probation", worker_id=w.worker_id)
            self.worker_changed(w)
            self.kick()
        if w.probation_until is not None and ts >= w.probation_until:
            w.probation_until = None
            log.info("worker_recovered", worker_id=w.worker_id)
            self.kick()

    async def worker_unresponsive(self, w: WorkerRecord) -> None:
        conn = w.connection
        w.set_condition(WorkerState.UNAVAILABLE)
        w.connection = None
        log.warning("worker_unresponsive", worker_id=w.worker_id, silent_seconds=round(now() - w.last_seen, 2))
        self.worker_changed(w)
        for tid, number in list(w.running.items()):
            w.running.pop(tid, None)
            await self.report_failure(FailureEvent(
                source=FailureSource.HEARTBEAT_TIMEOUT, task_id=tid, attempt=number, worker_id=w.worker_id,
                outcome=AttemptOutcome.LOST,
                error={"type": "HeartbeatTimeout", "message": f"worker {w.worker_id} missed heartbeats for "
                       f"{self.config.heartbeat_timeout_seconds:.1f}s", "context": {"stage": "heartbeat"}}))
        if conn is not None:
            conn.superseded = True
            asyncio.create_task(conn.close_with(4408, "heartbeat timeout"))
        self.kick()

    async def send_command(self, w: WorkerRecord, command: CommandName, **args: Any) -> bool:
        conn = w.connection
        if conn is None:
            return False
        try:
            await conn.send(encode(MessageType.COMMAND, command=command.value, **args))
        except (ConnectionError, RuntimeError) as exc:
            log.warning("command_not_sent", worker_id=w.worker_id, command=command.value, error=str(exc))
            return False
        return True

    async def command_result(self, conn: Any, body: dict[str, Any]) -> None:
        """A worker's answer to a command (cleanup_resources reports what it cleaned)."""
        log.info("command_result", worker_id=conn.worker_id, command=body.get("command"), ok=body.get("ok"),
                 detail=body.get("detail"))
        for hook in self.on_command_result:
            await hook(conn.worker_id, body)
