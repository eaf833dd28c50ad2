"""The built-in recovery actions of SPEC §7, each with a real effect on scheduling or a worker.

Every function takes the engine, the task, the worker (or None) and the failure that led here,
and returns (success, detail). Requeueing itself is the decision's business (retry and delay);
actions shape *where* and *how* the next attempt runs.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from coordinator.models import Task, TaskStatus, WorkerState, now
from worker.protocol import CommandName
from coordinator.workers import WorkerRecord

if TYPE_CHECKING:
    from coordinator.engine import Engine

TIMEOUT_GROWTH = 1.5
TIMEOUT_CAP_SECONDS = 6 * 3600.0
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(GiB|GB|MiB|MB)\b", re.IGNORECASE)
_MODULE = re.compile(r"No module named '([\w.]+)'")

Result = tuple[bool, str]
ActionFn = Callable[["Engine", Task, "WorkerRecord | None", dict[str, Any]], Awaitable[Result]]


def failing_hardware(task: Task, worker: WorkerRecord | None, failure: dict[str, Any]) -> str | None:
    ctx = failure.get("context") or {}
    hw = ctx.get("hardware_type") or failure.get("hardware_type")
    if hw:
        return str(hw)
    wanted = task.requirements.get("hardware") or []
    if wanted and worker is not None:
        return next((h for h in wanted if h in worker.hardware_types), wanted[0])
    return wanted[0] if wanted else None


def _put_on_probation(engine: "Engine", w: WorkerRecord, state: WorkerState) -> None:
    engine.fleet.set_condition(w, state)


async def request_resource_cleanup(engine, task, w, failure) -> Result:
    if w is None or not w.connected:
        return False, "worker not connected; it cleans up on its next start"
    sent = await engine.fleet.send_command(w, CommandName.CLEANUP_RESOURCES, task_id=task.task_id)
    return sent, "cleanup requested; the worker reports what it removed" if sent else "command not delivered"


async def mark_resource_unavailable(engine, task, w, failure) -> Result:
    if w is None:
        return False, "no worker"
    resource = failing_hardware(task, w, failure) or "cpu"
    w.unavailable_resources.add(resource)
    w.condition_until = max(w.condition_until or 0, now() + engine.config.probation_seconds)
    return True, f"{resource} on {w.worker_id} unavailable until probation ends"


def _exclude(task: Task, w: WorkerRecord | None) -> Result:
    if w is None:
        return False, "no worker to avoid"
    task.excluded_workers.add(w.worker_id)
    return True, f"next attempt avoids {w.worker_id}"


async def reallocate_task(engine, task, w, failure) -> Result:
    return _exclude(task, w)


async def increase_timeout(engine, task, w, failure) -> Result:
    old = task.timeout_seconds
    task.timeout_seconds = min(TIMEOUT_CAP_SECONDS, round(old * TIMEOUT_GROWTH, 3))
    task.spec_changed()
    engine.store.task_changed(task)
    return task.timeout_seconds > old, f"timeout {old:g}s -> {task.timeout_seconds:g}s"


async def reconnect(engine, task, w, failure) -> Result:
    if w is None or not w.connected:
        return False, "worker not connected (it reconnects by itself)"
    engine.fleet.expect_reconnect(w)
    sent = await engine.fleet.send_command(w, CommandName.RECONNECT)
    return sent, "worker told to reconnect; its running tasks carry over" if sent else "command not delivered"


async def failover(engine, task, w, failure) -> Result:
    backup = engine.config.backup_coordinator
    if not backup:
        return False, "no backup coordinator configured"
    if w is None or not w.connected:
        return False, "worker not connected"
    engine.fleet.expect_reconnect(w)
    sent = await engine.fleet.send_command(w, CommandName.FAILOVER, url=backup)
    return sent, f"worker told to fail over to {backup}"


async def mark_hardware_unavailable(engine, task, w, failure) -> Result:
    if w is None:
        return False, "no worker"
    hw = failing_hardware(task, w, failure)
    if not hw:
        return False, "no hardware type known for this failure"
    w.excluded_hardware.add(hw)
    w.condition_until = max(w.condition_until or 0, now() + engine.config.probation_seconds)
    engine.fleet.changed(w)
    return True, f"{hw} on {w.worker_id} excluded from matching"


async def reallocate_to_alternative_hardware(engine, task, w, failure) -> Result:
    wanted = task.requirements.get("hardware") or []
    if len(wanted) < 2:
        return _exclude(task, w) if w is not None else (False, "no fallback hardware declared")
    task.requirements["allow_fallback"] = True
    task.spec_changed()
    engine.store.task_changed(task)
    return True, f"may now run on fallback hardware {', '.join(wanted[1:])}"


async def reallocate_to_compatible_hardware(engine, task, w, failure) -> Result:
    return _exclude(task, w)


async def update_hardware_requirements(engine, task, w, failure) -> Result:
    sizes = []
    for value, unit in _SIZE.findall(str(failure.get("message") or "")):
        gb = float(value) / (1024.0 if unit.lower() in ("mib", "mb") else 1.0)
        sizes.append(gb)
    current = float(task.requirements.get("min_memory_gb") or 0)
    if sizes:
        wanted = round(max(max(sizes), current * 1.5), 2)
    elif w is not None and w.hardware.get("memory_gb"):
        wanted = round(max(current * 1.5, float(w.hardware["memory_gb"]) * 1.01), 2)
    else:
        return False, "nothing in the error says what to require"
    if wanted <= current:
        return False, f"min_memory_gb stays {current:g}"
    task.requirements["min_memory_gb"] = wanted
    task.spec_changed()
    engine.store.task_changed(task)
    return True, f"min_memory_gb {current:g} -> {wanted:g}"


def _worker_state_action(state: WorkerState) -> ActionFn:
    async def act(engine, task, w, failure) -> Result:
        if w is None:
            return False, "no worker"
        _put_on_probation(engine, w, state)
        return True, f"{w.worker_id} marked {state.value} (probation {engine.config.probation_seconds:g}s)"
    return act


async def reassign_task(engine, task, w, failure) -> Result:
    return task.status in (TaskStatus.QUEUED, TaskStatus.RETRY_WAIT), f"task {task.status.value}"


async def reassign_task_with_increased_timeout(engine, task, w, failure) -> Result:
    ok, detail = await increase_timeout(engine, task, w, failure)
    return ok, detail


async def reassign_task_to_different_worker(engine, task, w, failure) -> Result:
    return _exclude(task, w)


async def check_dependencies(engine, task, w, failure) -> Result:
    declared = task.requirements.get("packages") or []
    missing_module = _MODULE.search(str(failure.get("message") or ""))
    if w is None:
        return False, "no worker"
    have = w.hardware.get("packages")
    if have is None:
        return False, f"{w.worker_id} does not report its packages"
    have_set = {p.lower().replace("_", "-") for p in have}
    lacking = [p for p in declared if p.lower().replace("_", "-") not in have_set]
    if missing_module:
        lacking.append(missing_module.group(1).split(".")[0])
    if lacking:
        task.excluded_workers.add(w.worker_id)
        return True, f"{w.worker_id} lacks {', '.join(sorted(set(lacking)))}; it will not get this task again"
    return True, f"{w.worker_id} has every declared package"


async def resolve_dependencies(engine, task, w, failure) -> Result:
    for dep in task.depends_on:
        up = engine.tasks.get(dep)
        if up is not None and up.status.terminal and up.status is not TaskStatus.COMPLETED:
            return True, f"upstream {dep} ended {up.status.value}: dependant blocked"
    missing = _MODULE.search(str(failure.get("message") or ""))
    if missing:
        module = missing.group(1).split(".")[0]
        hosts = [x.worker_id for x in engine.workers.values() if x.connected and
                 module.lower() in {p.lower() for p in (x.hardware.get("packages") or [])}]
        if hosts:
            task.requirements.setdefault("packages", [])
            if module not in task.requirements["packages"]:
                task.requirements["packages"].append(module)
                task.spec_changed()
                engine.store.task_changed(task)
            return True, f"{module} required from now on; available on {', '.join(sorted(hosts))}"
        return False, f"no connected worker has {module}"
    return False, "no missing package named in the error"


async def record_test_failure(engine, task, w, failure) -> Result:
    return task.status is TaskStatus.FAILED, f"task {task.status.value}"


async def record_test_error(engine, task, w, failure) -> Result:
    return task.status.terminal, f"task {task.status.value}"


ACTIONS: dict[str, ActionFn] = {
    "request_resource_cleanup": request_resource_cleanup,
    "mark_resource_unavailable": mark_resource_unavailable,
    "reallocate_task": reallocate_task,
    "increase_timeout": increase_timeout,
    "reconnect": reconnect,
    "failover": failover,
    "mark_hardware_unavailable": mark_hardware_unavailable,
    "reallocate_to_alternative_hardware": reallocate_to_alternative_hardware,
    "reallocate_to_compatible_hardware": reallocate_to_compatible_hardware,
    "update_hardware_requirements": update_hardware_requirements,
    "mark_worker_unavailable": _worker_state_action(WorkerState.UNAVAILABLE),
    "mark_worker_slow": _worker_state_action(WorkerState.SLOW),
    "mark_worker_crashed": _worker_state_action(WorkerState.CRASHED),
    "reassign_task": reassign_task,
    "reassign_task_with_increased_timeout": reassign_task_with_increased_timeout,
    "reassign_task_to_different_worker": reassign_task_to_different_worker,
    "check_dependencies": check_dependencies,
    "resolve_dependencies": resolve_dependencies,
    "record_test_failure": record_test_failure,
    "record_test_error": record_test_error,
}
