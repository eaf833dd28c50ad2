"""ASCII twins of regexes: the same pattern compiled with ``re.ASCII``, for text they read alike.

Python compiles a str pattern for Unicode: ``\\d``, ``\\w``, ``\\s`` and ``\\b`` ask the Unicode
database about each character they test, which is about a quarter of what the regex engine
spends on the masks of a first-seen report. Compiled with ``re.ASCII`` they test a table instead.

On *plain* text (``is_plain``: ASCII, without the four information separators U+001C..U+001F)
a twin matches exactly where its pattern does:

- ``\\d``, ``\\w`` and so ``\\b`` take the same ASCII characters in both modes;
- Unicode ``\\s`` (as ``str.isspace``) also takes the four separators, ASCII ``\\s`` does not:
  plain text has none;
- case-insensitive matching folds ASCII letters to ASCII letters in both modes; the characters
  outside ASCII that fold onto them (K KELVIN SIGN, LONG S, dotted and dotless I) are not in
  plain text, and a pattern that itself names a character outside ASCII under IGNORECASE (its
  own, or a group's ``(?i:...)``) gets no twin (``twin`` returns the pattern);
- a character outside ASCII that is neither a letter nor a digit nor a space nor foldable (a
  private-use code point: ``templates`` moves the digits of fixed codes there) is outside every
  class in both modes, so a plain text that gains only such characters still reads alike.

``tests/error_handling/test_ascii_twins.py`` checks the twins against their patterns.
"""
from __future__ import annotations

import re

try:  # Python 3.11+
    from re import _constants as _c
    from re import _parser as _parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _parse  # type: ignore[no-redef]


def is_plain(text: str) -> bool:
    """Whether twins read ``text`` as their patterns do: ASCII, none of U+001C..U+001F (four
    substring tests, each a memchr: far cheaper than one regex search for the four)."""
    return text.isascii() and not ("\x1c" in text or "\x1d" in text or "\x1e" in text or "\x1f" in text)


def _folds_beyond_ascii(items: object, ignorecase: bool) -> bool:
    """Whether a parse tree matches a literal or a range reaching past ASCII case-insensitively
    (under the pattern's IGNORECASE, or a group's scoped ``(?i:...)``)."""
    for op, av in items:  # type: ignore[attr-defined]
        if op in (_c.LITERAL, _c.NOT_LITERAL):
            if ignorecase and av >= 128:
                return True
        elif op is _c.RANGE:
            if ignorecase and av[1] >= 128:
                return True
        elif op is _c.IN:
            if _folds_beyond_ascii(av, ignorecase):
                return True
        elif op is _c.BRANCH:
            if any(_folds_beyond_ascii(branch, ignorecase) for branch in av[1]):
                return True
        elif op is _c.SUBPATTERN:
            _group, add_flags, del_flags, inner = av
            scoped = (ignorecase or bool(add_flags & re.IGNORECASE)) and not del_flags & re.IGNORECASE
            if _folds_beyond_ascii(inner, scoped):
                return True
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) or op is getattr(_c, "POSSESSIVE_REPEAT", None):
            if _folds_beyond_ascii(av[2], ignorecase):
                return True
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            if _folds_beyond_ascii(av[1], ignorecase):
                return True
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            if _folds_beyond_ascii(av, ignorecase):
                return True
        elif op is _c.GROUPREF_EXISTS:
            if _folds_beyond_ascii(av[1], ignorecase) or (av[2] is not None and _folds_beyond_ascii(av[2], ignorecase)):
                return True
    return False


def twin(regex: re.Pattern[str]) -> re.Pattern[str]:
    """``regex`` compiled with ``re.ASCII``; ``regex`` itself where a twin could read plain text
    otherwise (a case-insensitive pattern naming a character outside ASCII) or cannot compile."""
    if regex.flags & re.ASCII or isinstance(regex.pattern, bytes):
        return regex
    try:
        if _folds_beyond_ascii(_parse.parse(regex.pattern, regex.flags), bool(regex.flags & re.IGNORECASE)):
            return regex
    except Exception:  # noqa: BLE001 - a pattern the parser refuses keeps its own form
        return regex
    try:
        return re.compile(regex.pattern, (regex.flags & ~re.UNICODE) | re.ASCII)
    except (re.error, ValueError):  # an inline (?u) flag: no twin
        return regex
