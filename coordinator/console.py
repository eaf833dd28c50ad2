"""What the `dtf` commands print and wait on: progress until tasks end, summaries, tables."""
from __future__ import annotations

import sys
import time
from typing import Any

from coordinator.client import ApiClient
from coordinator.models import TERMINAL_STATUSES

TERMINAL = frozenset(s.value for s in TERMINAL_STATUSES)


def wait_for(client: ApiClient, ids: list[str], *, show_progress: bool, timeout_seconds: float = 3600
             ) -> dict[str, Any]:
    pending = list(ids)
    status: dict[str, str] = {}
    flaky = retried = 0
    start = time.monotonic()
    tty = sys.stderr.isatty()
    while pending and time.monotonic() - start < timeout_seconds:
        still = []
        for i in range(0, len(pending), 200):  # one request per 200 tasks (URL length stays small)
            chunk = pending[i:i + 200]
            page = client.get(f"/api/v1/tasks?limit=1000&ids={','.join(chunk)}")
            seen = {t["task_id"]: t for t in page["items"]}
            for tid in chunk:
                task = seen.get(tid)
                if task is not None and task["status"] in TERMINAL:
                    status[tid] = task["status"]
                    flaky += bool(task.get("flaky"))
                    retried += bool(task.get("retried"))
                else:
                    still.append(tid)
        pending = still
        if show_progress:
            _progress(len(ids) - len(pending), len(ids), time.monotonic() - start, tty)
        if pending:
            time.sleep(0.25)
    if show_progress:
        print(file=sys.stderr)
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    if pending:
        counts["unfinished"] = len(pending)
    return {"status": list(status.values()), "counts": counts, "flaky": flaky, "retried": retried,
            "elapsed_seconds": time.monotonic() - start, "total": len(ids)}


def _progress(done: int, total: int, elapsed: float, tty: bool) -> None:
    width = 30
    filled = int(width * done / max(1, total))
    line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} finished, {elapsed:5.1f}s"
    if tty:
        print("\r" + line, end="", file=sys.stderr, flush=True)
    elif done == total:
        print(line, file=sys.stderr)


def print_summary(summary: dict[str, Any]) -> None:
    print(f"{summary['total']} tasks in {summary['elapsed_seconds']:.1f}s")
    for status, n in sorted(summary["counts"].items()):
        print(f"  {status:<12} {n}")
    if summary["flaky"]:
        print(f"  flaky        {summary['flaky']} (passed after a failed attempt)")
    if summary.get("retried"):
        print(f"  retried      {summary['retried']} (completed after an infrastructure fault; not flaky)")


def table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [headers] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
