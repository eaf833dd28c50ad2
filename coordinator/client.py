"""A small synchronous client for the HTTP API (used by the CLI and the demo)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any


class ApiError(Exception):
    pass


class _RetryAfter(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class ApiClient:
    def __init__(self, base_url: str, api_token: str | None = None, timeout_seconds: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_token = api_token
        self.timeout_seconds = timeout_seconds

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        for _ in range(5):
            try:
                return self._request_once(method, path, body)
            except _RetryAfter as wait:
                time.sleep(wait.seconds)
        return self._request_once(method, path, body)

    def _request_once(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.api_token:
            req.add_header("Authorization", f"Bearer {self.api_token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_seconds) as resp:
                raw = resp.read()
                ctype = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 429:  # rate limited: wait as told, then try again
                raise _RetryAfter(min(5.0, float(exc.headers.get("Retry-After") or 1))) from None
            try:
                err = json.loads(exc.read())["error"]
                msg = err["message"] + (f" (field: {err['field']})" if err.get("field") else "")
            except (ValueError, KeyError, TypeError):
                msg = exc.reason
            raise ApiError(f"{method} {path}: HTTP {exc.code}: {msg}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(f"cannot reach the coordinator at {self.base_url}: "
                           f"{getattr(exc, 'reason', exc)}") from None
        return json.loads(raw) if "json" in ctype else raw.decode()

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self._request("POST", path, body if body is not None else {})
