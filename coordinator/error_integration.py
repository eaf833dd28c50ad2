"""The error pipeline inside the coordinator: every failure is classified, decided, acted upon, stored.

``integrate_error_handler(coordinator)`` installs it (idempotent; keeps a handler already set).
Each failure event becomes a call to ``handler.handle_error`` with what the coordinator knows;
the decision's retry is scheduled by the engine (persisted ``retry_wait``), its actions run
through ``coordinator.execute_recovery_action`` (replaceable by users), and the event and the
executed actions go to DuckDB through the handler's sink.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import structlog

from coordinator.failures import FailureEvent, FailureSource
from coordinator.models import AttemptOutcome, Task
from coordinator.recovery_actions import ACTIONS, failing_hardware
from error_handling import DistributedErrorHandler, DuckDBEventSink
from coordinator.host import Host
from coordinator.reconcile import backfill_error_events

if TYPE_CHECKING:
    from coordinator.workers import WorkerRecord

log = structlog.get_logger("dtf.errors")

# Failures the coordinator saw itself get a stage so the classifier's context rules can use it.
SOURCE_STAGE = {
    FailureSource.CONNECTION_LOST: "connection",
    FailureSource.HEARTBEAT_TIMEOUT: "heartbeat",
    FailureSource.LEASE_EXPIRED: "execution",
    FailureSource.PROTOCOL_ERROR: "protocol",
    FailureSource.ASSIGNMENT_FAILED: "dispatch",
    FailureSource.COORDINATOR_RESTART: "connection",
}


async def execute_recovery_action(coordinator: Host, action: Any, task_id: str | None,
                                  worker_id: str | None) -> bool:
    """Run one built-in action; returns whether it took effect. The detail goes to the log/store."""
    ok, _ = await run_action(coordinator, str(getattr(action, "value", action)), task_id, worker_id)
    return ok


async def run_action(coordinator: Host, action: str, task_id: str | None,
                     worker_id: str | None) -> tuple[bool, str]:
    engine = coordinator.engine
    if engine is None:
        return False, "coordinator not started"
    fn = ACTIONS.get(action)
    if fn is None:
        return False, f"unknown action {action!r}"
    task = engine.tasks.get(task_id or "")
    if task is None:
        return False, f"no active task {task_id!r}"
    worker = engine.workers.get(worker_id or "")
    failure = engine.last_failure.get(task.task_id, {})
    return await fn(engine, task, worker, failure)


class ErrorPipeline:
    """The coordinator extension that owns the handler's life cycle; the engine is built with it
    as its ``FailurePolicy`` (``app._state_ctx``, the composition root)."""

    def __init__(self, coordinator: Host) -> None:
        self.coordinator = coordinator

    @property
    def handler(self) -> DistributedErrorHandler:
        return self.coordinator.error_handler

    async def on_start(self, coordinator: Host, app: Any) -> None:
        handler = self.handler
        if handler.sink is None:
            handler.set_event_sink(DuckDBEventSink(coordinator.config.db_path), owned=True)
        await handler.start()
        engine = coordinator.engine
        assert engine is not None
        await backfill_error_events(coordinator)  # what a crash kept out of DuckDB, from SQLite
        metrics = engine.metrics
        metrics.gauge("dtf_error_pipeline_queue_depth", lambda: float(handler.stats().get("queue_depth", 0)),
                      "Error events waiting for the DuckDB writer")
        sink = handler.sink
        metrics.gauge("dtf_duckdb_flushes", lambda: float(getattr(sink, "flushes", 0)), "DuckDB history batches written")
        metrics.gauge("dtf_duckdb_flush_seconds_sum", lambda: float(getattr(sink, "flush_seconds_total", 0.0)),
                      "Time spent writing DuckDB history batches")
        metrics.gauge("dtf_duckdb_last_flush_seconds", lambda: float(getattr(sink, "last_flush_seconds", 0.0)),
                      "Duration of the latest DuckDB history batch")
        metrics.gauge("dtf_duckdb_rows_written", lambda: float(sum(getattr(sink, "written", {}).values())),
                      "Rows written to the DuckDB history")

    async def on_stop(self, coordinator: Host, app: Any) -> None:
        await self.handler.stop()

    # ---- failure -> decision ---------------------------------------------------------------------
    def context_for(self, task: Task, event: FailureEvent) -> dict[str, Any]:
        engine = self.coordinator.engine
        assert engine is not None
        worker = engine.workers.get(event.worker_id or "")
        error_ctx = dict(event.error.get("context") or {})
        hardware = failing_hardware(task, worker, event.error) or \
            (worker.hardware_types[0] if worker and worker.hardware_types else None)
        max_retries = task.max_retries
        if max_retries is None and event.outcome is AttemptOutcome.FAILED and engine.config.flaky_reruns:
            max_retries = engine.config.flaky_reruns
        crashed = engine.health.crashed_workers(task)
        if event.error.get("type") == "WorkerCrashed" and event.worker_id:
            crashed.add(event.worker_id)
        poison = len(crashed) >= engine.health.settings.poison_threshold
        if poison:
            max_retries = 0  # a task that keeps killing workers stops here; the fleet survives
        ctx: dict[str, Any] = {
            **error_ctx,
            "task_id": task.task_id, "worker_id": event.worker_id, "hardware_type": hardware,
            "attempt": max(1, task.failures), "task_type": task.type, "tags": task.tags,
            "source": event.source.value, "outcome": event.outcome.value,
            "backup_coordinator": engine.config.backup_coordinator,
            "reconnect_failures": worker.error_counts.get("network_connection_error", 0) if worker else 0,
        }
        ctx.setdefault("stage", SOURCE_STAGE.get(event.source, "execution"))
        if max_retries is not None:
            ctx["max_retries"] = max_retries
        if event.outcome is AttemptOutcome.FAILED:
            ctx["verdict"] = "failed"
        if poison:
            ctx["poison"] = sorted(crashed)
        return ctx

    async def decide(self, task: Task, event: FailureEvent) -> Any:
        engine = self.coordinator.engine
        assert engine is not None
        ctx = self.context_for(task, event)
        error = {k: v for k, v in event.error.items() if k != "context"}
        error.setdefault("type", event.outcome.value)
        error.setdefault("message", "")
        if ctx.get("poison"):
            error["message"] = (f"poison task: crashed {len(ctx['poison'])} workers "
                                f"({', '.join(ctx['poison'])}); not retried. {error['message']}")
            event.error["message"] = error["message"]
        engine.note_failure(task.task_id, {**event.error, "hardware_type": ctx.get("hardware_type")})
        decision = await self.handler.handle_error(error, ctx)
        engine.metrics.inc("dtf_errors_total", category=decision.category.value)
        if engine.bus.active:
            engine.bus.publish("error", event_id=decision.event_id, task_id=task.task_id,
                               worker_id=event.worker_id, attempt=decision.attempt,
                               category=decision.category.value, type=error.get("type"),
                               message=str(error.get("message"))[:2000], traceback=error.get("traceback"),
                               hardware_type=ctx.get("hardware_type"), pattern_id=decision.pattern_id,
                               retry=decision.retry, retry_delay=decision.retry_delay,
                               outcome=decision.outcome.value, actions=[str(a) for a in decision.actions],
                               tags=task.tags)
        return decision

    async def after_decision(self, task: Task, event: FailureEvent, decision: Any) -> None:
        """Run the decision's actions through the (replaceable) executor and store each one."""
        execute = self.coordinator.execute_recovery_action
        for action in decision.actions:
            name = str(getattr(action, "value", action))
            detail = ""
            try:
                if getattr(execute, "__func__", None) is type(self.coordinator).execute_recovery_action:
                    ok, detail = await run_action(self.coordinator, name, task.task_id, event.worker_id)
                else:
                    ok = await _call_user_executor(execute, self.coordinator, name, task.task_id, event.worker_id)
            except Exception as exc:  # a user's action must not take the coordinator down
                log.exception("recovery_action_failed", action=name, task_id=task.task_id)
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            self._record_action(decision.event_id, name, task.task_id, event.worker_id, bool(ok), detail)
            self.coordinator.engine.metrics.inc("dtf_recovery_actions_total", action=name,
                                                success=str(bool(ok)).lower())
            log.info("recovery_action", action=name, task_id=task.task_id, worker_id=event.worker_id,
                     success=bool(ok), detail=detail)
        self.coordinator.engine.kick()

    def report_health(self, action: str, worker: "WorkerRecord", detail: str) -> None:
        """A state change detected by the health tracker, stored like any executed action."""
        self._record_action(None, action, None, worker.worker_id, True, detail)
        log.info("worker_health", action=action, worker_id=worker.worker_id, detail=detail)

    async def command_result(self, worker_id: str, body: dict[str, Any]) -> None:
        """A worker's answer to a command: a confirmed cleanup is stored like an executed action."""
        if body.get("command") == "cleanup_resources":
            self._record_action(None, "request_resource_cleanup", None, worker_id, bool(body.get("ok")),
                                f"worker confirmed cleanup: {body.get('detail')}")

    def _record_action(self, event_id: str | None, action: str, task_id: str | None, worker_id: str | None,
                       ok: bool, detail: str) -> None:
        """Store an executed action (DuckDB) and announce it on the live feed."""
        self.handler.record_action(event_id, action, task_id, worker_id, ok, detail or None)
        bus = self.coordinator.engine.bus
        if bus.active:
            bus.publish("action", event_id=event_id, action=action, task_id=task_id, worker_id=worker_id,
                        success=ok, detail=detail)


async def _call_user_executor(fn: Any, coordinator: Any, action: str, task_id: str, worker_id: str | None) -> bool:
    """Call a user's replacement, whichever of the two documented signatures it has."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    args = (coordinator, action, task_id, worker_id) if len(params) >= 4 else (action, task_id, worker_id)
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


def integrate_error_handler(coordinator: Host) -> DistributedErrorHandler:
    """Install the error pipeline; keeps a handler that is already set. Idempotent."""
    if coordinator.error_handler is None:
        coordinator.error_handler = DistributedErrorHandler(enable_pattern_detection=True,
                                                            pattern_similarity_threshold=0.8,
                                                            error_history_size=1000)
    if coordinator.extension(ErrorPipeline) is None:
        coordinator.add_extension(ErrorPipeline(coordinator))
    return coordinator.error_handler
