"""A warm pytest process: imports pytest and its installed plugins once, then forks one child per
shard, which runs ``pytest.main`` as ``python -m pytest`` would in a fresh process.

Started by the worker as ``python dtf_forkserver.py`` (stdlib and pytest only: any interpreter
with pytest runs it). Requests arrive as JSON lines on stdin, ``{"id", "args", "cwd", "env",
"stdout", "stderr", "modules_out"}`` to run a shard or ``{"preload": [...]}`` between shards; answers leave as JSON lines on stdout: ``{"id", "pid"}`` once
forked, ``{"id", "exit"}`` when the child ends (negative: killed by that signal), ``{"stale":
true}`` when an install changed site-packages since start (the worker then starts a new one).

``preload`` names installed third-party modules an earlier shard of the suite imported
(hypothesis, the package under test from site-packages); they are imported here, between
shards, so the next child starts with them. A module under the suite's own tree is never
preloaded: the child imports the checkout as it is now.
"""
from __future__ import annotations

import gc
import importlib.util
import json
import os
import random
import select
import signal
import sys
import sysconfig
import threading
import traceback
from importlib.metadata import entry_points

import pytest

_SITE = [p for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]} if os.path.isdir(p)]


def _site_stamp() -> list[int]:
    return [os.stat(p).st_mtime_ns for p in _SITE]


# The answers get a descriptor of their own: whatever a plugin prints at import goes to fd 1,
# which points at stderr once main() starts, and cannot garble the protocol.
_ANSWERS: list = []


def _emit(message: dict) -> None:
    _ANSWERS[0].write(json.dumps(message) + "\n")
    _ANSWERS[0].flush()


def _installed(name: str) -> bool:
    """An importable top-level module of site-packages (never one of the suite's own tree)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None) or ""
    return any(origin.startswith(p + os.sep) for p in _SITE)


def _preload(names: list[str]) -> None:
    for name in names:
        if name in sys.modules or "." in name or not _installed(name):
            continue
        try:
            __import__(name)
        except BaseException:  # noqa: BLE001 - a module that fails here fails in the child, visibly
            pass


def _child(req: dict) -> None:
    """Runs in the forked child; never returns."""
    code = 3
    try:
        os.setsid()  # its own group, so a timeout kills the shard and whatever it started
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.path[0] = req["cwd"]  # as `python -m pytest` run in cwd
        sys.argv = [sys.argv[0], *req["args"]]
        random.seed()  # a fresh process would not share the server's random state
        code = int(pytest.main(req["args"]))
        if req.get("modules_out"):  # what the suite imported from site-packages, for the next preload
            names = sorted({n.split(".")[0] for n, m in list(sys.modules.items())
                            if any(str(getattr(m, "__file__", "") or "").startswith(p) for p in _SITE)})
            with open(req["modules_out"], "w", encoding="utf-8") as fh:
                json.dump(names, fh)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report anything, then leave without running the server's code
        traceback.print_exc()
        code = 3
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _requests(buffer: bytearray) -> list[dict]:
    lines = []
    while b"\n" in buffer:
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        if line.strip():
            lines.append(json.loads(line))
    return lines


def main() -> None:
    _ANSWERS.append(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    for ep in entry_points(group="pytest11"):
        try:
            ep.load()
        except BaseException:  # noqa: BLE001 - pytest reports a broken plugin in the child
            pass
    stamp = _site_stamp()
    children: dict[int, str] = {}
    buffer = bytearray()
    running = True
    while running:
        ready, _, _ = select.select([0], [], [], 0.02 if children else None)
        if ready:
            chunk = os.read(0, 65536)
            if not chunk:
                break  # the worker went away
            buffer += chunk
            for req in _requests(buffer):
                if "args" not in req:  # between shards: warm up for the next one
                    _preload(req.get("preload") or [])
                    continue
                if _site_stamp() != stamp:
                    _emit({"id": req["id"], "stale": True})
                    running = False
                    break
                if threading.active_count() > 1:  # a preloaded module started a thread: forking is unsafe
                    _emit({"id": req["id"], "unsafe": True})
                    running = False
                    break
                sys.stdout.flush()
                sys.stderr.flush()
                gc.freeze()  # the child's collections then leave the server's objects (and pages) alone
                pid = os.fork()
                if pid == 0:
                    _child(req)
                children[pid] = req["id"]
                _emit({"id": req["id"], "pid": pid})
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _emit({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
    for pid in children:  # leaving: nothing of ours outlives us
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    main()
