"""The worker registry: what each worker has, holds and is, and the state machine of SPEC §8."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from coordinator.models import WorkerState, now

# States set explicitly (by detection or recovery actions); idle/busy are derived.
CONDITION_STATES = frozenset({WorkerState.SLOW, WorkerState.OVERLOADED, WorkerState.UNAVAILABLE,
                              WorkerState.CRASHED, WorkerState.DISCONNECTED, WorkerState.DRAINING})
# States in which a worker gets no new work at all. Overloaded is throttled, not stopped: its
# load report is the host's load average, which co-located workers share and which lags by a
# minute, so stopping every overloaded worker can stall the whole fleet.
NO_WORK_STATES = frozenset({WorkerState.UNAVAILABLE, WorkerState.CRASHED, WorkerState.DISCONNECTED,
                            WorkerState.DRAINING})
THROTTLED_STATES = frozenset({WorkerState.SLOW, WorkerState.OVERLOADED})


@dataclass(slots=True, kw_only=True)
class WorkerRecord:
    worker_id: str
    hardware: dict[str, Any]
    tags: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 1
    first_seen: float = field(default_factory=now)
    last_seen: float = field(default_factory=now)
    connection: Any = None                      # the live WorkerConnection, or None
    running: dict[str, int] = field(default_factory=dict)   # task_id -> attempt
    condition: WorkerState | None = None        # an explicit state (slow, unavailable, ...)
    condition_since: float = 0.0
    condition_until: float | None = None        # when the explicit state (or exclusions) lift
    probation_until: float | None = None        # after that, a trial with one slot until then
    reconnect_requested_until: float = 0.0      # told to reconnect: no new work until its hello (or then)
    excluded_hardware: set[str] = field(default_factory=set)
    unavailable_resources: set[str] = field(default_factory=set)
    error_counts: Counter = field(default_factory=Counter)
    completed: int = 0
    failed_attempts: int = 0
    load: dict[str, Any] = field(default_factory=dict)
    long_held: set[str] = field(default_factory=set)  # held tasks sent as long work (see credit.py)

    @property
    def connected(self) -> bool:
        return self.connection is not None

    @property
    def state(self) -> WorkerState:
        if self.condition is not None:
            return self.condition
        return WorkerState.BUSY if self.running else WorkerState.IDLE

    @property
    def hardware_types(self) -> list[str]:
        return [h for h in self.hardware.get("types", ["cpu"]) if h not in self.excluded_hardware]

    @property
    def slots(self) -> int:
        """Tasks it may run at once now: its concurrency, less when throttled or on trial."""
        if not self.connected or self.state in NO_WORK_STATES or self.reconnect_requested_until > now():
            return 0
        if self.state in THROTTLED_STATES:
            # A slow or overloaded worker gets less work: a quarter of its slots, at least one.
            return max(1, self.concurrency // 4)
        if self.probation_until is not None:
            return 1  # on probation: one task at a time
        return self.concurrency

    @property
    def free_slots(self) -> int:
        return max(0, self.slots - len(self.running))

    def count_long_held(self) -> int:
        """Held tasks that are long work (forgetting those it no longer holds)."""
        if self.long_held:
            self.long_held.intersection_update(self.running)
        return len(self.long_held)

    def set_condition(self, state: WorkerState | None) -> None:
        if state is not self.condition:
            self.condition = state
            self.condition_since = now()

    def to_api(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "state": self.state.value,
            "hardware": self.hardware,
            "tags": self.tags,
            "concurrency": self.concurrency,
            "running_tasks": sorted(self.running),
            "error_counts": dict(self.error_counts),
            "completed": self.completed,
            "failed_attempts": self.failed_attempts,
            "excluded_hardware": sorted(self.excluded_hardware),
            "unavailable_resources": sorted(self.unavailable_resources),
            "connected": self.connected,
            "last_seen": self.last_seen,
            "condition_until": self.condition_until,
            "probation_until": self.probation_until,
            "load": self.load,
        }


def matches(worker: WorkerRecord, task: Any, *, ignore_exclusions: bool = False) -> bool:
    """Does the worker meet the task's requirements (hardware with fallbacks, memory, packages)?"""
    reqs = task.requirements
    if not ignore_exclusions and (worker.worker_id in task.excluded_workers
                                  or worker.worker_id in reqs.get("avoid_workers", ())):
        return False
    wanted = reqs.get("hardware") or []
    if wanted and not any(h in worker.hardware_types for h in wanted):
        return False
    if "cpu" in worker.excluded_hardware and not wanted:
        return False
    if reqs.get("min_memory_gb") and float(worker.hardware.get("memory_gb") or 0) < reqs["min_memory_gb"]:
        return False
    packages = reqs.get("packages")
    if packages:
        have = worker.hardware.get("packages")
        if have is not None and not worker.hardware.get("allow_install"):
            have_set = {p.lower().replace("_", "-") for p in have}
            if any(p.lower().replace("_", "-").split("[")[0].split("=")[0].split(">")[0].split("<")[0]
                   not in have_set for p in packages):
                return False
    allowed = worker.hardware.get("allowed_types")
    if allowed and task.type not in allowed:
        return False
    if worker.unavailable_resources and set(wanted) & worker.unavailable_resources:
        return False
    return True
