"""Literal prefilters never skip a regex that would have matched, and skip most that would not."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from error_handling import ErrorInfo
from error_handling.classify import Classifier, _Facts, default_rules
from error_handling.prefilter import (alternatives, filters_hold, hoist_boundary, may_match, needles, pieces, required,
                                     search_pieces)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "error_corpus.jsonl"
FLAGS = re.IGNORECASE | re.MULTILINE


@pytest.mark.parametrize("pattern, expected", [
    (r"CUDA out of memory", ("cuda out of memory",)),
    (r"out of memory|cudaErrorMemoryAllocation", ("cudaerrormemoryallocation", "out of memory")),
    (r"\bE[A-Z]+\b: (?:connection|socket) refused", (" refused",)),  # the longer required run
    (r"(?:abc)?xyz", ("xyz",)),             # an optional part requires nothing
    (r"(?:foo)+bar", ("foo",)),             # a repeat of at least one requires its body
    (r"[Ee]rror: disk", ("rror: disk",)),   # a class breaks the run
    (r"ab|c", None),                        # an alternative too short to be worth a scan
    (r"a.*b", None),
    (r"(unclosed", None),                   # unparsable: no prefilter, the regex decides
    (r"(?x) no \s+ space", ("space",)),     # verbose mode: whitespace is not literal
])
def test_needles_of_patterns(pattern, expected):
    assert needles(pattern, FLAGS) == expected


@pytest.mark.parametrize("pattern, expected", [
    (r"(?:cannot|unable to) (?:delete|unlink)\b", (("delete", "unlink"), ("unable to", "cannot"))),
    (r"\bno (?:such )?(?:package|module) found", ((" found",), ("package", "module"), ("no ",))),
    (r"abc(?:de)?xyz", (("abc",), ("xyz",))),  # around an optional part: both runs
    (r"a.*b", ()),
    (r"(unclosed", ()),
])
def test_required_needle_sets(pattern, expected):
    assert required(pattern, FLAGS) == expected


def test_a_match_holds_every_required_set():
    texts = _texts()
    checked = spared = 0
    for rule in default_rules():
        for found, search, also in rule.pieces:
            for text in texts[::5]:
                lowered = text.lower()
                holds = all(may_match(s, text, lowered) for s in also)
                if search(text) is not None:
                    checked += 1
                    assert holds, (rule.name, also, text[:200])
                elif may_match(found, text, lowered) and not holds:
                    spared += 1  # the needles alone would have let this search run
    assert checked > 100 and spared > 1000


@pytest.mark.parametrize("pattern, expected", [
    (r"\bconnection refused", r"connection(?<!\wconnection) refused"),
    (r"\bfoos? bar", r"foo(?<!\wfoo)s? bar"),   # the quantifier keeps its character
    (r"\ba?b", r"\ba?b"),                       # nothing left to lead with
    (r"\b\d+ failed", r"\b\d+ failed"),           # no literal word after the boundary
    (r"plain", r"plain"),
])
def test_hoist_boundary(pattern, expected):
    assert hoist_boundary(pattern) == expected
    for text in ("connection refused", "xconnection refused", "a connection refused", "foo bar", "foos bar",
                 "afoo bar", "é foo bar", "éfoo bar", "b", "ab", "12 failed", "x12 failed", "plain"):
        for flags in (0, re.IGNORECASE):
            assert (re.search(pattern, text, flags) is None) == (re.search(expected, text, flags) is None), text


def test_text_with_a_character_folding_to_ascii_is_never_filtered():
    found = needles("strasse", FLAGS)
    assert not may_match(found, "a quiet lane", "a quiet lane")
    assert not may_match(found, "a quiet lane → über", "a quiet lane → über")  # other non-ASCII text is
    assert may_match(found, "die Straße → strasse", "die straße → strasse")
    # 'ſ' (long s) matches 's' case-insensitively; lower() does not turn it into 's'; nor 'ı'
    # into 'i', and 'İ' lowers to two characters: no filter may rule a text with them out
    for text in ("straſſe", "STRASSE with İ", "ſtraße"):
        assert filters_hold(text) is False
        assert may_match(found, text, text.lower())
    assert re.search("strasse", "straſſe", FLAGS)
    assert re.search("in", "İN", FLAGS) and re.search("in", "ıN", FLAGS) and re.search("k", "\u212a", FLAGS)


def _texts() -> list[str]:
    """What the rules are searched in: each corpus report's message and traceback tail, and
    variants in other cases."""
    out = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            text = _Facts(ErrorInfo(type=rec.get("type") or "", message=rec.get("message") or "",
                                    traceback=rec.get("traceback"))).text
            out += [text, text.upper(), text.title()]
    return out


def test_no_rule_is_skipped_where_its_regex_matches():
    texts = _texts()
    checked = skipped = 0
    for rule in default_rules():
        if rule.regex is None:
            continue
        assert rule.needles is not None, f"{rule.name}: no literal prefilter for {rule.message!r}"
        for text in texts:
            lowered = text.lower()
            if rule.regex.search(text) is not None:
                checked += 1
                assert may_match(rule.needles, text, lowered), (rule.name, text[:200])
            elif not may_match(rule.needles, text, lowered):
                skipped += 1
    assert checked > 300  # the corpus exercises the rules
    assert skipped > 0.8 * (len(texts) * 40)  # and most searches that would fail are skipped


def test_classification_of_the_corpus_is_unchanged_without_prefilters():
    records = [json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines() if x.strip()]
    infos = [ErrorInfo(type=r.get("type") or "", message=r.get("message") or "",
                       traceback=r.get("traceback"), exit_code=r.get("exit_code"),
                       signal=r.get("signal"), context=r.get("context") or {}) for r in records]
    infos += [ErrorInfo(type=i.type, message=i.message.upper()) for i in infos[::3]]  # the filters read lower case
    infos += [ErrorInfo(type=i.type, message=f"→ {i.message}") for i in infos[1::5]]  # non-ASCII, still filtered
    infos += [ErrorInfo(type=i.type, message=i.message.replace("s", "ſ")) for i in infos[2::5]]  # never filtered
    plain = [copy.copy(rule) for rule in default_rules()]  # the shipped rules are shared: change copies
    for rule in plain:
        object.__setattr__(rule, "needles", None)
        if rule.regex is not None:  # one whole regex, searched everywhere
            object.__setattr__(rule, "pieces", ((None, rule.regex.search, ()),))
    unfiltered = Classifier(rules=plain, codes=True, model=True, type_words=True)
    assert all(rule.needles is None for rule in unfiltered.rules)
    filtered = Classifier()
    assert [filtered.explain(i) for i in infos] == [unfiltered.explain(i) for i in infos]


@pytest.mark.parametrize("pattern, expected", [
    (r"a|b(c|d)", ["a", "b(c|d)"]),
    (r"[|]x|y\|z", ["[|]x", "y\\|z"]),        # a bar in a class or escaped is not a split
    (r"[]|]a|b", ["[]|]a", "b"]),               # "]" first in a class is literal
    (r"one alternative", None),
    (r"(a)|\1", None),                          # backreferences count groups across alternatives
])
def test_alternatives_split_at_top_level_only(pattern, expected):
    assert alternatives(pattern) == expected


def test_pieces_answer_what_the_whole_regex_answers():
    texts = _texts()
    for rule in default_rules():
        if rule.regex is None:
            continue
        for text in texts[::7]:
            assert search_pieces(rule.pieces, text, text.lower()) == (rule.regex.search(text) is not None), \
                (rule.name, text[:200])
    leading = re.compile(r"(?i)disk full|quota", re.MULTILINE)
    split = pieces(leading.pattern, leading.flags, leading, needles(leading.pattern))
    assert len(split) == 2 and search_pieces(split, "DISK FULL", "disk full")
