"""cleanup_resources kills what finished tasks left behind, never a task that still runs."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import psutil

from worker.cleanup import cleanup_resources
from worker.executors.process import RUNNING_SESSIONS, run_process


async def test_cleanup_spares_running_tasks_and_kills_strays(tmp_path: Path) -> None:
    # A daemon a finished task left behind: its own session, no running task owns it.
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    # Another task's pytest (here a sleeping process) that is running right now.
    running = asyncio.create_task(run_process([sys.executable, "-c", "import time; time.sleep(1.5)"],
                                              timeout_seconds=30))
    deadline = asyncio.get_running_loop().time() + 10
    while not RUNNING_SESSIONS and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)  # until the running task's process has its session
    assert RUNNING_SESSIONS
    # Cleanup leaves alone what is younger than itself (a task may be starting): let the stray age.
    while time.time() - psutil.Process(stray.pid).create_time() < 0.2:
        await asyncio.sleep(0.01)
    try:
        detail = await cleanup_resources(tmp_path, keep=set())
        assert detail["killed_processes"] == 1
        assert stray.wait(10) != 0  # killed
        run = await running
        assert run.returncode == 0 and not run.timed_out  # the running task finished normally
    finally:
        if stray.poll() is None:
            stray.kill()
        if psutil.pid_exists(stray.pid):
            stray.wait()
