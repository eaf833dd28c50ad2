"""Root causes the grouping knows by name (``knowledge/causes.json``).

A template groups what one tool prints in one wording; people group by what one fix closes. A
full disk is ``OSError: [Errno 28] No space left on device`` from Python, ``unexpected pos 1234
vs 567`` from torch.save, ``StorageFull`` from safetensors and a pip error that quotes the errno;
an OOM-killed pod is a ``kubectl describe`` section, a ``kubectl get pods`` row and Argo's one
line. ``cause_of(message)`` names the first cause of the table whose regex matches anywhere in the
message (so a header-first output is read for what it reports), with its subject where the cause
has one (the module that is missing, the Xid); ``ErrorAggregator`` groups such a report by that
name instead of its template.

Causes that take different fixes stay apart: a container's OOM kill, the host's OOM killer and a
Slurm step's are three causes; a container store that is full is not a job's scratch disk. The
table holds only causes that name one fix; a connection refused or a timeout names none (which
service, which host) and stays with the templates.

Cost: the table's regexes are tried only where one of their literal needles occurs in the message
(``prefilter``), and where Hyperscan is installed one scan of the message names the candidates
(``multigate``); a first-seen report pays that once, a repeat nothing (the aggregator's template
cache holds the answer).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

from error_handling import multigate
from error_handling.prefilter import filters_hold, needles

PREFIX = "cause:"  # how a cause's template starts; no masked message template does


@dataclass(frozen=True, slots=True)
class Cause:
    name: str
    title: str
    patterns: tuple[re.Pattern[str], ...]
    description: str = ""


def load_causes(text: str | None = None) -> tuple[Cause, ...]:
    """The causes of ``text`` (JSON as in ``knowledge/causes.json``; the shipped table when None)."""
    if text is None:
        text = resources.files("error_handling.knowledge").joinpath("causes.json").read_text(encoding="utf-8")
    causes = []
    for item in json.loads(text)["causes"]:
        name = str(item["name"])
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise ValueError(f"cause name {name!r}: lower-case letters, digits and dashes")
        patterns = tuple(re.compile(p) for p in item["patterns"])
        causes.append(Cause(name, str(item["title"]), patterns, str(item.get("description", ""))))
    return tuple(causes)


class CauseTable:
    """``find(message)``: the template of the first cause that matches, or None."""

    def __init__(self, causes: Iterable[Cause]) -> None:
        self.causes = tuple(causes)
        # every regex, in table order, with its cause and the needles one of which it needs
        self._regexes = [(cause, regex, needles(regex.pattern)) for cause in self.causes for regex in cause.patterns]
        self._gate = multigate.MultiGate.shared(
            [(i, regex.pattern, 0) for i, (_c, regex, _n) in enumerate(self._regexes)
             if multigate.coverable(regex.pattern)])
        self._always = tuple(i for i, (_c, regex, _n) in enumerate(self._regexes)
                             if not multigate.coverable(regex.pattern))

    def _candidates(self, message: str) -> Iterable[int]:
        gate = self._gate
        if gate is not None:
            found = gate.hits(message)
            if found is not None:
                always = self._always + gate.left_out
                return sorted({*found, *always}) if always else sorted(found)
        if not filters_hold(message):
            return range(len(self._regexes))
        lowered = message.lower()
        return [i for i, (_c, _r, found) in enumerate(self._regexes)
                if found is None or any(needle in lowered for needle in found)]

    def find(self, message: str) -> str | None:
        if not message:
            return None
        for index in self._candidates(message):
            cause, regex, _n = self._regexes[index]
            match = regex.search(message)
            if match is None:
                continue
            subject = " ".join(value.lower() for key, value in match.groupdict().items()
                               if value and key.startswith("subject"))
            return f"{PREFIX}{cause.name} {cause.title}" + (f" [{subject.strip()}]" if subject.strip() else "")
        return None


@lru_cache(maxsize=1)
def shipped_causes() -> CauseTable:
    return CauseTable(load_causes())


def cause_of(message: str) -> str | None:
    """The cause template of ``message`` under the shipped table (``"cause:disk-full disk full
    (no space left on device)"``), or None when it names no known cause."""
    return shipped_causes().find(message)


def is_cause(template: str) -> bool:
    return template.startswith(PREFIX)
