"""Error patterns: similarity grouping of failures, frequency, correlation and trend, in bounded memory.

Grouping. Each failure becomes a template (``make_template``: primary line, parameters masked,
short type name in front). An exact template seen before goes to its pattern at once. A new
template is compared token by token with the patterns of the same category and token count
(like Drain's length buckets); two tokens match when equal, when the pattern has a wildcard
there, or when both are masks (``<NUM>`` vs ``<STR>``: both are parameters). It joins the most
similar pattern when ``matches / tokens >= similarity_threshold``; the positions that differ
become ``<*>`` in the pattern's shown template. When no pattern of its length is that close,
patterns of nearby lengths are aligned with it (``similarity.align``: longest common subsequence, as
Spell does; a run of differing tokens is one differing parameter and one ``<*>``), with the
same threshold on aligned / (aligned + differing runs). Templates that differ in an error code
(SIGSEGV, ENOSPC, a CONSTANT_NAME, a number masking kept: Xid 79, HTTP 503) never join, nor
does a template that would leave more than half of a pattern's tokens ``<*>`` (merge after merge
would otherwise wear a pattern down to wildcards that every template of its length matches).
A whole output (five lines or more) whose template joined nothing gets a second chance: the
pattern whose outputs share its rarer words (``word_index``; ``word_threshold``). Otherwise it
founds a new pattern.

Pattern ids are ``"pat-" + blake2b(category, founding template)``: the same failure gets the same
id in every process, whatever arrived before it. A template that joined an existing pattern gets
that pattern's id; after a restart, ``seed_patterns(stored)`` restores the stored templates so
such variants line up with stored history too.

Trend (``window_seconds`` = W, counted over held errors): ``new`` when the pattern was first seen
within the last W; otherwise with r errors in the last W and p in the W before it: ``rising`` when
r >= 2·p and r - p >= 2, ``falling`` when p >= 2·r and p - r >= 2, else ``steady``.

Memory: a ring buffer of at most ``error_history_size`` errors (``len(aggregator)``); per-pattern
timestamps and correlation counters cover only held errors and are worked out from the ring when
asked for (one pass, reused until the next error), so recording an error touches no counters;
at most ``max_patterns`` patterns are kept, the least recently seen evicted first; the template
caches are bounded.
"""
from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque
from enum import Enum, StrEnum
from hashlib import blake2b
from typing import Any, Callable, Iterable, Mapping

from error_handling.buckets import LengthBuckets, informative as _informative, search_needs
from error_handling.causes import CauseTable, is_cause, shipped_causes
from error_handling.failing_tests import failing_test_template, says_nothing
from error_handling.model import ErrorInfo, normalize_error
from error_handling.similarity import WILDCARD as _WILDCARD
from error_handling.similarity import align, similarity as _similarity, token_counts, traceback_fingerprint
from error_handling.templates import make_template, primary_line
from error_handling.word_index import WordIndex, long_output, words_of

__all__ = ["ErrorAggregator", "Trend", "align", "cache_bound", "make_template", "pattern_id_for", "primary_line",
           "summarize_correlations", "traceback_fingerprint"]

_TEST_FAILURE = "test_execution_error"  # grouped by the failing test where it is named
_MAX_VARIANTS = 16        # exact templates remembered per pattern
_MAX_CANDIDATES = 256     # patterns compared when a new template arrives
_MAX_TAGS = 8             # tags per error kept for correlation
_MAX_TAG_CHARS = 64


class Trend(StrEnum):
    NEW = "new"
    RISING = "rising"
    STEADY = "steady"
    FALLING = "falling"

    def __str__(self) -> str:
        return self.value


def cache_bound(error_history_size: int) -> int:
    """Entries a per-message cache may hold for a history of this size: a few per held error,
    at most 4096, so memory follows ``error_history_size`` (50 held errors keep 200 messages)."""
    return min(4096, max(64, 4 * int(error_history_size)))


def pattern_id_for(template: str, category: str | None = None) -> str:
    """Stable id of the pattern founded by ``template`` (in ``category``)."""
    digest = blake2b(f"{category or ''}\x1f{template}".encode(), digest_size=8).hexdigest()
    return f"pat-{digest}"


class _Pattern:
    __slots__ = ("pattern_id", "category", "template", "tokens", "count", "first_seen", "last_seen",
                 "variants", "shape")

    def __init__(self, pattern_id: str, category: str | None, template: str, tokens: list[str]) -> None:
        self.pattern_id = pattern_id
        self.category = category
        self.template = template
        self.tokens = tokens
        self.count = 0
        self.first_seen: float | None = None
        self.last_seen: float | None = None
        self.variants: set[str] = {template}
        # (the tokens it was made from, their set, their token_counts, whether a wildcard is
        # among them): what the bounds that spare most comparisons read; see reshape()
        self.shape: tuple[list[str], frozenset[str], dict[str, int], bool] | None = None

    def reshape(self) -> tuple[list[str], frozenset[str], dict[str, int], bool]:
        """``shape`` worked out again (``tokens`` changed since)."""
        tokens = self.tokens
        self.shape = (tokens, frozenset(tokens), token_counts(tokens), _WILDCARD in tokens)
        return self.shape

    @property
    def shown_template(self) -> str:
        return " ".join(self.tokens)


class _Held:
    """A pattern's held errors: timestamps (oldest first) and correlation counters."""
    __slots__ = ("times", "workers", "hardware", "tags")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.workers: Counter[str] = Counter()
        self.hardware: Counter[str] = Counter()
        self.tags: dict[str, Counter[str]] = {}


def _shares(counter: Counter[str], total: int, top: int | None = None) -> dict[str, float]:
    if total <= 0:
        return {}
    return {k: round(v / total, 4) for k, v in counter.most_common(top)}


def summarize_correlations(correlations: Mapping[str, Any], min_share: float = 0.6) -> list[str]:
    """Plain sentences for values holding at least ``min_share`` of a pattern's errors,
    e.g. ``"87% of these on worker-3"``."""
    out: list[str] = []

    def add(values: Mapping[str, float], phrase: Callable[[str], str]) -> None:
        if values:
            value, share = min(values.items(), key=lambda kv: (-kv[1], kv[0]))  # ties: stable order
            if share >= min_share:
                out.append(f"{round(share * 100)}% of these {phrase(value)}")

    add(correlations.get("worker_id", {}), lambda v: f"on {v}")
    add(correlations.get("hardware_type", {}), lambda v: f"on {v} hardware")
    for tag, values in sorted(correlations.get("tags", {}).items()):
        add(values, lambda v, tag=tag: f"with {tag}={v}")
    return out


class ErrorAggregator:
    """Groups errors into patterns; see the module docstring for the rules."""

    def __init__(self, similarity_threshold: float = 0.8, error_history_size: int = 1000, *,
                 clock: Callable[[], float] = time.time, window_seconds: float = 300.0,
                 max_patterns: int | None = None, template_cache_size: int | None = None,
                 group_by_traceback: bool = False, group_by_cause: bool = True,
                 causes: CauseTable | None = None, word_threshold: float | None = 0.2) -> None:
        """``group_by_traceback``: a failure with a Python traceback that has frames of the
        application groups by its exception type and its innermost application frames, as Sentry
        does (``traceback_fingerprint``), whatever its message says; others by template.
        ``group_by_cause``: a failure whose message names a root cause of ``knowledge/causes.json``
        (a full disk, CUDA out of memory, a missing module) groups by that cause, whatever tool
        printed it or how (``error_handling.causes``); off, by template alone. ``causes``: the
        table to read (``causes.with_shipped(...)`` adds a team's own); the shipped one when None.
        ``word_threshold``: a whole output whose template matched no pattern joins the pattern
        whose outputs share its rarer words at this cosine or more (``error_handling.word_index``;
        not a test failure that names its test, which groups by that test); None turns it off."""
        if not 0.0 < similarity_threshold <= 1.0:
            raise ValueError("similarity_threshold must be in (0, 1]")
        if error_history_size < 1:
            raise ValueError("error_history_size must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.similarity_threshold = float(similarity_threshold)
        self.error_history_size = int(error_history_size)
        self.window_seconds = float(window_seconds)
        self.max_patterns = int(max_patterns) if max_patterns is not None else max(16, self.error_history_size)
        if self.max_patterns < 1:
            raise ValueError("max_patterns must be at least 1")
        self._clock = clock
        self.group_by_traceback = bool(group_by_traceback)
        self.group_by_cause = bool(group_by_cause)
        # (made now: its needle gate starts compiling in the background, not at the first error)
        self._cause_table = (causes or shipped_causes()) if self.group_by_cause else None
        self._words = WordIndex(word_threshold) if word_threshold else None
        self._template_cache_size = cache_bound(self.error_history_size) if template_cache_size is None \
            else max(0, int(template_cache_size))
        self._history: deque[tuple] = deque()
        self._patterns: OrderedDict[str, _Pattern] = OrderedDict()   # least recently seen first
        self._exact: dict[tuple[str | None, str], _Pattern] = {}
        self._buckets: dict[str | None, LengthBuckets] = {}  # per category, while it holds a pattern
        # a named cause's template -> its pattern and the categories its reports came with
        self._causes: dict[str, tuple[_Pattern, set[str | None]]] = {}
        self._templates: OrderedDict[tuple[str, str], str] = OrderedDict()  # oldest first (see Classifier._cache)
        self._test_templates: OrderedDict[tuple[str, str], str] = OrderedDict()  # the same, for test failures
        self._held: dict[str, _Held] | None = None  # _held_errors(), until the next error

    def __len__(self) -> int:
        return len(self._history)

    # -- grouping -----------------------------------------------------------------------------
    def template_for(self, error_type: str, message: str, category: str | None = None) -> str:
        """The template ``message`` groups by: its named root cause, else its masked primary line
        (``make_template``); for a test failure (``test_execution_error``) whose line says nothing
        but that an assertion failed, the test that failed where the message names it
        (``failing_tests``)."""
        key = (error_type, message)
        cache = self._template_cache(category)
        test = cache is self._test_templates
        template = cache.get(key)
        if template is None:
            table = self._cause_table
            template = (table is not None and table.find(message)) or make_template(message, error_type)
            if test and not is_cause(template) and says_nothing(template):
                template = failing_test_template(message) or template
            if self._template_cache_size:
                if len(cache) >= self._template_cache_size:
                    cache.popitem(last=False)
                cache[key] = template
        return template

    def _template_cache(self, category: str | None) -> OrderedDict[tuple[str, str], str]:
        """Where ``template_for`` keeps a message's template: apart for test failures when they
        may group by their test, so that one message in two categories keeps both answers."""
        return self._test_templates if category == _TEST_FAILURE and self.group_by_cause else self._templates

    def _find(self, category: str | None, template: str, info: ErrorInfo | None = None) -> _Pattern:
        pattern = self._exact.get((category, template))
        if pattern is not None:
            return pattern
        if is_cause(template):
            # a named root cause: one pattern whatever category each report got, never compared
            # by similarity; its id is the cause's alone (its outputs' words let others join it)
            held = self._causes.get(template)
            if held is None:
                pattern = self._create(pattern_id_for(template), category, template, template.split(" "))
                found = None if info is None else self._words_of(category, template, info.type, info.message)
                if found is not None:
                    self._words.add(pattern.pattern_id, category, found)
                return pattern
            held[1].add(category)
            self._exact[(category, template)] = held[0]
            return held[0]
        tokens = template.split(" ")
        n = len(tokens)
        wanted = frozenset(tokens)
        threshold = self.similarity_threshold
        buckets = self._buckets.get(category)
        if buckets is None:
            buckets = self._buckets[category] = LengthBuckets()
        bucket = buckets.bucket(n)
        best: _Pattern | None = None
        best_score = 0.0
        best_merged = tokens
        for checked, candidate in enumerate(reversed(bucket.values())):
            if checked >= _MAX_CANDIDATES:
                break
            shape = candidate.shape
            if shape is None or shape[0] is not candidate.tokens:
                shape = candidate.reshape()
            # similarity_bound, inline (a call per candidate costs as much as the sum)
            pattern_counts = shape[2]
            bound = pattern_counts.get("<>", 0)
            for token in wanted & shape[1]:
                bound += pattern_counts.get(token, 0)
            if bound / n < threshold:
                continue  # too few positions can be equal: below the threshold whatever the order
            score = _similarity(candidate.tokens, tokens)
            if score > best_score:
                merged = [a if a == b else _WILDCARD for a, b in zip(candidate.tokens, tokens)]
                if _informative(merged):
                    best, best_score, best_merged = candidate, score, merged
        if best is not None and best_score >= threshold:
            best.tokens = best_merged
            buckets.widened(n)
            return self._remember(best, category, template)
        counts = token_counts(tokens)
        best, merged = buckets.closest_other_length(tokens, wanted, counts, threshold, search_needs(n, threshold))
        if best is not None:
            self._leave_bucket(best)
            best.tokens = merged
            self._join_bucket(best)
            return self._remember(best, category, template)
        weights = None
        # the second chance: the rarer words of the whole output (read only now, when nothing joined)
        found = None if info is None else self._words_of(category, template, info.type, info.message)
        if found is not None:
            nearest, weights = self._words.nearest(category, found)
            if nearest is not None and info.type and self._patterns[nearest].template.split(" ", 1)[0] == tokens[0]:
                # the same exception type saying something else: its templates were compared above
                # and differ (a gRPC error's DNS failure and its reset share every other line)
                nearest = None
            if nearest is not None:
                self._words.add(nearest, category, found, weights)
                return self._remember(self._patterns[nearest], category, template)
        # a new pattern: its shape is what this search already worked out
        pattern = self._create(pattern_id_for(template, category), category, template, tokens,
                               (tokens, wanted, counts, _WILDCARD in wanted))
        if found is not None:
            self._words.add(pattern.pattern_id, category, found, weights)
        return pattern

    def _words_of(self, category: str | None, template: str, error_type: str | None,
                  message: Any) -> set[str] | None:
        """The words the second chance reads, or None: off, not a whole output, or a test failure
        that names its test (it groups by that test, never by its words)."""
        if self._words is None or not isinstance(message, str) or not long_output(message) or (
                category == _TEST_FAILURE and is_cause(template)):
            return None
        return words_of(error_type or "", message)

    def _remember(self, pattern: _Pattern, category: str | None, template: str) -> _Pattern:
        if len(pattern.variants) < _MAX_VARIANTS:
            pattern.variants.add(template)
            self._exact[(category, template)] = pattern
        return pattern

    def _create(self, pattern_id: str, category: str | None, template: str, tokens: list[str],
                shape: tuple[list[str], frozenset[str], dict[str, int], bool] | None = None) -> _Pattern:
        pattern = self._patterns.get(pattern_id)
        if pattern is None:
            pattern = _Pattern(pattern_id, category, template, tokens)
            pattern.shape = shape
            self._patterns[pattern_id] = pattern
            if is_cause(template):  # never compared by similarity: in no length bucket
                self._causes[template] = (pattern, {category})
            else:
                self._join_bucket(pattern)
            while len(self._patterns) > self.max_patterns:
                self._evict(next(iter(self._patterns)))
        self._exact[(category, template)] = pattern
        pattern.variants.add(template)
        return pattern

    def _join_bucket(self, pattern: _Pattern) -> None:
        buckets = self._buckets.get(pattern.category)
        if buckets is None:
            buckets = self._buckets[pattern.category] = LengthBuckets()
        buckets.join(pattern)

    def _leave_bucket(self, pattern: _Pattern) -> None:
        buckets = self._buckets.get(pattern.category)
        if buckets is not None:
            buckets.leave(pattern)
            if not buckets.size:
                del self._buckets[pattern.category]

    def _evict(self, pattern_id: str) -> None:
        pattern = self._patterns.pop(pattern_id)
        if self._words is not None:
            self._words.forget(pattern_id)
        held = self._causes.get(pattern.template)
        if held is not None and held[0] is pattern:
            # a cause's: its template under every category it came with, and the templates that
            # joined it by their words (word_index), under the category of the outputs it holds
            del self._causes[pattern.template]
            keys = [(category, template) for category in held[1] for template in pattern.variants]
        else:
            self._leave_bucket(pattern)
            keys = [(pattern.category, template) for template in pattern.variants]
        for key in keys:
            if self._exact.get(key) is pattern:
                del self._exact[key]

    def seed_patterns(self, patterns: Iterable[Mapping[str, Any]]) -> int:
        """Restore known patterns (``pattern_id``, ``template``, ``category``) without counts,
        so templates stored before a restart keep their ids; with a stored report's ``message``
        (and ``type``), its words too, so that outputs which joined a pattern by their words
        (``word_index``) find it again. Returns how many were added."""
        added = 0
        for item in patterns:
            template = str(item["template"])
            category = item.get("category")
            category = category.value if isinstance(category, Enum) else category
            pattern_id = str(item.get("pattern_id") or pattern_id_for(template, None if is_cause(template) else category))
            if pattern_id not in self._patterns:
                added += 1
            self._create(pattern_id, category, template, template.split(" "))
            found = self._words_of(category, template, item.get("type"), item.get("message"))
            if found is not None:
                self._words.add(pattern_id, category, found)
        return added

    # -- recording ----------------------------------------------------------------------------
    def add_error(self, error: Any, context: Mapping[str, Any] | None = None,
                  category: Enum | str | None = None, timestamp: float | None = None) -> str:
        """Record one failure (exception, mapping or ErrorInfo); returns its pattern id."""
        info = error if isinstance(error, ErrorInfo) else normalize_error(error)
        ctx = info.context
        if context:
            ctx = {**ctx, **context} if ctx else context
        if isinstance(category, Enum):  # before the str check: ErrorCategory is a str Enum
            category = category._value_
        elif category is not None:
            category = str(category)
        now = self._clock() if timestamp is None else timestamp
        template = None
        if self.group_by_traceback and info.traceback:
            template = traceback_fingerprint(info.type, info.traceback)
        if template is None:
            template = self._template_cache(category).get((info.type, info.message))
            if template is None:
                template = self.template_for(info.type, info.message, category)
        pattern = self._exact.get((category, template)) or self._find(category, template, info)
        self._patterns.move_to_end(pattern.pattern_id)
        pattern.count += 1
        if pattern.first_seen is None:
            pattern.first_seen = now
        pattern.last_seen = now
        tags: Any = None
        if ctx:
            worker, hardware, raw_tags = ctx.get("worker_id"), ctx.get("hardware_type"), ctx.get("tags")
            if raw_tags and (type(raw_tags) is dict or isinstance(raw_tags, Mapping)):
                tags = tuple(raw_tags.items())  # a snapshot: the caller's dict may change later
        else:
            worker = hardware = None
        history = self._history
        if len(history) >= self.error_history_size:
            history.popleft()
        history.append((pattern, now, worker, hardware, tags))
        self._held = None
        return pattern.pattern_id

    def _held_errors(self) -> dict[str, _Held]:
        """Per pattern id: its held errors' timestamps and correlation counters (one pass over
        the ring, reused until the next error is recorded)."""
        held = self._held
        if held is not None:
            return held
        held = {}
        patterns = self._patterns
        for pattern, ts, worker, hardware, tags in self._history:
            pid = pattern.pattern_id
            h = held.get(pid)
            if h is None:
                if patterns.get(pid) is not pattern:
                    continue  # evicted
                h = held[pid] = _Held()
            h.times.append(ts)
            if worker is not None:
                h.workers[worker if type(worker) is str else str(worker)] += 1
            if hardware is not None:
                h.hardware[hardware if type(hardware) is str else str(hardware)] += 1
            if tags:
                for n, (k, v) in enumerate(tags):
                    if n >= _MAX_TAGS:
                        break
                    counter = h.tags.get(key := _short(k))
                    if counter is None:
                        counter = h.tags[key] = Counter()
                    counter[_short(v)] += 1
        self._held = held
        return held

    def _held_for(self, pattern: _Pattern) -> _Held:
        return self._held_errors().get(pattern.pattern_id) or _Held()

    # -- queries ------------------------------------------------------------------------------
    def _get(self, pattern_id: str) -> _Pattern:
        try:
            return self._patterns[pattern_id]
        except KeyError:
            raise KeyError(f"unknown pattern {pattern_id!r}") from None

    def frequency(self, pattern_id: str, window_seconds: float | None = None) -> int:
        """Held errors of this pattern within the last ``window_seconds`` (default: the window)."""
        pattern = self._get(pattern_id)
        since = self._clock() - (self.window_seconds if window_seconds is None else window_seconds)
        return sum(1 for ts in self._held_for(pattern).times if ts > since)

    def trend(self, pattern_id: str) -> Trend:
        return self._trend(self._get(pattern_id), self._clock())

    def _trend(self, pattern: _Pattern, now: float) -> Trend:
        window = self.window_seconds
        if pattern.first_seen is not None and pattern.first_seen > now - window:
            return Trend.NEW
        times = self._held_for(pattern).times
        recent = sum(1 for ts in times if ts > now - window)
        previous = sum(1 for ts in times if now - 2 * window < ts <= now - window)
        if recent >= 2 * previous and recent - previous >= 2:
            return Trend.RISING
        if previous >= 2 * recent and previous - recent >= 2:
            return Trend.FALLING
        return Trend.STEADY

    def get_correlations(self, pattern_id: str, top: int | None = None) -> dict[str, Any]:
        """Share of this pattern's held errors per worker_id, hardware_type and task tag."""
        pattern = self._get(pattern_id)
        h = self._held_for(pattern)
        held = len(h.times)
        return {"worker_id": _shares(h.workers, held, top),
                "hardware_type": _shares(h.hardware, held, top),
                "tags": {k: _shares(c, held, top) for k, c in sorted(h.tags.items())}}

    def correlation_summary(self, pattern_id: str, min_share: float = 0.6) -> list[str]:
        return summarize_correlations(self.get_correlations(pattern_id), min_share)

    def _describe(self, pattern: _Pattern, now: float) -> dict[str, Any]:
        correlations = self.get_correlations(pattern.pattern_id, top=3)
        return {"pattern_id": pattern.pattern_id, "template": pattern.shown_template,
                "category": pattern.category, "count": pattern.count, "held": len(self._held_for(pattern).times),
                "first_seen": pattern.first_seen, "last_seen": pattern.last_seen,
                "trend": self._trend(pattern, now).value, "correlations": correlations,
                "summary": summarize_correlations(correlations)}

    def pattern_template(self, pattern_id: str) -> str | None:
        """The pattern's shown template (``get_pattern(id)["template"]``), None if unknown."""
        pattern = self._patterns.get(pattern_id)
        return None if pattern is None else pattern.shown_template

    def get_pattern(self, pattern_id: str) -> dict[str, Any] | None:
        pattern = self._patterns.get(pattern_id)
        return None if pattern is None else self._describe(pattern, self._clock())

    def get_patterns(self) -> list[dict[str, Any]]:
        """Every pattern with errors, most recently seen first."""
        now = self._clock()
        return [self._describe(p, now) for p in reversed(self._patterns.values()) if p.count]

    def get_frequent_patterns(self, min_count: int = 3) -> list[dict[str, Any]]:
        """Patterns seen at least ``min_count`` times, most frequent first."""
        now = self._clock()
        chosen = [p for p in self._patterns.values() if p.count >= min_count]
        chosen.sort(key=lambda p: (-p.count, -(p.last_seen or 0.0)))
        return [self._describe(p, now) for p in chosen]

    def clear(self) -> None:
        self._history.clear()
        self._held = None
        self._patterns.clear()
        self._exact.clear()
        self._buckets.clear()
        self._causes.clear()
        if self._words is not None:
            self._words.clear()


def _short(value: Any) -> str:
    """A tag key or value as stored for correlation: text, at most _MAX_TAG_CHARS long."""
    if type(value) is str and len(value) <= _MAX_TAG_CHARS:
        return value
    return str(value)[:_MAX_TAG_CHARS]
