"""Shard planning without processes: scope groups, LPT by recorded durations, unknown tests spread
evenly, hardware markers as requirements."""
from __future__ import annotations

import pytest

from coordinator.testrun.plan import UNTIMED_SECONDS, Item, plan, plan_shards, scope_of


def items(*nodeids: str, markers: tuple[str, ...] = ()) -> list[Item]:
    return [Item(nodeid=n, markers=markers) for n in nodeids]


def test_lpt_balances_recorded_durations_and_orders_longest_first():
    suite = items(*(f"t/test_{m}.py::test_x" for m in "abcdef"))
    durations = {"t/test_a.py::test_x": 6.0, "t/test_b.py::test_x": 5.0, "t/test_c.py::test_x": 4.0,
                 "t/test_d.py::test_x": 3.0, "t/test_e.py::test_x": 2.0, "t/test_f.py::test_x": 1.0}
    shards = plan_shards(suite, durations, 2)
    # LPT: 6+3+2 / 5+4+1 -> 11 / 10; a split in collection order (a,b,c | d,e,f) would be 15 / 6
    assert [s.estimate_seconds for s in shards] == [11.0, 10.0]  # longest first
    assert [s.index for s in shards] == [0, 1]


def test_unknown_tests_count_as_the_median_known_test_so_they_spread():
    known = {f"t/test_k{i}.py::test_x": 1.0 for i in range(4)}
    unknown = [f"t/test_u{i}.py::test_x" for i in range(4)]
    shards = plan_shards(items(*known, *unknown), known, 2)
    for shard in shards:
        assert sum(1 for n in shard.nodeids if n in unknown) == 2, shard.nodeids


def test_a_module_stays_whole_unless_it_is_bigger_than_a_share():
    small = [f"t/test_small.py::TestA::test_{i}" for i in range(3)]
    big = [f"t/test_big.py::Test{c}::test_{i}" for c in "XYZ" for i in range(3)]
    durations = {n: 1.0 for n in small} | {n: 3.0 for n in big}
    shards = plan_shards(items(*small, *big), durations, 3)
    holding_small = [s for s in shards if any(n in small for n in s.nodeids)]
    assert len(holding_small) == 1  # one module, one shard, one import
    for cls in "XYZ":  # the big module is split, but never inside a class
        assert len([s for s in shards if any(f"::Test{cls}::" in n for n in s.nodeids)]) == 1


def test_hardware_markers_become_separate_shards_with_a_requirement():
    suite = items("t/test_a.py::test_cpu", "t/test_b.py::test_cpu2") + \
        items("t/test_g.py::test_gpu", markers=("cuda", "parametrize"))
    shards = plan_shards(suite, {}, 4)
    gpu = [s for s in shards if s.hardware == "cuda"]
    assert len(gpu) == 1 and gpu[0].nodeids == ["t/test_g.py::test_gpu"]
    assert all(s.hardware is None for s in shards if s not in gpu)


def test_scope_of():
    assert scope_of("a/test_x.py::TestK::test_y[1-2]") == "a/test_x.py::TestK"
    assert scope_of("a/test_x.py::test_y") == "a/test_x.py"


def test_without_history_shards_shrink_so_the_run_ends_on_small_ones():
    # 8 modules of 10 plain tests and 4 modules holding one Hypothesis test each (100 examples)
    plain = [f"t/test_p{m}.py::test_{i}" for m in range(8) for i in range(10)]
    suite = items(*plain) + [Item(nodeid=f"t/test_h{m}.py::test_prop", weight=100.0) for m in range(4)]
    shards = plan_shards(suite, {}, 12, slots=2)
    sizes = [s.estimate_seconds for s in shards]
    assert sizes == sorted(sizes, reverse=True)  # largest first: dispatch order = rank
    assert [s.index for s in shards] == list(range(len(shards)))
    total = sum(sizes)
    assert total == pytest.approx((80 + 400) * UNTIMED_SECONDS)
    assert sizes[0] >= total / 8  # the first ones are the big ones
    assert sizes[-1] <= total / 8  # the tail is small
    assert 4 <= len(shards) <= 12
    placed = [n for s in shards for n in s.nodeids]
    assert sorted(placed) == sorted(i.nodeid for i in suite)  # every test exactly once
    for m in range(8):  # a small module stays whole
        assert len([s for s in shards if any(n.startswith(f"t/test_p{m}.py::") for n in s.nodeids)]) == 1


def test_a_hypothesis_test_counts_as_its_examples_until_it_is_timed():
    plain = [f"t/test_p{m}.py::test_{i}" for m in range(2) for i in range(50)]
    suite = items(*plain) + [Item(nodeid="t/test_h.py::test_prop", weight=100.0)]
    shards = plan_shards(suite, {}, 2)
    # the one property test weighs as much as the 100 plain ones: it gets a shard to itself
    assert ["t/test_h.py::test_prop"] in [s.nodeids for s in shards]
    assert sorted(s.estimate_seconds for s in shards) == pytest.approx([100 * UNTIMED_SECONDS] * 2)
    # once timed, its recorded duration counts, not its weight
    timed = {n: 0.25 for n in plain} | {"t/test_h.py::test_prop": 0.25}
    assert sum(s.estimate_seconds for s in plan_shards(suite, timed, 2)) == 101 * 0.25


def test_guided_shards_keep_hardware_kinds_apart():
    suite = items(*(f"t/test_{m}.py::test_x" for m in "abcdef")) + \
        items("t/test_g.py::test_gpu", markers=("cuda",))
    shards = plan_shards(suite, {}, 6, slots=1)
    assert [s.nodeids for s in shards if s.hardware == "cuda"] == [["t/test_g.py::test_gpu"]]
    assert sorted(n for s in shards if s.hardware is None for n in s.nodeids) == \
        [f"t/test_{m}.py::test_x" for m in "abcdef"]


def test_the_plan_by_history_coverage():
    suite = items(*(f"t/test_{m:02d}.py::test_x" for m in range(40)))
    # --shards N: exactly N, LPT
    assert len(plan(suite, {}, 3, 2)) == 3
    # durations for at least half: 2 LPT shards per slot, equal sizes
    half = {i.nodeid: 1.0 for i in suite[:20]}
    assert [s.estimate_seconds for s in plan(suite, half, 0, 2)] == [10.0] * 4
    # no history: more, shrinking shards
    guided = plan(suite, {}, 0, 2)
    assert len(guided) > 4 and guided[0].estimate_seconds > guided[-1].estimate_seconds


def test_without_history_a_split_module_lands_in_few_shards():
    # two modules too big for one shard, split by class (a: 12, 8, 4 tests; b: 11, 7, 3); taken
    # by module, not dealt class by class in order of size (a.K, b.K, a.L, b.L, ...), so each
    # module is imported by fewer shards
    big = [f"t/test_a.py::Test{c}::test_{i}" for c, n in zip("KLM", (12, 8, 4)) for i in range(n)] + \
          [f"t/test_b.py::Test{c}::test_{i}" for c, n in zip("KLM", (11, 7, 3)) for i in range(n)]
    small = [f"t/test_s{k}.py::test_x" for k in range(10)]
    shards = plan_shards(items(*big, *small), {}, 12, slots=2)
    holding = {m: [s.index for s in shards if any(n.startswith(f"t/test_{m}.py::") for n in s.nodeids)]
               for m in "ab"}
    assert len(holding["a"]) == 2 and len(holding["b"]) == 3, holding  # dealt by size: 3 and 3
    assert all(n in shards[-1].nodeids + shards[-2].nodeids for n in small[-3:])  # small modules end the run


def test_without_history_a_shard_also_counts_collecting_its_files():
    # 12 small files, equal in tests; the first six are slow to import (their collection was timed)
    files = [f"t/test_{k:02d}.py" for k in range(12)]
    suite = items(*(f"{f}::test_{i}" for f in files for i in range(10)))
    slow = {f: (0.5 if k < 6 else 0.001) for k, f in enumerate(files)}
    shards = plan_shards(suite, {}, 12, slots=2, module_seconds=slow)
    first = {module for n in shards[0].nodeids for module in [n.split("::")[0]]}
    assert first <= set(files[:6])  # the slow-to-collect files are the big work, planned first
    assert shards[0].estimate_seconds == pytest.approx(len(first) * (0.5 + 10 * UNTIMED_SECONDS))
    # a split file's collection counts once: its cheap pieces do not each fill a shard of their own
    # (a file of 100 one-test classes that takes 0.5 s to collect, as more-itertools' test_more.py)
    big = items(*(f"t/test_big.py::Test{c:03d}::test_x" for c in range(100)), *(f"t/test_s{k}.py::test_x" for k in range(20)))
    few = plan_shards(big, {}, 8, slots=2, module_seconds={"t/test_big.py": 0.5})
    assert len(few) <= 8, [len(s.nodeids) for s in few]
    assert sum(s.estimate_seconds for s in few) == pytest.approx(0.5 + 120 * UNTIMED_SECONDS)
