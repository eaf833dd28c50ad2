"""How two templates compare: token by token at one length, by alignment across lengths, and
the traceback fingerprint that groups by where an error was raised instead.

Tokens are the words of a template (``error_handling.templates``); masks (``<NUM>``, ``<PATH>``)
match each other, ``<*>`` is a pattern's wildcard. Codes (SIGSEGV, ENOSPC, CONSTANT_NAMES, and
numbers the masking kept: Xid 79, HTTP 503) name the error: templates that differ in one never
compare as similar.
"""
from __future__ import annotations

import re

WILDCARD = "<*>"
_MAX_PARAMETER_TOKENS = 3  # a differing run up to this long is one parameter (a host name in words)


def _is_mask(token: str) -> bool:
    return token == WILDCARD or (len(token) > 2 and token[0] == "<" and token[-1] == ">" and token[1:-1].isupper())


# Error codes (SIGSEGV, ENOSPC, CUDNN_STATUS_NOT_SUPPORTED) name the error: two templates that
# differ in one are different errors however similar the rest is.
_CODE_RE = re.compile(r"\bSIG[A-Z]{2,}\b|\bE[A-Z]{3,}\b|\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b")


_DIGIT_RE = re.compile(r"\d")


_CODE_MEMO: dict[str, bool] = {}
_CODE_MEMO_SIZE = 16384  # tokens, process-wide; past it the answer is worked out each time


def _is_code(token: str) -> bool:
    # Masking leaves digits only in codes it protects (Xid 79, HTTP 503): they name the error too.
    known = _CODE_MEMO.get(token)
    if known is None:
        known = _CODE_RE.search(token) is not None or _DIGIT_RE.search(token) is not None
        if len(_CODE_MEMO) < _CODE_MEMO_SIZE:
            _CODE_MEMO[token] = known
    return known


def _tokens_match(a: str, b: str) -> bool:
    return a == b or a == WILDCARD or (_is_mask(a) and _is_mask(b))


def _aligns(a: str, b: str) -> bool:
    # In an alignment a wildcard stands for a run, not one token: it is never aligned itself
    # but absorbs the (short) run facing it.
    return a != WILDCARD and (a == b or (_is_mask(a) and _is_mask(b)))


def similarity(pattern_tokens: list[str], tokens: list[str]) -> float:
    same = 0
    for a, b in zip(pattern_tokens, tokens):
        if a == b or a == WILDCARD or (_is_mask(a) and _is_mask(b)):
            same += 1
        elif _is_code(a) or _is_code(b):
            return 0.0
    return same / len(tokens)


def align(pattern_tokens: list[str], tokens: list[str]) -> tuple[float, list[str]]:
    """Similarity of templates of different lengths, and the merged template (Spell's LCS).

    Tokens are aligned by their longest common subsequence; each maximal run of unaligned
    tokens of at most ``_MAX_PARAMETER_TOKENS`` is one parameter that differs (``by server`` /
    ``by remote host``: one), and becomes one ``<*>``; a longer run is that many differing tokens
    (it is wording, not a parameter). A short run the pattern already holds as ``<*>`` is
    absorbed. Similarity is
    aligned / (aligned + differing runs): with equal lengths and isolated differences it is the
    share of equal positions, the same measure as for templates of one length. A run with an
    error code in it (SIGSEGV, ENOSPC, Xid 79) makes the similarity 0.
    """
    n, m = len(pattern_tokens), len(tokens)
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    masks = [_is_mask(t) for t in tokens]
    for i in range(n - 1, -1, -1):
        row, below = dp[i], dp[i + 1]
        a = pattern_tokens[i]
        # (x if x > y else y: the builtin max parses keywords on every call, a cost per cell)
        if a == WILDCARD:  # never aligned itself (_aligns)
            for j in range(m - 1, -1, -1):
                x, y = below[j], row[j + 1]
                row[j] = x if x > y else y
            continue
        a_mask = _is_mask(a)
        for j in range(m - 1, -1, -1):  # _aligns, with the masks worked out once per token
            if a == tokens[j] or (a_mask and masks[j]):
                row[j] = below[j + 1] + 1
            else:
                x, y = below[j], row[j + 1]
                row[j] = x if x > y else y
    merged: list[str] = []
    aligned = runs = 0
    gap_a: list[str] = []
    gap_b: list[str] = []

    def close() -> bool:
        nonlocal aligned, runs
        if not gap_a and not gap_b:
            return True
        if any(_is_code(t) for t in gap_a) or any(_is_code(t) for t in gap_b):
            return False
        longest = max(len(gap_a), len(gap_b))
        if longest > _MAX_PARAMETER_TOKENS:
            runs += longest  # too long for one parameter: every token of it differs
        elif gap_a and all(t == WILDCARD for t in gap_a):
            aligned += 1  # the pattern's wildcard takes this run
        else:
            runs += 1
        merged.append(WILDCARD)
        gap_a.clear()
        gap_b.clear()
        return True

    i = j = 0
    while i < n and j < m:
        a, b = pattern_tokens[i], tokens[j]
        if _aligns(a, b) and dp[i][j] == dp[i + 1][j + 1] + 1:
            if not close():
                return 0.0, pattern_tokens
            merged.append(a if a == b else WILDCARD)
            aligned += 1
            i += 1
            j += 1
        elif dp[i + 1][j] >= dp[i][j + 1]:
            gap_a.append(a)
            i += 1
        else:
            gap_b.append(b)
            j += 1
    gap_a.extend(pattern_tokens[i:])
    gap_b.extend(tokens[j:])
    if not close():
        return 0.0, pattern_tokens
    return (aligned / (aligned + runs) if aligned + runs else 0.0), merged


def token_counts(tokens: list[str]) -> dict[str, int]:
    """How often each token occurs, every mask and wildcard counted as one token, ``"<>"``."""
    counts: dict[str, int] = {}
    get = counts.get
    for t in tokens:
        if t[-1:] == ">" and _is_mask(t):  # (most tokens end otherwise: no call for them)
            t = "<>"
        counts[t] = get(t, 0) + 1
    return counts


def similarity_bound(pattern_counts: dict[str, int], common: set[str]) -> int:
    """The most positions ``similarity`` can find equal between a pattern (its ``token_counts``)
    and a template of its length that share the tokens ``common``: each of the pattern's masks
    and wildcards, and each shared token as often as the pattern holds it."""
    return pattern_counts.get("<>", 0) + sum([pattern_counts.get(t, 0) for t in common])


def align_bound(pattern_counts: dict[str, int], counts: dict[str, int], n: int, m: int) -> float:
    """An upper bound of ``align``'s similarity for templates of ``n`` and ``m`` tokens with these
    ``token_counts``, the pattern's holding no wildcard (a wildcard absorbs a run, so it would not
    hold; the other's wildcards are masks like any other): at most ``common`` tokens align (the
    multiset intersection), the longer template's other tokens fall in differing runs of at most
    ``_MAX_PARAMETER_TOKENS`` each, so there are at least that many runs."""
    common = 0
    for token, k in pattern_counts.items():
        j = counts.get(token)
        if j:
            common += k if k < j else j
    if not common:
        return 0.0
    runs = -(-(max(n, m) - common) // _MAX_PARAMETER_TOKENS)
    return common / (common + runs)


_MIN_COMMON: dict[tuple[int, float], int] = {}


def min_common(n: int, threshold: float) -> int:
    """The fewest tokens in common (as ``align_bound`` counts them) with which a template of
    ``n`` tokens can reach ``threshold`` against a pattern of any other length without a
    wildcard: the bound only grows with them, and the longer of the two lengths is at least ``n``."""
    key = (n, threshold)
    found = _MIN_COMMON.get(key)
    if found is None:
        found = n + 1  # none reaches it
        for common in range(1, n + 1):
            runs = -(-(n - common) // _MAX_PARAMETER_TOKENS)
            if common / (common + runs) >= threshold:
                found = common
                break
        if len(_MIN_COMMON) < 4096:
            _MIN_COMMON[key] = found
    return found


_FRAME_RE = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)', re.M)
_LIBRARY_PATH_RE = re.compile(r"site-packages|dist-packages|[/\\]lib[/\\]python\d|^<frozen|^<string>")
_APP_FRAMES = 2


def traceback_fingerprint(error_type: str, traceback: str) -> str | None:
    """``"Type @ file.py:function < file.py:caller"``: the exception type and the innermost
    frames of the application (not of installed libraries or the standard library), Sentry's
    grouping; None when the traceback shows no application frame."""
    frames = [(path, func) for path, func in _FRAME_RE.findall(traceback)
              if not _LIBRARY_PATH_RE.search(path)]
    if not frames:
        return None
    inner = frames[-_APP_FRAMES:][::-1]
    short = (error_type or "").rsplit(".", 1)[-1] or "Error"
    parts = [f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{func}" for path, func in inner]
    return f"{short} @ {' < '.join(parts)}"
