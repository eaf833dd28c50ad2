"""Where the coordinator is: --url / DTF_URL and DTF_API_TOKEN, else what ``dtf up`` wrote into
its data dir (coordinator.json, api_token)."""
from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8080"


def find_coordinator(url: str | None, token: str | None, data_dir: str | None) -> tuple[str, str | None]:
    folder = Path(data_dir or os.environ.get("DTF_DATA_DIR") or "./.dtf")
    url = url or os.environ.get("DTF_URL")
    token = token or os.environ.get("DTF_API_TOKEN")
    if url is None:
        try:
            url = json.loads((folder / "coordinator.json").read_text(encoding="utf-8"))["url"]
        except (OSError, ValueError, KeyError, TypeError):
            url = DEFAULT_URL
    if token is None:
        try:
            token = (folder / "api_token").read_text(encoding="utf-8").strip() or None
        except OSError:
            token = None
    return url, token
