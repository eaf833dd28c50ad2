"""Error classification in layers, each a separate data-driven step; first answer wins.

1. **Pre-classified**: a category the report (``"category"``) or the exception (``.category``)
   carries, when the registry knows it (custom categories, dtf's own reports).
2. **User rules** added with ``add_rule(rule)`` (``first=True``, the default).
3. **Code tables** (``knowledge/codes.json``, ``error_handling.codes``): NVIDIA Xid numbers, DCGM
   failure codes, CUDA/HIP runtime and driver error names, cuDNN/cuBLAS statuses, NCCL results,
   onnxruntime and gRPC status codes.
4. **Confident default rules** (``rules/*.json``): message rules marked ``overrides_type``, specific
   exception types (and their bases: the live MRO, or ``knowledge/bases.json`` for a report that
   only names its type) and errno, message regexes, exit code / signal.
5. **Type words** (``knowledge/type_words.json``): the words of an exception's class name
   (``DeadKernelError``: dead → worker crash) when they name one category and no other.
6. **The learned layer** (``error_handling.learned``): a linear model over the type, stage, task
   type and words; its answer counts when its probability reaches the model's floor.
7. **Weak default rules**: generic exception types alone (``RuntimeError``, ``ValueError`` ...),
   messages that say little (``"weak": true``: a test runner's summary that tests failed) and
   context alone (``stage``, ``task_type``).
8. User rules added with ``first=False`` (fallbacks), then ``UNKNOWN_ERROR``.

Within a rule group rules are tried by tier (``Tier``); within a tier: higher ``priority`` first,
then more matchers (a rule on type + context beats one on type alone), then the nearest class in
the exception's MRO, then file order. ``explain`` names the deciding step: a rule's name,
``code:<table>:<code>``, ``type-word:<word>``, ``learned (<probability>)`` or ``pre-classified``.

Exit codes and signals (default rules, see ``rules/system.json``): a negative exit code is
``-signal`` (subprocess), an exit code 129..191 is ``128 + signal`` (shells). SIGKILL / 137 →
RESOURCE_ALLOCATION_ERROR (an unexplained SIGKILL is the OOM killer's signature); SIGSEGV,
SIGABRT, SIGBUS, SIGFPE, SIGPIPE, SIGQUIT, SIGSYS, SIGTRAP → WORKER_CRASH_ERROR; SIGILL →
HARDWARE_CAPABILITY_ERROR (an instruction the CPU lacks); SIGTERM, SIGHUP, SIGINT →
WORKER_DISCONNECTION_ERROR (stopped from outside: shutdown, preemption); SIGXFSZ, SIGXCPU →
RESOURCE_ALLOCATION_ERROR. Shell 127 → TEST_DEPENDENCY_ERROR (command not found), 126 →
TEST_CONFIGURATION_ERROR (not executable). pytest (``task_type`` ``pytest``): 1 →
TEST_EXECUTION_ERROR, 2 → TEST_CONFIGURATION_ERROR unless the output shows an import error
(→ TEST_DEPENDENCY_ERROR, decided by the message rules first), 3, 4, 5 → TEST_CONFIGURATION_ERROR.
"""
from __future__ import annotations

import errno as _errno
import functools
import json
import re
from collections import OrderedDict
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from error_handling.categories import CategoryRegistry, ErrorCategory
from error_handling.codes import CodeTables
from error_handling.features import features
from error_handling.learned import LinearModel, shipped_model
from error_handling.model import ErrorInfo, normalize_error
from error_handling.prefilter import filters_hold
from error_handling.rule import (GENERIC_TYPE_NAMES, ClassificationRule, Tier, load_rules_file,
                                 parse_rules, rules_from_iterable)
from error_handling.rulesets import RuleSet
from error_handling.type_knowledge import type_facts, type_names, type_word_category

__all__ = ["ClassificationRule", "Classifier", "Tier", "default_rules", "GENERIC_TYPE_NAMES",
           "PRE_CLASSIFIED"]

PRE_CLASSIFIED = "pre-classified"  # the "rule" of a category the report itself carried

DEFAULT_RULE_FILES = ("dtf.json", "gpu.json", "system.json", "network.json", "python.json", "knowledge.json")
_TRACEBACK_TAIL_CHARS = 3000
_ERRNO_RE = re.compile(r"\[Errno (-?\d+)\]")
# A launcher's line for a child it saw die by a signal ("exits with return code = -6", Python's
# negative returncode): the signal, when the exit status does not already name one.
# (each branch starts with its letter, the word boundary before it a lookbehind after it: the search
# skips from one e or r to the next instead of trying a boundary at every position)
_SIGNAL_CODE_RE = re.compile(r"(?:e(?<!\we)xit|r(?<!\wr)eturn) ?(?:code|status)\s*(?:=|:|of)?\s*-(\d{1,2})\b")
# Status codes spelled as constants (GEARMAN_JOB_QUEUE_FULL, CUSTATEVEC_STATUS_ARCH_MISMATCH) say
# in words what happened: the rules also read them as words ("job queue full"), on a line of
# their own after the text.
# (the word boundary before the first capital written as a lookbehind after it: a regex that
# starts with a character class lets the search skip to the next capital)
_CONSTANT_CODE_RE = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z0-9]*(?:_[A-Z0-9]+){2,}\b")
# what every such constant holds, starting with a literal (a scan from one "_" to the next): most
# texts with an underscore hold only snake_case names, and skip the search above
_CONSTANT_CODE_GATE = re.compile(r"_[A-Z0-9]+_[A-Z0-9]")
# An errno's symbolic name in the text (Node's "connect ECONNREFUSED", "error ENOSPC", Go's and
# Rust's wrapped errors) is the same fact as its number.
_ERRNO_NUMBERS = {name: getattr(_errno, name) for name in dir(_errno) if name[:1] == "E" and name.isupper()}
# starts with the literal "E" (the lookbehind after it): a scan from one E to the next, not a
# lookbehind tried at every position of the message
_ERRNO_NAME_RE = re.compile(r"E(?<![\w-]E)[A-Z][A-Z0-9]{2,}(?![\w-])")
# "torch.cuda.OutOfMemoryError: CUDA out of memory" at the start of a log line or traceback end
_TYPE_PREFIX_RE = re.compile(
    r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Full|Timeout|Expired|Pool))(?::|$)")


def default_rules() -> list[ClassificationRule]:
    """The shipped rules, in evaluation order of their files (read and compiled once per
    process: rules are immutable, so every classifier shares them)."""
    return list(_shipped_rules())


@functools.cache
def _shipped_rules() -> tuple[ClassificationRule, ...]:
    rules: list[ClassificationRule] = []
    package = resources.files("error_handling.rules")
    for name in DEFAULT_RULE_FILES:
        data = json.loads(package.joinpath(name).read_text(encoding="utf-8"))
        rules.extend(parse_rules(data, f"error_handling/rules/{name}"))
    return tuple(rules)


_WEAK_TIERS = frozenset({Tier.GENERIC_TYPE, Tier.WEAK_MESSAGE, Tier.CONTEXT})
_MODEL_CONTEXT_KEYS = ("stage", "task_type")


_FRAMES_KEPT = 2  # indented lines kept before each exception line: the innermost frame and its code


def traceback_essence(tail: str) -> str:
    """What of a traceback the rules read: its unindented lines (exception lines, "During
    handling ..." headers) and the innermost frame before each exception line. The outer frames'
    file and code lines name the caller, not the failure, and made most of a first sight's cost
    (every rule's needles scanned through kilobytes of frames)."""
    lines = tail.split("\n")
    keep: list[str] = []
    pending: list[str] = []
    for line in lines:
        if line.startswith((" ", "\t")):
            pending.append(line)
            if len(pending) > _FRAMES_KEPT:
                pending.pop(0)
        else:
            keep.extend(pending)
            pending.clear()
            keep.append(line)
    keep.extend(pending)
    return "\n".join(keep)


def _errno_by_name(message: str) -> int | None:
    for name in _ERRNO_NAME_RE.findall(message) if "E" in message else ():
        number = _ERRNO_NUMBERS.get(name)
        if number is not None:
            return number
    return None


def _class_name(cls: type) -> str:
    mod = cls.__module__
    return cls.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{cls.__qualname__}"


class _Facts:
    """What one failure offers to the matchers, computed once per (uncached) classification."""

    __slots__ = ("type_ranks", "mro_len", "text", "lowered", "ascii", "filterable", "grams", "errno", "exit_code",
                 "signals", "context")

    def __init__(self, info: ErrorInfo) -> None:
        self.type_ranks: dict[str, int] = {}
        if info.exception is not None:
            for rank, cls in enumerate(type(info.exception).__mro__[:-1]):
                for name in type_names(_class_name(cls)):
                    self.type_ranks.setdefault(name, rank)
            self.mro_len = max(self.type_ranks.values(), default=0) + 1
        else:
            type_name = info.type or self._type_from_text(info)
            if type_name:
                self.type_ranks, self.mro_len = type_facts(type_name)
            else:
                self.mro_len = 1
        text = info.message or ""
        if info.traceback:
            text = f"{text}\n{traceback_essence(info.traceback[-_TRACEBACK_TAIL_CHARS:])}"
        if "_" in text and _CONSTANT_CODE_GATE.search(text) is not None:
            codes = _CONSTANT_CODE_RE.findall(text)
            if codes:
                text = f"{text}\n{' '.join(dict.fromkeys(codes)).replace('_', ' ').lower()}"
        self.text = text
        self.lowered = text.lower()  # for the rules' literal prefilters
        self.ascii = text.isascii()
        self.filterable = self.ascii or filters_hold(text)  # the literal prefilters hold
        self.grams: frozenset[str] | None = None  # read on first use (error_handling.rulesets.GatedTier)
        errno = info.errno
        if errno is None:
            message = info.message or ""
            found = _ERRNO_RE.search(message) if "[Errno " in message else None  # (what every match starts with)
            errno = int(found.group(1)) if found else _errno_by_name(message)
        self.errno = errno
        self.exit_code = info.exit_code
        signals: set[int] = set()
        if info.signal is not None:
            signals.add(info.signal)
        if info.exit_code is not None:
            if info.exit_code < 0:
                signals.add(-info.exit_code)
            elif 128 < info.exit_code < 192:
                signals.add(info.exit_code - 128)
        if not signals and ("code" in text or "status" in text):
            found = _SIGNAL_CODE_RE.search(text)
            if found is not None and 0 < int(found.group(1)) < 32:
                signals.add(int(found.group(1)))
        self.signals = signals
        self.context = info.context or {}

    @staticmethod
    def _type_from_text(info: ErrorInfo) -> str:
        found = _TYPE_PREFIX_RE.match(info.message or "")
        if found is None and info.traceback:
            lines = [ln for ln in info.traceback.strip().splitlines() if ln.strip()]
            found = _TYPE_PREFIX_RE.match(lines[-1]) if lines else None
        return found.group(1) if found else ""


_PLAIN_KEY_TYPES = frozenset({str, int, float, bool})


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


class Classifier:
    """Maps a failure to a category (built-in ``ErrorCategory`` or a registered custom member)."""

    def __init__(self, rules: Iterable[ClassificationRule | Mapping[str, Any]] | None = None,
                 categories: CategoryRegistry | None = None, *, cache_size: int = 4096,
                 codes: CodeTables | bool | None = None, model: LinearModel | bool | None = None,
                 type_words: bool | None = None) -> None:
        """``codes``, ``type_words`` and ``model``: True (or None with the default rules) uses the
        shipped code tables / type-word table / learned model, False (or None with ``rules`` of
        your own) none; ``codes`` and ``model`` also take your own."""
        self._registry = categories if categories is not None else CategoryRegistry()
        self._cache_size = max(0, int(cache_size))
        shipped = rules is None
        if codes is None:
            codes = shipped
        if model is None:
            model = shipped
        self._type_words = shipped if type_words is None else bool(type_words)
        self._codes = CodeTables.shipped() if codes is True else (codes or None)
        self._model_arg = model
        self._model: LinearModel | None = model if isinstance(model, LinearModel) else None
        defaults = default_rules() if rules is None else rules_from_iterable(rules)
        self._groups: dict[str, list[ClassificationRule]] = {"first": [], "default": [], "last": []}
        for rule in defaults:
            self._check(rule)
        self._groups["default"] = defaults
        self._rebuild()

    @property
    def categories(self) -> CategoryRegistry:
        return self._registry

    @property
    def rules(self) -> list[ClassificationRule]:
        """All rules in group order (user-first, defaults, user fallbacks)."""
        return [r for g in ("first", "default", "last") for r in self._groups[g]]

    def _check(self, rule: ClassificationRule) -> None:
        if not isinstance(rule, ClassificationRule):
            raise TypeError(f"expected a ClassificationRule, got {type(rule).__name__}")
        try:
            self._registry.resolve(rule.category)
        except ValueError:
            raise ValueError(f"rule {rule.name!r}: unknown category {rule.category!r} "
                             "(register custom categories with the CategoryRegistry first)") from None

    @property
    def model(self) -> LinearModel | None:
        """The learned layer (the shipped one is read on first use), or None."""
        if self._model is None and self._model_arg is True:
            self._model = shipped_model()
            self._model_arg = self._model is not None
        return self._model

    @property
    def code_tables(self) -> CodeTables | None:
        return self._codes

    def _rebuild(self) -> None:
        defaults = self._groups["default"]
        self._first = RuleSet(self._groups["first"])
        # the code tables read the text just before the confident rules: their needles ride on
        # the confident rules' scan (one Hyperscan scan names both)
        self._confident = RuleSet([r for r in defaults if r.tier not in _WEAK_TIERS],
                                  also=self._codes.needle_expressions() if self._codes is not None else ())
        self._code_gate = self._confident.also_gate
        self._weak = RuleSet([r for r in defaults if r.tier in _WEAK_TIERS])
        self._last = RuleSet(self._groups["last"])
        # only context keys some rule (or the model) reads take part in the cache key
        keys = {k for r in self.rules for k, _ in r.context}
        if self._model_arg:
            keys.update(_MODEL_CONTEXT_KEYS)
        self._context_keys = tuple(sorted(keys))
        self._resolved = {r.category: self._registry.resolve(r.category) for r in self.rules}
        # oldest first, evicted in insertion order: an OrderedDict, since popping a plain dict's
        # first key walks over the slots of every key popped before it (microseconds each)
        self._cache: OrderedDict[tuple, tuple[Enum, str | None]] = OrderedDict()

    def add_rule(self, rule: ClassificationRule | Mapping[str, Any], first: bool = True) -> None:
        """Add a user rule: ``first=True`` puts it before every default rule (and earlier user
        rules); ``first=False`` makes it a fallback consulted only when no default rule matches."""
        if not isinstance(rule, ClassificationRule):
            rule = ClassificationRule.from_mapping(rule)
        self._check(rule)
        if first:
            self._groups["first"].insert(0, rule)
        else:
            self._groups["last"].append(rule)
        self._rebuild()

    def load_rules(self, path: str | Path, first: bool = True) -> list[ClassificationRule]:
        """Add every rule of a JSON/TOML file (all or nothing); returns them. Bad files raise ValueError."""
        rules = load_rules_file(path)
        for rule in rules:
            try:
                self._check(rule)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        if first:
            self._groups["first"][0:0] = rules
        else:
            self._groups["last"].extend(rules)
        self._rebuild()
        return rules

    def warm_up(self, timeout: float | None = None) -> bool:
        """Block until the multi-regex gates have compiled (``error_handling.multigate``; they
        compile in the background, and classifying meanwhile uses the gram index): True when
        they all answer, False where they do not run here or ``timeout`` ran out."""
        gates = [gate for rule_set in (self._first, self._confident, self._weak, self._last)
                 for gate in rule_set.gates()]
        return bool(gates) and all(gate.wait(timeout) for gate in gates)

    def cache_info(self) -> dict[str, int]:
        """How many distinct failures are cached, and the bound."""
        return {"size": len(self._cache), "max_size": self._cache_size}

    def classify(self, info: Any) -> Enum:
        return self.explain(info)[0]

    def explain(self, info: Any) -> tuple[Enum, str | None]:
        """(category, name of the deciding rule or None for UNKNOWN_ERROR)."""
        if not isinstance(info, ErrorInfo):
            info = normalize_error(info)
        if info.category is not None and info.category != "unknown_error":
            known = self._registry.get(info.category)
            if known is not None:  # decided by whoever raised it (a custom category, dtf's own)
                return known, PRE_CLASSIFIED
        ctx = info.context
        exc = info.exception
        tb = info.traceback
        if tb and len(tb) > _TRACEBACK_TAIL_CHARS:  # else the string itself: its hash is cached
            tb = tb[-_TRACEBACK_TAIL_CHARS:]
        if ctx:
            values = []
            for k in self._context_keys:
                v = ctx.get(k)
                values.append(v if v is None or type(v) in _PLAIN_KEY_TYPES else _hashable(v))
            ctx_key: tuple | None = tuple(values)
        else:
            ctx_key = None
        key = (type(exc) if exc is not None else info.type, info.message, tb or None,
               info.exit_code, info.signal, info.errno, ctx_key)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._decide(info, _Facts(info))
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                self._cache.popitem(last=False)  # oldest first: bounded, no LRU bookkeeping
            self._cache[key] = result
        return result

    def decided_by_rules(self, info: Any) -> bool:
        """Whether a rule or a code decides ``info`` before the learned layer would be asked
        (``error_handling.train_model`` calibrates the model on the reports it does answer)."""
        if not isinstance(info, ErrorInfo):
            info = normalize_error(info)
        return self._before_model(info, _Facts(info)) is not None

    def _before_model(self, info: ErrorInfo, facts: _Facts) -> tuple[Enum, str] | None:
        """The user's first rules, the code tables, the confident rules, the fallback codes and
        the words of the type's name, in that order: what decides before the learned layer."""
        rule = self._first.decide(facts)
        if rule is not None:
            return self._resolved[rule.category], rule.name
        if self._codes is not None:
            found = self._codes.decide(facts.text, gate=self._code_gate)
            if found is None and facts.exit_code is not None and not -256 < facts.exit_code < 256:
                found = self._codes.decide(str(facts.exit_code))  # a Windows NTSTATUS exit status
            if found is not None:
                category = self._registry.get(found[0])
                if category is not None:
                    return category, f"code:{found[1]}:{found[2]}"
        rule = self._confident.decide(facts)
        if rule is not None:
            return self._resolved[rule.category], rule.name
        if self._codes is not None:
            found = self._codes.decide(facts.text, fallback=True)
            if found is not None and (category := self._registry.get(found[0])) is not None:
                return category, f"code:{found[1]}:{found[2]}"
        if self._type_words and info.type:
            found = type_word_category(info.type)
            if found is not None and (category := self._registry.get(found[0])) is not None:
                return category, f"type-word:{found[1]}"
        return None

    def _decide(self, info: ErrorInfo, facts: _Facts) -> tuple[Enum, str | None]:
        found = self._before_model(info, facts)
        if found is not None:
            return found
        model = self.model if self._model_arg else None
        guess: tuple[Enum, str] | None = None
        if model is not None:
            label, p, doubt = model.assess(features(info.type or "", info.message or "", info.traceback,
                                                    info.exit_code, info.signal, info.context))
            # the model's "unknown_error", or its best class with unknown_error close behind, is no
            # decision: the weaker rules below may still know
            if p >= model.floor and doubt < model.doubt and label != ErrorCategory.UNKNOWN_ERROR.value:
                category = self._registry.get(label)
                if category is not None:
                    guess = category, f"learned ({p:.2f})"
                    if p >= model.sure:
                        return guess
        for rule_set in (self._weak, self._last):
            rule = rule_set.decide(facts)
            if rule is not None:
                return self._resolved[rule.category], rule.name
        if guess is not None:  # unsure, but more often right than unknown_error would be
            return guess
        return ErrorCategory.UNKNOWN_ERROR, None
