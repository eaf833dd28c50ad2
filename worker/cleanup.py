"""What a worker does on ``cleanup_resources``: clear its temp space and stray processes."""
from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import psutil


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
    for child in me.children(recursive=True):
        # Children in sessions of their own are task processes; pool children are protected.
        if child.pid in protected_pids:
            continue
        try:
            if os.getsid(child.pid) != os.getsid(0):
                child.kill()
                killed += 1
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return {"removed_dirs": removed, "freed_bytes": freed, "killed_processes": killed, "failed": failed}


async def cleanup_resources(work_dir: Path, keep: set[str], protected_pids: set[int] | None = None) -> dict[str, Any]:
    return await asyncio.to_thread(_cleanup, work_dir, keep, protected_pids or set())
