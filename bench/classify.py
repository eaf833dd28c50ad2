"""Classification accuracy, grouping quality (ours vs Drain3) and cost per event, on the corpus.

    python bench/classify.py [--corpus tests/data/error_corpus.jsonl] [--events 200000] [--verbose]

Grouping is scored against the corpus's ``pattern`` labels with pairwise F1 (precision: pairs put
together that share a label; recall: pairs sharing a label that were put together) and the
adjusted Rand index, both computed here. Drain3 gets its default ``TemplateMiner`` config and the
same text ours sees (``"Type: message"``), once whole and once as the first line only.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from error_handling.classify import Classifier  # noqa: E402
from error_handling.model import normalize_error  # noqa: E402
from error_handling.patterns import ErrorAggregator  # noqa: E402


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _comb2(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_scores(labels: Sequence[str], clusters: Sequence[str]) -> dict[str, float]:
    """Pairwise precision/recall/F1 and adjusted Rand index of ``clusters`` against ``labels``."""
    joint = Counter(zip(labels, clusters))
    by_label = Counter(labels)
    by_cluster = Counter(clusters)
    same_both = sum(_comb2(n) for n in joint.values())
    same_label = sum(_comb2(n) for n in by_label.values())
    same_cluster = sum(_comb2(n) for n in by_cluster.values())
    precision = same_both / same_cluster if same_cluster else 1.0
    recall = same_both / same_label if same_label else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = _comb2(len(labels))
    expected = same_label * same_cluster / total if total else 0.0
    maximum = (same_label + same_cluster) / 2
    ari = (same_both - expected) / (maximum - expected) if maximum != expected else 1.0
    return {"precision": precision, "recall": recall, "f1": f1, "ari": ari, "clusters": len(by_cluster)}


def text_of(entry: dict) -> str:
    short = (entry.get("type") or "").rsplit(".", 1)[-1]
    message = entry.get("message") or ""
    return f"{short}: {message}" if short else message


def classification(entries: list[dict], classifier: Classifier, verbose: bool) -> float:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for entry in entries:
        got, rule = classifier.explain(entry)
        ok = got.value == entry["category"]
        per[entry["category"]][0] += ok
        per[entry["category"]][1] += 1
        if not ok:
            misses.append((entry["id"], entry["category"], got.value, rule))
    print("classification accuracy per category:")
    for category in sorted(per):
        right, total = per[category]
        print(f"  {category:30s} {right:4d}/{total:<4d} {right / total:7.1%}")
    right = sum(r for r, _ in per.values())
    overall = right / len(entries)
    print(f"  {'overall':30s} {right:4d}/{len(entries):<4d} {overall:7.1%}  (target >= 95%)")
    if verbose:
        for miss in misses:
            print("  miss:", *miss)
    return overall


def ours(entries: list[dict], classifier: Classifier) -> list[str]:
    aggregator = ErrorAggregator(similarity_threshold=0.8, error_history_size=10_000)
    return [aggregator.add_error(e, category=classifier.classify(e)) for e in entries]


def drain(texts: Iterable[str]) -> list[str]:
    from drain3 import TemplateMiner

    logging.getLogger("drain3").setLevel(logging.WARNING)
    miner = TemplateMiner()
    return [str(miner.add_log_message(t)["cluster_id"]) for t in texts]


def grouping(entries: list[dict], classifier: Classifier) -> tuple[float, float]:
    labels = [e["pattern"] for e in entries]
    texts = [text_of(e) for e in entries]
    results = {"ours (ErrorAggregator)": pairwise_scores(labels, ours(entries, classifier))}
    try:
        results["drain3 (whole message)"] = pairwise_scores(labels, drain(texts))
        results["drain3 (first line)"] = pairwise_scores(labels, drain(t.strip().splitlines()[0] if t.strip() else "" for t in texts))
    except ImportError:
        print("drain3 is not installed: only our grouping is scored")
    print(f"grouping against {len(set(labels))} pattern labels ({len(labels)} errors):")
    for name, s in results.items():
        print(f"  {name:24s} pairwise F1 {s['f1']:.3f} (P {s['precision']:.3f} R {s['recall']:.3f})  "
              f"ARI {s['ari']:.3f}  clusters {s['clusters']}")
    our = results["ours (ErrorAggregator)"]
    others = [s for n, s in results.items() if n.startswith("drain3")]
    if others:
        best = max(others, key=lambda s: s["f1"])
        verdict = "yes" if our["f1"] > best["f1"] and our["ari"] > max(s["ari"] for s in others) else "no"
        print(f"  ours beats drain3 (F1 and ARI): {verdict}")
        return our["f1"], best["f1"]
    return our["f1"], 0.0


def speed(entries: list[dict], classifier: Classifier, events: int) -> None:
    infos = [normalize_error(e) for e in entries]
    contexts = [{"worker_id": f"worker-{i % 7}", "hardware_type": "cuda" if i % 3 else "cpu", "tags": {"model": "bert"}}
                for i in range(len(infos))]
    aggregator = ErrorAggregator(error_history_size=1000)
    for info in infos:  # warm the caches: repeated messages are the steady state
        aggregator.add_error(info, category=classifier.classify(info))
    n = len(infos)
    start = time.perf_counter()
    for i in range(events):
        info = infos[i % n]
        aggregator.add_error(info, contexts[i % n], classifier.classify(info))
    per_event = (time.perf_counter() - start) / events * 1e6
    start = time.perf_counter()
    cold = Classifier()
    for info in infos:
        cold.classify(info)
    cold_us = (time.perf_counter() - start) / n * 1e6
    print(f"cost: classify + add_error {per_event:.2f} µs/event on repeated messages ({events} events, target < 10); "
          f"first sight of a message {cold_us:.0f} µs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "data" / "error_corpus.jsonl")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--verbose", action="store_true", help="list misclassified entries")
    args = parser.parse_args(argv)
    entries = load(args.corpus)
    classifier = Classifier()
    classification(entries, classifier, args.verbose)
    grouping(entries, classifier)
    speed(entries, classifier, args.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
