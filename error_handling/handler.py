"""The one error pipeline: classify, group, decide (policy + strategy), record.

``handle_error`` returns an ``ErrorDecision``; executing its actions is the caller's job
(the coordinator reports each executed action back through ``record_action``). Events go to
the sink through a bounded asyncio queue: when it is full ``handle_error`` awaits (the loop
keeps running), and the DuckDB work happens on the sink's writer thread.

Rules the decision obeys:
- ``retry`` comes from the resolved policy alone (``policy.should_retry(attempt)``); a
  strategy cannot push a retry past ``max_retries``.
- Not retrying: actions that only shape a next attempt (requeue/reassign/reallocate,
  increase_timeout, update_hardware_requirements, resolve_dependencies) are dropped and listed
  in ``dropped_actions``; ``outcome`` is ``failed`` when the strategy recorded the test's
  verdict (``record_test_failure``), else ``error``.
- Retrying: terminal actions (``record_test_failure``/``record_test_error``) are dropped, and a
  test rerun goes to another worker (``reassign_task_to_different_worker``), which is how a
  flaky test is told from a broken one.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import asdict, dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import structlog

from error_handling.backlog import EventBacklog
from error_handling.categories import CategoryRegistry, ErrorCategory
from error_handling.causes import CauseTable
from error_handling.classify import Classifier
from error_handling.event_tables import EVENT_FIELDS
from error_handling.events import DuckDBEventSink
from error_handling.model import ErrorInfo, frozen_builder, normalize_error
from error_handling.patterns import ErrorAggregator, cache_bound
from error_handling.recovery import (NEXT_ATTEMPT_ACTIONS, TERMINAL_ACTIONS, RecoveryAction,
                                     StrategyLike, default_recovery_strategies)
from error_handling.retry import DEFAULT_RETRY_POLICIES, DEFAULT_RETRY_POLICY, RetryPolicy

log = structlog.get_logger(__name__)

_ACTIONS_BY_VALUE = {a.value: a for a in RecoveryAction}
_CACHE_LIMIT = 8192
_YIELD_EVERY = 1024
_PUMP_CHUNK = 2048


class Outcome(StrEnum):
    RETRY = "retry"    # schedule another attempt after retry_delay
    FAILED = "failed"  # terminal: the test ran and failed (its verdict)
    ERROR = "error"    # terminal: could not run properly; retries exhausted or not retryable

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorDecision:
    category: Enum
    retry: bool
    retry_delay: float | None
    actions: list[str]
    pattern_id: str | None
    outcome: Outcome
    event_id: str
    attempt: int
    max_retries: int
    rule: str | None = None
    dropped_actions: tuple[str, ...] = ()
    timestamp: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["category"] = self.category.value
        d["outcome"] = self.outcome.value
        d["actions"] = [str(a) for a in self.actions]
        d["dropped_actions"] = [str(a) for a in self.dropped_actions]
        return d


# ErrorDecision's fields in order, without its frozen __init__ (see model.frozen_builder).
_build_decision = frozen_builder(ErrorDecision)

TaskTypePolicy = RetryPolicy | int | Mapping[Any, RetryPolicy | int]


class DistributedErrorHandler:
    def __init__(self, retry_policies: Mapping[Any, RetryPolicy] | None = None,
                 recovery_strategies: Mapping[Any, StrategyLike | None] | None = None,
                 custom_categories: Any = None, enable_pattern_detection: bool = True,
                 pattern_similarity_threshold: float = 0.8, error_history_size: int = 1000,
                 classifier: Classifier | None = None, rules: Any = None,
                 task_type_policies: Mapping[str, TaskTypePolicy] | None = None,
                 event_sink: DuckDBEventSink | str | Path | None = None,
                 queue_size: int = 10000, clock: Callable[[], float] | None = None,
                 rng: Any = None, causes: CauseTable | None = None) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size!r}")
        self.categories = CategoryRegistry(custom_categories)
        if error_history_size < 1:
            raise ValueError(f"error_history_size must be at least 1, got {error_history_size!r}")
        # Per-message caches follow the history's size: memory is bounded by error_history_size.
        self._cache_limit = cache_bound(error_history_size)
        self._classifier = classifier if classifier is not None else \
            Classifier(rules=rules, categories=self.categories, cache_size=self._cache_limit)
        self._clock = clock or time.time
        self._rng = rng
        self._policies: dict[Enum, RetryPolicy] = {}
        for cat, policy in {**DEFAULT_RETRY_POLICIES, **dict(retry_policies or {})}.items():
            self.register_retry_policy(cat, policy)
        self._strategies: dict[Enum, StrategyLike | None] = dict(default_recovery_strategies())
        for cat, strategy in (recovery_strategies or {}).items():
            self.register_recovery_strategy(cat, strategy)
        self._task_type_policies = dict(task_type_policies or {})
        self.enable_pattern_detection = enable_pattern_detection
        self.aggregator: ErrorAggregator | None = ErrorAggregator(
            similarity_threshold=pattern_similarity_threshold,
            error_history_size=error_history_size, clock=self._clock, causes=causes) \
            if enable_pattern_detection else None
        self._templates: dict[str, str | None] = {}
        self._event_ids = _EventIds()
        self._override_cache: dict[tuple[int, int], RetryPolicy] = {}
        self._owns_sink = isinstance(event_sink, (str, Path))
        self._sink: Any = DuckDBEventSink(event_sink) if self._owns_sink else event_sink
        self._queue_size = queue_size
        self._queue: EventBacklog | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._row: Callable[[ErrorDecision, ErrorInfo], Any] = self._event_row
        self._started = False
        self._events_by_category: dict[str, int] = {}
        self._events_by_outcome: dict[str, int] = {}
        self._dropped = 0
        self._actions_recorded = 0

    # -- configuration -----------------------------------------------------------------------

    def _category(self, category: Any) -> Enum:
        # Built-in members always resolve to themselves (custom values may not clash with them).
        if type(category) is ErrorCategory:
            return category
        return self.categories.resolve(category)

    def register_retry_policy(self, category: Any, policy: RetryPolicy) -> None:
        if not isinstance(policy, RetryPolicy):
            raise TypeError(f"policy for {category!r} must be a RetryPolicy, got {policy!r}")
        if self._rng is not None and policy.rng is None:
            policy = RetryPolicy(policy.max_retries, policy.initial_delay_seconds,
                                 policy.max_delay_seconds, policy.backoff_factor,
                                 policy.jitter_factor, rng=self._rng)
        self._policies[self._category(category)] = policy

    def register_recovery_strategy(self, category: Any, strategy: StrategyLike | None) -> None:
        """Replace the strategy for ``category`` (None: no actions, retry only)."""
        if strategy is not None and not callable(getattr(strategy, "determine_actions", None)) \
                and not callable(strategy):
            raise TypeError(f"strategy for {category!r} must have determine_actions(error, "
                            f"context) or be callable, got {strategy!r}")
        self._strategies[self._category(category)] = strategy

    def add_rule(self, rule: Any, first: bool = True) -> None:
        """Add a classification rule (see error_handling.classify)."""
        self._classifier.add_rule(rule, first=first)

    def get_retry_policy(self, category: Any) -> RetryPolicy:
        """The category's policy (configured, else the built-in default)."""
        return self._policies.get(self._category(category), DEFAULT_RETRY_POLICY)

    def get_recovery_strategy(self, category: Any) -> StrategyLike | None:
        return self._strategies.get(self._category(category))

    def resolve_policy(self, category: Any, context: Mapping[str, Any] | None = None
                       ) -> RetryPolicy:
        """The one place overrides resolve: per task (``context["max_retries"]``), then per
        task type (``task_type_policies``), then per category, then the default."""
        return self._resolve_policy(self._category(category), context or {})

    def _resolve_policy(self, cat: Enum, ctx: Mapping[str, Any]) -> RetryPolicy:
        policy = self._policies.get(cat, DEFAULT_RETRY_POLICY)
        task_type = ctx.get("task_type")
        if task_type is not None and self._task_type_policies:
            override = self._task_type_policies.get(task_type)
            if isinstance(override, Mapping):
                override = override.get(cat, override.get(cat.value))
            if isinstance(override, RetryPolicy):
                policy = override
            elif isinstance(override, int) and not isinstance(override, bool):
                policy = self._with_max_retries(policy, override)
        task_max = ctx.get("max_retries")
        if task_max is not None:
            if isinstance(task_max, bool) or not isinstance(task_max, int) or task_max < 0:
                raise ValueError(f"context max_retries must be a non-negative integer, "
                                 f"got {task_max!r}")
            policy = self._with_max_retries(policy, task_max)
        return policy

    def _with_max_retries(self, policy: RetryPolicy, n: int) -> RetryPolicy:
        if policy.max_retries == n:
            return policy
        key = (id(policy), n)
        cached = self._override_cache.get(key)
        if cached is None:
            if len(self._override_cache) >= _CACHE_LIMIT:
                self._override_cache.clear()
            # Keeps ``policy`` alive through the key's referent: policies are long-lived.
            cached = self._override_cache[key] = policy.with_max_retries(n)
        return cached

    # -- classification ----------------------------------------------------------------------

    def categorize_error(self, error: Any) -> Enum:
        """The category of an exception, a mapping (type, message, traceback, exit_code,
        signal, context) or an ErrorInfo."""
        return self._classify(normalize_error(error))[0]

    def _classify(self, info: ErrorInfo) -> tuple[Enum, str | None]:
        # No cache here: the Classifier caches per distinct failure itself, keyed on exactly
        # the fields and context keys its rules read.
        explain = getattr(self._classifier, "explain", None)
        if explain is not None:
            category, rule = explain(info)
        else:
            category, rule = self._classifier.classify(info), None
        return self._category(category), rule
    # -- the pipeline ------------------------------------------------------------------------

    def _strategy_actions(self, category: Enum, info: ErrorInfo,
                          ctx: Mapping[str, Any]) -> Sequence[Any]:
        strategy = self._strategies.get(category)
        if strategy is None:
            return []
        fixed = getattr(strategy, "fixed_actions", None)
        if fixed is not None:
            actions = fixed(category)
            if actions is not None:
                return actions
        sctx = {**ctx, "category": category}
        determine = getattr(strategy, "determine_actions", None)
        raw = determine(info, sctx) if determine is not None else strategy(info, sctx)
        return [a if type(a) is RecoveryAction else _to_action(a) for a in (raw or ())]

    def decide(self, error: Any, context: Mapping[str, Any] | None = None
               ) -> tuple[ErrorDecision, ErrorInfo]:
        """Classify, group and decide without recording (``handle_error`` records too)."""
        info = normalize_error(error, context)
        ctx = info.context
        category, rule = self._classify(info)
        attempt = ctx.get("attempt")
        if attempt is None:  # a caller that does not count attempts: this is the first
            attempt = 1
        if type(attempt) is not int or attempt < 1:
            if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
                raise ValueError(f"context attempt must be an integer >= 1, got {attempt!r}")
        policy = self._resolve_policy(category, ctx)
        actions = self._strategy_actions(category, info, ctx)
        retry = policy.should_retry(attempt)
        if not actions:
            kept: list[Any] = []
            outcome = Outcome.RETRY if retry else Outcome.ERROR
            delay: float | None = policy.get_retry_delay(attempt) if retry else None
        elif retry:
            kept = [a for a in actions if a not in TERMINAL_ACTIONS]
            if len(kept) != len(actions) and not any(a in NEXT_ATTEMPT_ACTIONS for a in kept):
                kept.append(RecoveryAction.REASSIGN_TASK_TO_DIFFERENT_WORKER)
            outcome = Outcome.RETRY
            delay = policy.get_retry_delay(attempt)
        else:
            kept = [a for a in actions if a not in NEXT_ATTEMPT_ACTIONS]
            outcome = Outcome.FAILED if RecoveryAction.RECORD_TEST_FAILURE in actions \
                else Outcome.ERROR
            delay = None
        dropped = tuple([a for a in actions if a not in kept]) if actions else ()
        pattern_id = None
        now = self._clock()  # one reading: the decision and its pattern share the timestamp
        if self.aggregator is not None:
            # info.context has ctx
            pattern_id = self.aggregator.add_error(info, None, category, timestamp=now)
        decision = _build_decision(category, retry, delay, kept, pattern_id, outcome,
                                   self._event_ids(), attempt, policy.max_retries, rule,
                                   dropped, now)
        return decision, info

    async def handle_error(self, error: Any, context: Mapping[str, Any] | None = None
                           ) -> ErrorDecision:
        decision, info = self.decide(error, context)
        cat = decision.category._value_
        counts = self._events_by_category
        counts[cat] = counts.get(cat, 0) + 1
        out = decision.outcome._value_
        counts = self._events_by_outcome
        counts[out] = counts.get(out, 0) + 1
        if self._sink is not None:
            if not self._started:
                await self.start()
            queue = self._queue
            assert queue is not None
            row = self._row(decision, info)
            if queue.full():
                # Awaits while the backlog is full: backpressure without blocking the loop.
                await queue.put(row)
            else:
                queue.put_nowait(row)
                if queue.qsize() % _YIELD_EVERY == 0:
                    # Let the pump hand a batch to the writer now rather than when the backlog
                    # is full: the writer trails by less, so less is left to write at the end.
                    await asyncio.sleep(0)
        return decision

    def _event_values(self, d: ErrorDecision, info: ErrorInfo) -> tuple[Any, ...]:
        """The stored event, in ``EVENT_FIELDS`` order."""
        ctx = info.context
        get = ctx.get
        pid = d.pattern_id
        template = None
        if pid is not None and self.aggregator is not None:
            # The shown template goes with a pattern's events only when it is new or has
            # changed (the sink keeps the last one per pattern); repeating it on every event
            # doubled what was encoded and parsed.
            template = self.aggregator.pattern_template(pid)
            if self._templates.get(pid) == template:
                template = None
            else:
                if len(self._templates) >= self._cache_limit:
                    self._templates.clear()
                self._templates[pid] = template
        return (d.event_id, d.timestamp, get("task_id"), get("worker_id"), d.attempt,
                d.category._value_, info.type, info.message, info.traceback, info.exit_code,
                info.signal, get("hardware_type"), get("task_type"), pid, d.rule, d.retry,
                d.retry_delay, d.max_retries, d.outcome._value_, d.actions, get("tags"), ctx,
                template)

    def _event_row(self, d: ErrorDecision, info: ErrorInfo) -> dict[str, Any]:
        """The stored event as a mapping (for sinks without ``submit_event_rows``)."""
        return dict(zip(EVENT_FIELDS, self._event_values(d, info), strict=True))

    def record_action(self, event_id: str | None, action: str | Enum, task_id: str | None = None,
                      worker_id: str | None = None, success: bool = True,
                      detail: str | None = None) -> str | None:
        """Store one executed recovery action; returns its id (None without a sink)."""
        self._actions_recorded += 1
        if self._sink is None:
            return None
        return self._sink.submit_action(
            event_id=event_id, action=action.value if isinstance(action, Enum) else str(action),
            task_id=task_id, worker_id=worker_id, success=bool(success), detail=detail,
            timestamp=self._clock())

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def sink(self) -> Any:
        return self._sink

    def set_event_sink(self, sink: Any, *, owned: bool = True) -> None:
        """Attach a sink before ``start()`` (the coordinator gives one its --db-path)."""
        if self._started:
            raise RuntimeError("set_event_sink must be called before the handler starts")
        self._sink = sink
        self._owns_sink = owned

    async def start(self) -> None:
        if self._started or self._sink is None:
            return
        if not getattr(self._sink, "running", True):
            await self._sink.start()
            self._owns_sink = True
        self._queue = EventBacklog(self._queue_size)
        # Tuples for a sink that takes them (DuckDBEventSink), mappings for any other.
        if hasattr(self._sink, "submit_event_rows"):
            self._row, submit = self._event_values, self._sink.submit_event_rows
        else:
            self._row, submit = self._event_row, self._sink.submit_events
        self._pump_task = asyncio.create_task(self._pump(submit), name="dtf-error-event-pump")
        self._started = True

    async def stop(self) -> None:
        """Drain the queue, flush the sink, and stop it if this handler started it."""
        if not self._started:
            return
        assert self._queue is not None and self._pump_task is not None
        await self._queue.join()
        self._pump_task.cancel()
        try:
            await self._pump_task
        except asyncio.CancelledError:
            # Ours (we just cancelled the pump) unless stop() itself is being cancelled.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        self._started = False
        if self._owns_sink:
            await self._sink.stop()
        else:
            await self._sink.flush()

    async def flush(self) -> None:
        """Return once every event handled so far is committed."""
        if self._started:
            assert self._queue is not None
            await self._queue.join()
            await self._sink.flush()

    async def _pump(self, submit: Callable[[list[Any]], None]) -> None:
        queue, sink = self._queue, self._sink
        assert queue is not None
        batch_size = max(1, int(getattr(sink, "batch_size", 1000)))
        # Encoded in pieces of at most _PUMP_CHUNK rows (each a short pause of the loop); the
        # pump waits for the writer once two of its batches are pending.
        limit = min(batch_size, _PUMP_CHUNK)
        high_water = batch_size * 2
        while True:
            batch = await queue.get_batch(limit)
            try:
                submit(batch)
                if getattr(sink, "pending", 0) >= high_water:
                    await sink.flush()  # the writer is behind: wait for it, the queue fills
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep draining so handle_error never hangs on a dead sink
                self._dropped += len(batch)
                log.error("error_event_sink_failed", error=repr(exc), dropped=len(batch))
            finally:
                queue.task_done(len(batch))

    def stats(self) -> dict[str, Any]:
        return {
            "events": sum(self._events_by_category.values()),
            "events_by_category": dict(self._events_by_category),
            "events_by_outcome": dict(self._events_by_outcome),
            "actions_recorded": self._actions_recorded,
            "queue_depth": self._queue.qsize() if self._queue is not None else 0,
            "queue_size": self._queue_size,
            "dropped": self._dropped,
            "sink_pending": getattr(self._sink, "pending", 0) if self._sink is not None else 0,
            "patterns": len(self.aggregator.get_patterns()) if self.aggregator else 0,
        }


def _to_action(a: Any) -> Any:
    """Known action names become RecoveryAction members; custom ones stay plain strings."""
    if isinstance(a, Enum):
        a = a._value_
    a = str(a)
    return _ACTIONS_BY_VALUE.get(a, a)


class _EventIds:
    """UUID-shaped (version 4 layout) event ids: 74 random bits per handler plus a counter.

    ``uuid.uuid4()`` costs an os.urandom call per event, a large share of the hot path; ids only
    need to be unique, and a random prefix per handler with a counter keeps them unique and
    in creation order within a handler.
    """

    __slots__ = ("_prefix", "_next")

    def __init__(self) -> None:
        h = uuid.uuid4().hex
        self._prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-"
        self._next = int(h[20:], 16) >> 8  # leave headroom so the 48-bit counter cannot wrap

    def __call__(self) -> str:
        n = self._next
        self._next = n + 1
        return f"{self._prefix}{n:012x}"
