"""schemathesis against /openapi.json of a live coordinator: no input may cause a 5xx."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")


def test_no_server_errors_on_any_endpoint(cluster) -> None:
    cluster.start_coordinator()  # no workers: generated tasks are stored and queued, never run
    st = Path(sys.executable).parent / "st"
    cmd = [str(st), "run", f"http://127.0.0.1:{cluster.port}/openapi.json",
           "--checks", "not_a_server_error", "--header", f"Authorization: Bearer {cluster.api_token}",
           "--max-examples", "8", "--generation-database", "none", "--request-timeout", "10"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=cluster.tmp,
                          env={**cluster.env, "NO_COLOR": "1"})
    report = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, report
    assert "Server error" not in report and " passed" in report
    assert "unhandled_error" not in cluster.log(), cluster.log()
    assert cluster.api.get("/health")["status"] == "ok"
