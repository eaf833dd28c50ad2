"""``dtf report``: the analytics endpoints gathered into sections, rendered as text, Markdown, HTML."""
from __future__ import annotations

import html
import urllib.parse
from dataclasses import dataclass
from typing import Any

MAX_CELL = 70


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    title: str
    headers: list[str]
    rows: list[list[Any]]
    note: str = ""


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _sec(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}s"


def _cell(value: Any) -> str:
    text = "-" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def gather(client: Any, window: dict[str, str], bucket: str = "hour", top: int = 10) -> list[Section]:
    def get(path: str, **extra: Any) -> Any:
        query = {**window, **{k: v for k, v in extra.items() if v is not None}}
        return client.get(path + ("?" + urllib.parse.urlencode(query) if query else ""))

    rs = get("/api/v1/results/summary")
    es = get("/api/v1/errors/summary")
    sections = [Section(title="Overview", headers=["measure", "value"], rows=[
        ["tasks", rs["tasks"]], *[[f"tasks {k}", v] for k, v in rs["by_status"].items() if v],
        ["flaky tasks (passed after a failed attempt)", rs["flaky_tasks"]],
        ["retried tasks (passed after an infrastructure fault)", rs["retried_tasks"]], ["attempts", rs["attempts"]],
        ["failed attempts", f"{rs['failed_attempts']} ({_pct(rs['attempt_failure_rate'])})"],
        ["mean / p95 duration (passed)", f"{_sec(rs['mean_duration_seconds'])} / {_sec(rs['p95_duration_seconds'])}"],
        ["error events", es["total"]]],
        note="" if rs["aggregator_enabled"] else "result aggregator is off (start the coordinator with "
                                                 "--result-aggregator); task statistics come from stored rows only")]
    sections.append(Section(title="Errors by category", headers=["category", "events"],
                            rows=[[k, v] for k, v in es["by_category"].items()]))
    sections.append(Section(title="Errors by worker", headers=["worker", "events"],
                            rows=[[k, v] for k, v in es["by_worker"].items()][:top]))
    ep = get("/api/v1/results/error-prone", limit=top)["items"]
    sections.append(Section(title="Error-prone hardware x model (ranked by Wilson 95% lower bound)",
                            headers=["hardware", "model", "runs", "failures", "rate", "lower bound", "categories"],
                            rows=[[p["hardware_type"], p["model"], p["runs"], p["failures"], _pct(p["failure_rate"]),
                                   _pct(p["wilson_lower"]), ", ".join(p["categories"])] for p in ep]))
    for dim, title in (("test", "Tests"), ("model", "Models"), ("hardware_type", "Hardware types"),
                       ("worker_id", "Workers")):
        items = get("/api/v1/results/by-dimension", dimension=dim, limit=top)["items"]
        sections.append(Section(title=f"{title} (most failures first)",
                                headers=[dim, "runs", "passed", "failures", "rate", "flaky tasks", "mean", "p95"],
                                rows=[[i["value"], i["runs"], i["passed"], i["failures"], _pct(i["failure_rate"]),
                                       i["flaky_tasks"], _sec(i["mean_duration_seconds"]),
                                       _sec(i["p95_duration_seconds"])] for i in items]))
    flaky = get("/api/v1/results/flaky", limit=top)["items"]
    sections.append(Section(title="Flaky tests", headers=["test", "level", "runs", "passed", "failures", "flip rate"],
                            rows=[[f["test_name"], f["level"], f["runs"], f["passed"], f["failures"],
                                   _pct(f["flip_rate"])] for f in flaky]))
    patterns = get("/api/v1/errors/patterns", limit=top)["items"]
    sections.append(Section(title="Top error patterns", headers=["count", "trend", "category", "template", "correlated"],
                            rows=[[p["count"], p["trend"], p["category"], p["template"], "; ".join(p["summary"])]
                                  for p in patterns]))
    trends = get("/api/v1/results/trends", bucket=bucket)["items"]
    sections.append(Section(title=f"Results per {bucket}", headers=[bucket, "runs", "passed", "failures", "rate"],
                            rows=[[t["bucket"], t["runs"], t["passed"], t["failures"], _pct(t["failure_rate"])]
                                  for t in trends]))
    return sections


def render_text(sections: list[Section]) -> str:
    out = []
    for s in sections:
        out.append(f"== {s.title} ==")
        if s.note:
            out.append(f"({s.note})")
        if not s.rows:
            out.append("(none)\n")
            continue
        cells = [[_cell(c) for c in row] for row in s.rows]
        widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(s.headers)]
        out.append("  ".join(h.ljust(w) for h, w in zip(s.headers, widths)).rstrip())
        out.append("  ".join("-" * w for w in widths))
        out.extend("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)
        out.append("")
    return "\n".join(out)


def render_markdown(sections: list[Section], title: str) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        if s.note:
            out += [f"_{s.note}_", ""]
        if not s.rows:
            out += ["(none)", ""]
            continue
        out.append("| " + " | ".join(s.headers) + " |")
        out.append("|" + "|".join("---" for _ in s.headers) + "|")
        out += ["| " + " | ".join(_cell(c).replace("|", "\\|") for c in row) + " |" for row in s.rows]
        out.append("")
    return "\n".join(out)


def render_html(sections: list[Section], title: str) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
             "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "margin-bottom:1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:.9em}"
             "th{background:#f0f0f0}.note{color:#a60}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for s in sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        if s.note:
            parts.append(f"<p class='note'>{e(s.note)}</p>")
        if not s.rows:
            parts.append("<p>(none)</p>")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in s.headers) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(_cell(c))}</td>" for c in row) + "</tr>" for row in s.rows]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
