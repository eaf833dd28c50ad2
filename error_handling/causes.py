"""Root causes the grouping knows by name (``knowledge/causes.json``).

A template groups what one tool prints in one wording; people group by what one fix closes. A
full disk is ``OSError: [Errno 28] No space left on device`` from Python, ``unexpected pos 1234
vs 567`` from torch.save, ``StorageFull`` from safetensors and a pip error that quotes the errno;
an OOM-killed pod is a ``kubectl describe`` section, a ``kubectl get pods`` row and Argo's one
line. ``cause_of(message)`` names the first cause of the table whose regex matches anywhere in the
message (so a header-first output is read for what it reports), with its subject where the cause
has one (the module that is missing, the Xid); ``ErrorAggregator`` groups such a report by that
name instead of its template. Teams add their own (``ErrorAggregator(causes=with_shipped(
load_causes_file("our-causes.json")))``), tried before the shipped ones.

Causes that take different fixes stay apart: a container's OOM kill, the host's OOM killer and a
Slurm step's are three causes; a container store that is full is not a job's scratch disk. The
table holds only causes that name one fix; a timeout, or a connection refused with no fixed port
to say which service, names none and stays with the templates.

Cost: a regex is tried only where one of its literal needles (``prefilter.needles``) occurs in the
message. Where Hyperscan is installed, one scan of the message for all the needles names those
(``multigate``; about 2 µs); elsewhere the message's four-letter grams pick them from an index,
as the classifier's rule tiers do. A first-seen report pays that once, a repeat nothing (the
aggregator's template cache holds the answer).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

from error_handling import multigate
from error_handling.prefilter import filters_hold, grams, may_match, needles, text_grams

PREFIX = "cause:"  # how a cause's template starts; no masked message template does
# A message is read at most this much from each end (a hostile worker's megabytes cost no more
# than a long pytest output); the table's regexes bound their own repeats too.
READ_CHARS = 32_768


@dataclass(frozen=True, slots=True)
class Cause:
    name: str
    title: str
    patterns: tuple[re.Pattern[str], ...]
    description: str = ""


def load_causes(text: str | None = None) -> tuple[Cause, ...]:
    """The causes of ``text`` (JSON as in ``knowledge/causes.json``; the shipped table when None).
    A malformed table raises ValueError naming the cause."""
    if text is None:
        text = resources.files("error_handling.knowledge").joinpath("causes.json").read_text(encoding="utf-8")
    try:
        items = json.loads(text)["causes"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a causes table (a JSON object with a 'causes' list): {exc}") from None
    causes = []
    for item in items:
        name = str(item.get("name", "")) if isinstance(item, dict) else ""
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise ValueError(f"cause name {name!r}: lower-case letters, digits and dashes")
        patterns = item.get("patterns")
        if not item.get("title") or not isinstance(patterns, list) or not patterns:
            raise ValueError(f"cause {name}: needs a title and a list of patterns")
        try:
            compiled = tuple(re.compile(str(p)) for p in patterns)
        except re.error as exc:
            raise ValueError(f"cause {name}: bad regex: {exc}") from None
        causes.append(Cause(name, str(item["title"]), compiled, str(item.get("description", ""))))
    if len({c.name for c in causes}) != len(causes):
        raise ValueError("cause names must be unique")
    return tuple(causes)


def load_causes_file(path: str | Path) -> tuple[Cause, ...]:
    """A user's causes table (the shipped table's JSON shape); errors name the file."""
    try:
        return load_causes(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


class CauseTable:
    """``find(message)``: the template of the first cause that matches, or None."""

    def __init__(self, causes: Iterable[Cause]) -> None:
        self.causes = tuple(causes)
        # every regex, in table order, with its cause and the needles one of which it needs
        self._regexes = [(cause, regex, needles(regex.pattern)) for cause in self.causes for regex in cause.patterns]
        self._always = tuple(i for i, (_c, _r, found) in enumerate(self._regexes) if grams(found) is None)
        self._index: dict[str, list[int]] = {}
        for i, (_c, _r, found) in enumerate(self._regexes):
            for gram in grams(found) or ():
                self._index.setdefault(gram, []).append(i)
        # Hyperscan reads the needles, not the regexes: a literal automaton scans a message in
        # about a microsecond, an automaton of the regexes themselves took three
        self._gate = multigate.MultiGate.shared(
            [(i, re.escape(needle), re.IGNORECASE) for i, (_c, _r, found) in enumerate(self._regexes)
             if found is not None for needle in found])
        self._gate_always = tuple(i for i, (_c, _r, found) in enumerate(self._regexes) if found is None)

    def warm_up(self, timeout: float | None = None) -> bool:
        """Block until the needle gate has compiled (it compiles in the background; meanwhile the
        gram index answers): True when it answers, False where it does not run here."""
        return self._gate is not None and self._gate.wait(timeout)

    def _candidates(self, message: str) -> Iterable[int]:
        """Positions of the regexes that may match, in table order (a superset)."""
        gate = self._gate
        if gate is not None:
            found = gate.hits(message)
            if found is not None:
                always = self._gate_always + gate.left_out
                return sorted({*found, *always}) if always else sorted(found)
        if not filters_hold(message):
            return range(len(self._regexes))
        lowered = message.lower()
        positions = set(self._always)
        index = self._index
        for gram in index.keys() & text_grams(lowered):
            positions.update(index[gram])
        return [i for i in sorted(positions) if may_match(self._regexes[i][2], message, lowered)]

    def find(self, message: str) -> str | None:
        if not message:
            return None
        if len(message) > 2 * READ_CHARS:
            message = f"{message[:READ_CHARS]}\n{message[-READ_CHARS:]}"
        regexes = self._regexes
        for index in self._candidates(message):
            cause, regex, _n = regexes[index]
            match = regex.search(message)
            if match is None:
                continue
            subject = " ".join(value.lower() for key, value in match.groupdict().items()
                               if value and key.startswith("subject"))
            return f"{PREFIX}{cause.name} {cause.title}" + (f" [{subject}]" if subject else "")
        return None


@lru_cache(maxsize=1)
def shipped_causes() -> CauseTable:
    return CauseTable(load_causes())


def with_shipped(own: Iterable[Cause]) -> CauseTable:
    """A table of ``own`` causes tried before the shipped ones (a name may not repeat a shipped one)."""
    own = tuple(own)
    shipped = shipped_causes().causes
    taken = {c.name for c in shipped}.intersection(c.name for c in own)
    if taken:
        raise ValueError(f"causes already shipped under these names: {', '.join(sorted(taken))}")
    return CauseTable(own + shipped)


def cause_of(message: str) -> str | None:
    """The cause template of ``message`` under the shipped table (``"cause:disk-full disk full
    (no space left on device)"``), or None when it names no known cause."""
    return shipped_causes().find(message)


def is_cause(template: str) -> bool:
    return template.startswith(PREFIX)
