"""Local collection: ``pytest --collect-only`` with the user's arguments, node ids and markers.

The result is cached in the data dir, keyed by the interpreter, the arguments and a fingerprint
of the tree (every file's path, size and mtime under the root, and the interpreter's
site-packages): a rerun on an unchanged checkout does not pay for a second collection, any edit
or install collects again.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from coordinator.testrun.plan import Item
from worker.pytest_plugin import PLUGIN_DIR

# Not part of what a suite collects; their churn would defeat the cache.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".hypothesis", ".tox", ".nox",
                       ".mypy_cache", ".ruff_cache", "node_modules", ".dtf", ".venv", "venv", "build", "dist"})


class CollectError(Exception):
    """pytest could not collect the suite (its output is the message)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, kw_only=True)
class Collection:
    rootdir: str
    items: list[Item]
    seconds: float
    cached: bool
    xdist: bool = False  # pytest-xdist is loaded where the suite runs
    module_seconds: dict[str, float] = field(default_factory=dict)  # each test file's collection time


def plugin_env(env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGIN_DIR), env.get("PYTHONPATH")) if p)
    return env


def tree_files(root: Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """Files of the suite's tree, relative, sorted (what a fingerprint or an archive covers)."""
    skip = {p.resolve() for p in exclude}
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if skip:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d).resolve() not in skip]
            filenames = [f for f in filenames if Path(dirpath, f).resolve() not in skip]
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")
                             and not (Path(dirpath, d) / "pyvenv.cfg").exists())
        base = Path(dirpath)
        out.extend((base / f).relative_to(root) for f in sorted(filenames) if not f.endswith((".pyc", ".pyo")))
    return out


def conftest_imports(root: Path, limit: int = 100) -> list[str]:
    """Top-level modules the tree's conftest.py files import (read, not run): what every shard
    imports first, so a worker's fork server may preload the installed ones before any shard."""
    names: dict[str, None] = {}
    for rel in tree_files(root):
        if rel.name != "conftest.py":
            continue
        try:
            tree = ast.parse((root / rel).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update((a.name.split(".")[0], None) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names[node.module.split(".")[0]] = None
    return [n for n in names if n.isidentifier()][:limit]


def fingerprint(root: Path, python: str, args: Sequence[str], exclude: Sequence[Path] = ()) -> str:
    h = hashlib.sha256(json.dumps([python, list(args), str(root)]).encode())
    for rel in tree_files(root, exclude):
        try:
            st = (root / rel).stat()
        except OSError:
            continue
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for key in ("purelib", "platlib"):  # installing or removing a plugin changes what collects
        try:
            h.update(str(os.stat(_site_dir(python, key)).st_mtime_ns).encode())
        except OSError:
            pass
    return h.hexdigest()


def _site_dir(python: str, key: str) -> str:
    if python == sys.executable:
        return sysconfig.get_paths()[key]
    venv = Path(python).parent.parent
    found = sorted(venv.glob("lib/python3*/site-packages"))
    return str(found[0]) if found else ""


def collect(args: Sequence[str], *, python: str, cwd: Path, cache_dir: Path | None,
            exclude: Sequence[Path] = (), timeout_seconds: float = 600.0,
            on_miss: Callable[[], None] | None = None) -> Collection:
    """``on_miss`` is called when pytest must really collect (no cached collection), just before."""
    started = time.monotonic()
    key = fingerprint(cwd, python, args, exclude) if cache_dir is not None else ""
    cached = cache_dir / f"{key[:32]}.json" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            return _collection(data, time.monotonic() - started, cached=True)
        except (OSError, ValueError, KeyError):
            pass
    if on_miss is not None:
        on_miss()
    with tempfile.TemporaryDirectory(prefix="dtf-collect-") as tmp:
        out = Path(tmp) / "collected.json"
        argv = [python, "-m", "pytest", *args, "--collect-only", "-q", "-p", "no:cacheprovider",
                "-p", "dtf_shard", f"--dtf-collect={out}"]
        done = subprocess.run(argv, cwd=cwd, env=plugin_env(), capture_output=True, text=True,
                              timeout=timeout_seconds, check=False)
        # 0: collected; 5: nothing to collect (an empty run, as pytest's own)
        if done.returncode not in (0, 5) or not out.exists():
            text = (done.stdout + done.stderr).strip()
            raise CollectError(text[-4000:] or f"pytest --collect-only exited {done.returncode}",
                               done.returncode or 3)
        raw = out.read_text(encoding="utf-8")
    data = json.loads(raw)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp_file = cached.with_suffix(".tmp")
        tmp_file.write_text(raw, encoding="utf-8")
        tmp_file.replace(cached)
    return _collection(data, time.monotonic() - started, cached=False)


def _collection(data: dict, seconds: float, *, cached: bool) -> Collection:
    return Collection(rootdir=data["rootdir"], items=[Item(nodeid=i["nodeid"], markers=tuple(i["markers"]),
                                                           weight=float(i.get("weight") or 1))
                                                      for i in data["items"]],
                      seconds=seconds, cached=cached, xdist=bool(data.get("xdist")),
                      module_seconds={str(k): float(v) for k, v in (data.get("module_seconds") or {}).items()})
