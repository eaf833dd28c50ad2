"""--load-balancer: steer work away from failing or slow workers and error-prone hardware x model pairs.

Registered as the engine's worker chooser (``EngineHooks``: the scheduler asks it which free
worker takes a task).
Each worker has a score: reliability (decayed success/failure counts with a prior, so one early
failure is not a verdict) times speed (its durations against the fleet's for the same task type).
A (hardware, model) pair whose failure rate is confidently high (Wilson lower bound) scales the
score of workers offering that hardware for tasks of that model.

Less work, never none: when the best free candidate is clearly worse than the best matching
worker (busy now), the balancer may hold the task back, but only while that candidate already
runs its share (concurrency x relative score, at least one task) and for at most
``max_defer_seconds``; after that the task goes to whoever is free. A single matching worker is
never avoided, since it is also the best one.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from coordinator.analytics.dims import FAILED_OUTCOMES, hardware_for, model_of
from coordinator.analytics.stats import wilson_lower
from coordinator.models import Task
from coordinator.workers import NO_WORK_STATES, WorkerRecord, matches



@dataclass(frozen=True, slots=True, kw_only=True)
class BalancerSettings:
    half_life_seconds: float = 120.0      # evidence halves every this many seconds
    prior_runs: float = 4.0               # pseudo-runs at the prior failure rate
    prior_failure_rate: float = 0.05
    pair_min_runs: float = 1.0            # evidence a pair needs (Wilson already discounts few runs)
    good_ratio: float = 0.8               # within this fraction of the best score counts as good
    max_defer_seconds: float = 10.0
    probe_interval_seconds: float = 2.0   # a weaker worker gets at most one task this often
    pair_avoid_above: float = 0.3         # a pair this confidently failing gets no probes
    slow_floor: float = 0.25              # speed factor never below this
    observe_interval_seconds: float = 0.02


def _decay(value: float, elapsed: float, half_life: float) -> float:
    return value * 0.5 ** (elapsed / half_life) if elapsed > 0 else value


@dataclass(slots=True)
class Evidence:
    """Decayed counts of good and bad runs."""
    ok: float = 0.0
    bad: float = 0.0
    at: float = 0.0

    def add(self, now: float, half_life: float, ok: float = 0.0, bad: float = 0.0) -> None:
        self.ok = _decay(self.ok, now - self.at, half_life) + ok
        self.bad = _decay(self.bad, now - self.at, half_life) + bad
        self.at = now

    def current(self, now: float, half_life: float) -> tuple[float, float]:
        return _decay(self.ok, now - self.at, half_life), _decay(self.bad, now - self.at, half_life)


@dataclass(slots=True)
class WorkerStats:
    runs: Evidence = field(default_factory=Evidence)
    seen_completed: int = 0
    seen_failed: int = 0
    slowness: float = 1.0                 # EWMA of duration / fleet mean for the same task type


class LoadBalancer:
    """The engine's worker chooser: returns the worker for a task, or None to hold it back briefly."""

    may_defer = True  # the scheduler asks even with one candidate, and accepts None

    def __init__(self, settings: BalancerSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 workers: Callable[[], dict[str, WorkerRecord]] | None = None,
                 kick: Callable[[], None] | None = None) -> None:
        self.settings = settings or BalancerSettings()
        self.clock = clock
        self._workers = workers or (lambda: {})
        self._kick = kick
        self.stats: dict[str, WorkerStats] = {}
        self.pairs: dict[tuple[str | None, str], Evidence] = {}
        self.last_probe: dict[str, float] = {}
        self.fleet_duration: dict[str, float] = {}
        self.deferred_since: dict[str, float] = {}
        self.deferrals = 0
        self._observed_at = -1.0
        self._timer: asyncio.TimerHandle | None = None

    def bind(self, workers: Callable[[], dict[str, WorkerRecord]], kick: Callable[[], None]) -> None:
        """Where the workers are read and how the dispatcher is woken, once the engine exists."""
        self._workers = workers
        self._kick = kick

    # -- evidence ----------------------------------------------------------------------------
    def observe_workers(self, force: bool = False) -> None:
        """Fold the workers' completed/failed counters (kept by the engine) into the evidence."""
        now = self.clock()
        if not force and now - self._observed_at < self.settings.observe_interval_seconds:
            return
        self._observed_at = now
        for w in self._workers().values():
            st = self.stats.setdefault(w.worker_id, WorkerStats(seen_completed=w.completed,
                                                                seen_failed=w.failed_attempts))
            ok, bad = w.completed - st.seen_completed, w.failed_attempts - st.seen_failed
            if ok < 0 or bad < 0:  # the record was replaced; start counting again
                ok, bad = max(ok, 0), max(bad, 0)
            if ok or bad:
                st.runs.add(now, self.settings.half_life_seconds, ok, bad)
            st.seen_completed, st.seen_failed = w.completed, w.failed_attempts

    def record_pair(self, hardware: str | None, model: str, ok: int, bad: int) -> None:
        ev = self.pairs.setdefault((hardware, model), Evidence(at=self.clock()))
        ev.add(self.clock(), self.settings.half_life_seconds, ok, bad)

    def on_terminal(self, task: Task) -> None:
        """Attempts of a finished task: pair evidence (hardware x model) and durations."""
        self.deferred_since.pop(task.task_id, None)
        workers = self._workers()
        model = model_of(task)
        for att in task.attempts:
            if att.outcome is None:
                continue
            outcome = att.outcome.value
            worker = workers.get(att.worker_id)
            if model is not None and outcome in ("passed", *FAILED_OUTCOMES):
                self.record_pair(hardware_for(task, worker), model, int(outcome == "passed"),
                                 int(outcome in FAILED_OUTCOMES))
            if outcome == "passed" and att.finished_at and att.started_at:
                self._duration(task.type, att.worker_id, att.finished_at - att.started_at)

    def _duration(self, task_type: str, worker_id: str, seconds: float) -> None:
        fleet = self.fleet_duration.get(task_type)
        self.fleet_duration[task_type] = seconds if fleet is None else 0.9 * fleet + 0.1 * seconds
        if fleet and fleet > 0:
            st = self.stats.setdefault(worker_id, WorkerStats())
            st.slowness = 0.8 * st.slowness + 0.2 * (seconds / fleet)

    # -- scores --------------------------------------------------------------------------------
    def worker_score(self, worker_id: str) -> float:
        s = self.settings
        st = self.stats.get(worker_id)
        if st is None:
            return 1.0 - s.prior_failure_rate
        ok, bad = st.runs.current(self.clock(), s.half_life_seconds)
        failure = (bad + s.prior_runs * s.prior_failure_rate) / (ok + bad + s.prior_runs)
        speed = min(1.0, max(s.slow_floor, 1.0 / st.slowness)) if st.slowness > 0 else 1.0
        return (1.0 - failure) * speed

    def pair_penalty(self, task: Task, worker: WorkerRecord) -> float:
        """The confident failure rate (Wilson lower bound) of this task's model on that hardware."""
        model = model_of(task)
        if model is None:
            return 0.0
        ev = self.pairs.get((hardware_for(task, worker), model))
        if ev is None:
            return 0.0
        ok, bad = ev.current(self.clock(), self.settings.half_life_seconds)
        runs = ok + bad
        if runs < self.settings.pair_min_runs:
            return 0.0
        return wilson_lower(round(bad), max(1, round(runs)))

    def score(self, task: Task, worker: WorkerRecord) -> float:
        return self.worker_score(worker.worker_id) * (1.0 - self.pair_penalty(task, worker))

    # -- the hook ------------------------------------------------------------------------------
    def __call__(self, task: Task, candidates: list[WorkerRecord]) -> WorkerRecord | None:
        self.observe_workers()
        scored = [(self.score(task, w), w.free_slots, w.worker_id, w) for w in candidates]
        best_score, _, _, best = max(scored, key=lambda t: (t[0], t[1], t[2]))
        ideal = max((self.score(task, w) for w in self._workers().values()
                     if w.connected and w.state not in NO_WORK_STATES and matches(w, task)), default=best_score)
        if ideal <= 0 or best_score >= ideal * self.settings.good_ratio:
            return self._chosen(task, best)
        now = self.clock()
        if self.pair_penalty(task, best) < self.settings.pair_avoid_above and \
                now - self.last_probe.get(best.worker_id, float("-inf")) >= self.settings.probe_interval_seconds:
            # A weaker worker still gets a task now and then, so its score is re-measured; a
            # hardware x model pair known to fail gets none while a better worker exists.
            self.last_probe[best.worker_id] = now
            return self._chosen(task, best)
        first = self.deferred_since.setdefault(task.task_id, now)
        bad_pair = self.pair_penalty(task, best) >= self.settings.pair_avoid_above
        if now - first >= self.settings.max_defer_seconds and not bad_pair:
            # No starvation: waited long enough, take what is free. (A pair known to fail waits
            # for the better worker, which exists and is connected, instead of failing again.)
            return self._chosen(task, best)
        self.deferrals += 1
        self._arm_kick(max(0.5, self.settings.max_defer_seconds - (now - first)))
        return None

    def _chosen(self, task: Task, worker: WorkerRecord) -> WorkerRecord:
        self.deferred_since.pop(task.task_id, None)
        return worker

    def _arm_kick(self, delay: float) -> None:
        """Re-plan when a held task's wait runs out (results kick earlier when a slot frees)."""
        if self._kick is None or (self._timer is not None and not self._timer.cancelled()
                                  and self._timer.when() - asyncio.get_running_loop().time() <= delay):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(max(0.01, delay + 0.01), self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._kick is not None:
            self._kick()

    def snapshot(self) -> dict[str, Any]:
        self.observe_workers(force=True)
        now = self.clock()
        return {"workers": {wid: {"score": round(self.worker_score(wid), 4), "slowness": round(st.slowness, 3)}
                            for wid, st in sorted(self.stats.items())},
                "pairs": [{"hardware_type": hw, "model": m, "runs": round(sum(ev.current(now, self.settings.half_life_seconds)), 2),
                           "failures": round(ev.current(now, self.settings.half_life_seconds)[1], 2)}
                          for (hw, m), ev in sorted(self.pairs.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))],
                "deferrals": self.deferrals, "held": len(self.deferred_since)}
