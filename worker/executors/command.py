"""The ``command`` task type: one program (argv) or one shell line, in its own process group."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from worker.executors.base import ExecContext, ExecResult, Outcome
from worker.executors.process import ProcessRun, SubprocessExecutor, run_process, task_directory
from worker.executors.reporting import (finish, ExecutorConfigError, Stage, error_dict, exec_error_dict,
                                        get_field, killed_message, last_lines, signal_name)

# POSIX shells exit 127 when the command is not found and 126 when it is not executable: for a
# shell line these mean "could not run", not "the test said no".
_SHELL_NOT_FOUND = 127
_SHELL_NOT_EXECUTABLE = 126


# Variables through which a task's env would load code of its choosing into the process (a
# module, a library, a startup file, a program run on some event), refused on a worker whose
# --allow-types has no arbitrary-code type.
CODE_LOADING_ENV = frozenset({"BROWSER", "PAGER", "EDITOR", "VISUAL", "ENV", "BASH_ENV", "PERL5OPT",
                              "PERL5LIB", "NODE_OPTIONS", "RUBYOPT", "GIT_SSH", "GIT_SSH_COMMAND",
                              "GIT_EXEC_PATH", "PATH", "SHELL", "PROMPT_COMMAND", "HOME", "XDG_CONFIG_HOME",
                              "COVERAGE_PROCESS_START", "SSL_CERT_FILE"})
CODE_LOADING_PREFIXES = ("LD_", "DYLD_", "PYTHON", "PYTEST", "BASH_FUNC_", "MALLOC_", "GCONV")


def parse_env(config: dict[str, Any], *, restricted: bool = False) -> dict[str, str]:
    """The task's environment: the worker's, less every ``DTF_*`` variable (the worker's token
    among them), plus the task's ``env``."""
    extra = get_field(config, "env", dict) or {}
    if restricted:
        refused = sorted(str(k) for k in extra if str(k).upper() in CODE_LOADING_ENV
                         or str(k).upper().startswith(CODE_LOADING_PREFIXES))
        if refused:
            raise ExecutorConfigError(f"env {', '.join(refused)} refused: this worker runs only types that "
                                      "are not arbitrary code (--allow-types), and these variables load "
                                      "code", type_name="ValueError")
    base = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")}
    return {**base, **{str(k): str(v) for k, v in extra.items()}}


def resolve_cwd(config: dict[str, Any], base: Path) -> Path | None:
    cwd = get_field(config, "cwd", str)
    if cwd is None:
        return None
    path = Path(cwd)
    return path if path.is_absolute() else base / path


class CommandExecutor(SubprocessExecutor):
    type_name = "command"

    async def run(self, config: dict[str, Any], ctx: ExecContext) -> ExecResult:
        started = time.monotonic()
        try:
            argv, shell = self._parse(config)
            env = parse_env(config, restricted=self._restricted)
        except ExecutorConfigError as exc:
            return finish(self.type_name, started, ExecResult(
                outcome=Outcome.ERROR, error=exec_error_dict(exc, Stage.CONFIG)))
        async with task_directory(ctx.work_dir, ctx.task_id, ctx.attempt) as tmp:
            cwd = resolve_cwd(config, tmp) or tmp
            try:
                run = await run_process(argv, shell=shell, env=env, cwd=cwd,
                                        timeout_seconds=ctx.timeout_seconds,
                                        kill_grace_seconds=self._grace, tail_bytes=self._tail_bytes)
            except OSError as exc:  # not found, not executable, bad cwd: it never ran
                return finish(self.type_name, started, ExecResult(
                outcome=Outcome.ERROR, error=exec_error_dict(exc, Stage.SETUP)))
        result = outcome_of_process(run, shell=shell, what="command",
                                    timeout_seconds=ctx.timeout_seconds)
        return finish(self.type_name, started, result)

    @staticmethod
    def _parse(config: dict[str, Any]) -> tuple[list[str] | str, bool]:
        argv = get_field(config, "argv", list)
        command = get_field(config, "command", str)
        if (argv is None) == (command is None):
            raise ExecutorConfigError("config needs exactly one of 'argv' (a list) or 'command' (a shell line)")
        if command is not None:
            if not command.strip():
                raise ExecutorConfigError("config field 'command' is empty")
            return command, True
        if not argv or not all(isinstance(a, (str, int, float)) for a in argv):
            raise ExecutorConfigError("config field 'argv' must be a non-empty list of strings")
        return [str(a) for a in argv], False


def process_details(run: ProcessRun) -> dict[str, Any]:
    return {"stdout": run.stdout, "stderr": run.stderr, "exit_code": run.returncode,
            "pid": run.pid, "escalated_to_sigkill": run.escalated_to_sigkill}


def timeout_result(run: ProcessRun, timeout_seconds: float, what: str) -> ExecResult:
    how = "SIGTERM, then SIGKILL" if run.escalated_to_sigkill else "SIGTERM"
    return ExecResult(
        outcome=Outcome.TIMED_OUT, details=process_details(run),
        error=error_dict("TimeoutError",
                         f"{what} exceeded its timeout of {timeout_seconds:g} s; process group "
                         f"killed with {how}", signal_number=run.signal,
                         stderr=run.stderr or None, stage=Stage.EXECUTE))


def outcome_of_process(run: ProcessRun, *, shell: bool, what: str,
                       timeout_seconds: float | None = None) -> ExecResult:
    """Map how a command ended to an outcome (pytest has its own exit-code table)."""
    details = process_details(run)
    if run.timed_out:
        return timeout_result(run, timeout_seconds if timeout_seconds is not None
                              else run.duration_seconds, what)
    code = run.returncode
    assert code is not None
    if code == 0:
        return ExecResult(outcome=Outcome.PASSED, result={"exit_code": 0}, details=details)
    if code < 0:
        return ExecResult(outcome=Outcome.CRASHED, details=details, error=error_dict(
            "ProcessKilled", killed_message(-code), signal_number=-code,
            stderr=run.stderr or None, stage=Stage.EXECUTE, signal_name=signal_name(-code)))
    message = last_lines(run.stderr, 3) or last_lines(run.stdout, 3)
    if shell and code in (_SHELL_NOT_FOUND, _SHELL_NOT_EXECUTABLE):
        type_ = "FileNotFoundError" if code == _SHELL_NOT_FOUND else "PermissionError"
        return ExecResult(outcome=Outcome.ERROR, details=details, error=error_dict(
            type_, message or f"shell exit code {code}", exit_code=code,
            stderr=run.stderr or None, stage=Stage.SETUP))
    return ExecResult(outcome=Outcome.FAILED, details=details, error=error_dict(
        "CommandFailed", message or f"{what} exited with code {code}", exit_code=code,
        stderr=run.stderr or None, stage=Stage.EXECUTE))
