"""Credit: how many tasks a worker may hold, apart from how many it runs at once.

A worker runs ``concurrency`` tasks at a time. Holding more than that hides the round trip
(result → commit → ack → next dispatch) behind work already on the worker, which is what a stream
of 2 ms tasks needs; holding more of a long task only parks it behind another while some other
worker may sit idle. So the prefetch window is sized per kind of work from the durations the
workers report: enough tasks per slot to cover ``prefetch_budget_seconds`` of work, and exactly one
per slot for work that is long or not seen yet. What the coordinator knows of the queue caps it
too: no worker prefetches more than its fair share of what is queued.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# How quickly an estimate follows a change in a kind's durations (weight of the newest sample).
EWMA_WEIGHT = 0.3
MAX_KINDS = 10_000


def work_kind(task: Any) -> str:
    """What counts as 'the same work' for duration estimates: the task type and what it calls
    (callable, fault, command), not its arguments (a stream of ``operator:add`` with varying
    arguments is one kind)."""
    cfg = task.config
    what = cfg.get("callable") or cfg.get("fault") or cfg.get("command") or " ".join(cfg.get("argv") or [])
    if task.type == "pytest":
        what = " ".join(str(a) for a in cfg.get("args") or [])
    return f"{task.type}:{what}"[:200]


@dataclass(frozen=True, kw_only=True)
class CreditSettings:
    # Work a worker may hold per execution slot beyond what it runs: a held task starts within
    # about this long. It is also what a short task can lose to a neighbour estimated wrongly.
    prefetch_budget_seconds: float = 0.02
    # Tasks one worker may hold at once, whatever the window says (bounds a lost worker's backlog).
    max_held_per_worker: int = 512


class DurationEstimates:
    """A moving average of reported run times per kind of work (bounded in the kinds it keeps)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    def observe(self, kind: str, seconds: float) -> None:
        old = self._seconds.get(kind)
        if old is None:
            if len(self._seconds) >= MAX_KINDS:
                self._seconds.clear()
            self._seconds[kind] = seconds
        else:
            self._seconds[kind] = old + EWMA_WEIGHT * (seconds - old)

    def expected(self, kind: str) -> float | None:
        return self._seconds.get(kind)


class CreditPolicy:
    """Turns duration estimates into a prefetch window per kind of work."""

    def __init__(self, settings: CreditSettings | None = None) -> None:
        self.settings = settings or CreditSettings()
        self.estimates = DurationEstimates()

    def window(self, kind: str) -> int:
        """Tasks of this kind one slot may hold: 0 means long (or unknown), one per slot, no
        prefetch, and it occupies its slot for longer than a held task may wait."""
        est = self.estimates.expected(kind)
        budget = self.settings.prefetch_budget_seconds
        if est is None or est > budget:
            return 0
        return max(1, int(budget / max(est, 1e-6)))

    def limit(self, *, slots: int, long_held: int, window: int, share: int) -> int:
        """How many tasks a worker may hold in all before one more of this kind goes to it.

        ``slots`` is what it runs at once; ``long_held`` how many of its tasks are long (each
        blocks a slot); ``share`` its fair part of the queue."""
        if window == 0:
            return slots  # long work only into a free slot: held exactly as many as it runs
        free = slots - long_held
        if free <= 0:
            return 0  # every slot is busy with long work: a short task would wait behind it
        prefetch = min(free * (window - 1), share)
        return min(long_held + free + prefetch, self.settings.max_held_per_worker)
