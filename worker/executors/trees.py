"""Shipped working trees: a content-addressed archive fetched once per worker and kept.

``dtf test`` uploads the suite's tree (a gzipped tar) when workers do not share the checkout;
a pytest task names it by its SHA-256. The first task that needs it downloads and checks it,
extracts it beside the others under ``<work-dir>/trees/<digest>`` (atomically, by rename), and
every later task, of this run or the next with the same content, uses that copy.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class TreeError(Exception):
    """The tree could not be fetched, checked or unpacked."""


def http_base(ws_url: str) -> str:
    """ws://host:port/ws -> http://host:port (wss -> https)."""
    base = re.sub(r"^ws", "http", ws_url, count=1)
    return base[:-3] if base.endswith("/ws") else base.rstrip("/")


class TreeStore:
    def __init__(self, root: Path, base_url: str, token: str | None, timeout_seconds: float = 120.0) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_seconds = timeout_seconds
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0  # downloads done (the rest were served from the cache)

    async def get(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise TreeError(f"tree id {digest!r} is not a SHA-256 hex digest")
        path = self.root / digest
        if path.is_dir():
            return path
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if not path.is_dir():
                await asyncio.to_thread(self._fetch_and_unpack, digest, path)
        return path

    def _fetch_and_unpack(self, digest: str, path: Path) -> None:
        req = urllib.request.Request(f"{self.base_url}/api/v1/trees/{digest}")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_seconds) as resp:
                data = resp.read()
        except urllib.error.HTTPError as exc:
            raise TreeError(f"fetching tree {digest[:12]}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TreeError(f"fetching tree {digest[:12]}: {getattr(exc, 'reason', exc)}") from None
        got = hashlib.sha256(data).hexdigest()
        if got != digest:
            raise TreeError(f"tree {digest[:12]} arrived with digest {got[:12]}: refused")
        self.fetches += 1
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=self.root))
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(staging, filter="data")  # no absolute paths, links out or devices
            staging.rename(path)
        except (tarfile.TarError, OSError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if path.is_dir():
                return  # another worker process sharing this work dir won the race
            raise TreeError(f"unpacking tree {digest[:12]}: {exc}") from None
