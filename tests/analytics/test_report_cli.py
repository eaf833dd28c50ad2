"""``dtf report`` and ``dtf errors`` against a real coordinator with the result aggregator."""
from __future__ import annotations

import subprocess
import sys

from tests.harness import ROOT, Cluster


def test_report_prints_tables_and_writes_html_and_markdown(tmp_path):
    c = Cluster(tmp_path, coordinator_args=["--result-aggregator"])
    try:
        c.start_coordinator()
        env = {**c.env, "DTF_TEST_FAIL_MODELS": "bert"}
        c.env, base = env, c.env
        c.start_worker("w1", concurrency=2)
        c.env = base
        tasks = [{"type": "python", "tags": {"model": m, "test": f"test_{m}"},
                  "config": {"callable": "tests.analytics.targets:work", "kwargs": {"model": m, "seconds": 0.01}}}
                 for m in ("bert", "gpt", "gpt", "bert", "gpt")]
        c.submit(tasks)
        c.wait_all_terminal(len(tasks), timeout=60)
        out = tmp_path / "out"
        base_cmd = [sys.executable, "-m", "coordinator.cli"]
        args = ["--url", f"http://127.0.0.1:{c.port}", "--api-token", c.api_token]
        report = subprocess.run([*base_cmd, "report", *args, "--out", str(out)], capture_output=True, text=True,
                                cwd=ROOT, env=c.env, timeout=60)
        assert report.returncode == 0, report.stderr
        text = report.stdout
        assert "== Error-prone hardware x model" in text and "bert" in text and "100.0%" in text
        assert "== Top error patterns ==" in text and "degraded run of bert" in text
        html = (out / "report.html").read_text()
        md = (out / "report.md").read_text()
        assert html.startswith("<!doctype html>") and "<table>" in html and "test_bert" in html
        assert "| hardware | model | runs | failures |" in md and "test_gpt" in md
        errors = subprocess.run([*base_cmd, "errors", *args, "--category", "test_execution_error"],
                                capture_output=True, text=True, cwd=ROOT, env=c.env, timeout=60)
        assert errors.returncode == 0, errors.stderr
        assert errors.stdout.count("test_execution_error") == 2 and "AssertionError" in errors.stdout
        bad = subprocess.run([*base_cmd, "errors", *args, "--since", "not-a-time"], capture_output=True, text=True,
                             cwd=ROOT, env=c.env, timeout=60)
        assert bad.returncode == 1 and "since" in bad.stderr
    finally:
        c.stop()
