"""The dashboard in a real browser (Debian's chromium, headless) against real coordinator and
worker processes: a clean local-only page, the live fleet, chaos failures arriving live, drill-down
to a traceback, the recovery feed, remote mode, and history across a coordinator restart."""
from __future__ import annotations

import re
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
from typing import Any

from coordinator.client import ApiClient
from tests.dashboard.conftest import ARTIFACTS, PageWatch
from tests.harness import ROOT, Cluster, free_port, wait_until

LIVE_SECONDS = 20_000  # ms: a chaos task's error reaches the page well within this


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect
    return pw_expect(locator)


def dashboard_url(cluster: Cluster, view: str = "") -> str:
    return f"http://127.0.0.1:{cluster.port}/dashboard?token={cluster.api_token}" + (f"#{view}" if view else "")


def open_live(watch: PageWatch, url: str) -> Any:
    page = watch.page
    page.goto(url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=LIVE_SECONDS)
    return page


def chaos(cluster: Cluster, fault: str, **config: Any) -> str:
    spec = {"type": "chaos", "config": {"fault": fault, **config.pop("config", {})}, **config}
    return cluster.submit([spec])[0]


def stored_errors(cluster: Cluster, task_id: str) -> list[dict[str, Any]]:
    return cluster.api.get(f"/api/v1/errors?task_id={task_id}")["items"]


def test_page_loads_clean_and_local_only(cluster: Cluster, watch: PageWatch) -> None:
    page = open_live(watch, dashboard_url(cluster))
    expect(page.locator("#fleet-table tbody tr")).to_have_count(2)
    for view in ("tasks", "errors", "recovery", "history", "fleet"):
        page.click(f"#nav a[data-view={view}]")
        expect(page.locator(f"#view-{view}")).to_be_visible()
    expect(page.locator("#trend-chart svg")).to_have_count(1)
    watch.assert_clean()
    assert any("/api/v1/stream" in u for u in watch.requests)


def test_fleet_shows_connected_workers(cluster: Cluster, watch: PageWatch) -> None:
    page = open_live(watch, dashboard_url(cluster, "fleet"))
    for worker_id in ("dash-w1", "dash-w2"):
        row = page.locator(f"#fleet-table tr[data-worker-id={worker_id}]")
        expect(row).to_contain_text("cpu")
        # connected and serving; a loaded CI machine may make a worker report itself overloaded
        expect(row).to_have_attribute("data-state", re.compile(r"^(idle|busy|slow|overloaded)$"))
    expect(page.locator("#sum-workers")).to_have_text("2")


def test_pattern_drill_down_opens_the_event_with_its_traceback(cluster: Cluster, watch: PageWatch) -> None:
    # a mix of real failures so the screenshot shows every part of the errors view
    task_id = chaos(cluster, "assertion", config={"message": "dash-drill: expected 0.91 accuracy"},
                    tags={"model": "resnet50"})
    chaos(cluster, "assertion", config={"message": "dash-drill: expected 0.88 accuracy"}, tags={"model": "bert"})
    chaos(cluster, "network", max_retries=0)
    chaos(cluster, "config")
    chaos(cluster, "import")
    events = wait_until(lambda: stored_errors(cluster, task_id), 30, message="the drill-down error stored")
    pattern_id = events[0]["pattern_id"]
    page = open_live(watch, dashboard_url(cluster, "errors"))
    page.click(f"#patterns-table tr[data-pattern-id='{pattern_id}']", timeout=LIVE_SECONDS)
    event_row = page.locator(f"#pattern-events tr[data-task-id='{task_id}']").first
    expect(event_row).to_contain_text("dash-drill")
    expect(page.locator("#pattern-corr [data-corr=models]")).to_contain_text("resnet50")
    save_screenshot(page)
    event_row.click()
    drawer = page.locator("#drawer")
    expect(drawer).to_be_visible()
    expect(page.locator("#ev-message")).to_contain_text("dash-drill: expected 0.91 accuracy")
    expect(page.locator("#ev-traceback")).to_contain_text("Traceback (most recent call last)")
    expect(page.locator("#ev-traceback")).to_contain_text("AssertionError")
    expect(page.locator("#ev-corr [data-corr=workers]")).to_be_visible()
    expect(page.locator("#ev-corr [data-corr=models]")).to_contain_text("resnet50")
    watch.assert_clean()


def test_chaos_failure_appears_live_and_escaped(cluster: Cluster, watch: PageWatch) -> None:
    page = open_live(watch, dashboard_url(cluster, "errors"))
    marker = f"dash-live-{uuid.uuid4().hex[:8]}"
    hostile = f'<img src="x" onerror="window.__dtfXss=1"><script>window.__dtfXss=2</script>{marker}'
    task_id = chaos(cluster, "assertion", config={"message": hostile})  # submitted after the page loaded
    row = page.locator(f"#live-errors tr[data-task-id='{task_id}']").first
    expect(row).to_contain_text(marker, timeout=LIVE_SECONDS)
    expect(row).to_contain_text('<img src="x"')  # shown as text, never parsed as markup
    expect(row).to_have_attribute("data-category", "test_execution_error")
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__dtfXss") is None
    row.click()
    expect(page.locator("#ev-traceback")).to_contain_text("AssertionError")
    watch.assert_clean()


def test_a_retry_after_a_fault_is_counted_apart_from_flaky(cluster: Cluster, watch: PageWatch) -> None:
    page = open_live(watch, dashboard_url(cluster, "tasks"))
    task_id = chaos(cluster, "network", config={"on_attempts": [1]})  # a network fault, then a pass
    row = page.locator(f"#recent-table tr[data-task-id='{task_id}']").first
    expect(row).to_contain_text("retried", timeout=LIVE_SECONDS)
    expect(row).not_to_contain_text("flaky")
    expect(page.locator("#sum-flaky")).to_contain_text(re.compile(r"\d+ retried lately"))
    assert cluster.task(task_id)["retried"] is True
    watch.assert_clean()


def save_screenshot(page: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    if os.environ.get("DTF_UPDATE_DOCS_SCREENSHOT"):  # refresh the README's picture on request only
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / "dashboard.png", docs / "dashboard.png")


def test_recovery_actions_feed_is_live(cluster: Cluster, watch: PageWatch) -> None:
    page = open_live(watch, dashboard_url(cluster, "recovery"))
    task_id = chaos(cluster, "config")
    row = page.locator(f"#actions-table tr[data-task-id='{task_id}'][data-action=record_test_error]")
    expect(row).to_contain_text("record test error", timeout=LIVE_SECONDS)
    watch.assert_clean()


def test_remote_mode_proxies_the_api_and_the_stream(cluster: Cluster, watch: PageWatch) -> None:
    port = free_port()
    log = open(cluster.tmp / "remote-dashboard.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "coordinator.dashboard", "--coordinator",
                             f"http://127.0.0.1:{cluster.port}", "--error-tracking", "--port", str(port),
                             "--api-token", cluster.api_token], stdout=log, stderr=subprocess.STDOUT,
                            env=cluster.env, cwd=cluster.tmp)
    try:
        proxy = ApiClient(f"http://127.0.0.1:{port}")  # no token: the proxy adds it
        wait_until(lambda: proxy.get("/health")["status"] == "ok", 30, message="remote dashboard up")
        assert len(proxy.get("/api/v1/workers")["items"]) == 2
        page = open_live(watch, f"http://127.0.0.1:{port}/dashboard#errors")
        task_id = chaos(cluster, "assertion", config={"message": "dash-remote"})
        expect(page.locator(f"#live-errors tr[data-task-id='{task_id}']").first).to_contain_text(
            "dash-remote", timeout=LIVE_SECONDS)
        expect(page.locator("#foot-mode")).to_contain_text("remote")
        watch.assert_clean()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_history_survives_a_coordinator_restart(cluster: Cluster, watch: PageWatch) -> None:
    task_id = chaos(cluster, "config")
    wait_until(lambda: stored_errors(cluster, task_id), 30, message="the error stored before the restart")
    stream = StreamReader(cluster)
    assert cluster.coordinator is not None
    cluster.coordinator.send_signal(signal.SIGTERM)
    assert cluster.coordinator.wait(20) == 0
    stream.thread.join(10)
    assert "event: bye" in stream.text, f"the stream did not close cleanly: {stream.text[-500:]!r}"
    cluster.start_coordinator()
    page = open_live(watch, dashboard_url(cluster, "history"))
    stored = page.locator(f"#history-errors tr[data-task-id='{task_id}']").first
    expect(stored).to_contain_text("test configuration")
    expect(page.locator(f"#history-actions tr[data-task-id='{task_id}'][data-action=record_test_error]")
           ).to_have_count(1)
    watch.assert_clean()


class StreamReader:
    """Reads /api/v1/stream in a thread until the server ends it."""

    def __init__(self, cluster: Cluster) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{cluster.port}/api/v1/stream",
                                     headers={"Authorization": f"Bearer {cluster.api_token}"})
        self.resp = urllib.request.urlopen(req, timeout=30)
        self.text = self.resp.readline().decode()  # "retry: ...": the stream is open
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.resp:
            self.text += line.decode()
