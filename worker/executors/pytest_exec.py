"""The ``pytest`` task type: a real pytest run in a subprocess, every case read from JUnit XML."""
from __future__ import annotations

import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

from worker.executors.base import ExecContext, ExecResult, Outcome
from worker.executors.command import parse_env, process_details, resolve_cwd, timeout_result
from worker.executors.process import SubprocessExecutor, run_process, task_directory
from worker.executors.reporting import (finish, ExecutorConfigError, Stage, error_dict, exec_error_dict,
                                        get_field, killed_message, last_lines, signal_name)
from worker.executors.trees import TreeError, TreeStore
from worker.executors.warm import ForkServers, WarmUnavailable
from worker.pytest_plugin import PLUGIN_DIR



class PytestExit(IntEnum):
    """pytest.ExitCode, restated so the worker need not import pytest."""

    OK = 0
    TESTS_FAILED = 1
    INTERRUPTED = 2
    INTERNAL_ERROR = 3
    USAGE_ERROR = 4
    NO_TESTS_COLLECTED = 5


class CaseOutcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


# "E   ModuleNotFoundError: No module named 'x'" / "INTERNALERROR> ValueError: boom": the real
# exception behind a collection or internal error, which is what the error classifier needs.
_EXC_LINE = re.compile(r"^(?:E\s+|INTERNALERROR>\s*)?"
                       r"(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))"
                       r": (?P<message>.+)$")
_FALLBACK_TYPE = {
    PytestExit.INTERRUPTED: "pytest.ExitCode.INTERRUPTED",
    PytestExit.INTERNAL_ERROR: "pytest.ExitCode.INTERNAL_ERROR",
    PytestExit.USAGE_ERROR: "pytest.UsageError",
    PytestExit.NO_TESTS_COLLECTED: "pytest.ExitCode.NO_TESTS_COLLECTED",
}
_STAGE = {
    PytestExit.INTERRUPTED: Stage.COLLECT,
    PytestExit.INTERNAL_ERROR: Stage.EXECUTE,
    PytestExit.USAGE_ERROR: Stage.CONFIG,
    PytestExit.NO_TESTS_COLLECTED: Stage.COLLECT,
}


def _nodeid(case: ET.Element) -> str:
    classname, name, file = case.get("classname", ""), case.get("name", ""), case.get("file")
    if not file:
        return f"{classname}::{name}" if classname else name
    module = file[:-3].replace("/", ".") if file.endswith(".py") else file
    inner = classname[len(module) + 1:] if classname.startswith(module + ".") else ""
    return "::".join(part for part in (file, *inner.split("."), name) if part)


def parse_junit(path: Path, text_limit: int) -> list[dict[str, Any]]:
    """Every <testcase> as {nodeid, classname, name, outcome, duration, message, text}."""
    cases: list[dict[str, Any]] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message, text = CaseOutcome.PASSED, None, None
        for tag, kind in (("failure", CaseOutcome.FAILED), ("error", CaseOutcome.ERROR),
                          ("skipped", CaseOutcome.SKIPPED)):
            element = case.find(tag)
            if element is not None:
                outcome, message = kind, element.get("message")
                text = (element.text or "")[-text_limit:] or None
                break
        cases.append({"nodeid": _nodeid(case), "classname": case.get("classname", ""),
                      "name": case.get("name", ""), "outcome": outcome.value,
                      "duration": float(case.get("time") or 0.0), "message": message, "text": text})
    return cases


def summarise(cases: list[dict[str, Any]]) -> dict[str, int]:
    summary = {o.value: 0 for o in CaseOutcome}
    for case in cases:
        summary[case["outcome"]] += 1
    return summary


def find_exception(text: str, *, last: bool = False) -> tuple[str, str] | None:
    found = None
    for line in text.splitlines():
        match = _EXC_LINE.match(line.strip())
        if match:
            found = (match["type"], match["message"].strip())
            if not last:
                break
    return found


class PytestExecutor(SubprocessExecutor):
    type_name = "pytest"

    def __init__(self, settings: Any, trees: TreeStore | None = None) -> None:
        super().__init__(settings)
        self._trees = trees
        self._warm = ForkServers()

    async def close(self) -> None:
        await self._warm.close()

    async def run(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        started = time.monotonic()
        try:
            args = get_field(config, "args", list, [])
            if not all(isinstance(a, str) for a in args):
                raise ExecutorConfigError("config field 'args' must be a list of strings",
                                          type_name="TypeError")
            select = get_field(config, "select", list)
            if select is not None and not all(isinstance(n, str) for n in select):
                raise ExecutorConfigError("config field 'select' must be a list of node ids",
                                          type_name="TypeError")
            python = get_field(config, "python", str)
            if python is not None and self._restricted:
                raise ExecutorConfigError("config field 'python' runs an interpreter of the task's choosing: "
                                          "refused on this worker (--allow-types)", type_name="ValueError")
            python = python or sys.executable
            warm = get_field(config, "warm", bool, False)
            # a warm-up: start this suite's fork server and have it import the installed modules the
            # suite's conftests import (``preload``), so the first shard does not pay for them; it
            # runs no pytest and no code of the tree
            warmup = get_field(config, "warmup", bool, False)
            preload = get_field(config, "preload", list, [])
            if not all(isinstance(n, str) for n in preload):
                raise ExecutorConfigError("config field 'preload' must be a list of module names",
                                          type_name="TypeError")
            if warmup:
                select, warm = [], True
            if self._restricted:
                preload = []  # importing modules of the task's choosing is what -p is refused for here
            tree = get_field(config, "tree", str)
            env = parse_env(config, restricted=self._restricted)
            if self._restricted and any(a in ("-p", "--pdbcls") or a.startswith(("-p", "--pdbcls="))
                                        and not a.startswith("-p no:") for a in args):
                raise ExecutorConfigError("pytest args -p / --pdbcls load code of the task's choosing: "
                                          "refused on this worker (--allow-types)", type_name="ValueError")
        except ExecutorConfigError as exc:
            return finish(self.type_name, started, ExecResult(
                outcome=Outcome.ERROR, error=exec_error_dict(exc, Stage.CONFIG)))
        async with task_directory(ctx.work_dir, ctx.task_id, ctx.attempt) as tmp:
            base = tmp
            if tree:
                try:
                    base = await self._tree(tree)
                except TreeError as exc:
                    return finish(self.type_name, started, ExecResult(outcome=Outcome.ERROR, error=error_dict(
                        "TreeUnavailable", str(exc), stage=Stage.SETUP)))
            junit = tmp / "junit.xml"
            # xunit1 keeps the file attribute, so each case gets a real pytest node id
            argv = [python, "-m", "pytest", *args, f"--junitxml={junit}",
                    "-p", "no:cacheprovider", "-o", "junit_family=xunit1"]
            if select is not None:
                shard = tmp / "shard.json"
                shard.write_text(json.dumps({"nodeids": select}), encoding="utf-8")
                argv += ["-p", "dtf_shard", f"--dtf-shard={shard}"]
                env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGIN_DIR), env.get("PYTHONPATH")) if p)
            cwd = resolve_cwd(config, base) or base
            if warmup:  # nothing to report but whether it warmed (never a cold run: it would warm nothing)
                try:
                    server = await self._warm.get(python, env)  # the same key as this suite's shards
                    server.warm(preload)
                    warmed = True
                except (WarmUnavailable, OSError):
                    warmed = False
                return finish(self.type_name, started, ExecResult(
                    outcome=Outcome.PASSED, result={"warmup": True, "warmed": warmed},
                    details={"warmup": True, "warmed": warmed, "preload": preload[:200],
                             "cases": [], "summary": summarise([])}))
            try:
                run = None
                if warm:
                    try:
                        server = await self._warm.get(python, env)
                        run = await server.run(argv[3:], cwd=cwd, env=env, tmp=tmp,
                                               timeout_seconds=ctx.timeout_seconds,
                                               kill_grace_seconds=self._grace, tail_bytes=self._tail_bytes)
                    except WarmUnavailable:
                        run = None  # run it cold, as if it had not been asked
                if run is None:
                    run = await run_process(argv, env=env, cwd=cwd, timeout_seconds=ctx.timeout_seconds,
                                            kill_grace_seconds=self._grace, tail_bytes=self._tail_bytes)
            except OSError as exc:
                return finish(self.type_name, started, ExecResult(
                outcome=Outcome.ERROR, error=exec_error_dict(exc, Stage.SETUP)))
            cases: list[dict[str, Any]] = []
            junit_error = None
            if not junit.exists():
                junit_error = f"pytest wrote no JUnit report ({junit.name} missing after exit code {run.returncode})"
            else:
                try:
                    cases = parse_junit(junit, self._tail_bytes)
                except ET.ParseError as exc:
                    junit_error = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
        result = self._outcome(run, cases, ctx.timeout_seconds)
        if junit_error:
            result.details["junit_error"] = junit_error
            if result.outcome in (Outcome.PASSED, Outcome.FAILED):
                # pytest ran but its per-test report is gone: never a silent "0 tests"
                result = ExecResult(outcome=Outcome.ERROR, details=result.details, error=error_dict(
                    "JUnitReportMissing", f"per-test results unreadable: {junit_error}",
                    exit_code=run.returncode, stderr=run.stderr or None, stage=Stage.COLLECT))
        return finish(self.type_name, started, result)

    async def _tree(self, digest: str) -> Path:
        if self._trees is None:
            raise TreeError("this worker cannot fetch shipped trees (no coordinator address)")
        return await self._trees.get(digest)

    def _outcome(self, run: Any, cases: list[dict[str, Any]], timeout_seconds: float) -> ExecResult:
        details = process_details(run)
        summary = summarise(cases)
        details.update(cases=cases, summary=summary)
        output = "\n".join(part for part in (run.stdout, run.stderr) if part)
        if run.timed_out:
            result = timeout_result(run, timeout_seconds, "pytest")
            result.details.update(cases=cases, summary=summary)
            return result
        code = run.returncode
        if code < 0:
            return ExecResult(outcome=Outcome.CRASHED, details=details, error=error_dict(
                "ProcessKilled", killed_message(-code), signal_number=-code,
                stderr=output[-self._tail_bytes:] or None, stage=Stage.EXECUTE,
                signal_name=signal_name(-code)))
        if code == PytestExit.OK:
            return ExecResult(outcome=Outcome.PASSED, details=details,
                              result={"exit_code": 0, "summary": summary})
        if code == PytestExit.TESTS_FAILED:
            bad = [c for c in cases if c["outcome"] in (CaseOutcome.FAILED.value, CaseOutcome.ERROR.value)]
            first = bad[0] if bad else None
            count = summary["failed"] + summary["error"]
            message = (f"{count} of {len(cases)} tests failed; first: {first['nodeid']}: "
                       f"{first['message'] or ''}".rstrip(": ") if first
                       else last_lines(run.stdout, 1) or "tests failed")
            return ExecResult(outcome=Outcome.FAILED, details=details, error=error_dict(
                "TestsFailed", message, traceback=first["text"] if first else None, exit_code=code,
                stderr=run.stderr or None, stage=Stage.EXECUTE),
                result={"exit_code": code, "summary": summary})
        return self._error(code, cases, output, details)

    def _error(self, code: int, cases: list[dict[str, Any]], output: str,
               details: dict[str, Any]) -> ExecResult:
        """Exit codes 2-5: pytest could not run the tests; they are errors, not failures."""
        try:
            kind: PytestExit | None = PytestExit(code)
        except ValueError:
            kind = None
        case_texts = "\n".join(c["text"] or "" for c in cases if c["outcome"] == CaseOutcome.ERROR.value)
        found = find_exception(case_texts) or find_exception(
            output, last=kind is PytestExit.INTERNAL_ERROR)
        if kind is PytestExit.USAGE_ERROR or found is None:
            type_ = _FALLBACK_TYPE.get(kind, "pytest.ExitCode") if kind else "pytest.ExitCode"
            usage = [line for line in output.splitlines() if "error:" in line.lower()]
            # pytest's verdict line ("=== no tests ran in 0.01s ===") is the last of stdout
            summary = last_lines(details["stdout"], 1).strip("= ") or last_lines(details["stderr"], 2)
            message = usage[-1].strip() if usage and kind is PytestExit.USAGE_ERROR \
                else summary or f"pytest exited with code {code}"
        else:
            type_, message = found
        return ExecResult(outcome=Outcome.ERROR, details=details, error=error_dict(
            type_, message, traceback=case_texts or None, exit_code=code,
            stderr=output[-self._tail_bytes:] or None,
            stage=_STAGE.get(kind, Stage.EXECUTE) if kind else Stage.EXECUTE,
            pytest_exit_code=kind.name if kind else None))
