"""ASCII twins (``error_handling.ascii_twins``) find what their patterns find on plain text, and
the templates' masks walked with twins give the templates the patterns give."""
from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from error_handling import templates
from error_handling.ascii_twins import is_plain, twin

CORPUS = Path(__file__).resolve().parents[1] / "data" / "error_corpus.jsonl"
_LINES = [templates.primary_line(json.loads(line)["message"])
          for line in CORPUS.read_text(encoding="utf-8").splitlines()[::5]]
_PLAIN_LINES = [line for line in _LINES if is_plain(line)]

# what the masks care about, ASCII only, with the whitespace both modes share and the private-use
# digits that protect fixed codes
PIECES = ["a", "Z", "k", "s", "i", "K", "S", "I", "_", "0", "7", "9", "x", "0x1f", "deadbeef01", " ", "\t", "\n",
          "\x0b", "\x0c", "\r", ":", "::", "-", "--", ".", "/", "\\", "C:\\", "@", "'", '"', "[", "]", "<", ">",
          "<NUM>", "host ", "hostname ", "task-", "worker_", "PCI:", "0000:3b:00.0", "10.0.0.1:8080", "2026-12-06T",
          "12:00:01", "3.5 GiB", "250 ms", "http://", "a.com", "x.py", "Xid (", "503: ",
          *(chr(0xE000 + digit) for digit in range(10))]
plain_texts = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.sampled_from(_PLAIN_LINES),
)


def _all_regexes() -> list[re.Pattern[str]]:
    found = [regex for regex, _replacement in templates._MASKS]
    found += [templates._UNIX_PATH_RE, templates._DIGIT_RE, templates._LOG_PREFIX_RE, templates._FIXED_CODE_GATE,
              templates._FIXED_CODE_RE, templates._ARGV_RE, templates._QUOTED_RE]
    found += [re.compile(gate) for _digit, _needs, gate in templates._MASK_NEEDS if isinstance(gate, str)]
    return found


_REGEXES = _all_regexes()
_TWINS = [twin(regex) for regex in _REGEXES]


def test_every_template_regex_has_a_twin():
    assert all(t is not r and t.flags & re.ASCII for r, t in zip(_REGEXES, _TWINS))


@settings(max_examples=2000, deadline=None)
@given(plain_texts)
def test_on_plain_text_a_twin_finds_what_its_pattern_finds(text):
    # (the private-use digits aside, the text is plain)
    assert is_plain(_without_private_digits(text))
    for regex, ascii_form in zip(_REGEXES, _TWINS):
        found = [(m.span(), m.groups()) for m in regex.finditer(text)]
        assert [(m.span(), m.groups()) for m in ascii_form.finditer(text)] == found, regex.pattern
        if regex.groups:
            assert ascii_form.sub(r"<\1>", text) == regex.sub(r"<\1>", text)
        assert ascii_form.sub("<X>", text) == regex.sub("<X>", text)


def _without_private_digits(text: str) -> str:
    return "".join(ch for ch in text if not 0xE000 <= ord(ch) <= 0xE009)


@settings(max_examples=500, deadline=None)
@given(plain_texts)
def test_a_template_is_the_same_walked_with_twins(text):
    line = _without_private_digits(text)
    walked = templates.make_template(line)
    templates_plain = templates._MASK_PLANS[True, True], templates._MASK_PLANS[True, False], templates._BEFORE_MASKS[True]
    try:  # the same line through the patterns themselves
        templates._MASK_PLANS[True, True] = templates._MASK_PLANS[False, True]
        templates._MASK_PLANS[True, False] = templates._MASK_PLANS[False, False]
        templates._BEFORE_MASKS[True] = templates._BEFORE_MASKS[False]
        assert templates.make_template(line) == walked
    finally:
        (templates._MASK_PLANS[True, True], templates._MASK_PLANS[True, False],
         templates._BEFORE_MASKS[True]) = templates_plain


def test_plain_means_ascii_without_the_information_separators():
    assert is_plain("CUDA out of memory. Tried to allocate 2.00 GiB\t(GPU 0)\n")
    assert not is_plain("naïve")
    for separator in "\x1c\x1d\x1e\x1f":
        # Unicode \s takes them, ASCII \s does not: text holding one is read by the patterns
        assert re.fullmatch(r"\s", separator) and not re.fullmatch(r"\s", separator, re.ASCII)
        assert not is_plain(f"a{separator}b")


def test_no_twin_where_one_would_read_plain_text_otherwise():
    # under IGNORECASE, LONG S and KELVIN SIGN match ASCII s and k; their ASCII twins would not
    for pattern in ("(?i)ſ", "(?i)[\u212a]", "(?i)x|(?:\u0130)"):
        regex = re.compile(pattern)
        assert twin(regex) is regex
    assert twin(re.compile("(?i)ſ")).search("s")
    for pattern in ("x(?i:ſ)", "(?i:[^\u212a])"):  # IGNORECASE scoped to a group (it reads "xs", "k")
        regex = re.compile(pattern)
        assert twin(regex) is regex
    assert re.compile("x(?i:ſ)").search("xs") and not re.compile("x(?i:ſ)", re.ASCII).search("xs")
    case_sensitive = re.compile("µs|ſ")  # without IGNORECASE, a literal matches only itself
    assert twin(case_sensitive) is not case_sensitive
    inline_unicode = re.compile(r"(?u)\w+")
    assert twin(inline_unicode) is inline_unicode
