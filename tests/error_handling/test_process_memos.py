"""``error_handling.clear_process_memos`` empties every process-wide memo a classification fills,
and a classifier answers the same after it (the memos only spare work)."""
from __future__ import annotations

from error_handling import clear_process_memos, features, similarity, type_knowledge
from error_handling.classify import Classifier
from error_handling.patterns import ErrorAggregator

REPORTS = [
    {"type": "torch.OutOfMemoryError", "message": "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0)"},
    {"type": "ConnectionRefusedError", "message": "[Errno 111] Connection refused by host gpu-07:29500"},
    {"type": None, "message": "worker-3 lost heartbeat; NCCL_ERROR_REMOTE_ERROR on rank 5"},
    {"type": "XlaRuntimeError", "message": "DEADLINE_EXCEEDED: Barrier timed out. Id: PjRT_Client_Connect::7"},
    # no rule knows these (the learned layer reads their words); alike but for one word
    {"type": None, "message": "the frobnicator wobbled near alpha quux SPLINE_MODE"},
    {"type": None, "message": "the frobnicator wobbled near gamma quux SPLINE_MODE"},
    # one word longer: the search across lengths reads the fewest tokens in common it needs
    {"type": None, "message": "the frobnicator wobbled near gamma delta quux SPLINE_MODE"},
]
MEMOS = (features._CONCEPT_CACHE, features._TOKEN_FEATURES, similarity._CODE_MEMO, similarity._MIN_COMMON,
         type_knowledge._TYPE_FACTS)


def _answers() -> list[tuple]:
    classifier, aggregator = Classifier(), ErrorAggregator()
    out = []
    for report in REPORTS:
        category, rule = classifier.explain(report)
        out.append((category, rule, aggregator.add_error(report, None, category)))
    return out


def test_clearing_the_memos_empties_them_and_changes_no_answer():
    before = _answers()
    assert all(MEMOS), "each memo is filled by these reports"
    clear_process_memos()
    assert not any(MEMOS)
    assert _answers() == before
