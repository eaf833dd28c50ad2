"""One scan for all of a tier's regexes: Hyperscan, where it is installed, as a prefilter.

Classifying a failure for the first time tried, in rule order, every message rule whose literal
needles occur in the text (``error_handling.prefilter``): about a hundred candidates and a dozen
regex searches per report, most of a first sight's cost. Hyperscan compiles all of a tier's
regexes into one automaton and scans the text once; compiled in *prefilter* mode it reports
every regex that may match (a superset: constructs it cannot run exactly, such as lookarounds,
are relaxed), about one per report. The tier then confirms those, in rule order, with Python's
own search, so what decides is unchanged: the gate only picks which searches to run.

Where Hyperscan is missing (it ships wheels for Linux x86-64 and macOS), disabled with
``DTF_HYPERSCAN=0``, or still compiling, ``hits`` answers None and the tier uses its gram index.
Compiling some fifteen hundred regexes takes about a second; it runs once per process and set of
regexes, on a background thread (the compiler releases the GIL), so nothing waits for it.

A rule set's tiers share one gate (``TierGate``: each tier's regexes numbered within it, the
tier's number in the high bits of the id): the text is scanned once for all of them, and each
tier reads its share of that scan.

The prefilter holds for text in which Python's and Hyperscan's readings of a regex can only
differ the way prefiltering allows: ASCII text without the control characters that Python's
``\\s`` matches and PCRE's does not (``covers``), and regexes that read the same in both
(``coverable``): written in ASCII (a non-ASCII pattern character can match ASCII text under
IGNORECASE, as ``ſ`` matches ``s``), without Python's ``\\u``/``\\U``/``\\N`` escapes, its
``{,n}`` repeat (PCRE reads a literal), brackets PCRE reads as POSIX classes (``[[:alpha:]]``)
or the VERBOSE flag.
Other regexes, and those Hyperscan will not compile, are left out of the automaton and always
tried, as they were before.
"""
from __future__ import annotations

import os
import re
import threading
from typing import Any, Sequence

try:
    import hyperscan as _hs
except ImportError:  # pragma: no cover - platforms without a wheel
    _hs = None

MIN_PATTERNS = 64  # fewer regexes: the gram index is as fast, and a compile costs a thread
GROUP_SHIFT = 20  # an id's bits above this: which TierGate's regex it is; below: its position there
_READ_OTHERWISE = re.compile(r"\\[uUN]|\{,|\[[:=.]")  # see coverable
_UNCOVERED_CONTROLS = ("\x0b", "\x1c", "\x1d", "\x1e", "\x1f")  # what Python's \s matches and PCRE's not


def available() -> bool:
    """Whether the gate can run here (Hyperscan importable and not disabled)."""
    return _hs is not None and os.environ.get("DTF_HYPERSCAN", "1").strip().lower() not in ("0", "false", "no", "off")


def coverable(pattern: str, flags: int = 0) -> bool:
    """Whether Hyperscan can stand in front of ``pattern`` for ASCII text (never a VERBOSE
    regex: Hyperscan would read its layout as literal text)."""
    return pattern.isascii() and not flags & re.VERBOSE and _READ_OTHERWISE.search(pattern) is None


def covers(text: str) -> bool:
    """Whether the gate's answer holds for ``text`` (see the module's docstring): ASCII (a flag
    every str carries) without the control characters (each a fast substring search)."""
    if not text.isascii():
        return False
    for control in _UNCOVERED_CONTROLS:
        if control in text:
            return False
    return True


def _flags(flags: int) -> int:
    out = _hs.HS_FLAG_PREFILTER | _hs.HS_FLAG_SINGLEMATCH | _hs.HS_FLAG_ALLOWEMPTY
    if flags & re.IGNORECASE:
        out |= _hs.HS_FLAG_CASELESS
    if flags & re.MULTILINE:
        out |= _hs.HS_FLAG_MULTILINE
    if flags & re.DOTALL:
        out |= _hs.HS_FLAG_DOTALL
    return out


def _compile(expressions: Sequence[tuple[int, str, int]]) -> Any:
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    db.compile(expressions=[p.encode("ascii") for _i, p, _f in expressions],
               ids=[i for i, _p, _f in expressions], flags=[_flags(f) for _i, _p, f in expressions])
    return db


class MultiGate:
    """A compiled set of regexes, keyed by their (id, pattern, flags); ``hits`` names the ids of
    those that may match a text. One per distinct set in a process (``shared``)."""

    _shared: dict[tuple, MultiGate] = {}
    _lock = threading.Lock()

    def __init__(self, expressions: tuple[tuple[int, str, int], ...]) -> None:
        self.expressions = expressions
        self.left_out: tuple[int, ...] = ()  # ids Hyperscan would not compile
        self.error: str | None = None
        self._db: Any = None
        self._local = threading.local()
        self._last: tuple[str, dict[int, list[int]]] | None = None  # (text, grouped hits): see grouped
        self._done = threading.Event()
        threading.Thread(target=self._build, name="dtf-multigate", daemon=True).start()

    @classmethod
    def shared(cls, expressions: Sequence[tuple[int, str, int]]) -> MultiGate | None:
        """The gate for ``expressions`` (compiling in the background), or None when the gate
        cannot run here or there are too few to be worth it."""
        key = tuple(expressions)
        if len(key) < MIN_PATTERNS or not available():
            return None
        with cls._lock:
            gate = cls._shared.get(key)
            if gate is None:
                gate = cls._shared[key] = cls(key)
            return gate

    def _build(self) -> None:
        try:
            try:
                db = _compile(self.expressions)
            except _hs.error:  # find the ones it rejects, leave them out
                kept, dropped = [], []
                for expression in self.expressions:
                    try:
                        _compile([expression])
                        kept.append(expression)
                    except _hs.error:
                        dropped.append(expression[0])
                self.left_out = tuple(dropped)
                db = _compile(kept) if kept else None
            self._db = db
        except Exception as exc:  # noqa: BLE001 - the gram index still answers
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until compiled (or failed); True when the gate answers."""
        self._done.wait(timeout)
        return self._db is not None

    @property
    def ready(self) -> bool:
        return self._db is not None

    def hits(self, text: str) -> list[int] | None:
        """Ids of the regexes that may match ``text`` (in no order), or None when the gate cannot
        tell: not compiled yet, or ``text`` outside what it covers."""
        db = self._db
        if db is None or not covers(text):
            return None
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # a scratch space per thread: Hyperscan's is not shared
            scratch = self._local.scratch = _hs.Scratch(db)
        found: list[int] = []
        db.scan(text.encode("ascii"), match_event_handler=_collect, context=found, scratch=scratch)
        return found

    def grouped(self, text: str) -> dict[int, list[int]] | None:
        """``hits`` by group (``GROUP_SHIFT``), positions within each; the last text's answer is
        kept, so the tiers of a rule set that ask about one text in turn scan it once."""
        last = self._last  # (one read: another thread may replace it meanwhile, never half of it)
        if last is not None and last[0] is text:
            return last[1]
        found = self.hits(text)
        if found is None:
            return None
        groups: dict[int, list[int]] = {}
        mask = (1 << GROUP_SHIFT) - 1
        for expression_id in found:
            group = groups.get(expression_id >> GROUP_SHIFT)
            if group is None:
                group = groups[expression_id >> GROUP_SHIFT] = []
            group.append(expression_id & mask)
        self._last = (text, groups)
        return groups


class TierGate:
    """One group's share of a gate compiled for several (a rule set's tiers): the same questions
    as ``MultiGate``, about this group's regexes, numbered by their position in the group."""

    __slots__ = ("gate", "group", "expressions")

    def __init__(self, gate: MultiGate, group: int, expressions: Sequence[tuple[int, str, int]]) -> None:
        self.gate = gate
        self.group = group
        self.expressions = tuple(expressions)  # (position, pattern, flags)

    @staticmethod
    def combine(groups: Sequence[Sequence[tuple[int, str, int]]]) -> tuple[tuple[int, str, int], ...]:
        """The expressions of several groups as one gate's, each id carrying its group."""
        return tuple((group << GROUP_SHIFT | position, pattern, flags)
                     for group, expressions in enumerate(groups) for position, pattern, flags in expressions)

    @property
    def left_out(self) -> tuple[int, ...]:
        return tuple(i & ((1 << GROUP_SHIFT) - 1) for i in self.gate.left_out if i >> GROUP_SHIFT == self.group)

    @property
    def ready(self) -> bool:
        return self.gate.ready

    @property
    def error(self) -> str | None:
        return self.gate.error

    def wait(self, timeout: float | None = None) -> bool:
        return self.gate.wait(timeout)

    def hits(self, text: str) -> list[int] | None:
        """Positions of this group's regexes that may match ``text`` (a list of the caller's own),
        or None when the gate cannot tell."""
        groups = self.gate.grouped(text)
        if groups is None:
            return None
        found = groups.get(self.group)
        return [] if found is None else found.copy()


def _collect(expression_id: int, _start: int, _end: int, _flags: int, found: list[int]) -> None:
    found.append(expression_id)
