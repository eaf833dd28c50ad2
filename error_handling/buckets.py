"""One category's patterns by token count (Drain's length buckets), and the search of the lengths
around a new template's for the pattern it aligns with best (``ErrorAggregator`` in
``error_handling.patterns`` owns one ``LengthBuckets`` per category).

Each length keeps its patterns (oldest first, in a dict by id) and its words: every token of its
patterns, kept a superset as patterns join, turn tokens into wildcards or leave, and built again
from the patterns it holds once more of them have left than it holds. The words are what lets
the search skip a whole length: a length whose words share too few tokens with the template holds
no pattern that shares enough. The search tests every length in range at once (C-level ``map``
over the words), so a template that no length can match (about half of the new ones on the
corpus) costs no loop in Python.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import compress, count
from operator import ge
from typing import Any

from error_handling.similarity import WILDCARD, align, align_bound, min_common

MAX_OTHER_LENGTH = 64    # patterns of other lengths aligned when none of its own length is close
_NEVER = float("inf")    # the need of the template's own length: the other-length search skips it


def informative(merged: list[str]) -> bool:
    """Whether a pattern's tokens after a join are at most half wildcards: merge after merge,
    each at the threshold, would otherwise wear a pattern down to ``<*> <*> <*>``, which every
    template of its length then joins."""
    return merged.count(WILDCARD) * 2 <= len(merged)


class LengthBuckets:
    """The patterns of one category, by length; ``size`` is how many it holds."""

    __slots__ = ("patterns", "words", "gone", "size")

    def __init__(self) -> None:
        self.patterns: list[dict[str, Any]] = [{}]   # by length (index 0 stays empty)
        self.words: list[set[str]] = [set()]       # a superset of the tokens of those patterns
        self.gone: list[int] = [0]                 # patterns that left since the words were built
        self.size = 0

    def bucket(self, length: int) -> dict[str, Any]:
        """The patterns of ``length`` tokens, oldest first (read only: join and leave change it)."""
        patterns = self.patterns
        if length >= len(patterns):
            self._grow(length)
        return patterns[length]

    def _grow(self, length: int) -> None:
        more = length + 1 - len(self.patterns)
        self.patterns.extend({} for _ in range(more))
        self.words.extend(set() for _ in range(more))
        self.gone.extend([0] * more)

    def join(self, pattern: Any) -> None:
        length = len(pattern.tokens)
        self.bucket(length)[pattern.pattern_id] = pattern
        self.words[length].update(pattern.tokens)
        self.size += 1

    def widened(self, length: int) -> None:
        """A pattern of ``length`` tokens turned some of them into wildcards."""
        self.words[length].add(WILDCARD)

    def leave(self, pattern: Any) -> None:
        length = len(pattern.tokens)
        bucket = self.patterns[length]
        if bucket.pop(pattern.pattern_id, None) is None:
            return
        self.size -= 1
        gone = self.gone[length] + 1
        if gone <= len(bucket):
            self.gone[length] = gone  # its words stay a superset, staler by one pattern
        else:  # built again, without the tokens of those that left
            self.words[length] = {t for p in bucket.values() for t in p.tokens}
            self.gone[length] = 0

    def closest_other_length(self, tokens: list[str], wanted: frozenset[str], counts: dict[str, int],
                             threshold: float, needs: tuple[float, ...]) -> tuple[Any | None, list[str]]:
        """The most similar pattern of another length (``align``), if it reaches ``threshold``,
        and the merged tokens. ``wanted`` and ``counts`` are the template's tokens as a set and
        their ``token_counts``; ``needs`` is ``search_needs(len(tokens), threshold)``.

        Lengths are searched from the shortest in range (``max(4, n // 2)`` either side), each
        length's patterns newest first, and at most ``MAX_OTHER_LENGTH`` patterns are looked at
        in that order; a length skipped as a whole counts all its patterns as looked at."""
        n = len(tokens)
        start = n - len(needs) // 2  # the shortest length in range, maybe below 1
        low = start if start > 0 else 1
        needs = needs[low - start:]
        buckets = self.patterns[low:low + len(needs)]
        words = self.words[low:low + len(needs)]
        # the lengths whose words share enough tokens with the template (one pass, in C)
        passing = list(compress(count(), map(ge, map(len, map(wanted.intersection, words)), needs)))
        if not passing:
            return None, tokens
        least = min_common(n, threshold)
        best: Any | None = None
        best_score, best_merged = 0.0, tokens
        for k in passing:
            bucket = buckets[k]
            if not bucket:
                continue
            # every pattern of the lengths before this one counts as looked at (skipped whole, or
            # looked at one by one)
            checked = sum(map(len, buckets[:k])) - (len(buckets[n - low]) if low <= n < low + k else 0)
            if checked >= MAX_OTHER_LENGTH:
                break
            bucket_words = words[k]
            if WILDCARD not in bucket_words:
                # no pattern here has a wildcard, so each must pass align_bound, which needs
                # min_common tokens in common; the bucket's words (every mask counted as present)
                # bound what any of them has in common: too few, and all fail it at once
                shared = counts.get("<>", 0)
                for token, k_times in counts.items():
                    if token in bucket_words:
                        shared += k_times
                if shared < least:
                    continue
            length = low + k
            need = needs[k]
            for candidate in reversed(bucket.values()):
                if checked >= MAX_OTHER_LENGTH:
                    break
                checked += 1
                # cheap bounds first: too few tokens in common cannot reach the threshold
                shape = candidate.shape
                if shape is None or shape[0] is not candidate.tokens:
                    shape = candidate.reshape()
                if len(wanted & shape[1]) < need:
                    continue
                if not shape[3]:
                    bound = align_bound(shape[2], counts, length, n)
                    if bound < threshold or bound <= best_score:
                        continue
                score, merged = align(candidate.tokens, tokens)
                if score > best_score and informative(merged):
                    best, best_score, best_merged = candidate, score, merged
        if best is not None and best_score >= threshold:
            return best, best_merged
        return None, tokens


@lru_cache(maxsize=1024)
def search_needs(n: int, threshold: float) -> tuple[float, ...]:
    """For a template of ``n`` tokens, the tokens in common a length's words must have for its
    patterns to be aligned with it, for each length from ``n - spread`` to ``n + spread``
    (``spread = max(4, n // 2)``, lengths below 1 included): ``threshold`` times the shorter of
    the two lengths, less 2; the template's own length never."""
    spread = max(4, n // 2)
    return tuple(_NEVER if length == n else threshold * (n if n < length else length) - 2
                 for length in range(n - spread, n + spread + 1))
