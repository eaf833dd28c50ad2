"""The regexes written for speed (each starting with a character or a literal, so the search skips
ahead) find exactly what the plain forms they replace find; the plain forms are kept here as the
specification. Texts are drawn from the pieces each regex cares about, and from corpus messages."""
from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from error_handling import classify, features, templates
from error_handling.codes import CodeTables

CORPUS = Path(__file__).resolve().parents[1] / "data" / "error_corpus.jsonl"
_MESSAGES = [json.loads(line)["message"] for line in CORPUS.read_text(encoding="utf-8").splitlines()[::7]]

PLAIN_SIGNAL_CODE = re.compile(r"\b(?:exit|return) ?(?:code|status)\s*(?:=|:|of)?\s*-(\d{1,2})\b")
PLAIN_PYTEST_E = re.compile(r"^E[^\S\n]+\S", re.M)
PLAIN_FAILURE_WORDS = re.compile(
    r"(?i)\b(?:error|failed|failure|fatal|refused|denied|timed out|killed|not found|unable)\b", re.M)
PLAIN_ARGV = re.compile(r"""'?\[(?:(?:'[^'\n]*'|"[^"\n]*")(?:, )?)+\]'?""")
PLAIN_PATH = re.compile(r"[A-Za-z]:\\[^\s'\"]+|(?<![\w/.<>-])(?:\.{1,2})?/[\w.@%+~-]+(?:/[\w.@%+~-]*)*")
PLAIN_FEATURE_CODES = re.compile(
    r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]{2,}\b|\b(?:cuda|hip|nccl)[A-Z]\w+|\bSIG[A-Z]{2,6}\b|\bE[A-Z]{3,9}\b")

PLAIN_ID_GATE = re.compile(r"(?:task|worker|job|run|node|req|request|session|container|pod|trace|span|host)[-_:][\w-]*\d")

PIECES = ["<NUM>", "<HEX>", "<IP>", ", ", "x", "task", "Worker", "run", "request", "pod", "container", "TRACE", "host", "jo", "b", "req",
          "exit", "return", " code", "status", " ", "=", ":", "of", "-", "1", "23", "x", "E", "e", "\n", "\t",
          "error", "ERROR", "Failed", "failure", "fatal", "refused", "denied", "timed out", "killed",
          "not found", "unable", "_", "'", '"', "[", "]", ", ", "/", ".", "..", "C:\\", "a", "<", ">", "@",
          "SIG", "SEGV", "NOENT", "cuda", "hip", "nccl", "CUDA_ERROR", "Err", "deadbeef", "0", "9", "F", "é",
          "ſ", "K", "٣", "Dec", "  6", "12:00:01", "kernel:", "2026-12-06", "T", "Z"]
texts = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.tuples(st.sampled_from(_MESSAGES), st.integers(0, 400), st.integers(0, 400)).map(lambda t: t[0][t[1]:t[1] + t[2]]),
)


def _span(match: re.Match[str] | None) -> tuple[int, int] | None:
    return None if match is None else match.span()


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_the_fast_forms_find_what_the_plain_forms_find(text):
    found, plain = classify._SIGNAL_CODE_RE.search(text), PLAIN_SIGNAL_CODE.search(text)
    assert (_span(found), found and found.group(1)) == (_span(plain), plain and plain.group(1))
    assert _span(templates._PRIMARY_LINES[0][0].search(text)) == _span(PLAIN_PYTEST_E.search(text))
    if text.isascii():  # the id gate reads lower-cased ASCII lines
        lowered = text.lower()
        assert (templates._ID_GATE_RE.search(lowered) is None) == (PLAIN_ID_GATE.search(lowered) is None)
    if text.isascii():  # the failure words' twin reads the lower-cased ASCII text
        twin = templates._PRIMARY_LINES[5][3]
        found = twin.search(text.lower())
        plain = PLAIN_FAILURE_WORDS.search(text)
        assert (found and found.start()) == (plain and plain.start())
    assert templates._ARGV_RE.sub("<ARGS>", text) == PLAIN_ARGV.sub("<ARGS>", text)
    assert templates._sub_path("<PATH>", text) == PLAIN_PATH.sub("<PATH>", text)
    fast = set()
    for needles, regex in features._CODE_RES:
        if any(needle in text for needle in needles):
            fast.update(regex.findall(text))
    assert fast == set(PLAIN_FEATURE_CODES.findall(text))


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_the_gates_never_skip_a_match(text):
    # each gate is a condition every match of what it guards satisfies
    if classify._CONSTANT_CODE_RE.search(text):
        assert classify._CONSTANT_CODE_GATE.search(text)
    if templates._MASKS[13][0].search(text):  # long hex
        assert re.search(templates._HEX_RUN, text)
    if templates._MASKS[17][0].search(text):  # runs of one mask
        assert re.search(templates._MASK_NEEDS[17][2], text)
    if templates._MASKS[12][0].search(text):  # ids
        assert templates._may_hold_id(text)
    if templates._LOG_PREFIX_RE.match(text):
        first = text[:1]
        assert first == "[" or "A" <= first <= "Z" or first.isdecimal()


def test_the_code_tables_decide_alike_with_and_without_their_any_needle_search():
    tables = CodeTables.shipped()
    assert sum(tables._any_needle.search(m) is not None for m in _MESSAGES) > 50  # (both kinds of text)
    for message in _MESSAGES:
        for fallback in (False, True):
            assert tables.decide(message, fallback) == _decide_every_needle(tables, message, fallback)


_TABLES = CodeTables.shipped()
_NEEDLES = [needle for needle, _positions in _TABLES._needles]


@settings(max_examples=2000, deadline=None)
@given(st.one_of(texts, st.lists(st.sampled_from(_NEEDLES + ["C", "c", "UD", "_", "0", " "]), max_size=8).map("".join)))
def test_the_any_needle_regex_finds_a_needle_exactly_where_one_is(text):
    assert (_TABLES._any_needle.search(text) is not None) == any(needle in text for needle in _NEEDLES)


def _decide_every_needle(tables: CodeTables, text: str, fallback: bool):
    held = set(tables._always)
    for needle, positions in tables._needles:
        if needle in text:
            held |= positions
    for table in (tables.tables[i] for i in sorted(held)):
        found = table._search(text, fallback)
        if found is not None:
            return found[1], table.name, found[0]
    return None
