"""Classification rules as data: one frozen dataclass, built and validated from JSON/TOML mappings.

A rule matches when every matcher it declares matches (AND); at least one matcher is required.
Matchers: exception type names (exact, dotted suffix, or any class in the exception's MRO),
errno (numbers or names such as ``ECONNREFUSED``), a case-insensitive message regex (searched in
the message and the tail of the traceback), exit codes, signals (numbers or names such as
``SIGKILL``) and context conditions (``{"stage": ["cleanup", "teardown"]}``).
"""
from __future__ import annotations

import errno as _errno
import json
import re
import signal as _signal
import socket as _socket
import tomllib
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any, Iterable, Mapping

from error_handling.prefilter import needles, pieces


class Tier(IntEnum):
    """Evaluation order (SPEC §6): exception type, message, exit code/signal, context.

    Generic exception types (``RuntimeError``, ``OSError`` ...) say little, so rules that rely
    on them alone sit after the message rules: ``RuntimeError: CUDA out of memory`` is decided
    by its message. ``OVERRIDE`` is for messages that carry the real cause inside a wrapper
    exception (``CERTIFICATE_VERIFY_FAILED`` inside requests' ``ConnectionError``).
    ``WEAK_MESSAGE`` is for messages that say little about the cause (a test runner's summary
    that tests failed, printed whatever made them fail): with the generic types and the context,
    after the learned layer (``error_handling.classify``).
    """

    OVERRIDE = -1
    SPECIFIC_TYPE = 0
    MESSAGE = 1
    GENERIC_TYPE = 2
    WEAK_MESSAGE = 3
    EXIT_STATUS = 4
    CONTEXT = 5


# Types whose name alone does not tell the cause; their rules rank after message rules.
GENERIC_TYPE_NAMES = frozenset({
    "BaseException", "Exception", "RuntimeError", "OSError", "IOError", "EnvironmentError",
    "SystemError", "ValueError", "TypeError", "KeyError", "IndexError", "LookupError",
    "AttributeError", "NameError", "UnboundLocalError", "AssertionError", "NotImplementedError",
    "ArithmeticError", "ZeroDivisionError", "OverflowError", "RecursionError", "StopIteration",
    "UnicodeError", "UnicodeDecodeError", "UnicodeEncodeError", "FileNotFoundError",
    "PermissionError", "IsADirectoryError", "NotADirectoryError", "FileExistsError",
    "CalledProcessError", "URLError", "HTTPError", "Error", "Failed",
})

_RULE_KEYS = frozenset({"name", "category", "types", "type", "message", "errnos", "errno",
                        "exit_codes", "exit_code", "signals", "signal", "context", "priority",
                        "generic", "overrides_type", "weak", "description", "and_message"})


def _as_tuple(value: Any, what: str, rule: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(value)
    raise ValueError(f"rule {rule!r}: {what} must be a value or a list, not {type(value).__name__}")


def _errno_number(value: Any, rule: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        number = getattr(_errno, value, None)
        if number is None:  # resolver codes (EAI_NONAME = -2) live in socket, not errno
            number = getattr(_socket, value, None) if value.startswith("EAI_") else None
        if isinstance(number, int):
            return number
    raise ValueError(f"rule {rule!r}: unknown errno {value!r}")


def _signal_number(value: Any, rule: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"rule {rule!r}: signal must be positive, got {value}")
        return value
    if isinstance(value, str):
        name = value.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        member = _signal.Signals.__members__.get(name)
        if member is not None:
            return int(member)
    raise ValueError(f"rule {rule!r}: unknown signal {value!r}")


def _compile(pattern: Any, what: str, rule: str) -> re.Pattern[str] | None:
    """A rule's regex field, compiled as the classifier searches it; None when absent."""
    if pattern is None:
        return None
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"rule {rule!r}: {what} must be a non-empty regex string")
    try:
        return re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    except re.error as exc:
        raise ValueError(f"rule {rule!r}: invalid {what} regex: {exc}") from None


def _norm_context_value(value: Any) -> str:
    return str(value).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassificationRule:
    """One classification rule. ``category`` is a category value (built-in or custom).

    ``priority`` orders rules within a tier (higher first); ``generic`` forces (True) or forbids
    (False) the generic-type tier, inferred from ``GENERIC_TYPE_NAMES`` when None;
    ``overrides_type`` lets a message rule run before the type rules; ``weak`` marks a message
    rule (one without other matchers) as saying little: among the shipped rules it is tried after
    the learned layer (a user's rule keeps the place ``Classifier.add_rule`` gives its group);
    ``and_message`` is a second regex the text must match as well as ``message``: the evidence
    that tells this reading from another (a port taken, and by a process left from earlier work).
    """

    name: str
    category: str
    types: tuple[str, ...] = ()
    message: str | None = None
    and_message: str | None = None
    errnos: tuple[int, ...] = ()
    exit_codes: tuple[int, ...] = ()
    signals: tuple[int, ...] = ()
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    priority: int = 0
    generic: bool | None = None
    overrides_type: bool = False
    weak: bool = False
    description: str = ""
    regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    and_regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    # Lower-case strings one of which the message must contain for the regex to match (None:
    # no usable ones); see error_handling.prefilter.
    needles: tuple[str, ...] | None = field(init=False, repr=False, compare=False, default=None)
    # The regex's search split by top-level alternative, each part with its needles (see
    # error_handling.prefilter.pieces); what the classifier runs.
    pieces: tuple = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name.strip():
            raise ValueError("rule name must be a non-empty string")
        category = self.category.value if isinstance(self.category, Enum) else self.category
        if not isinstance(category, str) or not category:
            raise ValueError(f"rule {name!r}: category must be a non-empty category value")
        types = _as_tuple(self.types, "types", name)
        if not all(isinstance(t, str) and t for t in types):
            raise ValueError(f"rule {name!r}: types must be non-empty strings")
        errnos = tuple(_errno_number(v, name) for v in _as_tuple(self.errnos, "errnos", name))
        signals = tuple(_signal_number(v, name) for v in _as_tuple(self.signals, "signals", name))
        exit_codes = _as_tuple(self.exit_codes, "exit_codes", name)
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in exit_codes):
            raise ValueError(f"rule {name!r}: exit_codes must be integers")
        context = self._parse_context(self.context, name)
        if not isinstance(self.priority, int) or isinstance(self.priority, bool):
            raise ValueError(f"rule {name!r}: priority must be an integer")
        regex = _compile(self.message, "message", name)
        if self.and_message is not None and regex is None:
            raise ValueError(f"rule {name!r}: and_message needs a message regex to go with")
        and_regex = _compile(self.and_message, "and_message", name)
        if not (types or errnos or regex or exit_codes or signals or context):
            raise ValueError(f"rule {name!r}: needs at least one matcher "
                             "(types, errnos, message, exit_codes, signals or context)")
        if self.weak and (regex is None or types or errnos or exit_codes or signals or context
                          or self.overrides_type):
            raise ValueError(f"rule {name!r}: weak is for a message rule alone (no types, errnos, exit codes, "
                             "signals, context or overrides_type)")
        found = needles(self.message) if regex is not None else None
        for attr, value in (("category", category), ("types", types), ("errnos", errnos),
                            ("signals", signals), ("exit_codes", exit_codes),
                            ("context", context), ("regex", regex), ("and_regex", and_regex),
                            ("needles", found),
                            ("pieces", pieces(self.message, regex.flags, regex, found) if regex is not None else ())):
            object.__setattr__(self, attr, value)

    @staticmethod
    def _parse_context(value: Any, name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        if not value:
            return ()
        items = value.items() if isinstance(value, Mapping) else value
        try:
            pairs = [(str(k), tuple(sorted(_norm_context_value(v) for v in _as_tuple(vals, "context", name))))
                     for k, vals in items]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"rule {name!r}: context must map keys to a value or list of values ({exc})") from None
        if any(not vals for _, vals in pairs):
            raise ValueError(f"rule {name!r}: context condition with no allowed values")
        return tuple(sorted(pairs))

    @property
    def is_generic(self) -> bool:
        if self.generic is not None:
            return self.generic
        return bool(self.types) and not self.errnos and all(
            t.rsplit(".", 1)[-1] in GENERIC_TYPE_NAMES for t in self.types)

    @property
    def tier(self) -> Tier:
        if self.overrides_type and self.regex is not None:
            return Tier.OVERRIDE
        if self.weak:
            return Tier.WEAK_MESSAGE
        if self.regex is not None and (not (self.types or self.errnos) or self.is_generic):
            return Tier.MESSAGE
        if self.types or self.errnos:
            return Tier.GENERIC_TYPE if self.is_generic else Tier.SPECIFIC_TYPE
        if self.regex is not None:
            return Tier.MESSAGE
        if self.exit_codes or self.signals:
            return Tier.EXIT_STATUS
        return Tier.CONTEXT

    @property
    def specificity(self) -> int:
        """How many kinds of evidence the rule requires; more wins within a tier."""
        return (bool(self.types) + bool(self.errnos) + (self.regex is not None) + (self.and_regex is not None)
                + bool(self.exit_codes) + bool(self.signals) + len(self.context))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "ClassificationRule":
        if not isinstance(data, Mapping):
            raise ValueError(f"a rule must be a mapping, not {type(data).__name__}")
        name = data.get("name")
        unknown = sorted(set(data) - _RULE_KEYS)
        if unknown:
            raise ValueError(f"rule {name!r}: unknown field(s) {', '.join(unknown)}")
        if "category" not in data:
            raise ValueError(f"rule {name!r}: missing field 'category'")

        def pick(plural: str, singular: str) -> Any:
            if plural in data and singular in data:
                raise ValueError(f"rule {name!r}: give either {plural!r} or {singular!r}, not both")
            return data.get(plural, data.get(singular))

        priority = data.get("priority", 0)
        generic = data.get("generic")
        if generic is not None and not isinstance(generic, bool):
            raise ValueError(f"rule {name!r}: generic must be true or false")
        weak = data.get("weak", False)
        if not isinstance(weak, bool):
            raise ValueError(f"rule {name!r}: weak must be true or false")
        return cls(name=name if isinstance(name, str) else "", category=data["category"],
                   types=pick("types", "type") or (), message=data.get("message"),
                   and_message=data.get("and_message"),
                   errnos=pick("errnos", "errno") or (), exit_codes=pick("exit_codes", "exit_code") or (),
                   signals=pick("signals", "signal") or (), context=data.get("context") or (),
                   priority=priority, generic=generic,
                   overrides_type=bool(data.get("overrides_type", False)), weak=weak,
                   description=str(data.get("description", "")))


def parse_rules(data: Any, source: str = "<rules>") -> list[ClassificationRule]:
    """Rules from ``{"rules": [...]}`` or a bare list; errors name the source and the rule index."""
    items = data.get("rules") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise ValueError(f"{source}: expected a list of rules or a mapping with a 'rules' list")
    rules: list[ClassificationRule] = []
    for index, item in enumerate(items):
        try:
            rules.append(ClassificationRule.from_mapping(item))
        except ValueError as exc:
            raise ValueError(f"{source}: rule #{index}: {exc}") from None
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{source}: duplicate rule name(s) {', '.join(duplicates)}")
    return rules


def load_rules_file(path: str | Path) -> list[ClassificationRule]:
    """Read a ``.json`` or ``.toml`` rules file; raises ValueError with a clear reason."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read rules file: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        elif suffix == ".json":
            data = json.loads(raw)
        else:
            raise ValueError(f"{path}: rules file must end in .json or .toml")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    return parse_rules(data, str(path))


def rules_from_iterable(items: Iterable[ClassificationRule | Mapping[str, Any]]) -> list[ClassificationRule]:
    return [r if isinstance(r, ClassificationRule) else ClassificationRule.from_mapping(r) for r in items]
