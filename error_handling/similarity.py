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
    # The longest-common-subsequence table, dp[i][j] for pattern_tokens[i:] and tokens[j:], bit-
    # parallel (Allison-Dix, Hyyro): one integer per row instead of m cells. Read backwards, the
    # tokens of ``tokens`` are bits 0..m-1 (tokens[j] at bit m-1-j); after the pattern's last t
    # tokens, ``rows[t]`` has a 0 bit where the table grows by one along the row, so
    # dp[n-t][j] = (m - j) - popcount(rows[t] & (2**(m-j) - 1)). Any relation works as "equal":
    # here two tokens align when equal or both masks, and a pattern's wildcard never aligns itself
    # (it absorbs the run facing it), each pattern token's as a mask of the bits it aligns with.
    at: dict[str, int] = {}
    masks = 0
    for j, t in enumerate(tokens):
        bit = 1 << (m - 1 - j)
        at[t] = at.get(t, 0) | bit
        if t[-1:] == ">" and _is_mask(t):
            masks |= bit
    full = (1 << m) - 1
    row = full
    rows = [row]
    aligns = [0] * n  # per pattern token, the bits of the tokens it aligns with
    for i in range(n - 1, -1, -1):
        a = pattern_tokens[i]
        if a != WILDCARD:  # a wildcard is never aligned itself: its row is the one below
            match = at.get(a, 0)
            if masks and _is_mask(a):
                match |= masks
            if match:
                aligns[i] = match
                u = row & match
                row = ((row + u) | (row - u)) & full
        rows.append(row)
    low = [(1 << k) - 1 for k in range(m + 1)]
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
        # with k = m - j tokens left: dp[i][j], dp[i+1][j], and one step right of each, which
        # differs from it by the row's bit k-1
        k = m - j
        bit = 1 << (k - 1)
        row, below = rows[n - i], rows[n - i - 1]
        here = k - (row & low[k]).bit_count()
        down = k - (below & low[k]).bit_count()
        if aligns[i] & bit and here == (down if below & bit else down - 1) + 1:
            if not close():
                return 0.0, pattern_tokens
            a, b = pattern_tokens[i], tokens[j]
            merged.append(a if a == b else WILDCARD)
            aligned += 1
            i += 1
            j += 1
        elif down >= (here if row & bit else here - 1):
            gap_a.append(pattern_tokens[i])
            i += 1
        else:
            gap_b.append(tokens[j])
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
