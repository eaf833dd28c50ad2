"""Worker sessions: hello, goodbye, heartbeats, start notices and command answers, and the
attempts that wait for their worker to come back and reclaim them.

A collaborator of the engine, built by it: the registry (``Fleet``), health tracking, the
duration estimates and the task side (``TaskSide``: the engine's tasks and the moves that
change one) are passed in; every failure it sees goes to ``TaskSide.report_failure``."""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Protocol

import structlog

from coordinator.config import CoordinatorConfig
from coordinator.credit import DurationEstimates, work_kind
from coordinator.failures import FailureEvent, FailureSource
from coordinator.fleet import Fleet
from coordinator.health import HealthTracker
from coordinator.metrics import Metrics
from coordinator.models import AttemptOutcome, Task, TaskStatus, WorkerState, now, within
from coordinator.workers import WorkerRecord
from worker.background import Background
from worker.protocol import ProtocolError, attempt_key

log = structlog.get_logger("dtf.engine")


class TaskSide(Protocol):
    """What worker sessions need of the engine: its tasks, and the moves that change one."""

    tasks: dict[str, Task]

    def kick(self) -> None: ...

    def give_back(self, task: Task, reason: str) -> None: ...

    def mark_running(self, task: Task) -> None: ...

    async def report_failure(self, event: FailureEvent) -> None: ...


class WorkerSessions:
    def __init__(self, config: CoordinatorConfig, metrics: Metrics, fleet: Fleet, health: HealthTracker,
                 estimates: DurationEstimates, tasks: TaskSide, *,
                 on_command_result: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        self.config = config
        self.metrics = metrics
        self.fleet = fleet
        self.health = health
        self.estimates = estimates
        self.side = tasks
        self.on_command_result = on_command_result
        # Attempts whose worker is gone for now: task_id -> when they count as lost unless a hello
        # reclaims them (after a coordinator restart, or a reconnect we asked for).
        self.unclaimed: dict[str, float] = {}
        self.background = Background("worker-sessions")

    async def close(self) -> None:
        await self.background.close()

    # ---- attempts waiting for their worker ------------------------------------------------------
    def await_reclaim(self, task_id: str, deadline: float) -> None:
        self.unclaimed[task_id] = deadline

    def forget_reclaim(self, task_id: str) -> None:
        self.unclaimed.pop(task_id, None)

    def overdue_reclaims(self, ts: float) -> list[str]:
        """The tasks whose worker did not reclaim them by their deadline (no longer waited for)."""
        due = [tid for tid, deadline in self.unclaimed.items() if ts >= deadline]
        for tid in due:
            del self.unclaimed[tid]
        return due

    # ---- a session's life -------------------------------------------------------------------------
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
        workers = self.fleet.workers
        w = workers.get(wid)
        old_conn = w.connection if w else None
        if w is None:
            w = WorkerRecord(worker_id=wid, hardware=hardware)
            workers[wid] = w
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
            self.background.spawn(old_conn.close_with(4409, "superseded by a new connection"),
                                  name=f"close-superseded-{wid}")
        tasks = self.side.tasks
        cancel = []
        for tid, (attempt, lease) in held.items():
            task = tasks.get(tid)
            cur = task.current if task else None
            if task is not None and task.status.active and cur and cur.number == attempt and cur.lease == lease \
                    and cur.worker_id == wid:
                w.running[tid] = attempt
                self.forget_reclaim(tid)
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
                task = tasks.get(tid)
                if task is None or not task.current or task.current.number != number or not task.status.active:
                    continue
                self.forget_reclaim(tid)
                if task.current.started_at is None:
                    # Sent while the old connection was closing and never started: not a failure.
                    self.side.give_back(task, f"assignment to {wid} crossed its reconnect")
                    self.side.kick()
                else:
                    # hello answers at once (the welcome goes first); the failure is handled beside it.
                    self.background.spawn(self.side.report_failure(FailureEvent(
                        source=FailureSource.CONNECTION_LOST, task_id=tid, attempt=number, worker_id=wid,
                        outcome=AttemptOutcome.LOST,
                        error={"type": "WorkerDisconnected",
                               "message": f"worker {wid} reconnected without task {tid}"})),
                        name=f"report-lost-{tid}")
        self.fleet.changed(w)
        self.metrics.inc("dtf_worker_connections_total")
        log.info("worker_connected", worker_id=wid, hardware=hardware.get("types"), concurrency=concurrency,
                 reclaimed=len(w.running))
        self.side.kick()
        return {"worker_id": wid, "heartbeat_interval": self.config.heartbeat_interval_seconds,
                "heartbeat_timeout": self.config.heartbeat_timeout_seconds,
                "backup_coordinator": self.config.backup_coordinator, "cancel": cancel}

    async def connection_closed(self, conn: Any, *, abnormal: bool, reason: str) -> None:
        w = self.fleet.workers.get(conn.worker_id)
        if w is None or w.connection is not conn:
            return
        w.connection = None
        lost = list(w.running.items())
        was_draining = w.condition is WorkerState.DRAINING
        if not abnormal and self.fleet.reconnect_was_expected(w.worker_id):
            # We asked it to reconnect (or fail over): its tasks keep running and are reclaimed
            # by its next hello; whatever is not reclaimed in time is handled as lost.
            w.set_condition(WorkerState.DISCONNECTED)
            self.fleet.changed(w)
            deadline = now() + self.config.restart_grace_seconds
            for tid, _ in lost:
                self.await_reclaim(tid, deadline)
            log.info("worker_reconnecting", worker_id=w.worker_id, running=len(lost))
            return
        if w.condition is not WorkerState.UNAVAILABLE:
            crashed = abnormal and bool(lost)
            w.set_condition(WorkerState.CRASHED if crashed else WorkerState.DISCONNECTED)
        self.fleet.changed(w)
        log.warning("worker_disconnected", worker_id=w.worker_id, state=w.state.value, running=len(lost),
                    reason=reason)
        etype = "WorkerCrashed" if w.condition is WorkerState.CRASHED else "WorkerDisconnected"
        # A drained worker that says goodbye ran nothing it did not announce.
        drained = not abnormal and was_draining
        lost = self._give_back_unstarted(w, lost, f"{w.worker_id} left before starting it", drained=drained)
        for tid, number in lost:
            w.running.pop(tid, None)
            await self.side.report_failure(FailureEvent(
                source=FailureSource.CONNECTION_LOST, task_id=tid, attempt=number, worker_id=w.worker_id,
                outcome=AttemptOutcome.LOST,
                error={"type": etype, "message": f"worker {w.worker_id} connection closed while running "
                                                 f"the task ({reason})", "context": {"stage": "connection"}}))
        self.side.kick()

    def _give_back_unstarted(self, w: WorkerRecord, lost: list[tuple[str, int]], reason: str, *,
                             drained: bool = False) -> list[tuple[str, int]]:
        """A lost worker's prefetched tasks go back to the queue at once, without a failure.

        Which ones it never started: the coordinator knows those it heard a start notice for, and
        a worker runs at most its concurrency at once. Of the rest, the earliest dispatched that
        could still fill its slots may have started unannounced (a task that kills its worker
        dies before its notice leaves): they stay failures, so poison is still detected. Returns
        the attempts that remain to be reported as failures."""
        tasks = self.side.tasks
        started = []
        unannounced = []
        for tid, number in lost:
            task = tasks.get(tid)
            cur = task.current if task else None
            if task is None or cur is None or cur.number != number or not task.status.active:
                started.append((tid, number))  # report_failure sorts these out (fencing)
            elif cur.started_at is not None:
                started.append((tid, number))
            elif self.estimates.expected(task.kind or work_kind(task)) is None:
                # Work never seen to finish is held one per slot and is what kills a worker
                # before its notice leaves (a poison task never gets an estimate): a failure.
                started.append((tid, number))
            else:
                unannounced.append((tid, number))  # in dispatch order: the worker starts them so
        maybe = 0 if drained else max(0, w.concurrency - len(started))
        for tid, number in unannounced[maybe:]:
            w.running.pop(tid, None)
            self.side.give_back(tasks[tid], reason)
            self.metrics.inc("dtf_tasks_handed_back_total")
        if len(unannounced) > maybe:
            self.side.kick()
        return started + unannounced[:maybe]

    async def worker_unresponsive(self, w: WorkerRecord) -> None:
        """Silent past the heartbeat timeout: what it ran is lost, its socket is closed."""
        conn = w.connection
        w.set_condition(WorkerState.UNAVAILABLE)
        w.connection = None
        log.warning("worker_unresponsive", worker_id=w.worker_id, silent_seconds=round(now() - w.last_seen, 2))
        self.fleet.changed(w)
        for tid, number in list(w.running.items()):
            w.running.pop(tid, None)
            await self.side.report_failure(FailureEvent(
                source=FailureSource.HEARTBEAT_TIMEOUT, task_id=tid, attempt=number, worker_id=w.worker_id,
                outcome=AttemptOutcome.LOST,
                error={"type": "HeartbeatTimeout", "message": f"worker {w.worker_id} missed heartbeats for "
                       f"{self.config.heartbeat_timeout_seconds:.1f}s", "context": {"stage": "heartbeat"}}))
        if conn is not None:
            conn.superseded = True
            self.background.spawn(conn.close_with(4408, "heartbeat timeout"), name=f"close-silent-{w.worker_id}")
        self.side.kick()

    # ---- frames of a connected worker ---------------------------------------------------------------
    def heartbeat(self, conn: Any, body: dict[str, Any]) -> None:
        w = self.fleet.workers.get(conn.worker_id)
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
            tasks = self.side.tasks
            for item in held:
                if isinstance(item, dict):
                    task = tasks.get(item.get("task_id", ""))
                    cur = task.current if task else None
                    if cur and cur.number == item.get("attempt") and cur.started_at is None:
                        cur.lease_deadline = ts + task.timeout_seconds + self.config.lease_grace_seconds

    def _assigned_to(self, worker_id: str, item: Any) -> Task | None:
        """The task whose current attempt ``item`` names, assigned to ``worker_id`` and not yet
        running; else None (late, foreign or already started)."""
        tid, attempt, lease = attempt_key(item)
        task = self.side.tasks.get(tid)
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
            self.side.give_back(task, f"handed back unstarted by {w.worker_id}")
            self.metrics.inc("dtf_tasks_handed_back_total")
        self.side.kick()

    def started(self, conn: Any, items: list[Any]) -> None:
        ts = now()
        for item in items:
            task = self._assigned_to(conn.worker_id, item)
            if task is None:
                continue
            cur = task.current
            assert cur is not None
            # The worker's clock is its own: its start time is kept only within dispatch .. now.
            cur.started_at = within(item.get("started_at"), cur.dispatched_at, ts, default=ts)
            cur.lease_deadline = ts + task.timeout_seconds + self.config.lease_grace_seconds
            self.side.mark_running(task)

    async def command_result(self, conn: Any, body: dict[str, Any]) -> None:
        """A worker's answer to a command (cleanup_resources reports what it cleaned)."""
        log.info("command_result", worker_id=conn.worker_id, command=body.get("command"), ok=body.get("ok"),
                 detail=body.get("detail"))
        await self.on_command_result(conn.worker_id, body)
