"""The engine's collaborators work from what they are given: a registry, sessions and a monitor
built with stand-ins for the store and the engine (the small Protocols they declare)."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from coordinator import Coordinator, integrate_dashboard
from coordinator.analytics.balancing import integrate_load_balancer
from coordinator.analytics.results import integrate_result_aggregator
from coordinator.bus import EventBus
from coordinator.config import CoordinatorConfig
from coordinator.credit import DurationEstimates
from coordinator.engine_monitor import HealthMonitor
from coordinator.engine_workers import WorkerSessions
from coordinator.failures import FailureEvent, FailureSource
from coordinator.fleet import Fleet
from coordinator.health import HealthTracker
from coordinator.hooks import EngineHooks
from coordinator.metrics import Metrics
from coordinator.models import Attempt, AttemptOutcome, Task, TaskStatus, WorkerState, now


class Store:
    healthy = True

    def __init__(self) -> None:
        self.saved: list[tuple[str, str]] = []

    def save_worker(self, worker_id: str, hardware: Any, tags: Any, state: str, first: float, last: float) -> None:
        self.saved.append((worker_id, state))

    def forget_worker(self, worker_id: str) -> None:
        pass


class Engine:
    """The task side as WorkerSessions (TaskSide) and HealthMonitor (Watched) see it."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.failures: list[FailureEvent] = []
        self.kicks = 0

    def kick(self) -> None:
        self.kicks += 1

    def has_queued(self) -> bool:
        return False

    def give_back(self, task: Task, reason: str) -> None:
        task.status = TaskStatus.QUEUED

    def mark_running(self, task: Task) -> None:
        task.status = TaskStatus.RUNNING

    async def report_failure(self, event: FailureEvent) -> None:
        self.failures.append(event)


class Conn:
    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.sent: list[dict[str, Any]] = []
        self.superseded = False

    async def send(self, text: str | bytes) -> None:
        self.sent.append(orjson.loads(text))

    async def close_with(self, code: int, message: str) -> None:
        pass


async def _no_answer(worker_id: str, body: dict[str, Any]) -> None:
    pass


def parts() -> tuple[Engine, Store, Fleet, WorkerSessions, HealthMonitor]:
    config = CoordinatorConfig()
    engine, store = Engine(), Store()
    fleet = Fleet(config, store, EventBus(), kick=engine.kick)
    sessions = WorkerSessions(config, Metrics(), fleet, HealthTracker(fleet), DurationEstimates(), engine,
                              on_command_result=_no_answer)
    return engine, store, fleet, sessions, HealthMonitor(config, store, fleet, sessions, engine)


def running_task(task_id: str, worker_id: str, *, lease_deadline: float) -> Task:
    ts = now()
    task = Task(task_id=task_id, seq=1, type="command", config={}, requirements={}, priority=5,
                timeout_seconds=1.0, max_retries=None, tags={}, depends_on=[], created_at=ts,
                status=TaskStatus.RUNNING)
    task.attempts.append(Attempt(number=1, worker_id=worker_id, lease="L1", dispatched_at=ts, started_at=ts,
                                 lease_deadline=lease_deadline))
    return task


async def test_hello_registers_and_reclaims_then_an_expired_lease_is_a_failure_and_a_cancel() -> None:
    engine, store, fleet, sessions, monitor = parts()
    engine.tasks["t1"] = running_task("t1", "w1", lease_deadline=now() - 1)
    sessions.await_reclaim("t1", now() + 60)
    conn = Conn("w1")
    welcome = sessions.hello(conn, {"concurrency": 2, "held": [{"task_id": "t1", "attempt": 1, "lease": "L1"}]})
    assert welcome["cancel"] == [] and fleet.workers["w1"].running == {"t1": 1}
    assert sessions.overdue_reclaims(now() + 3600) == []  # reclaimed by the hello
    assert store.saved[-1][0] == "w1"

    await monitor.check()
    [event] = engine.failures
    assert (event.source, event.task_id, event.outcome) == (FailureSource.LEASE_EXPIRED, "t1",
                                                            AttemptOutcome.TIMED_OUT)
    assert conn.sent[-1]["type"] == "command" and conn.sent[-1]["command"] == "cancel"
    await sessions.close()


async def test_an_expected_reconnect_keeps_the_work_and_a_crash_reports_it() -> None:
    engine, _, fleet, sessions, _ = parts()
    engine.tasks["t1"] = running_task("t1", "w1", lease_deadline=now() + 60)
    conn = Conn("w1")
    sessions.hello(conn, {"held": [{"task_id": "t1", "attempt": 1, "lease": "L1"}]})
    fleet.expect_reconnect(fleet.workers["w1"])
    await sessions.connection_closed(conn, abnormal=False, reason="asked")
    assert engine.failures == [] and fleet.workers["w1"].state is WorkerState.DISCONNECTED
    assert sessions.unclaimed.keys() == {"t1"}

    conn2 = Conn("w1")
    sessions.hello(conn2, {"held": [{"task_id": "t1", "attempt": 1, "lease": "L1"}]})
    await sessions.connection_closed(conn2, abnormal=True, reason="reset")
    [event] = engine.failures
    assert event.source is FailureSource.CONNECTION_LOST and event.error["type"] == "WorkerCrashed"
    assert fleet.workers["w1"].state is WorkerState.CRASHED
    await sessions.close()


def test_extensions_register_their_hooks_for_the_engine_constructor(tmp_path) -> None:
    """The composition root asks each installed extension for its hooks, in install order; the
    engine is built with them (``Engine(..., hooks=coordinator.engine_hooks())``)."""
    coordinator = Coordinator(db_path=str(tmp_path / "e.duckdb"), state_path=str(tmp_path / "s.db"))
    aggregator = integrate_result_aggregator(coordinator)
    balancer = integrate_load_balancer(coordinator)
    dashboard = integrate_dashboard(coordinator)
    hooks = coordinator.engine_hooks()
    assert hooks.worker_chooser is balancer
    assert hooks.terminal_listeners == (aggregator.on_terminal, balancer.on_terminal, dashboard.hub.task_finished)
    with pytest.raises(ValueError, match="already registered"):
        hooks.choose_workers_with(lambda task, candidates: None)
    hooks.on_terminal(aggregator.on_terminal)  # once only
    assert len(hooks.terminal_listeners) == 3
    assert EngineHooks().worker_chooser is None and EngineHooks().terminal_listeners == ()
