"""The worker registry: every worker the coordinator knows, its state and probation, how a change
is persisted and announced, and the commands sent to a worker."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import orjson
import structlog

from coordinator.bus import EventBus
from coordinator.config import CoordinatorConfig
from coordinator.models import WorkerState, now
from coordinator.store import Store
from coordinator.workers import WorkerRecord
from worker.protocol import CommandName, MessageType, encode

log = structlog.get_logger("dtf.engine")


class Fleet:
    def __init__(self, config: CoordinatorConfig, store: Store, bus: EventBus, *,
                 kick: Callable[[], None]) -> None:
        self.config = config
        self.store = store
        self.bus = bus
        self.kick = kick  # the dispatcher looks again: a worker's state or capacity changed
        self.workers: dict[str, WorkerRecord] = {}
        self._reconnect_expected: dict[str, float] = {}  # worker_id -> until when

    def load(self, rows: Iterable[Any]) -> None:
        """The registry as stored (``Store.load_workers``): every worker disconnected until it says hello."""
        for row in rows:
            self.workers[row[0]] = WorkerRecord(worker_id=row[0], hardware=orjson.loads(row[1]),
                                                tags=orjson.loads(row[2]), first_seen=row[4], last_seen=row[5],
                                                condition=WorkerState.DISCONNECTED)

    def changed(self, w: WorkerRecord) -> None:
        """Persist and announce a worker's registry entry after a state change."""
        self.store.save_worker(w.worker_id, w.hardware, w.tags, w.state.value, w.first_seen, w.last_seen)
        if self.bus.active:
            self.bus.publish("worker", **w.to_api())

    def set_condition(self, w: WorkerRecord, state: WorkerState, factor: float = 1.0) -> None:
        """An explicit state that lifts after the probation period, followed by a one-slot trial."""
        w.set_condition(state)
        w.condition_until = now() + self.config.probation_seconds * factor
        w.probation_until = None
        self.changed(w)
        log.info("worker_state", worker_id=w.worker_id, state=state.value,
                 until=round(w.condition_until - now(), 1))
        self.kick()

    def advance_recovery(self, w: WorkerRecord, ts: float) -> None:
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
            self.changed(w)
            self.kick()
        if w.probation_until is not None and ts >= w.probation_until:
            w.probation_until = None
            log.info("worker_recovered", worker_id=w.worker_id)
            self.kick()

    def forget_departed(self, ts: float) -> None:
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

    def expect_reconnect(self, w: WorkerRecord) -> None:
        """We are about to tell it to reconnect (or fail over): its next goodbye is not a crash."""
        until = now() + self.config.restart_grace_seconds
        self._reconnect_expected[w.worker_id] = until
        w.reconnect_requested_until = until

    def reconnect_was_expected(self, worker_id: str) -> bool:
        """Whether a goodbye now answers our request to reconnect (asked once: this consumes it)."""
        return self._reconnect_expected.pop(worker_id, 0) > now()

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
