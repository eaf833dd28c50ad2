"""Shards from collected node ids: scope groups, hardware requirements, LPT by recorded durations.

A group is what must stay together: a module (its module fixtures, and one import of it), or,
for a module too big to balance (more than a shard's share), each of its classes and its loose
functions, as pytest-xdist's loadscope keeps them. Whole modules matter: a shard skips importing
every module it holds no test of. Groups are packed into shards longest processing time first;
the shards are submitted longest first, so a worker that runs out of work pulls the next one
(work stealing: the queue is shared and ordered, no shard is bound to a worker in advance).

Without recorded durations the estimates are guesses (a test counts as its collected weight:
1, or a Hypothesis test's ``max_examples``), so ``slots`` asks for shards of decreasing size
instead (guided self-scheduling): each takes a share of what is left, largest groups first, down
to a floor, so the shards that end the run are small and a wrong guess costs a short tail, not a
whole shard's worth.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

# pytest marker name -> the worker hardware type that test needs (SPEC §5 hardware names).
HARDWARE_MARKERS: Mapping[str, str] = {"cuda": "cuda", "gpu": "cuda", "rocm": "rocm", "mps": "mps",
                                       "tpu": "tpu", "webgpu": "webgpu"}


@dataclass(frozen=True, kw_only=True)
class Item:
    nodeid: str
    markers: tuple[str, ...] = ()
    weight: float = 1.0  # a never-timed test's cost, in plain tests (a Hypothesis test: its examples)

    @property
    def hardware(self) -> str | None:
        for marker in self.markers:
            if marker in HARDWARE_MARKERS:
                return HARDWARE_MARKERS[marker]
        return None


@dataclass(kw_only=True)
class Shard:
    index: int
    hardware: str | None
    nodeids: list[str] = field(default_factory=list)
    estimate_seconds: float = 0.0
    known: int = 0  # node ids whose duration came from history


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def scope_of(nodeid: str) -> str:
    """``tests/test_a.py::TestX::test_y[1]`` -> ``tests/test_a.py::TestX``; a module-level test
    -> its module."""
    parts = nodeid.split("::")
    if len(parts) > 2:
        return "::".join(parts[:2])
    return parts[0]


# A plain test never timed, before anything of its suite was: its setup, call and teardown with
# pytest's own reporting, about a millisecond (Hypothesis tests weigh their examples on top).
UNTIMED_SECONDS = 0.001


def estimate(items: Iterable[Item], durations: Mapping[str, float]) -> tuple[dict[str, float], float]:
    """Per node id: its recorded duration, or for a test never timed the median of the known
    ones times its weight (so unknown tests spread evenly instead of counting as free, and a
    Hypothesis test counts as its examples)."""
    items = list(items)
    known = sorted(durations[i.nodeid] for i in items if i.nodeid in durations)
    fallback = known[len(known) // 2] if known else UNTIMED_SECONDS
    cost = {i.nodeid: durations[i.nodeid] if i.nodeid in durations else fallback * i.weight for i in items}
    return cost, fallback


def plan_shards(items: Sequence[Item], durations: Mapping[str, float], shards: int,
                slots: int | None = None, module_seconds: Mapping[str, float] | None = None) -> list[Shard]:
    """``shards`` shards per hardware kind (fewer when there are fewer groups), longest first.
    With ``slots``, shards of decreasing size instead (see the module's doc): about ``shards``
    of them per kind, the first near a ``2 * slots``-th of the work, none under a ``shards``-th;
    there the estimate also counts collecting each test file (``module_seconds``, measured by
    the local collection), once per file."""
    cost, _ = estimate(items, durations)
    imports = dict(module_seconds or {}) if slots else {}
    by_hw: dict[str | None, dict[str, list[str]]] = {}
    for item in items:
        by_hw.setdefault(item.hardware, {}).setdefault(module_of(item.nodeid), []).append(item.nodeid)
    out: list[Shard] = []
    for hw, modules in by_hw.items():
        share = sum(cost[n] for ids in modules.values() for n in ids) / max(1, shards)
        groups: dict[str, list[str]] = {}
        for module, ids in modules.items():
            if sum(cost[n] for n in ids) <= share:
                groups[module] = ids
                continue
            for nodeid in ids:
                groups.setdefault(scope_of(nodeid), []).append(nodeid)
        ranked = sorted(groups.values(), key=lambda g: (-sum(cost[n] for n in g), g[0]))
        if slots:
            # the pieces of a split module side by side (biggest module first): consecutive shards
            # share them, so few shards pay for importing it
            size = {m: sum(cost[n] for n in ids) + imports.get(m, 0.0) for m, ids in modules.items()}
            ranked.sort(key=lambda g: -size[module_of(g[0])])  # stable: by cost within a module
            floor = share + sum(imports.get(m, 0.0) for m in modules) / max(1, shards)
            out.extend(_guided(ranked, cost, durations, hw, floor, slots, imports))
            continue
        bins = [Shard(index=0, hardware=hw) for _ in range(max(1, min(shards, len(ranked))))]
        heap = [(0.0, i) for i in range(len(bins))]
        for group in ranked:
            load, i = heapq.heappop(heap)
            bins[i].nodeids.extend(group)
            group_cost = sum(cost[n] for n in group)
            bins[i].estimate_seconds += group_cost
            bins[i].known += sum(1 for n in group if n in durations)
            heapq.heappush(heap, (load + group_cost, i))
        out.extend(b for b in bins if b.nodeids)
    out.sort(key=lambda s: -s.estimate_seconds)
    for i, shard in enumerate(out):
        shard.index = i
    return out


def _guided(ranked: list[list[str]], cost: Mapping[str, float], durations: Mapping[str, float],
            hw: str | None, floor: float, slots: int, imports: Mapping[str, float]) -> list[Shard]:
    """Groups (biggest modules first) into consecutive shards, each about the rest of the work
    over ``2 * slots`` but at least ``floor``: large shards first, small ones last."""
    files = {module_of(g[0]) for g in ranked}
    left = sum(cost[n] for g in ranked for n in g) + sum(imports.get(m, 0.0) for m in files)
    out: list[Shard] = []
    shard: Shard | None = None
    seen: set[str] = set()  # files whose collection is counted already
    target = 0.0

    def put(into: Shard, group: list[str]) -> float:
        # A file's collection counts once, with its first piece: counted again for every piece of
        # a split file, a piece whose tests are cheap would fill a shard on that alone (more-itertools:
        # dozens of one-class shards, each paying a start-up).
        module = module_of(group[0])
        group_cost = sum(cost[n] for n in group) + (0.0 if module in seen else imports.get(module, 0.0))
        seen.add(module)
        into.nodeids.extend(group)
        into.estimate_seconds += group_cost
        into.known += sum(1 for n in group if n in durations)
        return group_cost

    for group in ranked:
        if shard is None:
            shard = Shard(index=0, hardware=hw)
            target = max(left / (2 * max(1, slots)), floor)
        left -= put(shard, group)
        if shard.estimate_seconds >= target * 0.999:
            out.append(shard)
            shard = None
    if shard is not None:
        if out and shard.estimate_seconds < floor / 2:  # a crumb: into the smallest shard, not a start-up of its own
            last = min(out, key=lambda s: s.estimate_seconds)
            last.nodeids.extend(shard.nodeids)
            last.estimate_seconds += shard.estimate_seconds
            last.known += shard.known
        else:
            out.append(shard)
    return out


def ideal_seconds(total_seconds: float, workers: int) -> float:
    return total_seconds / max(1, workers)


def plan(items: Sequence[Item], durations: Mapping[str, float], shards: int, slots: int,
         module_seconds: Mapping[str, float] | None = None) -> list[Shard]:
    """``--shards N``: N shards packed by LPT. Otherwise, with durations recorded for at least half
    the tests, 2 LPT shards per slot (the estimates hold, so few shards and little start-up); with
    fewer, the estimates are guesses, so shards of decreasing size (none under a 4-per-slot
    share), the last ones small, which bounds what a wrong guess costs at the end of the run;
    finer floors paid more in start-up and re-imported files than they saved (attrs: 8-9 shards
    for 2 slots at a 6-per-slot floor)."""
    if shards:
        return plan_shards(items, durations, shards)
    if 2 * sum(1 for i in items if i.nodeid in durations) >= len(items):
        return plan_shards(items, durations, 2 * slots)
    return plan_shards(items, durations, 4 * slots, slots=slots, module_seconds=module_seconds)
