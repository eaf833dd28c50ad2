"""Code tables: a code a tool prints names its error exactly (NVIDIA Xid 79, DCGM_FR_NVLINK_DOWN,
cudaErrorNoDevice, CUDNN_STATUS_ALLOC_FAILED, gRPC StatusCode.UNAVAILABLE). They run before the
type rules, so only codes that name the error belong here: a signal named in a message (a
timeout's process group "killed with SIGTERM") is context, left to the message rules.

Each table in ``knowledge/codes.json`` has regexes that capture a code and a map from code to
category. ``CodeTables.decide(text)`` returns the category of the first table, in file order,
whose regex finds a code the table knows, with the table's name and the code; a code the table
does not list decides nothing (the other layers go on).

A table's ``fallback`` codes are catch-alls (onnxruntime's RUNTIME_EXCEPTION, NCCL's
ncclSystemError, gRPC's UNAVAILABLE): the message beside them usually says more ("Failed to
allocate memory", "Exceeds maximum queue size"). ``decide(text, fallback=True)`` reads only those,
and the classifier asks for them after the message rules, not before.
"""
from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any, Iterable, Mapping

CODES_FILE = "codes.json"


class CodeTable:
    __slots__ = ("name", "regexes", "codes", "fallback", "needles", "description")

    def __init__(self, name: str, patterns: list[str], codes: Mapping[str, str], *, needles: list[str] | None = None,
                 description: str = "", fallback: Mapping[str, str] | None = None) -> None:
        if not patterns or not (codes or fallback):
            raise ValueError(f"code table {name!r}: needs patterns and codes")
        self.name = name
        self.regexes = []
        for p in patterns:
            regex = re.compile(p)
            if regex.groups < 1:
                raise ValueError(f"code table {name!r}: pattern {p!r} captures no code")
            self.regexes.append(regex)
        self.codes = {str(k): str(v) for k, v in codes.items()}
        self.fallback = {str(k): str(v) for k, v in (fallback or {}).items()}
        both = self.codes.keys() & self.fallback.keys()
        if both:
            raise ValueError(f"code table {name!r}: {sorted(both)} both decisive and fallback")
        self.needles = tuple(needles or ())  # substrings one of which the text must hold (a cheap skip)
        self.description = description

    def may_hold(self, text: str) -> bool:
        """False when ``text`` holds none of the needles (no code of this table can be in it)."""
        if not self.needles:
            return True
        for needle in self.needles:  # a plain loop: cheaper than a generator per table
            if needle in text:
                return True
        return False

    def find(self, text: str, fallback: bool = False) -> tuple[str, str] | None:
        """(code, category) of the first known code in ``text`` (of the fallback codes with ``fallback``)."""
        return self._search(text, fallback) if self.may_hold(text) else None

    def _search(self, text: str, fallback: bool) -> tuple[str, str] | None:
        codes = self.fallback if fallback else self.codes
        if not codes:
            return None
        for regex in self.regexes:
            for match in regex.finditer(text):
                code = next((g for g in match.groups() if g is not None), None)
                if code is not None and code in codes:
                    return code, codes[code]
        return None


def _any_of(needles: Iterable[str]) -> re.Pattern[str]:
    """A regex that finds any of ``needles`` (literal, case-sensitive), written one branch per
    first character (``C(?:UDA_ERROR_|UDA|UFFT_)``): at a position the engine tries the branch of
    that character, not every needle (a flat alternation took twice as long)."""
    by_first: dict[str, list[str]] = {}
    for needle in needles:
        if needle:
            by_first.setdefault(needle[0], []).append(needle[1:])
    return re.compile("|".join(f"{re.escape(first)}(?:{'|'.join(map(re.escape, rests))})"
                               for first, rests in by_first.items()))


class CodeTables:
    def __init__(self, tables: list[CodeTable]) -> None:
        self.tables = tuple(tables)
        # the tables whose needles the last text held: the classifier asks about one text twice
        # (decisive codes, then fallback codes), so the needles are looked for once
        self._last: tuple[str, tuple[CodeTable, ...]] | None = None
        # each needle once, with the tables (by position) it lets through; tables without needles always
        self._always = frozenset(i for i, t in enumerate(tables) if not t.needles)
        by_needle: dict[str, set[int]] = {}
        for i, table in enumerate(tables):
            for needle in table.needles:
                by_needle.setdefault(needle, set()).add(i)
        self._needles = tuple(by_needle.items())
        # whether a text holds any needle at all, in one search (most texts hold none): only those
        # that do are read needle by needle
        self._any_needle = _any_of(by_needle) if by_needle else None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> "CodeTables":
        tables = []
        for item in data.get("tables", []):
            tables.append(CodeTable(item["name"], item["patterns"], item["codes"], needles=item.get("needles"),
                                    description=item.get("description", ""), fallback=item.get("fallback")))
        return cls(tables)

    @classmethod
    def shipped(cls) -> "CodeTables":
        text = resources.files("error_handling.knowledge").joinpath(CODES_FILE).read_text(encoding="utf-8")
        return cls.from_data(json.loads(text))

    def needle_expressions(self) -> tuple[tuple[int, str, int], ...]:
        """The needles as literal expressions (position, pattern, flags) for a multi-regex gate
        (``error_handling.multigate``): a gate that scans a text anyway names the needles in it."""
        return tuple((position, re.escape(needle), 0) for position, (needle, _tables) in enumerate(self._needles))

    def categories(self) -> set[str]:
        return {c for t in self.tables for c in (*t.codes.values(), *t.fallback.values())}

    def decide(self, text: str, fallback: bool = False, gate: Any = None) -> tuple[str, str, str] | None:
        """(category, table name, code) or None; with ``fallback``, of the catch-all codes only.
        ``gate``: a gate over ``needle_expressions()`` (a ``multigate.TierGate``) that names the
        needles in ``text`` where it can tell; else they are looked for here."""
        last = self._last
        if last is not None and last[0] is text:
            candidates = last[1]
        else:
            held = set(self._always)
            hits = gate.hits(text) if gate is not None else None
            if hits is not None:
                for position in hits:
                    held |= self._needles[position][1]
            elif self._any_needle is not None and self._any_needle.search(text) is not None:
                for needle, positions in self._needles:
                    if needle in text:
                        held |= positions
            tables = self.tables
            candidates = tuple(tables[i] for i in sorted(held))
            self._last = (text, candidates)
        for table in candidates:
            found = table._search(text, fallback)
            if found is not None:
                return found[1], table.name, found[0]
        return None
