"""Per-test results of a run: every attempt of every test, the verdict, the merged JUnit XML,
the pytest-style summary and pytest's exit code."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from pathlib import Path


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


BAD = frozenset({Outcome.FAILED, Outcome.ERROR})


class ExitCode(IntEnum):
    """pytest's exit codes, which ``dtf test`` keeps."""

    OK = 0
    TESTS_FAILED = 1
    INTERRUPTED = 2
    INTERNAL_ERROR = 3
    USAGE_ERROR = 4
    NO_TESTS_COLLECTED = 5


@dataclass(frozen=True, kw_only=True)
class Run:
    """One execution of one test (a shard's case, or a synthesised error when none came back)."""

    outcome: Outcome
    worker_id: str | None
    hardware: str | None
    duration_seconds: float
    message: str | None = None
    text: str | None = None
    task_id: str | None = None


@dataclass(kw_only=True)
class TestResult:
    nodeid: str
    runs: list[Run] = field(default_factory=list)

    @property
    def final(self) -> Run:
        return self.runs[-1]

    @property
    def flaky(self) -> bool:
        """Failed, then passed on a rerun."""
        return self.final.outcome is Outcome.PASSED and any(r.outcome in BAD for r in self.runs[:-1])

    def where(self, outcome_set: frozenset[Outcome] | set[Outcome]) -> list[str]:
        return sorted({r.worker_id or "?" for r in self.runs if r.outcome in outcome_set})


def split_nodeid(nodeid: str) -> tuple[str, str, str]:
    """-> (file, classname as pytest's JUnit writes it, name)."""
    parts = nodeid.split("::")
    file = parts[0]
    module = file[:-3].replace("/", ".") if file.endswith(".py") else file
    return file, ".".join([module, *parts[1:-1]]), parts[-1] if len(parts) > 1 else file


def write_junit(path: Path, results: list[TestResult], elapsed_seconds: float) -> None:
    counts = {o: 0 for o in Outcome}
    for r in results:
        counts[r.final.outcome] += 1
    suite = ET.Element("testsuite", name="dtf", tests=str(len(results)), failures=str(counts[Outcome.FAILED]),
                       errors=str(counts[Outcome.ERROR]), skipped=str(counts[Outcome.SKIPPED]),
                       time=f"{elapsed_seconds:.3f}")
    for r in results:
        file, classname, name = split_nodeid(r.nodeid)
        final = r.final
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, file=file,
                             time=f"{final.duration_seconds:.3f}")
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="dtf_worker", value=final.worker_id or "")
        if final.hardware:
            ET.SubElement(props, "property", name="dtf_hardware", value=final.hardware)
        if len(r.runs) > 1:
            ET.SubElement(props, "property", name="dtf_runs",
                          value=",".join(f"{x.outcome.value}@{x.worker_id}" for x in r.runs))
        if r.flaky:
            ET.SubElement(props, "property", name="dtf_flaky", value="true")
        if final.outcome is not Outcome.PASSED:
            tag = {Outcome.FAILED: "failure", Outcome.ERROR: "error", Outcome.SKIPPED: "skipped"}[final.outcome]
            element = ET.SubElement(case, tag, message=final.message or "")
            element.text = final.text or None
    root = ET.Element("testsuites")
    root.append(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def exit_code(results: list[TestResult], shard_codes: list[int]) -> ExitCode:
    """As pytest: could not run (a shard's 2-4, or a lost shard) beats failed, failed beats ok."""
    if not results and not shard_codes:
        return ExitCode.NO_TESTS_COLLECTED
    hard = [c for c in shard_codes if c not in (0, 1, 5)]
    if hard:
        return ExitCode(min(hard)) if min(hard) in (2, 3, 4) else ExitCode.INTERNAL_ERROR
    if any(r.final.outcome in BAD for r in results):
        return ExitCode.TESTS_FAILED
    return ExitCode.OK


def counts_line(results: list[TestResult], elapsed_seconds: float) -> str:
    counts = {o: 0 for o in Outcome}
    for r in results:
        counts[r.final.outcome] += 1
    flaky = sum(r.flaky for r in results)
    parts = [f"{counts[o]} {o.value}" for o in (Outcome.FAILED, Outcome.PASSED, Outcome.SKIPPED, Outcome.ERROR)
             if counts[o]]
    if flaky:
        parts.append(f"{flaky} flaky")
    return f"{', '.join(parts) or 'no tests ran'} in {elapsed_seconds:.2f}s"


def banner(text: str, width: int = 80) -> str:
    text = f" {text} "
    pad = max(0, width - len(text))
    return "=" * (pad // 2) + text + "=" * (pad - pad // 2)


def summary_lines(results: list[TestResult]) -> list[str]:
    """pytest's short test summary, plus where each failure happened."""
    lines = []
    for r in results:
        final = r.final
        if final.outcome in BAD:
            first = (final.message or "").splitlines()[0][:100] if final.message else ""
            label = "FAILED" if final.outcome is Outcome.FAILED else "ERROR"
            elsewhere = ""
            passed_on = r.where({Outcome.PASSED})
            failed_on = r.where(BAD)
            if len(r.runs) > 1 and passed_on:
                elsewhere = f" (failed on {', '.join(failed_on)}, passed on {', '.join(passed_on)})"
            where = f" [{final.worker_id}]" if final.worker_id else ""
            lines.append(f"{label} {r.nodeid}{' - ' + first if first else ''}{where}{elsewhere}")
        elif r.flaky:
            failed_on, passed_on = r.where(BAD), r.where({Outcome.PASSED})
            hw_bad = {x.hardware for x in r.runs if x.outcome in BAD}
            hw_ok = {x.hardware for x in r.runs if x.outcome is Outcome.PASSED}
            what = "fails only on " + ", ".join(sorted(h for h in hw_bad if h)) if hw_bad.isdisjoint(hw_ok) \
                and all(hw_bad) else "flaky or worker-specific"
            lines.append(f"FLAKY {r.nodeid} ({what}: failed on {', '.join(failed_on)}, "
                         f"passed on {', '.join(passed_on)})")
    return lines
