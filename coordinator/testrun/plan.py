"""Shards from collected node ids: scope groups, hardware requirements, LPT by recorded durations.

A group is what must stay together: a module (its module fixtures, and one import of it), or,
for a module too big to balance (more than a shard's share), each of its classes and its loose
functions, as pytest-xdist's loadscope keeps them. Whole modules matter: a shard skips importing
every module it holds no test of. Groups are packed into shards longest processing time first;
the shards are submitted longest first, so a worker that runs out of work pulls the next one
(work stealing: the queue is shared and ordered, no shard is bound to a worker in advance).
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


def estimate(nodeids: Iterable[str], durations: Mapping[str, float]) -> tuple[dict[str, float], float]:
    """Per node id: its recorded duration, or for a test never timed the median of the known
    ones (so unknown tests spread evenly instead of counting as free)."""
    ids = list(nodeids)
    known = sorted(durations[n] for n in ids if n in durations)
    fallback = known[len(known) // 2] if known else 1.0
    return {n: durations.get(n, fallback) for n in ids}, fallback


def plan_shards(items: Sequence[Item], durations: Mapping[str, float], shards: int) -> list[Shard]:
    """``shards`` shards per hardware kind (fewer when there are fewer groups), longest first."""
    cost, _ = estimate((i.nodeid for i in items), durations)
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


def ideal_seconds(total_seconds: float, workers: int) -> float:
    return total_seconds / max(1, workers)
