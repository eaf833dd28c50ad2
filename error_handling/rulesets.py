"""The rules of one group, bucketed by tier, and how a failure's facts are matched against them.

``Classifier`` (``error_handling.classify``) holds a ``RuleSet`` per group of rules and asks
each, in order, for the rule that decides a failure. Type tiers are indexed by type name and
errno; the other tiers are first-match lists behind the literal prefilters of
``error_handling.prefilter``.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, Sequence

from error_handling.multigate import MultiGate, TierGate, coverable
from error_handling.prefilter import grams, search_pieces, text_grams
from error_handling.rule import ClassificationRule, Tier

_INDEXED_FROM = 64  # pieces: a tier with fewer tries each (needles first) without reading the grams


class Facts(Protocol):
    """What one failure offers to the matchers (``error_handling.classify._Facts``)."""

    type_ranks: dict[str, int]
    mro_len: int
    text: str
    lowered: str
    ascii: bool
    filterable: bool
    grams: frozenset[str] | None
    errno: int | None
    exit_code: int | None
    signals: set[int]
    context: Mapping[str, Any]


def match(rule: ClassificationRule, facts: Facts) -> int | None:
    """None when the rule does not match; else the MRO distance of the matched type (0 if none)."""
    rank = 0
    if rule.types:
        ranks = [facts.type_ranks[t] for t in rule.types if t in facts.type_ranks]
        if not ranks:
            return None
        rank = min(ranks)
    elif rule.errnos:
        rank = facts.mro_len  # errno refines any OSError; a matching class rule is closer
    if rule.errnos and facts.errno not in rule.errnos:
        return None
    if rule.exit_codes and facts.exit_code not in rule.exit_codes:
        return None
    if rule.signals and not facts.signals.intersection(rule.signals):
        return None
    for key, allowed in rule.context:
        value = facts.context.get(key)
        if value is None or str(value).lower() not in allowed:
            return None
    if rule.regex is not None and not search_pieces(rule.pieces, facts.text, facts.lowered):
        return None
    if rule.and_regex is not None and rule.and_regex.search(facts.text) is None:
        return None
    return rank


class RuleSet:
    """Rules of one group, bucketed by tier and pre-sorted.

    Type tiers are indexed by type name and errno so a failure is matched only against rules
    that can match it (the best rule is a minimum over matches, so the order of trying does not
    matter); the other tiers are first-match in sorted order, rules with a regex alone taking a
    shortcut past ``match``.
    """

    def __init__(self, rules: list[ClassificationRule], also: Sequence[tuple[int, str, int]] = ()) -> None:
        """``also``: expressions (position, pattern, flags) of another reader of the same texts
        (the code tables' needles), scanned with the tiers' regexes: ``also_gate`` answers for them."""
        self.rules = rules
        tiers: dict[Tier, list[tuple[int, ClassificationRule]]] = {t: [] for t in Tier}
        for order, rule in enumerate(rules):
            tiers[rule.tier].append((order, rule))
        self.tiers = [(tier, sorted(items, key=lambda p: (-p[1].priority, -p[1].specificity, p[0])))
                      for tier, items in sorted(tiers.items()) if items]
        self._plan: list[tuple[Tier, Any]] = []
        for tier, items in self.tiers:
            if tier in (Tier.SPECIFIC_TYPE, Tier.GENERIC_TYPE):
                by_type: dict[str, list[tuple[int, ClassificationRule]]] = {}
                by_errno: dict[int, list[tuple[int, ClassificationRule]]] = {}
                for order, rule in items:
                    if rule.types:
                        for t in set(rule.types):
                            by_type.setdefault(t, []).append((order, rule))
                    else:  # a type-tier rule without types has errnos
                        for e in set(rule.errnos):
                            by_errno.setdefault(e, []).append((order, rule))
                self._plan.append((tier, (by_type, by_errno)))
            else:
                self._plan.append((tier, GatedTier([rule for _order, rule in items])))
        # one gate for all the tiers' regexes: a text is scanned once, each tier reads its share
        gated = [plan for _tier, plan in self._plan if isinstance(plan, GatedTier) and plan.expressions]
        groups = [tier.expressions for tier in gated] + ([tuple(also)] if also else [])
        self._gate = MultiGate.shared(TierGate.combine(groups))
        self.also_gate: TierGate | None = None
        if self._gate is not None:
            for group, tier in enumerate(gated):
                tier.gate = TierGate(self._gate, group, tier.expressions)
            if also:
                self.also_gate = TierGate(self._gate, len(gated), tuple(also))

    def gates(self) -> list[MultiGate]:
        """The multi-regex gate of this set's tiers (``error_handling.multigate``), where it runs."""
        return [] if self._gate is None else [self._gate]

    def decide(self, facts: Facts) -> ClassificationRule | None:
        for tier, plan in self._plan:
            if tier is Tier.SPECIFIC_TYPE or tier is Tier.GENERIC_TYPE:
                by_type, by_errno = plan
                candidates: dict[int, ClassificationRule] = {}
                for name in facts.type_ranks:
                    for order, rule in by_type.get(name, ()):
                        candidates[order] = rule
                if by_errno and facts.errno is not None:
                    for order, rule in by_errno.get(facts.errno, ()):
                        candidates[order] = rule
                best: tuple | None = None
                for order, rule in candidates.items():
                    rank = match(rule, facts)
                    if rank is None:
                        continue
                    key = (-rule.priority, -rule.specificity, rank, order)
                    if best is None or key < best[0]:
                        best = (key, rule)
                if best is not None:
                    return best[1]
                continue
            if tier is Tier.EXIT_STATUS and facts.exit_code is None and not facts.signals:
                continue  # every rule of this tier needs an exit code or a signal
            rule = plan.decide(facts)
            if rule is not None:
                return rule
        return None


class GatedTier:
    """The first-match rules of one tier, each regex split into pieces (``prefilter.pieces``),
    and an index from the grams of the pieces' needles to the pieces (``prefilter.grams``).

    Deciding reads the text's grams once and tries, in rule order, only the pieces whose gram
    is there (and the few with no gram, and rules that need more than a regex); a piece tried
    still checks its needles, then searches. The first rule with a matching piece wins, as
    without the index.

    Where Hyperscan runs (``error_handling.multigate``), one scan of the text (shared with the rule
    set's other tiers: ``multigate.TierGate``) names the pieces that may match instead, and only
    those (and the rules that need more than a regex, and the pieces it does not cover) are
    tried, in the same order and by the same searches.
    """

    __slots__ = ("entries", "always", "index", "expressions", "gate", "_uncovered", "_gate_always")

    def __init__(self, rules: list[ClassificationRule]) -> None:
        # (rule, needles, search, the piece's other needle sets or None); a rule that needs more
        # than a regex has no search and goes through match()
        self.entries: list[tuple[ClassificationRule, tuple[str, ...] | None, Any, Any]] = []
        always: list[int] = []
        self.index: dict[str, list[int]] = {}
        for rule in rules:
            if rule.types or rule.errnos or rule.exit_codes or rule.signals or rule.context or rule.regex is None:
                always.append(len(self.entries))
                self.entries.append((rule, None, None, None))
                continue
            for found, search, also in rule.pieces:
                gate = grams(found)
                if gate is None:
                    always.append(len(self.entries))
                else:
                    for gram in gate:
                        self.index.setdefault(gram, []).append(len(self.entries))
                self.entries.append((rule, found, search, also or None))
        self.always = tuple(always)
        expressions = []
        uncovered = []
        for position, (_rule, _found, search, _also) in enumerate(self.entries):
            compiled = search.__self__ if search is not None else None
            if compiled is not None and coverable(compiled.pattern, compiled.flags):
                expressions.append((position, compiled.pattern, compiled.flags))
            else:
                uncovered.append(position)
        self.expressions = tuple(expressions)  # (position, pattern, flags) of the pieces a gate can cover
        self.gate: TierGate | MultiGate | None = None  # set by the rule set, where a gate runs
        self._uncovered = uncovered
        self._gate_always: tuple[int, ...] | None = None  # once the gate is compiled

    def _gated(self, text: str) -> Iterable[int] | None:
        """The positions to try, in order, from the gate's scan; None when it cannot tell."""
        hits = self.gate.hits(text)  # type: ignore[union-attr]
        if hits is None:
            return None
        always = self._gate_always
        if always is None:
            left_out = self.gate.left_out  # type: ignore[union-attr]
            always = self._gate_always = tuple(sorted({*self._uncovered, *left_out}))
        if not hits:
            return always
        hits.extend(always)
        hits.sort()
        return hits

    def decide(self, facts: Facts) -> ClassificationRule | None:
        text, lowered, entries = facts.text, facts.lowered, self.entries
        gated = self._gated(text) if self.gate is not None and facts.ascii else None
        if gated is not None:
            order: Iterable[int] = gated
        elif len(entries) < _INDEXED_FROM:
            order = range(len(entries))  # a few pieces: their needles are cheaper than the text's grams
        elif facts.filterable:
            if facts.grams is None:
                facts.grams = text_grams(lowered)
            index = self.index
            common = index.keys() & facts.grams
            if common:
                positions = set(self.always)
                for gram in common:
                    positions.update(index[gram])
                order = sorted(positions)
            else:
                order = self.always
        else:
            order = range(len(entries))  # the filters do not hold (prefilter.filters_hold)
        for i in order:
            rule, found, search, also = entries[i]
            if search is None:  # needs more than a regex
                if match(rule, facts) is not None:
                    return rule
                continue
            if found is not None and facts.filterable:
                for needle in found:  # a plain loop: a generator per piece costs more than the tests
                    if needle in lowered:
                        break
                else:
                    continue  # a word this piece needs is absent
                if also is not None and not _has_all(also, lowered):
                    continue
            if search(text) is not None and (rule.and_regex is None or rule.and_regex.search(text) is not None):
                return rule
        return None


def _has_all(sets: tuple[tuple[str, ...], ...], lowered: str) -> bool:
    """Whether ``lowered`` holds a needle of every set."""
    for needles in sets:
        for needle in needles:
            if needle in lowered:
                break
        else:
            return False
    return True
