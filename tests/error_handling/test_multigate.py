"""The multi-regex gate (Hyperscan in prefilter mode) only picks which searches run: it never
hides a regex that matches, and the classifier decides the same with it and without it."""
from __future__ import annotations

import json
import platform
import re
import sys
import threading
from pathlib import Path

import pytest

from error_handling import ErrorInfo
from error_handling import multigate
from error_handling.classify import Classifier, _Facts
from error_handling.multigate import MultiGate, TierGate, covers
from error_handling.rulesets import GatedTier

CORPUS = Path(__file__).resolve().parents[1] / "data" / "error_corpus.jsonl"
HOLDOUT = Path(__file__).resolve().parents[1] / "data" / "holdout"
FLAGS = re.IGNORECASE | re.MULTILINE


def test_hyperscan_is_installed_where_it_has_wheels():
    # the gate is the speed users get on these platforms: a missing install must fail, not skip
    if (sys.platform == "linux" and platform.machine() == "x86_64") or sys.platform == "darwin":
        assert multigate._hs is not None
        assert multigate.available()


needs_gate = pytest.mark.skipif(not multigate.available(), reason="no Hyperscan wheel for this platform")


def _records() -> list[dict]:
    out = []
    for path in [CORPUS, *sorted(HOLDOUT.glob("*.jsonl"))]:
        out += [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return out


def _infos(records: list[dict]) -> list[ErrorInfo]:
    return [ErrorInfo(type=r.get("type") or "", message=r.get("message") or "", traceback=r.get("traceback"),
                      exit_code=r.get("exit_code"), signal=r.get("signal"), context=r.get("context") or {})
            for r in records]


def _gated_tiers(classifier: Classifier) -> list[GatedTier]:
    return [plan for rule_set in (classifier._confident, classifier._weak)
            for _tier, plan in rule_set._plan if isinstance(plan, GatedTier) and plan.gate is not None]


@needs_gate
def test_the_gate_names_every_piece_that_matches():
    classifier = Classifier()
    assert classifier.warm_up(timeout=120)
    tiers = _gated_tiers(classifier)
    assert tiers and all(tier.gate.ready and not tier.gate.left_out for tier in tiers)
    texts = [_Facts(info).text for info in _infos(_records())]
    texts += [t.upper() for t in texts[::4]]
    checked = 0
    for tier in tiers:
        covered = {position for position, _pattern, _flags in tier.gate.expressions}
        for text in texts:
            hits = tier.gate.hits(text)
            if not covers(text):
                assert hits is None
                continue
            hits = set(hits)
            lowered = text.lower()
            for position, (_rule, found, search, _also) in enumerate(tier.entries):
                if position not in covered or position in hits:
                    continue
                # a piece the gate left out of this text: its search must fail (checked where its
                # needles allow a match, the rest being ruled out by test_prefilter already)
                if found is not None and not any(n in lowered for n in found):
                    continue
                checked += 1
                assert search(text) is None, (tier.entries[position][0].name, text[:200])
    assert checked > 10_000


@needs_gate
def test_classification_is_the_same_with_and_without_the_gate(monkeypatch):
    infos = _infos(_records())
    infos += [ErrorInfo(type=i.type, message=i.message.upper()) for i in infos[::3]]
    gated = Classifier(cache_size=0)
    assert gated.warm_up(timeout=120)
    with_gate = [gated.explain(i) for i in infos]
    monkeypatch.setenv("DTF_HYPERSCAN", "0")
    plain = Classifier(cache_size=0)
    assert not _gated_tiers(plain) and not plain.warm_up(timeout=1)
    assert with_gate == [plain.explain(i) for i in infos]


@needs_gate
def test_text_outside_what_the_gate_covers_goes_by_the_gram_index():
    classifier = Classifier(cache_size=0)
    assert classifier.warm_up(timeout=120)
    gate = _gated_tiers(classifier)[0].gate
    for text in ("CUDA out of memory → retry", "field\x1cseparated", "vertical\x0btab"):
        assert not covers(text) and gate.hits(text) is None
    assert covers("CUDA out of memory; tried to allocate 2 GiB") and gate.hits("CUDA out of memory") is not None
    # and those texts still classify as their ASCII equivalents do
    assert classifier.classify({"type": "RuntimeError", "message": "CUDA out of memory → retry"}) == \
        classifier.classify({"type": "RuntimeError", "message": "CUDA out of memory"})


@needs_gate
def test_a_regex_hyperscan_rejects_is_left_out_and_always_tried():
    expressions = [(0, r"disk (?:is )?full", FLAGS), (1, r"(?a)connection reset", FLAGS),
                   (2, r"(?<!\w)timed out", FLAGS)]
    gate = MultiGate(tuple(expressions))
    assert gate.wait(timeout=60)
    assert gate.error is None
    assert gate.left_out == (1,)  # an inline flag of Python's, not Hyperscan's
    assert sorted(gate.hits("the disk is full; request timed out")) == [0, 2]
    assert gate.hits("nothing of note") == []


@needs_gate
def test_each_thread_scans_with_its_own_scratch_space():
    gate = MultiGate(((0, r"out of memory", FLAGS), (1, r"connection refused", FLAGS)))
    assert gate.wait(timeout=60)
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            for _ in range(2000):
                assert gate.hits("CUDA out of memory, then connection refused") in ([0, 1], [1, 0])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


@pytest.mark.parametrize("pattern, coverable", [
    (r"CUDA out of memory", True),
    (r"(?i)\bconnection (?:reset|refused)\b", True),
    (r"stra\u017fe", False),        # \u is Python's escape
    (r"straſe", False),              # non-ASCII: folds onto ASCII under IGNORECASE
    (r"retr(?:y|ies){,3}", False),   # Python's {,n}; PCRE reads the characters
    (r"[[:alpha:]]+ failed", False),  # Python reads a class of "[:alph", PCRE a POSIX class
])
def test_only_regexes_both_engines_read_alike_are_covered(pattern, coverable):
    assert multigate.coverable(pattern) is coverable
    assert multigate.coverable(pattern, re.VERBOSE) is False  # Hyperscan would read the layout as text


def test_the_gate_is_off_when_disabled_or_too_small(monkeypatch):
    many = tuple((i, f"needle number {i}", FLAGS) for i in range(multigate.MIN_PATTERNS))
    assert MultiGate.shared(many[:-1]) is None  # too few: the gram index is as fast
    monkeypatch.setenv("DTF_HYPERSCAN", "0")
    assert MultiGate.shared(many) is None
    assert not Classifier().warm_up(timeout=1)


@needs_gate
def test_a_gate_still_compiling_leaves_the_decision_to_the_gram_index():
    gate = MultiGate.__new__(MultiGate)  # as it is before its thread has finished
    gate._db = None
    assert gate.hits("CUDA out of memory") is None and not gate.ready
    classifier = Classifier(cache_size=0)
    for tier in _gated_tiers(classifier):
        tier.gate = gate
    assert classifier.classify({"type": "RuntimeError", "message": "CUDA out of memory"}).value == \
        "resource_allocation_error"


def test_the_same_set_of_regexes_compiles_once_per_process():
    first, second = Classifier(), Classifier()
    assert [id(g) for g in first._confident.gates()] == [id(g) for g in second._confident.gates()]


@needs_gate
def test_a_rule_sets_tiers_share_one_scan_of_a_text(monkeypatch):
    classifier = Classifier(cache_size=0)
    assert classifier.warm_up(timeout=120)
    (gate,) = classifier._confident.gates()
    tiers = [plan for _tier, plan in classifier._confident._plan if isinstance(plan, GatedTier) and plan.gate]
    assert len(tiers) > 1 and {tier.gate.gate for tier in tiers} == {gate}
    scans = []
    real = gate.hits
    monkeypatch.setattr(gate, "hits", lambda text: scans.append(text) or real(text))
    # decided by the message tier after the overriding tier and the type tier found nothing
    info = ErrorInfo(type="RuntimeError", message="CUDA out of memory. Tried to allocate 2.00 GiB")
    assert classifier.classify(info).value == "resource_allocation_error"
    assert len(scans) == 1
    # each tier reads its own positions from the one scan
    text = _Facts(info).text
    for tier in tiers:
        hits = tier.gate.hits(text)
        assert all(0 <= position < len(tier.entries) for position in hits)
    assert len(scans) == 1


@needs_gate
def test_a_tier_gate_maps_left_out_regexes_back_to_its_positions():
    first = [(0, r"disk (?:is )?full", FLAGS), (1, r"(?a)connection reset", FLAGS)]
    second = [(0, r"(?a)timed out", FLAGS), (1, r"no space left", FLAGS)]
    gate = MultiGate(TierGate.combine([first, second]))
    assert gate.wait(timeout=60)
    one, two = TierGate(gate, 0, first), TierGate(gate, 1, second)
    assert one.left_out == (1,) and two.left_out == (0,)
    text = "disk full, then no space left"
    assert one.hits(text) == [0] and two.hits(text) == [1]


@needs_gate
def test_the_code_tables_needles_ride_on_the_confident_rules_scan(monkeypatch):
    from tests.error_handling.test_fast_forms import _decide_every_needle

    classifier = Classifier(cache_size=0)
    assert classifier.warm_up(timeout=120)
    tables, code_gate = classifier.code_tables, classifier._code_gate
    (gate,) = classifier._confident.gates()
    assert code_gate is not None and code_gate.gate is gate
    texts = [_Facts(info).text for info in _infos(_records())]
    assert sum(bool(code_gate.hits(text)) for text in texts) > 500  # (texts with needles and without)
    for text in texts:
        tables._last = None
        for fallback in (False, True):
            assert tables.decide(text, fallback, gate=code_gate) == _decide_every_needle(tables, text, fallback)
    scans = []
    real = gate.hits
    monkeypatch.setattr(gate, "hits", lambda text: scans.append(text) or real(text))
    # a report the code tables decide, and one they pass to the rules: one scan each
    assert classifier.explain(ErrorInfo(type="", message="cudaErrorNoDevice: no CUDA-capable device"))[1].startswith("code:")
    assert classifier.classify(ErrorInfo(type="RuntimeError", message="CUDA out of memory. Tried to allocate 2 GiB"))
    assert len(scans) == 2
