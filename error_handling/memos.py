"""The process-wide memos a classification fills (word features, codes, type facts; each bounded),
and how to empty them: what a process that has seen no failure yet holds, for measuring a first
sight honestly (``bench/classify.py``). ``error_handling.clear_process_memos`` loads this module
on first use, so importing the package stays light."""
from __future__ import annotations

from error_handling import features, similarity, type_knowledge


def clear_process_memos() -> None:
    """Empty the process-wide memos; classification answers the same after (they only spare work)."""
    for memo in (features._CONCEPT_CACHE, features._TOKEN_FEATURES, similarity._CODE_MEMO,
                 similarity._MIN_COMMON, type_knowledge._TYPE_FACTS):
        memo.clear()
