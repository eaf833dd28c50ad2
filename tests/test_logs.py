"""--log-format json: every line JSON (the standard library's too), with its context bound."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.harness import ROOT, Cluster
from tests.security.test_http_security import call

SCRIPT = """
import asyncio, logging, structlog
from worker.logs import configure_logging
configure_logging("INFO", "json")
logging.getLogger("aiohttp.server").warning("from the standard library %s", "too")
with structlog.contextvars.bound_contextvars(task_id="t-1", attempt=2, worker_id="w-1"):
    structlog.get_logger("dtf.test").info("attempt_finished", outcome="passed")
    logging.getLogger("asyncio").error("inside a task context")
"""


def test_structlog_and_stdlib_lines_are_json_with_context() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [l["event"] for l in lines] == ["from the standard library too", "attempt_finished",
                                           "inside a task context"]
    assert lines[0]["logger"] == "aiohttp.server" and lines[0]["level"] == "warning"
    assert all(l["task_id"] == "t-1" and l["attempt"] == 2 and l["worker_id"] == "w-1" for l in lines[1:])


def test_api_requests_log_json_lines_naming_the_request(tmp_path) -> None:
    cluster = Cluster(tmp_path, coordinator_args=["--log-format", "json"])
    try:
        cluster.start_coordinator()
        log = tmp_path / "coordinator.log"
        before = log.stat().st_size
        for _ in range(2):
            assert call(cluster, "GET", "/api/v1/status", token="wrong")[0] == 401
        assert call(cluster, "POST", "/api/v1/tasks", body=b"{}")[0] == 400
        assert call(cluster, "GET", "/api/v1/status", headers={"Origin": "http://evil.example"})[0] == 403
        cluster.stop()
        with open(log, "rb") as fh:
            fh.seek(before)
            new = [json.loads(line) for line in fh.read().decode().splitlines() if line.strip()]
        request_lines = [l for l in new if l["event"] in ("api_auth_failed", "request_refused")]
        assert len(request_lines) == 3, new
        assert all(l["request_id"] and l["path"] == "/api/v1/status" for l in request_lines)
        assert len({l["request_id"] for l in request_lines}) == 3
    finally:
        cluster.stop()
