"""What a report's exception type tells before its message is read: its known bases
(``knowledge/bases.json``), the category its name's words give (``knowledge/type_words.json``),
and the ranks the type rules match by, worked out once per type name."""
from __future__ import annotations

import builtins
import json
import re
from collections import OrderedDict
from importlib import resources

_WRAPPED_TYPE_RE = re.compile(r"^([A-Za-z_][\w.]*)\(([A-Za-z_][\w.]*)\)$")  # Ray's Wrapper(Cause)


def _load_bases() -> dict[str, tuple[str, ...]]:
    text = resources.files("error_handling.knowledge").joinpath("bases.json").read_text(encoding="utf-8")
    return {k: tuple(v) for k, v in json.loads(text)["bases"].items()}


_BASES: dict[str, tuple[str, ...]] | None = None
_TYPE_WORDS: dict[str, str] | None = None
_TYPE_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_NAMELESS = frozenset({"error", "exception", "exc", "err", "base", "runtime", "value", "type", "os", "io"})


def type_word_category(type_name: str) -> tuple[str, str] | None:
    """(category, word) when the words of the class name name exactly one category."""
    global _TYPE_WORDS
    if _TYPE_WORDS is None:
        text = resources.files("error_handling.knowledge").joinpath("type_words.json").read_text(encoding="utf-8")
        _TYPE_WORDS = json.loads(text)["words"]
    package, _, short = type_name.rpartition(".")
    # a library's own name in its exception classes says nothing (networkx's NetworkXNoPath)
    library = package.split(".", 1)[0].lstrip("_").lower()
    found: dict[str, str] = {}
    for word in _TYPE_WORD_RE.findall(short):
        word = word.lower()
        if word in _NAMELESS or (library and library.startswith(word)):
            continue
        category = _TYPE_WORDS.get(word)
        if category is not None:
            found.setdefault(category, word)
    if len(found) != 1:
        return None
    category, word = next(iter(found.items()))
    return category, word


def known_bases(qualified: str) -> tuple[str, ...]:
    """Bases of a library exception type named in a report (``knowledge/bases.json``), nearest first."""
    global _BASES
    if _BASES is None:
        _BASES = _load_bases()
    return _BASES.get(qualified, ())


def type_names(qualified: str) -> list[str]:
    """``a.b.C`` -> ``["a.b.C", "b.C", "C"]``: rules may name a type by any dotted suffix."""
    parts = qualified.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def _add_type(ranks: dict[str, int], type_name: str, first: int) -> None:
    """``type_name`` at rank ``first``, and its known bases after it."""
    for name in type_names(type_name):
        ranks.setdefault(name, first)
    for rank, base in enumerate(known_bases(type_name), start=first + 1):
        for name in type_names(base):
            ranks.setdefault(name, rank)
    # a bare builtin name (from a report) still knows its bases: ConnectionRefusedError is an OSError
    builtin = getattr(builtins, type_name.rsplit(".", 1)[-1], None)
    if isinstance(builtin, type) and issubclass(builtin, BaseException):
        for rank, cls in enumerate(builtin.__mro__[1:-1], start=first + 1):
            ranks.setdefault(cls.__qualname__, rank)


_TYPE_FACTS: OrderedDict[str, tuple[dict[str, int], int]] = OrderedDict()
_TYPE_FACTS_SIZE = 256  # type names, process-wide, oldest dropped first (a fleet raises a few dozen)


def type_facts(type_name: str) -> tuple[dict[str, int], int]:
    """The ranks of a type named in a report (itself, then its known bases) and how many ranks
    there are: the same for every report of that type, so worked out once (shared, read-only)."""
    found = _TYPE_FACTS.get(type_name)
    if found is None:
        ranks: dict[str, int] = {}
        # Ray names a task's failure after its cause, ``ray.exceptions.RayTaskError(KeyError)``,
        # a class derived from both: the cause's type and bases follow the wrapper's
        wrapped = _WRAPPED_TYPE_RE.match(type_name) if type_name[-1] == ")" else None
        if wrapped is None:
            _add_type(ranks, type_name, 0)
        else:
            _add_type(ranks, wrapped.group(1), 0)
            _add_type(ranks, wrapped.group(2), max(ranks.values()) + 1)
        found = (ranks, max(ranks.values(), default=0) + 1)
        if len(_TYPE_FACTS) >= _TYPE_FACTS_SIZE:
            _TYPE_FACTS.popitem(last=False)
        _TYPE_FACTS[type_name] = found
    return found
