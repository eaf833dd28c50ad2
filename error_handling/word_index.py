"""Grouping's second chance: a new template joins the pattern whose outputs use the same rare words.

A template is one line of one tool's wording; the same root cause seen through two tools (``umount:
/mnt/x: target is busy`` from a teardown script, ``umount.nfs4: /mnt/x: device is busy`` from a
post-run hook, each inside 20 lines of its own log) makes two templates that no alignment joins.
What the two outputs share is their rarer words: the mount point's name, ``umount``, ``busy``,
``fuser``. ``WordIndex`` keeps, per category, the words of the outputs that founded or joined each
pattern, weighted by how rare they are among the patterns held (inverse document frequency over
the index itself, so the words every output of this fleet prints, its hosts' log prefixes and
its runner's summary, weigh nothing after a few reports); a report whose template found no pattern
joins the one whose words are closest (cosine of the two weighted word sets, each cut to its
``KEEP`` rarest words) when that is at least ``threshold``, else it founds its own.

Only for whole outputs (``MIN_LINES`` lines or more): a one-line message is what its template
says, and two short ones that share a rare word (``yaml``, ``execnet``) are as often two errors as
one. Not before the index holds ``MIN_DOCS`` outputs (until then no word is known to be rare), and
never into a pattern of the same exception type (``ErrorAggregator`` checks: its templates were
compared and differ; a gRPC error's DNS failure and its stream reset share every other line).

Measured with the shipped classifier, each set grouped by a fresh aggregator, against labels
naming the pattern one fix would close (grouping accuracy, templates and causes alone -> with
words): check sets 159-230 (72 sets of whole outputs, on which the threshold, ``KEEP``,
``MIN_LINES`` and ``MIN_DOCS`` were chosen) 0.313 -> 0.404 (pairwise precision 0.740 -> 0.716);
sets 231-238 0.360 -> 0.462; sets 1-158 (shorter reports, most not whole outputs) 0.445 -> 0.461;
sets 239-246, written after it was built and never read for it, 0.298 -> 0.346 (adjusted Rand
index 0.337 -> 0.408). The corpus, whose labels split one error by the batch and call that wrote
it, loses: 0.686 -> 0.666 (1,290 of its 7,583 reports have five lines or more; applied to every
message whatever its length, the sets gained as much and the corpus fell to 0.392). Tried and
dropped: only the lines that say what failed (0.356 on 159-230), those lines' words weighing 1.5
times (+0.009, for a regex per line), a threshold of 0.15 (+0.018, precision 0.656).

Bounded: at most ``MAX_DOCS`` outputs per pattern (each its words, for the frequencies, and its
``KEEP`` weights); a pattern's entries leave with it (``forget``). Cost: paid only by a whole
output whose template is new and matched no pattern by its tokens: one scan of its first
``READ_CHARS`` characters and one posting list per kept word.
"""
from __future__ import annotations

import math
import re

READ_CHARS = 2000   # of the message: as the learned layer reads it (check sets 159-230: as good as 4,000)
KEEP = 24           # rarest words per output: enough to say what it is about, few enough to stay cheap
MAX_DOCS = 4        # outputs remembered per pattern: a pattern is joined through any of them
MIN_LINES = 5       # a shorter message is what its template says (see the module docstring)
MIN_DOCS = 10       # outputs held before any join: with fewer, no word is known to be rare
_WORD_RE = re.compile(r"[a-z][a-z_]{2,}")


def long_output(message: str | None) -> bool:
    """Whether a message is a whole output (``MIN_LINES`` lines or more), where one line's template
    says too little; a shorter one is what its template says."""
    return message is not None and message.count("\n", 0, READ_CHARS) >= MIN_LINES - 1


def words_of(error_type: str, message: str) -> set[str]:
    """The distinct lower-case words (3+ letters; numbers, paths' digits and punctuation drop out)."""
    return set(_WORD_RE.findall(f"{error_type}\n{message[:READ_CHARS]}".lower()))


class WordIndex:
    """Per-category inverted index of the patterns' weighted words (see the module docstring)."""

    def __init__(self, threshold: float = 0.2) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("word threshold must be in (0, 1]")
        self.threshold = float(threshold)
        self._df: dict[str, int] = {}    # word -> outputs held that contain it
        self._docs = 0                   # outputs held
        # category -> word -> {pattern_id: weight summed over that pattern's outputs}
        self._postings: dict[str | None, dict[str, dict[str, float]]] = {}
        # pattern_id -> (category, [(all words, kept weights) per output])
        self._held: dict[str, tuple[str | None, list[tuple[tuple[str, ...], dict[str, float]]]]] = {}

    def __len__(self) -> int:
        return len(self._held)

    def weigh(self, words: set[str]) -> dict[str, float]:
        """The ``KEEP`` rarest words of one output, as a unit vector (the output counted in)."""
        get = self._df.get
        # rarest first; ties (every word new) broken by the word: the same in every process
        ranked = sorted([(get(w, 0), -len(w), w) for w in words])[:KEEP]
        docs = self._docs + 2
        weighted = [(w, math.log(docs / (n + 1.5))) for n, _, w in ranked]
        norm = math.sqrt(sum(x * x for _, x in weighted)) or 1.0
        return {w: x / norm for w, x in weighted}

    def nearest(self, category: str | None, words: set[str]) -> tuple[str | None, dict[str, float]]:
        """The held pattern of ``category`` closest to ``words`` at or above the threshold (None
        where none is), and the output's weights (for ``add``)."""
        weights = self.weigh(words)
        postings = self._postings.get(category)
        if not postings or self._docs < MIN_DOCS:
            return None, weights
        scores: dict[str, float] = {}
        for word, weight in weights.items():
            found = postings.get(word)
            if found:
                for pattern_id, other in found.items():
                    scores[pattern_id] = scores.get(pattern_id, 0.0) + weight * other
        best = None
        best_score = self.threshold
        for pattern_id, score in scores.items():
            if score < best_score:
                continue
            # a pattern with several outputs sums their weights (so the sum is at least the
            # closest one's score); it is as close as its closest output
            outputs = self._held[pattern_id][1]
            if len(outputs) > 1:
                score = max(sum(weight * kept.get(word, 0.0) for word, weight in weights.items())
                            for _, kept in outputs)
            if score >= best_score:
                best, best_score = pattern_id, score
        return best, weights

    def add(self, pattern_id: str, category: str | None, words: set[str],
            weights: dict[str, float] | None = None) -> None:
        """Remember one output of ``pattern_id`` (ignored once it holds ``MAX_DOCS``); ``weights``
        as ``nearest`` gave them for these words, worked out here when None."""
        held = self._held.get(pattern_id)
        if held is None:
            held = self._held[pattern_id] = (category, [])
        elif held[0] != category or len(held[1]) >= MAX_DOCS:
            return
        if weights is None:
            weights = self.weigh(words)
        held[1].append((tuple(words), weights))
        df = self._df
        for word in words:
            df[word] = df.get(word, 0) + 1
        self._docs += 1
        postings = self._postings.setdefault(category, {})
        for word, weight in weights.items():
            found = postings.get(word)
            if found is None:
                postings[word] = {pattern_id: weight}
            else:
                found[pattern_id] = found.get(pattern_id, 0.0) + weight

    def forget(self, pattern_id: str) -> None:
        """Drop a pattern's outputs (it was evicted)."""
        held = self._held.pop(pattern_id, None)
        if held is None:
            return
        category, outputs = held
        df = self._df
        postings = self._postings.get(category, {})
        for words, weights in outputs:
            self._docs -= 1
            for word in words:
                left = df[word] - 1
                if left:
                    df[word] = left
                else:
                    del df[word]
            for word in weights:
                found = postings.get(word)
                if found is not None:
                    found.pop(pattern_id, None)
                    if not found:
                        del postings[word]
        if not postings:
            self._postings.pop(category, None)

    def clear(self) -> None:
        self._df.clear()
        self._docs = 0
        self._postings.clear()
        self._held.clear()
