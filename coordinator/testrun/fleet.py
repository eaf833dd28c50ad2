"""What the coordinator knows that shapes a ``dtf test`` run: the fleet's workers that can take
pytest shards, and the durations recorded for a suite's tests."""
from __future__ import annotations

import hashlib
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordinator.client import ApiClient, ApiError
from coordinator.workers import NO_WORK_STATES

NO_WORK = frozenset(s.value for s in NO_WORK_STATES)


@dataclass(frozen=True, kw_only=True)
class Fleet:
    workers: list[dict[str, Any]]

    @property
    def slots(self) -> int:
        return sum(int(w.get("concurrency") or 1) for w in self.workers)

    def hardware_of(self, worker_id: str | None) -> str | None:
        for w in self.workers:
            if w["worker_id"] == worker_id:
                types = w.get("hardware", {}).get("types") or ["cpu"]
                return types[0]
        return None

    def runs_python(self, python: str) -> bool:
        """Every worker runs pytest with this interpreter already."""
        return all(w.get("hardware", {}).get("python") == python for w in self.workers)

    def offers(self, hardware: str) -> bool:
        return any(hardware in (w.get("hardware", {}).get("types") or ["cpu"]) for w in self.workers)

    def others(self, worker_id: str | None, hardware: str | None) -> bool:
        return any(w["worker_id"] != worker_id and (hardware is None or hardware in
                   (w.get("hardware", {}).get("types") or ["cpu"])) for w in self.workers)

    def local(self) -> bool:
        host = socket.gethostname()
        return all(w.get("hardware", {}).get("hostname") == host for w in self.workers)


def fleet(client: ApiClient) -> Fleet:
    items = client.get("/api/v1/workers")["items"]
    allowed = (lambda w: "pytest" in (w.get("hardware", {}).get("allowed_types") or ["pytest"]))
    return Fleet(workers=[w for w in items if w.get("connected") and w.get("state") not in NO_WORK and allowed(w)])


def suite_key(rootdir: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    return f"{Path(rootdir).name}-{hashlib.sha256(rootdir.encode()).hexdigest()[:8]}"


def durations_for(client: ApiClient, suite: str) -> dict[str, float]:
    """Recorded durations by node id (none unless the coordinator runs --result-aggregator)."""
    try:
        rows = client.get(f"/api/v1/results/durations?suite={urllib.parse.quote(suite)}")["items"]
    except ApiError:
        return {}  # a coordinator without these routes: plan without history
    return {r["test_name"]: float(r["duration_seconds"]) for r in rows}
