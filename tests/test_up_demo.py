"""The README's first command: `dtf up --demo` (what `make demo` runs), as a user runs it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.harness import free_port

DTF = str(Path(sys.executable).with_name("dtf"))


def test_dtf_up_demo_prints_where_to_look_runs_the_faulty_suite_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")}
    proc = subprocess.Popen([DTF, "up", "--workers", "2", "--concurrency", "2", "--demo",
                             "--port", str(port), "--data-dir", str(tmp_path / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "press Ctrl-C" in line:
                break
        out = "\n".join(lines)
        assert f"dashboard  {base}/dashboard" in out, out
        assert f"report     dtf report --data-dir {tmp_path / 'state'}" in out, out
        assert "17 tasks in" in out and "13 completed, 2 error, 2 failed" in out, out
        assert "completed (retried)" in out and "(flaky)" not in out and "worker_crash_error" in out, out
        # The result aggregator is on: the report has the demo's results to show.
        # It finds the coordinator's address and API token in the data dir by itself.
        report = subprocess.run([DTF, "report", "--data-dir", str(tmp_path / "state"), "--out",
                                 str(tmp_path / "report")], capture_output=True, text=True, timeout=60, env=env)
        assert report.returncode == 0, report.stderr
        assert (tmp_path / "report" / "report.html").exists()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole group
        assert proc.wait(timeout=60) == 0, proc.stdout.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    con = duckdb.connect(str(tmp_path / "state" / "dtf_events.duckdb"))
    try:
        assert con.execute("SELECT count(*) FROM error_events").fetchone()[0] >= 10
        assert con.execute("SELECT count(*) FROM task_results").fetchone()[0] >= 17
    finally:
        con.close()
