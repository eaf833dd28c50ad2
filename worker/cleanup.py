"""What a worker does on ``cleanup_resources``: clear its temp space and stray processes."""
from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import psutil

from worker.executors.process import RUNNING_SESSIONS


def _cleanup(work_dir: Path, keep: set[str], protected_pids: set[int]) -> dict[str, Any]:
    removed, freed, failed = 0, 0, []
    tasks_dir = work_dir / "tasks"
    if tasks_dir.is_dir():
        for entry in tasks_dir.iterdir():
            if entry.name.rsplit("-", 1)[0] in keep:
                continue
            try:
                size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
                shutil.rmtree(entry)
                removed += 1
                freed += size
            except OSError as exc:
                failed.append(f"{entry.name}: {exc.strerror or exc}")
    killed = 0
    me = psutil.Process(os.getpid())
    own = os.getsid(0)
    # Sessions that belong to someone: each running task's (its process leads it) and each pool
    # child's. What is left in other sessions was started by tasks that have ended: strays.
    spared = set(RUNNING_SESSIONS)
    for pid in protected_pids:
        try:
            spared.add(os.getsid(pid))
        except (ProcessLookupError, PermissionError):
            continue
    started = time.time()
    for child in me.children(recursive=True):
        if child.pid in protected_pids:
            continue
        try:
            sid = os.getsid(child.pid)
            # Checked again at the kill: a task may have started since (its process is spared
            # while it registers: anything younger than this cleanup is left alone).
            if sid != own and sid not in spared and sid not in RUNNING_SESSIONS \
                    and child.create_time() < started - 0.05:
                child.kill()
                killed += 1
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return {"removed_dirs": removed, "freed_bytes": freed, "killed_processes": killed, "failed": failed}


async def cleanup_resources(work_dir: Path, keep: set[str], protected_pids: set[int] | None = None) -> dict[str, Any]:
    return await asyncio.to_thread(_cleanup, work_dir, keep, protected_pids or set())
