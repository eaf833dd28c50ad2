"""Build ``tests/data/error_corpus.jsonl``: real error reports for the classifier and the grouping.

Run from the repository root: ``python tests/data/make_corpus.py`` (offline, about a minute).
Errors this machine can produce are triggered for real (``source: triggered``: sockets, DNS,
timeouts, TLS, rlimits, signals, pytest and pip subprocesses, parsers ...); GPU stacks, kernel
logs and the like are written in the formats those tools print (``source: documented``, see
``corpus_documented.py``). Machine-specific paths are replaced by neutral ones so the file is
the same wherever it is built, apart from ports, pids and timings.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import traceback as tb
from collections import Counter
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus_blind  # noqa: E402
import corpus_documented  # noqa: E402
import corpus_formats  # noqa: E402
import corpus_libraries  # noqa: E402
import corpus_triggers as trig  # noqa: E402

OUT = Path(__file__).resolve().parent / "error_corpus.jsonl"
_MAX_TEXT = 2500


class Corpus:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.entries: list[dict[str, Any]] = []
        self._ids: Counter[str] = Counter()
        repo = Path(__file__).resolve().parents[2]
        self._paths = sorted({(str(tmp), "/tmp/dtf-corpus"), (str(tmp.resolve()), "/tmp/dtf-corpus"),
                              (sys.prefix, "/opt/venv"), (sys.base_prefix, "/usr/local"), (str(repo), "/srv/dtf"),
                              (str(Path.home()), "/home/user")}, key=lambda p: -len(p[0]))

    def clean(self, text: str | None) -> str | None:
        if text is None:
            return None
        for real, neutral in self._paths:
            if real and real != "/":  # whole path components only: /root must not touch /rootdir
                text = re.sub(re.escape(real) + r"(?![\w.-])", neutral, text)
        return text[-_MAX_TEXT:] if len(text) > _MAX_TEXT else text

    def add(self, source: str, type_: str, message: str, category: str, pattern: str, *,
            traceback: str | None = None, exit_code: int | None = None, signal: int | None = None,
            context: dict[str, Any] | None = None, library: str | None = None,
            alternatives: list[str] | None = None) -> None:
        self._ids[pattern] += 1
        entry: dict[str, Any] = {"id": f"{source[0]}-{pattern}-{self._ids[pattern]}", "source": source,
                                 "type": type_, "message": self.clean(message)}
        if traceback:
            entry["traceback"] = self.clean(traceback)
        if exit_code is not None:
            entry["exit_code"] = exit_code
        if signal is not None:
            entry["signal"] = signal
        if context:
            entry["context"] = context
        entry["category"] = category
        if alternatives:
            entry["alternatives"] = [a for a in alternatives if a != category]
        entry["pattern"] = pattern
        entry["library"] = library or library_of(pattern)
        self.entries.append(entry)

    def expect(self, fn: Callable[[], Any], category: str, pattern: str, *, context: dict[str, Any] | None = None,
               optional: bool = False) -> None:
        """Run ``fn``; the exception it raises becomes an entry. No exception is a bug (unless optional)."""
        try:
            fn()
        except Exception as exc:  # every failure kind is wanted here
            self.add_exc(exc, category, pattern, context=context)
        else:
            if not optional:
                raise RuntimeError(f"{pattern}: expected an error, got none")

    def add_exc(self, exc: BaseException, category: str, pattern: str, *, context: dict[str, Any] | None = None,
                library: str | None = None, alternatives: list[str] | None = None) -> None:
        cls = type(exc)
        name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
        message = str(exc)
        exit_code = getattr(exc, "returncode", None)
        stderr = getattr(exc, "stderr", None)
        if isinstance(stderr, bytes):
            stderr = stderr.decode(errors="replace")
        if isinstance(stderr, str) and stderr.strip():
            message = f"{message}\n{stderr.strip()[-800:]}"
        signal = -exit_code if isinstance(exit_code, int) and exit_code < 0 else None
        text = "".join(tb.format_exception(exc))
        self.add("triggered", name, message, category, pattern, traceback=text,
                 exit_code=exit_code if isinstance(exit_code, int) else None, signal=signal, context=context,
                 library=library, alternatives=alternatives)

    def add_child(self, report: dict[str, Any], category: str, pattern: str, *, context: dict[str, Any] | None = None) -> None:
        self.add("triggered", report["type"], report["message"], category, pattern, traceback=report.get("traceback"),
                 context=context)

    def add_stderr(self, argv: list[str], type_: str, category: str, pattern: str) -> None:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=self.tmp)
        text = out.stderr.strip()
        if not text:
            raise RuntimeError(f"{pattern}: nothing on stderr")
        self.add("triggered", type_, text, category, pattern, exit_code=out.returncode or None)


# The library or tool that printed each report of the first corpus, by its pattern's prefix
# (first match wins); later generators name their library themselves.
_LIBRARY_PREFIXES = [
    ("aiohttp-", "aiohttp"), ("ws-", "aiohttp"), ("asyncio-", "asyncio"), ("task-destroyed", "asyncio"),
    ("pytest-", "pytest"), ("no-gpus-", "torch-rocm"), ("pip-", "pip"), ("requests-", "requests"), ("urllib-", "urllib"),
    ("json-", "json"), ("toml-", "tomllib"), ("yaml-", "pyyaml"), ("ini-", "configparser"),
    ("websocket", "websockets"), ("cublas-", "torch"), ("cudnn-", "torch"), ("cuda-", "torch"),
    ("torch-", "torch"), ("hip-", "torch-rocm"), ("mps-", "torch-mps"), ("webgpu-", "webgpu"),
    ("xid-", "nvidia-xid"), ("nvidia-smi", "nvidia-smi"), ("nvml-", "nvidia-smi"), ("gpu-", "nvidia-smi"),
    ("nccl-", "nccl"), ("oom-kill", "linux-kernel"), ("segfault-", "linux-kernel"), ("illegal-instruction", "linux-kernel"),
    ("k8s-", "kubernetes"), ("tls-", "ssl"), ("socket-", "socket"), ("dns-", "socket"), ("connection-reset", "socket"),
    ("bind-", "socket"), ("emfile-socket", "socket"), ("died-", "subprocess"), ("subprocess-", "subprocess"),
    ("command-nonzero", "subprocess"), ("exec-format", "subprocess"), ("bash-", "bash"), ("sh-", "sh"),
    ("broken-process-pool", "concurrent.futures"), ("queue-full", "queue"), ("leaked-", "multiprocessing"),
    ("shared-object", "ctypes"), ("step-over-budget", "dtf"), ("throughput-below", "dtf"), ("worker-", "dtf"),
    ("task-queue-full", "dtf"), ("rm-", "coreutils"), ("unknown-", "python"),
]


def library_of(pattern: str) -> str:
    for prefix, library in _LIBRARY_PREFIXES:
        if pattern.startswith(prefix):
            return library
    return "python"  # builtins and the os module: ValueError, OSError errnos, imports


PYTEST_CASES: list[tuple[str, dict[str, str], list[str], str]] = [
    # (label, files, extra args, category)
    ("pytest-assert-equal", {"test_a.py": "def test_sum():\n    assert 1 + 1 == 3\n"}, [], trig.TE),
    ("pytest-assert-equal", {"test_b.py": "def test_len():\n    assert len([1, 2]) == 5\n"}, [], trig.TE),
    ("pytest-assert-equal", {"test_c.py": "def test_name():\n    assert 'bert' == 'gpt2'\n"}, [], trig.TE),
    ("pytest-assert-equal", {"test_d.py": "def test_total():\n    total = 41\n    assert total == 42\n"}, [], trig.TE),
    ("pytest-assert-message", {"test_e.py": "def test_acc():\n    acc = 0.71\n    assert acc > 0.9, f'accuracy {acc} below 0.9'\n"}, [], trig.TE),
    ("pytest-assert-message", {"test_f.py": "def test_loss():\n    loss = 3.2\n    assert loss < 1.0, f'loss {loss} above 1.0'\n"}, [], trig.TE),
    ("pytest-raised-zero-division", {"test_g.py": "def test_div():\n    1 / 0\n"}, [], trig.TE),
    ("pytest-raised-key-error", {"test_h.py": "def test_key():\n    {}['x']\n"}, [], trig.TE),
    ("pytest-raised-attribute-error", {"test_i.py": "def test_attr():\n    None.shape\n"}, [], trig.TE),
    ("pytest-collect-import", {"test_j.py": "import nonexistent_mod_1\n\ndef test_x():\n    pass\n"}, [], trig.TD),
    ("pytest-collect-import", {"test_k.py": "import torch_missing_2 as t\n\ndef test_x():\n    pass\n"}, [], trig.TD),
    ("pytest-collect-cannot-import-name", {"test_l.py": "from os import nonexistent_3\n\ndef test_x():\n    pass\n"}, [], trig.TD),
    ("pytest-collect-syntax", {"test_m.py": "def test_x(:\n    pass\n"}, [], trig.TC),
    ("pytest-collect-syntax", {"test_n.py": "def test_y()\n    return 1\n"}, [], trig.TC),
    ("pytest-missing-fixture", {"test_o.py": "def test_x(missing_fixture_1):\n    pass\n"}, [], trig.TC),
    ("pytest-missing-fixture", {"test_p.py": "def test_y(gpu_device):\n    pass\n"}, [], trig.TC),
    ("pytest-missing-fixture", {"test_q.py": "def test_z(model_cache):\n    pass\n"}, [], trig.TC),
    ("pytest-usage-error", {"test_r.py": "def test_ok():\n    pass\n"}, ["--bogus-flag-1"], trig.TC),
    ("pytest-usage-error", {"test_s.py": "def test_ok():\n    pass\n"}, ["--no-such-option=2"], trig.TC),
    ("pytest-usage-error", {"test_t.py": "def test_ok():\n    pass\n"}, ["--maxfail=abc"], trig.TC),
    ("pytest-file-not-found", {"test_u.py": "def test_ok():\n    pass\n"}, ["tests/nonexistent_1.py"], trig.TC),
    ("pytest-file-not-found", {"test_v.py": "def test_ok():\n    pass\n"}, ["suite/test_missing_2.py"], trig.TC),
    ("pytest-no-tests", {"test_w.py": "x = 1\n"}, [], trig.TC),
    ("pytest-no-tests", {"test_x.py": "def test_ok():\n    pass\n"}, ["-k", "nomatch_2"], trig.TC),
    ("pytest-no-tests", {"test_y.py": "def helper():\n    pass\n"}, [], trig.TC),
    ("pytest-internal-error", {"test_z.py": "def test_ok():\n    pass\n",
                               "conftest.py": "def pytest_collection_modifyitems(items):\n    raise RuntimeError('plugin broke 1')\n"}, [], trig.TC),
    ("pytest-internal-error", {"test_zz.py": "def test_ok():\n    pass\n",
                               "conftest.py": "def pytest_collection_modifyitems(items):\n    raise ValueError('bad marker 2')\n"}, [], trig.TC),
]


def trigger_pytest(c: Corpus) -> None:
    for index, (label, files, args, category) in enumerate(PYTEST_CASES):
        work = c.tmp / f"pytest-{index}"
        work.mkdir()
        for name, text in files.items():
            (work / name).write_text(text)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=work,
                             capture_output=True, text=True, timeout=120, env=env)
        if out.returncode == 0:
            raise RuntimeError(f"{label}: pytest passed")
        text = (out.stdout.strip() + "\n" + out.stderr.strip()).strip()
        c.add("triggered", "", text[-1500:], category, label, exit_code=out.returncode, context={"task_type": "pytest"})


PIP_CASES = [
    ("pip-no-matching-distribution", ["nonexistent-pkg-xyz==1.0"], trig.TD),
    ("pip-no-matching-distribution", ["torch-nightly-missing>=2.9"], trig.TD),
    ("pip-no-matching-distribution", ["dtf-private-helpers==0.3.1"], trig.TD),
    ("pip-invalid-requirement", ["bad spec!!"], trig.TC),
    ("pip-invalid-requirement", ["torch[cuda"], trig.TC),
    ("pip-requirements-file-missing", ["-r", "requirements-gpu.txt"], trig.TC),
    ("pip-requirements-file-missing", ["-r", "ci/requirements-2.txt"], trig.TC),
]


def trigger_pip(c: Corpus) -> None:
    # only our settings: the machine's own PIP_* (find-links, indexes) must not leak into the corpus
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env = {**env, "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for label, args, category in PIP_CASES:
        out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", *args], cwd=c.tmp,
                             capture_output=True, text=True, timeout=120, env=env)
        if out.returncode == 0:
            raise RuntimeError(f"{label}: pip succeeded")
        text = (out.stderr.strip() + "\n" + out.stdout.strip()).strip()
        c.add("triggered", "", text[-1500:], category, label, exit_code=out.returncode, context={"stage": "install"})


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dtf-corpus-") as tmp:
        corpus = Corpus(Path(tmp))
        for step in (trig.trigger_network, trig.trigger_system, trig.trigger_python, trigger_pytest, trigger_pip):
            before = len(corpus.entries)
            step(corpus)
            print(f"{step.__name__}: {len(corpus.entries) - before} entries", file=sys.stderr)
        before = len(corpus.entries)
        corpus_libraries.add_libraries(corpus)
        print(f"add_libraries: {len(corpus.entries) - before} entries", file=sys.stderr)
        corpus_documented.add_documented(corpus)
        corpus_formats.add_formats(corpus)
        corpus_blind.add_blind(corpus)
        corpus_blind.add_blind_2(corpus)
        corpus_blind.add_blind_3(corpus)
        corpus_blind.add_blind_batches(corpus)
    with OUT.open("w") as f:
        for entry in corpus.entries:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    sources = Counter(e["source"] for e in corpus.entries)
    libraries = Counter(e["library"] for e in corpus.entries)
    print(f"{len(libraries)} libraries/tools: {dict(sorted(libraries.items()))}", file=sys.stderr)
    print(f"wrote {len(corpus.entries)} entries ({dict(sources)}), "
          f"{len({e['pattern'] for e in corpus.entries})} patterns, to {OUT.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
