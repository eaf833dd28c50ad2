"""Subcommands that read the error history (errors, report)."""
from __future__ import annotations

import argparse
import json
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from coordinator.console import table

ERROR_FILTERS = ("category", "worker_id", "task_id", "hardware_type", "pattern_id", "since", "until")


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    e = sub.add_parser("errors", help="recent errors from the error history, newest first, with filters")
    common(e)
    for name in ERROR_FILTERS:
        e.add_argument("--" + name.replace("_", "-"), dest=name,
                       help=f"only errors with this {name}" + (" (ISO 8601)" if name in ("since", "until") else ""))
    e.add_argument("--limit", type=int, default=20, help="how many (default 20; more pages are followed)")
    e.add_argument("--json", action="store_true", help="print the events as JSON lines")

    r = sub.add_parser("report", help="result and error statistics as tables; --out writes HTML and Markdown")
    common(r)
    r.add_argument("--out", help="directory for report.html and report.md")
    r.add_argument("--since", help="start of the window (ISO 8601)")
    r.add_argument("--until", help="end of the window (ISO 8601)")
    r.add_argument("--window-seconds", type=float, help="the window, ending now (instead of --since)")
    r.add_argument("--bucket", choices=["minute", "hour", "day"], default="hour", help="trend bucket")
    r.add_argument("--top", type=int, default=10, help="rows per table (default 10)")


def run(args: argparse.Namespace, client: Any) -> int:
    if args.command == "errors":
        return cmd_errors(args, client)
    if args.command == "report":
        return cmd_report(args, client)
    raise SystemExit(f"dtf: unknown command {args.command!r}")


def cmd_errors(args: argparse.Namespace, client: Any) -> int:
    query = {n: getattr(args, n) for n in ERROR_FILTERS if getattr(args, n)}
    items: list[dict[str, Any]] = []
    cursor = None
    while len(items) < args.limit:
        page_query = {**query, "limit": min(1000, args.limit - len(items)), **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/errors?" + urllib.parse.urlencode(page_query))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    if args.json:
        for item in items:
            print(json.dumps(item))
        return 0
    if not items:
        print("no errors match")
        return 0
    rows = [[i["timestamp"][:19].replace("T", " "), i["category"], i["worker_id"] or "-",
             (i["task_id"] or "-")[:12], i["attempt"], "retry" if i["retry"] else i["outcome"],
             " ".join(f"{i['type']}: {i['message']}".split())[:70]] for i in items]
    print(table(rows, ["time (UTC)", "category", "worker", "task", "att", "outcome", "error"]))
    return 0


def cmd_report(args: argparse.Namespace, client: Any) -> int:
    # Start-up speed: the report's renderers load only for `dtf report`.
    from coordinator.analytics.report import gather, render_html, render_markdown, render_text
    window = {k: v for k, v in (("since", args.since), ("until", args.until),
                                ("window_seconds", args.window_seconds)) if v is not None}
    sections = gather(client, {k: str(v) for k, v in window.items()}, bucket=args.bucket, top=args.top)
    print(render_text(sections))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        title = f"dtf report — {client.base_url} — {stamp}"
        (out / "report.md").write_text(render_markdown(sections, title), encoding="utf-8")
        (out / "report.html").write_text(render_html(sections, title), encoding="utf-8")
        print(f"wrote {out / 'report.html'} and {out / 'report.md'}")
    return 0
