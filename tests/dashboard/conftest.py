"""Browser fixtures: Debian's chromium driven headless by Python Playwright (no downloaded browser).

In CI (``CI`` set) a missing chromium or playwright is a failure with the command that fixes it;
elsewhere the browser tests skip and say why.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import pytest

from tests.harness import ROOT, Cluster

CHROMIUM = os.environ.get("DTF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
ARTIFACTS = ROOT / "artifacts"


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Python playwright is not installed (pip install playwright; its driver is included)"
    if not Path(CHROMIUM).exists():
        return f"chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    return None


def require_browser() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests need a browser: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="dtf-chromium-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900})
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


class PageWatch:
    """A page with what it logged and requested, for asserting a clean, local-only page."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests
                if not u.startswith(("data:", "blob:")) and urlparse(u).hostname not in LOCAL_HOSTS]

    def assert_clean(self) -> None:
        assert not self.page_errors, f"uncaught page errors: {self.page_errors}"
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.outside_requests(), f"requests to other hosts: {self.outside_requests()}"


@pytest.fixture
def watch(browser: Any) -> Iterator[PageWatch]:
    page = browser.new_page()
    try:
        yield PageWatch(page)
    finally:
        page.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_browser()  # no processes to start when the browser tests cannot run anyway
    c = Cluster(tmp_path_factory.mktemp("dashboard"), coordinator_args=["--dashboard"])
    try:
        c.start_coordinator()
        c.start_worker("dash-w1", concurrency=2)
        c.start_worker("dash-w2", concurrency=2)
        yield c
    finally:
        c.stop()
