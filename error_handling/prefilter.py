"""Literal prefilters for message regexes: skip a regex search that cannot succeed.

Classifying a failure seen for the first time tries the message rules in order, each a
case-insensitive regex search over the message and a traceback tail; on reports with
tracebacks that was most of a first sight's cost (about 30 searches of some kilobytes each).
Most rules name a word that must appear (``out of memory``, ``hipErrorNoDevice``); a substring
test in C is far cheaper than a regex search, so a rule whose needles are all absent is skipped.

``needles(pattern)`` reads the regex's parse tree (the standard library's own parser) and returns
lower-case ASCII strings, at least one of which occurs, lower-cased, in any text the pattern
matches; or None when no such set of useful length exists. Only contiguous runs of literal
characters count (each is matched as written, or case-folded under IGNORECASE), alternatives
contribute their union, optional parts nothing. ``may_match`` applies them to a text, and
answers True for text where they do not hold (``filters_hold``).
"""
from __future__ import annotations

import re
from typing import Callable

try:  # Python 3.11+
    from re import _constants as _c
    from re import _parser as _parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _parse  # type: ignore[no-redef]

MIN_NEEDLE = 3  # shorter needles filter little and cost a scan each

_REPEATS = tuple(op for op in (getattr(_c, "MAX_REPEAT", None), getattr(_c, "MIN_REPEAT", None),
                               getattr(_c, "POSSESSIVE_REPEAT", None)) if op is not None)
_ATOMIC = getattr(_c, "ATOMIC_GROUP", None)


def _tree(pattern: str, flags: int) -> list | None:
    """The parse tree's top-level items, or None when it does not parse."""
    try:
        return list(_parse.parse(pattern, flags))
    except Exception:  # noqa: BLE001 - an unparsable pattern simply gets no prefilter
        return None


def needles(pattern: str, flags: int = 0) -> tuple[str, ...] | None:
    """Lower-case strings one of which any match of ``pattern`` contains, or None."""
    tree = _tree(pattern, flags)
    return None if tree is None else _needles_of(tree)


def _needles_of(tree: list) -> tuple[str, ...] | None:
    found = _sequence(tree)
    if not found or min(len(n) for n in found) < MIN_NEEDLE:
        return None
    return tuple(sorted(found, key=lambda n: (-len(n), n)))


# The only characters outside ASCII that IGNORECASE matches to an ASCII letter, and that
# lower-casing does not turn into it (``İ`` lowers to two characters; ``ı`` and ``ſ`` stay):
# in a text with none of them, a literal ASCII run of a match is in the lower-cased text.
_FOLDS_TO_ASCII_RE = re.compile("[\u0130\u0131\u017f\u212a]")


def filters_hold(text: str) -> bool:
    """Whether the needles (and grams) may rule a pattern out for ``text``."""
    return text.isascii() or _FOLDS_TO_ASCII_RE.search(text) is None


def may_match(found: tuple[str, ...] | None, text: str, lowered: str) -> bool:
    """False only when the pattern behind ``found`` cannot match ``text``."""
    if found is None or not filters_hold(text):
        return True
    for needle in found:
        if needle in lowered:
            return True
    return False


def _better(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    """The more selective of two needle sets (the longer shortest needle, then fewer needles)."""
    if not b:
        return a
    if not a:
        return b
    ka, kb = (min(map(len, a)), -len(a)), (min(map(len, b)), -len(b))
    return b if kb > ka else a


def _literal_run(chars: list[str]) -> set[str] | None:
    run = "".join(chars).lower()
    return {run} if run.isascii() and run else None


def _sequence(items: list) -> set[str] | None:
    """Needles for a sequence of parse items, all of which match one after another."""
    best: set[str] | None = None
    run: list[str] = []
    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        best = _better(best, _literal_run(run))
        run = []
        if op is _c.SUBPATTERN:
            best = _better(best, _sequence(list(av[-1])))
        elif op is _c.BRANCH:
            alternatives = [_sequence(list(branch)) for branch in av[1]]
            if alternatives and all(alternatives):
                best = _better(best, set().union(*alternatives))
        elif op in _REPEATS:
            low, _high, sub = av
            if low >= 1:
                best = _better(best, _sequence(list(sub)))
        elif _ATOMIC is not None and op is _ATOMIC:
            best = _better(best, _sequence(list(av)))
        # anything else (classes, anchors, any char, backrefs, lookarounds) requires no literal
    return _better(best, _literal_run(run))


MAX_REQUIRED = 4  # needle sets checked per piece: each is a scan of the text, cheap next to a search


def required(pattern: str, flags: int = 0) -> tuple[tuple[str, ...], ...]:
    """Every needle set of ``pattern``: each is a set of lower-case strings one of which any match
    contains, and a match satisfies all the sets at once (``needles`` keeps the most selective
    one). At most ``MAX_REQUIRED``, most selective first; () when there is none."""
    tree = _tree(pattern, flags)
    return () if tree is None else _required_of(tree)


def _required_of(tree: list) -> tuple[tuple[str, ...], ...]:
    found = {tuple(sorted(s, key=lambda n: (-len(n), n))) for s in _requirements(tree)
             if min(map(len, s)) >= MIN_NEEDLE}
    ranked = sorted(found, key=lambda t: (-min(map(len, t)), len(t), t))
    return tuple(ranked[:MAX_REQUIRED])


def _requirements(items: list) -> list[set[str]]:
    """All needle sets of a sequence of parse items (see ``required``)."""
    sets: list[set[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        if (literal := _literal_run(run)) is not None:
            sets.append(literal)
        run = []
        if op is _c.SUBPATTERN:
            sets.extend(_requirements(list(av[-1])))
        elif op is _c.BRANCH:
            alternatives = [_sequence(list(branch)) for branch in av[1]]
            if alternatives and all(alternatives):
                sets.append(set().union(*alternatives))
        elif op in _REPEATS:
            low, _high, sub = av
            if low >= 1:
                sets.extend(_requirements(list(sub)))
        elif _ATOMIC is not None and op is _ATOMIC:
            sets.extend(_requirements(list(av)))
    if (literal := _literal_run(run)) is not None:
        sets.append(literal)
    return sets


_GLOBAL_FLAGS_RE = re.compile(r"^\(\?[aiLmsux]+\)")
Search = Callable[[str], "re.Match[str] | None"]


def alternatives(pattern: str) -> list[str] | None:
    """The top-level alternatives of a regex source (``a|b(c|d)`` -> ``["a", "b(c|d)"]``), or
    None when there is only one, or when splitting could change what matches (backreferences
    count groups across alternatives)."""
    if "\\" in pattern and re.search(r"\\[1-9]|\(\?P=", pattern):
        return None
    parts: list[str] = []
    depth, start, i, n = 0, 0, 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":  # a class: up to its closing bracket (a "]" right after "[" or "[^" is literal)
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts if len(parts) > 1 else None


Piece = tuple[tuple[str, ...] | None, Search, tuple[tuple[str, ...], ...]]


def pieces(pattern: str, flags: int, compiled: re.Pattern[str],
           whole_needles: tuple[str, ...] | None) -> tuple[Piece, ...]:
    """``compiled``'s search split by top-level alternative, each with its own needles.

    A regex of twenty alternatives is searched at every position of the text for each of them;
    searched one by one, and only where its needles occur, a failed search costs nothing and a
    likely one a fraction. Alternatives with the same needle sets stay together; those with none
    form one regex that is always searched. Each piece is (needles, search, the other needle
    sets a match needs: ``required``); ``search_pieces`` answers what ``compiled.search`` would
    (whether there is a match). ``whole_needles``: ``needles(pattern)``, already worked out.
    """
    lead_match = _GLOBAL_FLAGS_RE.match(pattern)
    lead = lead_match.group(0) if lead_match else ""
    parts = alternatives(pattern[len(lead):]) or [pattern[len(lead):]]
    grouped: dict[tuple, list[str]] = {}
    for part in parts:
        grouped.setdefault(_piece_sets(lead + part, flags), []).append(part)
    try:
        split = [(found, re.compile(lead + "|".join(map(hoist_boundary, group)), flags).search, also)
                 for (found, also), group in sorted(grouped.items(), key=lambda item: item[0][0] is None)]
    except re.error:  # the whole regex, unsplit
        return ((whole_needles, compiled.search, _piece_sets(pattern, flags)[1]),)
    return tuple(split)


_LEADING_WORD_RE = re.compile(r"\\b([A-Za-z0-9_]+)")


def hoist_boundary(part: str) -> str:
    """``\\bword rest`` -> ``word(?<!\\wword) rest``: the same matches, but the regex now starts
    with a literal, which the engine scans for instead of trying the boundary at every position
    of the text (a search costs about half as much)."""
    found = _LEADING_WORD_RE.match(part)
    if found is None:
        return part
    word, rest = found.group(1), part[found.end():]
    if rest[:1] in ("*", "+", "?", "{"):  # the quantifier binds the word's last character
        word, rest = word[:-1], word[-1:] + rest
        if not word:
            return part
    return f"{word}(?<!\\w{word}){rest}"


def _piece_sets(pattern: str, flags: int) -> tuple[tuple[str, ...] | None, tuple[tuple[str, ...], ...]]:
    """A piece's needles and its other needle sets, from one parse."""
    tree = _tree(pattern, flags)
    found = None if tree is None else _needles_of(tree)
    if found is None:
        return None, ()
    return found, tuple(s for s in _required_of(tree) if set(s) != set(found))


def search_pieces(split: tuple[Piece, ...], text: str, lowered: str) -> bool:
    """Whether any piece of ``split`` (see ``pieces``) matches ``text``."""
    return any(may_match(found, text, lowered) and all(may_match(s, text, lowered) for s in also)
               and search(text) is not None for found, search, also in split)


# A second, cheaper filter in front of the needles: every needle with a run of four letters or
# digits is represented by one four-character slice of it (a "gram"); a text that holds the
# needle holds the gram. The classifier reads the text's grams once (one C-level scan) and looks
# at a rule only where a gram of one of its needles is there, instead of scanning the text for
# each of some five hundred needles in turn.
GRAM = 4
_GRAMS_RE = re.compile(r"(?=([a-z0-9]{%d}))" % GRAM)
_RUN_RE = re.compile(r"[a-z0-9]+")
_LETTER_RANK = {ch: rank for rank, ch in enumerate("etaoinsrhldcumfpgwybvkxjqz0123456789")}


def text_grams(lowered: str) -> frozenset[str]:
    """Every run of four letters or digits in a lower-cased text."""
    return frozenset(_GRAMS_RE.findall(lowered))


def _commonness(gram: str) -> int:
    return sum(26 - _LETTER_RANK.get(ch, 26) for ch in gram)  # rare letters and digits score low


def grams(found: tuple[str, ...] | None) -> frozenset[str] | None:
    """One gram per needle (the rarest-looking slice of its longest run), or None when some
    needle has no run of four: then only the needles themselves can tell."""
    if not found:
        return None
    out = set()
    for needle in found:
        runs = [run for run in _RUN_RE.findall(needle) if len(run) >= GRAM]
        if not runs:
            return None
        run = max(runs, key=len)
        out.add(min((run[i:i + GRAM] for i in range(len(run) - GRAM + 1)), key=_commonness))
    return frozenset(out)
