"""The other-length search skips whole lengths by their words and single patterns by bounds:
it must find what looking at every pattern one by one finds."""
from __future__ import annotations

import json
import random
from pathlib import Path

from error_handling.buckets import MAX_OTHER_LENGTH, LengthBuckets, informative, search_needs
from error_handling.patterns import ErrorAggregator
from error_handling.similarity import align, token_counts

CORPUS = Path(__file__).resolve().parents[1] / "data" / "error_corpus.jsonl"


def plain_search(buckets: LengthBuckets, tokens: list[str], threshold: float):
    """Every pattern in range, in the search's order (shortest length first, newest first), up
    to MAX_OTHER_LENGTH of them, aligned unless it shares too few tokens; no words, no bounds."""
    n = len(tokens)
    spread = max(4, n // 2)
    wanted = set(tokens)
    looked = 0
    best, best_score, best_merged = None, 0.0, tokens
    for length in range(max(1, n - spread), n + spread + 1):
        if length == n or length >= len(buckets.patterns):
            continue
        for candidate in reversed(buckets.patterns[length].values()):
            if looked >= MAX_OTHER_LENGTH:
                break
            looked += 1
            if len(wanted & set(candidate.tokens)) < threshold * min(n, length) - 2:
                continue
            score, merged = align(candidate.tokens, tokens)
            if score > best_score and informative(merged):
                best, best_score, best_merged = candidate, score, merged
    return (best, best_merged) if best is not None and best_score >= threshold else (None, tokens)


def test_the_search_finds_what_looking_at_every_pattern_finds() -> None:
    records = [json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines() if x.strip()]
    rng = random.Random(5)
    found = 0
    for threshold in (0.8, 0.6):
        agg = ErrorAggregator(similarity_threshold=threshold, error_history_size=300)
        for rec in rng.sample(records, 1200):  # the state: patterns joined, widened, moved, evicted
            agg.add_error({"type": rec.get("type") or "", "message": rec.get("message") or ""}, None, "c")
        buckets = agg._buckets["c"]
        held = [p.tokens for b in buckets.patterns for p in b.values()]
        for _ in range(1500):
            # a held pattern's tokens, a few of them changed, dropped or repeated
            tokens = [t for t in rng.choice(held) if t != "<*>"] or ["x"]
            for _ in range(rng.randint(0, 3)):
                i = rng.randrange(len(tokens))
                what = rng.random()
                if what < 0.4:
                    tokens[i] = rng.choice(["<NUM>", "host", "failed", "ENOSPC", "x", "<PATH>"])
                elif what < 0.7 and len(tokens) > 1:
                    del tokens[i]
                else:
                    tokens.insert(i, rng.choice(tokens))
            got = buckets.closest_other_length(tokens, frozenset(tokens), token_counts(tokens), threshold,
                                               search_needs(len(tokens), threshold))
            want = plain_search(buckets, tokens, threshold)
            assert got[0] is want[0] and got[1] == want[1], tokens
            found += got[0] is not None
    assert found > 100  # (the searches found something to agree on)
