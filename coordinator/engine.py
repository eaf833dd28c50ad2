"""The coordinator's state machine: tasks in, assignments out, results and failures back.

Everything here runs on the event loop; durable writes go through the Store's group commit.
Every failure, whatever its source, enters through ``report_failure``.
"""
from __future__ import annotations

import asyncio
import os
import secrets
from collections import Counter, defaultdict, deque
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars

from coordinator.bus import EventBus
from coordinator.config import CoordinatorConfig
from coordinator.credit import CreditPolicy, CreditSettings, work_kind
from coordinator.decisions import Settlement, settle
from coordinator.engine_monitor import HealthMonitor
from coordinator.engine_workers import WorkerSessions
from coordinator.failures import FailureEvent, FailurePolicy, FailureSource
from coordinator.fleet import Fleet
from coordinator.health import HealthTracker
from coordinator.hooks import EngineHooks, TerminalListener, WorkerChooser
from coordinator.metrics import Metrics
from coordinator.models import Attempt, AttemptOutcome, Task, TaskStatus, now, within
from coordinator.scheduler import ReadyQueue
from coordinator.store import Store
from coordinator.workers import WorkerRecord
from worker.background import Background
from worker.protocol import CommandName, MessageType, ProtocolError, attempt_key, encode_frame

log = structlog.get_logger("dtf.engine")

# The version (4) and variant bits of a random UUID, and the bits left random.
_UUID_V4 = (4 << 76) | (2 << 62)
_UUID_MASK = ((1 << 128) - 1) & ~(0xF << 76) & ~(0x3 << 62)
# A dispatch no worker started, lost because the coordinator restarted before its worker had it,
# is the coordinator's crash, not the task's failure: it goes back to the queue without spending
# a retry, this many times per task (so a task whose dispatch itself takes the coordinator down
# still runs out of retries).
FREE_REQUEUES = 10
# Flaky is about the test: only an attempt that ran it and saw it fail counts. A pass after a
# network fault, a crash, an OOM or a timeout is a completed task with its retries recorded.
FLAKY_EVIDENCE = frozenset({AttemptOutcome.FAILED})


def passed_after_test_failure(attempts: list[Any]) -> bool:
    """Flaky: an attempt before the last (the pass) ended ``failed``."""
    return any(a.outcome in FLAKY_EVIDENCE for a in attempts[:-1])


class SubmissionError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class Engine:
    """Tasks in, assignments out, results and failures back. Built (``app._state_ctx``) with the
    failure policy it asks on every failure and the hooks extensions registered (``EngineHooks``:
    the worker chooser, the terminal listeners); it builds its collaborators with what each
    needs: the worker registry (``Fleet``), health tracking, the worker sessions and the monitor."""

    def __init__(self, config: CoordinatorConfig, store: Store, metrics: Metrics, *,
                 failure_policy: FailurePolicy, hooks: EngineHooks | None = None) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.tasks: dict[str, Task] = {}
        self.queue = ReadyQueue()
        self.credit = CreditPolicy(CreditSettings(prefetch_budget_seconds=config.prefetch_budget_seconds,
                                                  max_held_per_worker=config.max_held_per_worker))
        self.waiting_on: dict[str, set[str]] = defaultdict(set)   # upstream id -> dependants
        self.pending_deps: dict[str, set[str]] = {}                # dependant -> open upstreams
        self.status_counts: Counter = Counter()
        self.last_failure: dict[str, dict[str, Any]] = {}          # task_id -> its latest error report
        self.started_at = now()
        self._seq = 0
        self._kick = asyncio.Event()
        self._finished: deque[str] = deque()
        self._lease_prefix = secrets.token_hex(4)
        self._lease_counter = 0
        self._stopping = False
        self._loops = Background("engine")
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.failure_policy = failure_policy
        hooks = hooks or EngineHooks()
        self._choose_worker: WorkerChooser | None = hooks.worker_chooser
        self._terminal_listeners: tuple[TerminalListener, ...] = hooks.terminal_listeners
        self.bus = EventBus()
        self.fleet = Fleet(config, store, self.bus, kick=self.kick)
        self.health = HealthTracker(self.fleet, report=failure_policy.report_health)
        self.sessions = WorkerSessions(config, metrics, self.fleet, self.health, self.credit.estimates, self,
                                       on_command_result=failure_policy.command_result)
        self.monitor = HealthMonitor(config, store, self.fleet, self.sessions, self)

    @property
    def workers(self) -> dict[str, WorkerRecord]:
        """The worker registry (owned by ``self.fleet``)."""
        return self.fleet.workers

    @property
    def stopping(self) -> bool:
        """Shutting down: no more assignments (the readiness probe says not ready)."""
        return self._stopping

    # ---- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._seq = await self.store.max_seq()
        self.fleet.load(await self.store.load_workers())
        resumed = await self.store.load_tasks()
        grace = now() + self.config.restart_grace_seconds
        for task in resumed:
            self.tasks[task.task_id] = task
            self.status_counts[task.status] += 1
        # Terminal tasks stay on disk only, but /api/v1/status and the gauges count every task.
        for status, count in (await self.store.count_by_status()).items():
            if TaskStatus(status).terminal:
                self.status_counts[TaskStatus(status)] += count
        orphans = 0
        for task in resumed:
            if task.status is TaskStatus.QUEUED:
                self._enqueue_or_wait(task)
            elif task.status is TaskStatus.RETRY_WAIT:
                self._arm_retry(task)
            elif task.status.active:
                self.sessions.await_reclaim(task.task_id, grace)
                orphans += 1
        if resumed:
            log.info("state_resumed", tasks=len(resumed), orphans=orphans)
        self._loops.spawn(self._dispatch_loop(), name="dispatch")
        self._loops.spawn(self.monitor.run(), name="monitor")
        self.kick()

    async def stop(self) -> None:
        """Stop assigning, let running work finish for a bounded time, requeue the rest."""
        if self._stopping:
            return
        self._stopping = True
        deadline = now() + self.config.drain_seconds
        while any(w.running for w in self.workers.values() if w.connected) and now() < deadline:
            await asyncio.sleep(0.05)
        for w in self.workers.values():
            for task_id, number in list(w.running.items()):
                task = self.tasks.get(task_id)
                if task is not None and task.current and task.current.number == number:
                    self.give_back(task, "coordinator shutting down")
            w.running.clear()
        for t in self._timers.values():
            t.cancel()
        await self._loops.close()
        await self.sessions.close()
        await self.store.barrier()

    def kick(self) -> None:
        self._kick.set()

    def note_failure(self, task_id: str, report: dict[str, Any]) -> None:
        """The latest error report of a task still running (what recovery actions read), kept
        until it finishes."""
        self.last_failure[task_id] = report

    def _next_lease(self) -> str:
        """A fencing token: unique per attempt for this coordinator's life and across restarts."""
        self._lease_counter += 1
        return f"{self._lease_prefix}{self._lease_counter:x}"

    # ---- submission ---------------------------------------------------------------------------
    async def submit(self, specs: list[dict[str, Any]]) -> list[str]:
        batch_ids: set[str] = set()
        created: list[Task] = []
        ts = now()
        # Random (version 4) UUIDs from one read of the system's random source per batch.
        raw = os.urandom(16 * len(specs))
        for i, spec in enumerate(specs):
            task_id = f"{(int.from_bytes(raw[16 * i:16 * i + 16], 'big') & _UUID_MASK) | _UUID_V4:032x}"
            self._seq += 1
            created.append(Task(task_id=task_id, seq=self._seq, created_at=ts, updated_at=ts, **spec))
            batch_ids.add(task_id)
        for i, task in enumerate(created):
            for dep in task.depends_on:
                if dep in self.tasks or dep in batch_ids:
                    continue
                upstream = await self.store.load_task(dep)
                if upstream is not None:
                    self.tasks[dep] = upstream  # terminal and evicted: bring back for the check
                else:
                    raise SubmissionError(f"depends_on names unknown task {dep!r}",
                                          f"tasks[{i}].depends_on" if len(created) > 1 else "depends_on")
        for task in created:
            self.store.task_changed(task)
        await self.store.barrier()
        for task in created:
            self.tasks[task.task_id] = task
        self.status_counts[TaskStatus.QUEUED] += len(created)
        self.metrics.inc("dtf_tasks_submitted_total", len(created))
        for task in created:
            self._enqueue_or_wait(task)
        self.kick()
        return [t.task_id for t in created]

    def _enqueue_or_wait(self, task: Task) -> None:
        open_deps = set()
        for dep in task.depends_on:
            up = self.tasks.get(dep)
            if up is None:
                continue  # finished long ago and evicted: it completed or we would have cascaded
            if up.status is TaskStatus.COMPLETED:
                continue
            if up.status.terminal:
                self._set_terminal(task, TaskStatus.ERROR, error={
                    "category": "test_dependency_error", "type": "UpstreamFailed",
                    "message": f"upstream task {dep} ended {up.status.value}; not run"})
                return
            open_deps.add(dep)
        if open_deps:
            self.pending_deps[task.task_id] = open_deps
            for dep in open_deps:
                self.waiting_on[dep].add(task.task_id)
        else:
            self.queue.push(task)

    async def cancel(self, task: Task) -> Task:
        if task.status.terminal:
            return task
        cur = task.current
        if task.status.active and cur is not None:
            cur.outcome, cur.finished_at = AttemptOutcome.CANCELLED, now()
            self.store.attempt_changed(task, cur)
            w = self.workers.get(cur.worker_id)
            if w is not None:
                w.running.pop(task.task_id, None)
                await self.fleet.send_command(w, CommandName.CANCEL, task_id=task.task_id, attempt=cur.number)
        self._cancel_timer(task.task_id)
        self._set_terminal(task, TaskStatus.CANCELLED, error=None)
        await self.store.barrier()
        self.kick()
        return task

    # ---- status bookkeeping ------------------------------------------------------------------
    def _set_status(self, task: Task, status: TaskStatus) -> None:
        self.status_counts[task.status] -= 1
        self.status_counts[status] += 1
        task.status = status
        task.updated_at = now()
        if self.bus.active:
            cur = task.current
            self.bus.publish("task", task_id=task.task_id, status=status.value, type=task.type,
                             worker_id=cur.worker_id if cur else None, attempt=cur.number if cur else 0,
                             flaky=task.flaky, retried=task.retried, tags=task.tags)

    def _set_terminal(self, task: Task, status: TaskStatus, *, error: dict | None,
                      result: Any = None) -> None:
        self._set_status(task, status)
        task.error = error
        if result is not None:
            task.result = result
        self.store.task_changed(task)
        self.sessions.forget_reclaim(task.task_id)
        self.last_failure.pop(task.task_id, None)
        self._finished.append(task.task_id)
        if len(self._finished) > self.config.max_finished_in_memory:
            # Memory stays bounded: old finished tasks are read back from SQLite when asked for.
            old = self.tasks.get(self._finished.popleft())
            if old is not None and old.status.terminal and not self.waiting_on.get(old.task_id):
                del self.tasks[old.task_id]
        self.metrics.inc("dtf_tasks_finished_total", status=status.value)
        self.metrics.observe("dtf_task_completion_seconds", task.updated_at - task.created_at)
        for listener in self._terminal_listeners:
            listener(task)
        dependants = self.waiting_on.pop(task.task_id, set())
        for dep_id in dependants:
            dependant = self.tasks.get(dep_id)
            if dependant is None or dependant.status is not TaskStatus.QUEUED:
                continue
            open_deps = self.pending_deps.get(dep_id, set())
            if status is TaskStatus.COMPLETED:
                open_deps.discard(task.task_id)
                if not open_deps:
                    self.pending_deps.pop(dep_id, None)
                    self.queue.push(dependant)
            else:
                # Upstream failed: block the dependant instead of running or retrying it.
                self.pending_deps.pop(dep_id, None)
                self._set_terminal(dependant, TaskStatus.ERROR, error={
                    "category": "test_dependency_error", "type": "UpstreamFailed",
                    "message": f"upstream task {task.task_id} ended {status.value}; not run"})

    def _arm_retry(self, task: Task) -> None:
        delay = max(0.0, (task.not_before or 0) - now())
        loop = asyncio.get_running_loop()
        self._cancel_timer(task.task_id)
        self._timers[task.task_id] = loop.call_later(delay, self._release_retry, task.task_id)

    def _cancel_timer(self, task_id: str) -> None:
        handle = self._timers.pop(task_id, None)
        if handle is not None:
            handle.cancel()

    def _release_retry(self, task_id: str) -> None:
        self._timers.pop(task_id, None)
        task = self.tasks.get(task_id)
        if task is None or task.status is not TaskStatus.RETRY_WAIT:
            return
        self._set_status(task, TaskStatus.QUEUED)
        task.not_before = None
        self.store.task_changed(task)
        self.queue.push(task)
        self.kick()

    def mark_running(self, task: Task) -> None:
        """Its worker says it started. Kept in memory only: after a crash "assigned" and "running"
        recover the same way, and the result carries its timing, so this costs no write."""
        self._set_status(task, TaskStatus.RUNNING)

    def has_queued(self) -> bool:
        return self.status_counts[TaskStatus.QUEUED] > 0

    def give_back(self, task: Task, reason: str) -> None:
        """Requeue an attempt that was not the task's fault (no failure counted)."""
        cur = task.current
        if cur is not None and cur.outcome is None:
            cur.outcome, cur.finished_at = AttemptOutcome.LOST, now()
            cur.error = {"type": "AttemptAbandoned", "message": reason}
            self.store.attempt_changed(task, cur)
        self._set_status(task, TaskStatus.QUEUED)
        self.store.task_changed(task)
        self.queue.push(task)

    # ---- dispatch -----------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            if self._stopping:
                continue
            plan = self.queue.plan(self.tasks, self.workers.values(), self._choose_worker, self.credit)
            if not plan:
                continue
            sends = []
            ts = now()
            for wid, tasks in plan.items():
                w = self.workers[wid]
                items = []
                for task in tasks:
                    att = Attempt(number=len(task.attempts) + 1, worker_id=wid, lease=self._next_lease(),
                                  dispatched_at=ts,
                                  lease_deadline=ts + task.timeout_seconds + self.config.lease_grace_seconds)
                    task.attempts.append(att)
                    self.metrics.observe("dtf_task_dispatch_latency_seconds", ts - (task.ready_at or ts))
                    self._set_status(task, TaskStatus.ASSIGNED)
                    w.running[task.task_id] = att.number
                    # The attempt row is what makes the assignment durable; the task's row keeps
                    # its last settled status (an open attempt means assigned, see load_tasks).
                    self.store.attempt_changed(task, att)
                    items.append({"task_id": task.task_id, "attempt": att.number, "lease": att.lease,
                                  "type": task.type, "config": task.config,
                                  "timeout_seconds": task.timeout_seconds, "tags": task.tags,
                                  "requirements": task.requirements})
                sends.append((w, w.connection, items))
            try:
                await self.store.barrier()
            except Exception as exc:
                log.error("dispatch_not_durable", error=str(exc))
                for w, _, items in sends:
                    for it in items:
                        await self.report_failure(FailureEvent(
                            source=FailureSource.ASSIGNMENT_FAILED, task_id=it["task_id"], attempt=it["attempt"],
                            worker_id=w.worker_id, outcome=AttemptOutcome.LOST,
                            error={"type": "StorageError", "message": f"assignment not durable: {exc}"}))
                continue
            for w, conn, items in sends:
                if conn is None or w.connection is not conn:
                    continue  # the disconnect handler requeues what it held
                self.metrics.inc("dtf_tasks_dispatched_total", len(items))
                await conn.send(encode_frame(MessageType.TASKS, items=items))
            self.kick()  # more may fit (credits left, or tasks arrived meanwhile)

    async def results(self, conn: Any, items: list[Any]) -> list[dict[str, Any]]:
        acks = []
        for item in items:
            tid, attempt, lease = attempt_key(item)
            # Every line logged while this result is handled names it. Set and reset by token:
            # bound_contextvars() would first copy the whole context to save what it replaces,
            # which cost more than the rest of accepting a no-op's result.
            tokens = bind_contextvars(task_id=tid, attempt=attempt)
            try:
                verdict, reason = await self._accept_result(conn.worker_id, tid, attempt, lease, item)
            finally:
                reset_contextvars(**tokens)
            acks.append({"task_id": tid, "attempt": attempt, "lease": lease, "status": verdict, "reason": reason})
            if verdict == "rejected":
                self.metrics.inc("dtf_results_rejected_total")
                log.info("result_rejected", task_id=tid, attempt=attempt, worker_id=conn.worker_id, reason=reason)
        await self.store.barrier()
        self.kick()
        return acks

    async def _accept_result(self, wid: str, tid: str, attempt: int, lease: str,
                             item: dict[str, Any]) -> tuple[str, str | None]:
        task = self.tasks.get(tid)
        if task is None:
            task = await self.store.load_task(tid)
            if task is None:
                return "rejected", "unknown task"
        match = next((a for a in task.attempts if a.number == attempt and a.lease == lease), None)
        if match is None:
            return "rejected", "no such attempt"
        if match.worker_id != wid:
            return "rejected", "attempt belongs to another worker"
        if match.outcome is not None:
            if match.outcome in (AttemptOutcome.LOST, AttemptOutcome.CANCELLED):
                return "rejected", f"attempt was given up ({match.outcome.value})"
            return "duplicate", None
        if match is not task.current or not task.status.active:
            return "rejected", "stale attempt"
        outcome_raw = item.get("outcome")
        try:
            outcome = AttemptOutcome(outcome_raw)
        except ValueError:
            raise ProtocolError(f"results: unknown outcome {outcome_raw!r}") from None
        w = self.workers.get(wid)
        if w is not None:
            w.running.pop(tid, None)
        ts = now()
        match.finished_at = ts
        # A worker's figures are bounded by what the coordinator saw: no attempt ran longer than
        # it has been out (an absurd value once stored broke every listing for good).
        duration = within(item.get("duration_seconds"), 0.0, ts - match.dispatched_at,
                          default=ts - (match.started_at or match.dispatched_at))
        if match.started_at is None:
            # A short task's result may be its only news: the worker skips start notices for tasks
            # that end within a few milliseconds, and says when it started here (bounded like a
            # start notice: within dispatch .. now).
            match.started_at = within(item.get("started_at"), match.dispatched_at, ts, default=ts - duration)
        details = item.get("details") if isinstance(item.get("details"), dict) else None
        reported = item.get("duration_seconds")
        if isinstance(reported, (int, float)) and not isinstance(reported, bool) and reported >= 0:
            self.credit.estimates.observe(task.kind or work_kind(task), duration)
        if outcome is AttemptOutcome.PASSED:
            match.outcome = outcome
            self.store.attempt_changed(task, match)
            task.details = details
            task.flaky = passed_after_test_failure(task.attempts)
            if w is not None:
                w.completed += 1
            self.metrics.observe("dtf_task_duration_seconds", ts - match.dispatched_at)
            self.health.on_completed(task, w, duration)
            self._set_terminal(task, TaskStatus.COMPLETED, error=None, result=item.get("result"))
            return "accepted", None
        task.details = details
        error = item.get("error") if isinstance(item.get("error"), dict) else {}
        await self.report_failure(FailureEvent(source=FailureSource.WORKER_REPORT, task_id=tid, attempt=attempt,
                                               worker_id=wid, outcome=outcome, error=error))
        return "accepted", None

    # ---- failures ------------------------------------------------------------------------------
    async def report_failure(self, event: FailureEvent) -> None:
        """The one entry point for every failure: the error pipeline decides, the engine applies."""
        task = self.tasks.get(event.task_id)
        if task is None or task.status.terminal:
            return
        cur = task.current
        if cur is None or cur.number != event.attempt or cur.outcome is not None:
            return  # already handled through another path (fencing by attempt)
        w = self.workers.get(event.worker_id or "")
        if w is not None:
            w.running.pop(task.task_id, None)
            w.failed_attempts += 1
        # (attempts before this one that no failure was counted for: the free requeues so far)
        if not (event.source is FailureSource.COORDINATOR_RESTART and cur.started_at is None
                and cur.number - 1 - task.failures < FREE_REQUEUES):
            task.failures += 1
        self.metrics.inc("dtf_failures_total", source=event.source.value)
        # Classified, decided and recorded (DuckDB error_events): ErrorPipeline.decide.
        decision = await self.failure_policy.decide(task, event)
        settlement = settle(decision, event)
        self.apply_decision(task, event, settlement)
        log.info("failure_handled", task_id=task.task_id, attempt=event.attempt, worker_id=event.worker_id,
                 source=event.source.value, category=settlement.category, retry=settlement.retry,
                 retry_delay=settlement.retry_delay, status=task.status.value)
        # The decision's actions, each run and recorded (DuckDB recovery_actions): ErrorPipeline.after_decision.
        await self.failure_policy.after_decision(task, event, decision)

    def apply_decision(self, task: Task, event: FailureEvent, settlement: Settlement) -> None:
        """Record the attempt's end and move the task: to retry_wait/queued, or to a terminal status."""
        cur = task.current
        assert cur is not None
        category = settlement.category
        cur.outcome = event.outcome
        cur.finished_at = cur.finished_at or now()
        cur.error_category = category
        cur.error = event.error
        self.store.attempt_changed(task, cur)
        w = self.workers.get(event.worker_id or "")
        if w is not None:
            w.error_counts[category] += 1
        if settlement.avoid_worker:
            task.excluded_workers.add(event.worker_id or "")
        error = {"category": category, "type": event.error.get("type"), "message": event.error.get("message"),
                 "traceback": event.error.get("traceback"), "source": event.source.value}
        if settlement.retry:
            task.error = error
            self.metrics.inc("dtf_retries_total", category=category)
            if settlement.retry_delay and settlement.retry_delay > 0:
                self._set_status(task, TaskStatus.RETRY_WAIT)
                task.not_before = now() + settlement.retry_delay
                self.store.task_changed(task)
                self._arm_retry(task)
            else:
                self._set_status(task, TaskStatus.QUEUED)
                task.not_before = None
                self.store.task_changed(task)
                self.queue.push(task)
                self.kick()
            return
        self._set_terminal(task, settlement.terminal_status, error=error)

    # ---- queries ---------------------------------------------------------------------------------
    async def get_task(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id) or await self.store.load_task(task_id)

    def status(self) -> dict[str, Any]:
        workers = Counter(w.state.value for w in self.workers.values())
        return {"tasks": {s.value: n for s, n in self.status_counts.items() if n > 0},
                "workers": dict(workers),
                "queue_depth": self.status_counts[TaskStatus.QUEUED],
                "uptime_seconds": round(now() - self.started_at, 3)}
