"""Features of one failure for the learned layer: the words a reader would look at.

Shared by the trainer (``error_handling.train_model``) and the run-time model
(``error_handling.learned``) so both see a failure the same way. Parameters (numbers, paths,
addresses, hex) carry no words and drop out; what is left is the exception's type (its short
name, its package and the words of its name), the words of the message's
first 2,000 characters and the traceback's last line (CamelCase names split into their words), the
concepts those words belong to (``LEXICON``: "alloc", "oom" and "heap" are all memory), upper-case codes (``CUDA_ERROR_NO_DEVICE``), the
exit code or signal, and the stage and task type. Word pairs were tried and dropped: they
fitted one library's wording and generalised worse to libraries left out.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

_WORD_RE = re.compile(r"[A-Za-z][a-z]+|[A-Z]{2,}(?![a-z])")
_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z_]{1,40}")
# Codes: CONSTANT_NAMES, cudaErrorX/hipErrorX/ncclX names, signal names, errno names. Each kind
# matches a whole word, so the codes of a text are the union of the kinds' matches: each kind is
# searched only where the text holds what it needs, by a regex that starts with a character or a
# literal (the search skips to the next candidate instead of trying a word boundary everywhere).
_CODE_RES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("_",), re.compile(r"[A-Z](?<!\w[A-Z])[A-Z0-9]*_[A-Z0-9_]{2,}\b")),
    (("cuda", "hip", "nccl"), re.compile(r"\b(?:cuda|hip|nccl)[A-Z]\w+")),
    (("SIG",), re.compile(r"SIG(?<!\wSIG)[A-Z]{2,6}\b")),
    (("E",), re.compile(r"E(?<!\wE)[A-Z]{3,9}\b")),
)
_TYPE_IN_TEXT_RE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Timeout|Full|Failed))(?::|$)", re.M)
# The message's first 2,000 characters: a CI step's whole output (5 to 40 lines) often names its
# cause past the first lines. Scored on check sets 159-190 by models trained without them: 78.9%
# right reading 600, 80.6% at 1,200, 80.9% at 2,000, 80.5% at 3,000 and at 5,000.
_MESSAGE_CHARS = 2000
_STOP = frozenset({"the", "of", "to", "in", "on", "at", "is", "for", "and", "or", "an", "be", "by", "it", "as",
                   "with", "this", "that", "was", "are", "from", "line", "file", "py"})


# Words that name the same idea across libraries' wordings, by concept: a model that learned
# "memory" errors from torch also knows them in cupy's or numpy's words. Stems: a word counts
# when it starts with one (so "alloc" covers allocate, allocation, allocating).
LEXICON: dict[str, tuple[str, ...]] = {
    "memory": ("memory", "oom", "alloc", "heap", "rss", "exhaust", "bytes", "mib", "gib", "kib", "space", "quota"),
    "connect": ("connect", "refus", "reset", "unreach", "resolv", "dns", "socket", "peer", "endpoint", "network",
                "hostname", "route", "pipe", "handshake", "reachab", "broker"),
    "time": ("timeout", "timed", "deadline", "expir", "waiting", "elapsed", "hang", "hung", "respond"),
    "gpu": ("gpu", "cuda", "hip", "rocm", "nvidia", "nvml", "xid", "cudnn", "cublas", "nccl", "mps", "webgpu", "adapter",
            "vram", "pci", "nvlink", "ecc", "driver"),
    "capability": ("capab", "support", "unsupport", "architect", "arch", "compute", "feature", "newer", "older",
                   "ampere", "sm_", "compat", "incompat", "limit", "float64", "half", "bfloat"),
    "performance": ("throttl", "thermal", "temperat", "slow", "clock", "latency", "lockup", "stall", "replay",
                    "degrad", "budget", "throughput"),
    "config": ("invalid", "config", "setting", "option", "argument", "parameter", "parse", "schema", "validat",
               "required", "mandatory", "syntax", "authentic", "malformed", "credential", "permission", "usage", "scheme", "uri",
               "url", "field", "key", "section"),
    "dependency": ("module", "import", "package", "install", "wheel", "librar", "dependen", "requirement", "pip",
                   "conda", "image", "pull", "manifest", "solv", "interpreter", "channel", "header", "shared", "version", "metadata"),
    "crash": ("died", "segfault", "segmentation", "abort", "core", "dumped", "crash", "fatal", "sigsegv", "sigabrt",
              "illegal", "misalign", "corrupt", "terminat"),
    "cleanup": ("cleanup", "clean", "remov", "unlink", "leak", "close", "busy", "teardown", "rmdir", "exist",
                "gone", "stale", "unclosed"),
    "overload": ("capacity", "overload", "rate", "queue", "full", "load", "many", "busy", "slowdown", "reject",
                 "concurren", "backpressure", "throttled", "unavailable"),
    "disconnect": ("disconnect", "heartbeat", "preempt", "websocket", "lost", "evict", "drain", "shutdown",
                   "keepalive", "ping", "pong", "closed"),
    "test": ("assert", "expect", "differ", "equal", "shape", "mismatch", "falsif", "actual", "broadcast",
             "matrix", "tensor", "query", "table", "column"),
    "killed": ("kill", "sigkill", "signal"),
}
_STEMS: list[tuple[str, str]] = sorted(((stem, concept) for concept, stems in LEXICON.items() for stem in stems),
                                       key=lambda sc: -len(sc[0]))
# by first letter: a word is compared only with the stems that can start it
_STEMS_BY_INITIAL: dict[str, tuple[tuple[str, str], ...]] = {
    initial: tuple(sc for sc in _STEMS if sc[0][0] == initial) for initial in {stem[0] for stem, _ in _STEMS}}
# by first letter, whether any of its stems starts a word: one match (most words start none)
_STEM_GATES = {initial: re.compile("|".join(re.escape(stem) for stem, _ in stems)).match
               for initial, stems in _STEMS_BY_INITIAL.items()}
_CONCEPT_CACHE: dict[str, tuple[str, ...]] = {}
_CONCEPT_CACHE_SIZE = 4096  # words, process-wide; past it concepts are worked out each time


def concepts(word: str) -> tuple[str, ...]:
    """The concepts a lower-case word belongs to (memoised; the vocabulary of errors is small)."""
    found = _CONCEPT_CACHE.get(word)
    if found is None:
        gate = _STEM_GATES.get(word[:1])
        found = () if gate is None or gate(word) is None else \
            tuple(sorted({c for stem, c in _STEMS_BY_INITIAL[word[:1]] if word.startswith(stem)}))
        if len(_CONCEPT_CACHE) < _CONCEPT_CACHE_SIZE:
            _CONCEPT_CACHE[word] = found
    return found


def type_words(name: str) -> list[str]:
    """``ConnectionRefusedError`` -> ``["connection", "refused", "error"]``."""
    return [w.lower() for w in _WORD_RE.findall(name)]


_TOKEN_FEATURES: dict[str, tuple[str, ...]] = {}
_TOKEN_FEATURES_SIZE = 4096  # tokens, process-wide (as the concepts); past it their features are worked out each time


def _token_features(token: str) -> tuple[str, ...]:
    """What one token of the text adds: its word, the words inside a CamelCase or camelCase
    name (OutOfMemoryError, cudaErrorNoDevice name the error), and their concepts."""
    out: list[str] = []
    word = token.lower()
    if word not in _STOP and len(word) >= 2:
        out.append(f"w={word}")
        out.extend(f"C={concept}" for concept in concepts(word))
        if not token.islower() and not token.isupper():
            parts = _WORD_RE.findall(token)
            if len(parts) > 1:
                for part in parts:
                    if len(part) > 1:
                        part = part.lower()
                        out.append(f"w={part}")
                        out.extend(f"C={concept}" for concept in concepts(part))
    found = tuple(out)
    if len(_TOKEN_FEATURES) < _TOKEN_FEATURES_SIZE:
        _TOKEN_FEATURES[token] = found
    return found


def features(type_name: str, message: str, traceback: str | None, exit_code: int | None,
             signal: int | None, context: Mapping[str, Any] | None) -> list[str]:
    """The distinct feature strings of one failure."""
    out: set[str] = set()
    text = (message or "")[:_MESSAGE_CHARS]
    if traceback:
        tail = traceback.rstrip()[-400:].rsplit("\n", 1)[-1]
        text = f"{text}\n{tail}"
        if not type_name:
            found = _TYPE_IN_TEXT_RE.search(tail)
            type_name = found.group(1) if found else ""
    if not type_name:
        found = _TYPE_IN_TEXT_RE.search(text)
        type_name = found.group(1) if found else ""
    if type_name:
        parts = type_name.split(".")
        short = parts[-1]
        out.add(f"T={short}")
        if len(parts) > 1:
            out.add(f"M={parts[0].lstrip('_')}")
        for word in type_words(short):
            out.add(f"t={word}")
            for concept in concepts(word):
                out.add(f"tc={concept}")
    else:
        out.add("T=")
    for token in set(_TOKEN_RE.findall(text)):  # (each distinct token once: the features are a set)
        found = _TOKEN_FEATURES.get(token)
        if found is None:
            found = _token_features(token)
        out.update(found)
    for needles, regex in _CODE_RES:
        for needle in needles:
            if needle in text:
                for code in regex.findall(text):
                    out.add(f"c={code}")
                break
    if exit_code is not None:
        out.add(f"x={exit_code}")
        if exit_code < 0 or 128 < exit_code < 192:
            out.add(f"sig={-exit_code if exit_code < 0 else exit_code - 128}")
    if signal is not None:
        out.add(f"sig={signal}")
    if context:
        stage = context.get("stage")
        if stage is not None:
            out.add(f"s={str(stage).lower()}")
        task_type = context.get("task_type")
        if task_type is not None:
            out.add(f"k={str(task_type).lower()}")
    return sorted(out)


def features_of(entry: Any) -> list[str]:
    """Features of an ErrorInfo or a report mapping."""
    if isinstance(entry, Mapping):
        return features(entry.get("type") or "", entry.get("message") or "", entry.get("traceback"),
                        entry.get("exit_code"), entry.get("signal"), entry.get("context"))
    return features(entry.type, entry.message, entry.traceback, entry.exit_code, entry.signal, entry.context)
