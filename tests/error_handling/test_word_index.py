"""Grouping's second chance: whole outputs whose templates differ join by their rarer words."""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from coordinator.analytics.extension import AnalyticsExtension
from error_handling.categories import ErrorCategory
from error_handling.patterns import ErrorAggregator
from error_handling.word_index import MIN_DOCS, WordIndex, long_output, words_of
from tests.error_handling.handler_stubs import ctx, stub_handler

CLEANUP = "resource_cleanup_error"

BUSY_TEARDOWN = """[teardown] syncing products to archive
[teardown] stopping product watcher (pid 77120)... done
[teardown] unmounting /mnt/fds-products
umount: /mnt/fds-products: target is busy.
        (In some cases useful info about processes that use
         the device is found by lsof(8) or fuser(1).)
[teardown] ERROR: unmount failed (32)"""
BUSY_HOOK = """post_run: collecting artifacts from /mnt/fds-products/run-20240517T0300
post_run: 214 files, 3.1 GiB
post_run: umount.nfs4 /mnt/fds-products
umount.nfs4: /mnt/fds-products: device is busy
post_run: lsof +f -- /mnt/fds-products | head -3
bash    60215  fdsci  cwd    DIR   0,51     4096 22020097 /mnt/fds-products/run-20240517T0300
post_run: hook failed with status 16"""
HELM = """$ helm upgrade --install --atomic=false -n tmtc-review tmtc-mr-1842 ./charts/tmtc
Error: cannot re-use a name that is still in use
$ helm -n tmtc-review ls --all | grep 1842
tmtc-mr-1842  tmtc-review  1  2024-05-14 18:22:07 +0000 UTC  uninstalling  tmtc-0.19.2
ERROR: Job failed: exit code 1"""


def other_outputs(count: int, seed: int = 7) -> list[dict]:
    """Whole outputs about other things: invented words, and the lines every output prints."""
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choice("bcdfghjkmnpqrstvwxz") + rng.choice("aeiou") for _ in range(3))

    # what every output of a fleet prints besides its own words: after a few, these weigh nothing
    common = ("[step] running with some processes, see the log for more about this run\n"
              "+ status: files collected from the device head dir done")
    return [{"type": "", "message": "\n".join([*(" ".join(word() for _ in range(6)) for _ in range(5)), common])}
            for _ in range(count)]


def warmed(**kwargs) -> ErrorAggregator:
    agg = ErrorAggregator(**kwargs)
    for report in other_outputs(MIN_DOCS + 2):
        agg.add_error(report, category=CLEANUP)
    return agg


def test_one_cause_in_two_tools_words_joins_and_another_cause_does_not() -> None:
    agg = warmed()
    first = agg.add_error({"type": "", "message": BUSY_TEARDOWN}, category=CLEANUP)
    second = agg.add_error({"type": "", "message": BUSY_HOOK}, category=CLEANUP)
    assert agg.template_for("", BUSY_TEARDOWN) != agg.template_for("", BUSY_HOOK)
    assert first == second
    assert agg.add_error({"type": "", "message": HELM}, category=CLEANUP) != first
    # the joined template is remembered: the hook's output comes back to the same pattern at once
    assert agg.add_error({"type": "", "message": BUSY_HOOK}, category=CLEANUP) == first


def test_off_with_no_threshold_and_within_a_category_only() -> None:
    agg = warmed(word_threshold=None)
    assert agg.add_error({"type": "", "message": BUSY_TEARDOWN}, category=CLEANUP) != \
        agg.add_error({"type": "", "message": BUSY_HOOK}, category=CLEANUP)
    agg = warmed()
    assert agg.add_error({"type": "", "message": BUSY_TEARDOWN}, category=CLEANUP) != \
        agg.add_error({"type": "", "message": BUSY_HOOK}, category="resource_allocation_error")


def test_short_messages_and_a_cold_index_never_join_by_words() -> None:
    short_a = "umount: /mnt/fds-products: target is busy.\n(lsof or fuser)"
    short_b = "umount.nfs4: /mnt/fds-products: device is busy"
    assert not long_output(short_a) and long_output(BUSY_TEARDOWN)
    agg = warmed()
    assert agg.add_error({"type": "", "message": short_a}, category=CLEANUP) != \
        agg.add_error({"type": "", "message": short_b}, category=CLEANUP)
    cold = ErrorAggregator()  # fewer than MIN_DOCS outputs held: no word is known to be rare yet
    assert cold.add_error({"type": "", "message": BUSY_TEARDOWN}, category=CLEANUP) != \
        cold.add_error({"type": "", "message": BUSY_HOOK}, category=CLEANUP)


def test_test_failures_group_by_their_test_not_their_words() -> None:
    agg = warmed()
    failing = ("============================= FAILURES =============================\n"
               "___________________ test_{0} ___________________\n"
               "    def test_{0}():\n>       assert rank_products(fixture_catalogue) == expected_catalogue\n"
               "E       AssertionError: assert [1, 2] == [2, 1]\n"
               "=========================== short test summary info ===========================\n"
               "FAILED tests/test_catalogue.py::test_{0} - AssertionError")
    ids = {agg.add_error({"type": "", "message": failing.format(name)}, category="test_execution_error")
           for name in ("sorted_by_price", "sorted_by_stock")}
    assert len(ids) == 2


def test_the_same_exception_type_saying_something_else_stays_apart() -> None:
    def rpc(code: str, details: str) -> str:
        return (f"<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.{code}\n"
                f'\tdetails = "{details}"\n\tdebug_error_string = "UNKNOWN:Error received from peer"\n>')
    typ = "grpc._channel._InactiveRpcError"
    agg = warmed()
    dns = agg.add_error({"type": typ, "message": rpc("UNAVAILABLE", "DNS resolution failed for ranker:50051")},
                        category=CLEANUP)
    reset = agg.add_error({"type": typ, "message": rpc("INTERNAL", "Received RST_STREAM with error code 2")},
                          category=CLEANUP)
    assert dns != reset


def test_memory_is_bounded_by_the_patterns_held() -> None:
    agg = ErrorAggregator(error_history_size=50, max_patterns=20)
    for report in other_outputs(300, seed=11):
        agg.add_error(report, category=CLEANUP)
    index = agg._words
    assert len(agg.get_patterns()) <= 20 and len(index) <= 20
    assert index._docs <= 20 * 4
    held = {pid for pid in index._held}
    assert held <= {p["pattern_id"] for p in agg.get_patterns()}
    posted = {pid for by_word in index._postings.values() for found in by_word.values() for pid in found}
    assert posted <= held
    agg.clear()
    assert len(index) == 0 and index._docs == 0 and not index._df


def test_word_index_on_its_own() -> None:
    with pytest.raises(ValueError):
        WordIndex(0.0)
    index = WordIndex(0.2)
    a, b = words_of("", BUSY_TEARDOWN), words_of("", BUSY_HOOK)
    assert {"umount", "busy", "products", "fuser"} <= a and "mnt" in b
    assert index.nearest(CLEANUP, a)[0] is None  # empty
    for n, report in enumerate(other_outputs(MIN_DOCS)):
        words = words_of("", report["message"])
        index.add(f"p{n}", CLEANUP, words, index.weigh(words))
    index.add("busy", CLEANUP, a, index.weigh(a))
    assert index.nearest(CLEANUP, b)[0] == "busy"
    assert index.nearest("resource_allocation_error", b)[0] is None
    index.forget("busy")
    assert index.nearest(CLEANUP, b)[0] is None
    assert "umount" not in index._df


def test_outputs_joined_by_words_find_their_pattern_after_a_restart() -> None:
    warm = other_outputs(MIN_DOCS + 2)
    before = ErrorAggregator()
    stored: dict[str, dict] = {}
    for report in [*warm, {"type": "", "message": BUSY_TEARDOWN}]:
        pid = before.add_error(report, category=CLEANUP)
        stored[pid] = {**before.get_pattern(pid), **report}  # a pattern with its latest report, as stored
    joined = before.add_error({"type": "", "message": BUSY_HOOK}, category=CLEANUP)
    assert joined == before.add_error({"type": "", "message": BUSY_TEARDOWN}, category=CLEANUP)
    after = ErrorAggregator()
    after.seed_patterns(stored.values())
    assert after.add_error({"type": "", "message": BUSY_HOOK}, category=CLEANUP) == joined
    without_words = ErrorAggregator()  # what a restart restored before: templates alone
    without_words.seed_patterns([{k: v for k, v in row.items() if k != "message"} for row in stored.values()])
    assert without_words.add_error({"type": "", "message": BUSY_HOOK}, category=CLEANUP) != joined


async def test_the_coordinator_restores_patterns_with_their_words_from_duckdb(tmp_path) -> None:
    path = tmp_path / "events.duckdb"
    cleanup = ErrorCategory.RESOURCE_CLEANUP_ERROR
    before = stub_handler(event_sink=path)
    await before.start()
    for i, report in enumerate([*other_outputs(MIN_DOCS + 2), {"type": "", "message": BUSY_TEARDOWN}]):
        await before.handle_error(report, ctx(cleanup, task_id=f"t{i}"))
    joined = (await before.handle_error({"type": "", "message": BUSY_HOOK}, ctx(cleanup, task_id="hook"))).pattern_id
    assert joined == before.aggregator.add_error({"type": "", "message": BUSY_TEARDOWN}, category=cleanup)
    await before.stop()

    after = stub_handler(event_sink=path)
    await after.start()
    await AnalyticsExtension().on_start(SimpleNamespace(error_handler=after), None)
    assert after.aggregator.add_error({"type": "", "message": BUSY_HOOK}, category=cleanup) == joined
    await after.stop()


def test_a_cause_pattern_joined_by_words_leaves_nothing_behind_when_evicted() -> None:
    # a named cause (a full disk) founds the pattern; an output that names no cause joins it by its
    # words; once the pattern is evicted, that output's template must found a pattern of its own
    disk = ("[stage] writing shard 7 of the nightly export to /data/export-nightly\n"
            "[stage] zstd -19 -T8 part-00007.parquet\n"
            "OSError: [Errno 28] No space left on device: '/data/export-nightly/part-00007.parquet.zst'\n"
            "[stage] export-nightly shard 7 aborted\n[stage] exit 1")
    words_only = ("[stage] writing shard 9 of the nightly export to /data/export-nightly\n"
                  "[stage] zstd -19 -T8 part-00009.parquet\n"
                  "zstd: error 70 : Write error : cannot write block : export-nightly shard quota\n"
                  "[stage] export-nightly shard 9 aborted\n[stage] exit 1")
    agg = ErrorAggregator(error_history_size=16, max_patterns=16)
    for report in other_outputs(MIN_DOCS + 2):
        agg.add_error(report, category=CLEANUP)
    cause = agg.add_error({"type": "", "message": disk}, category=CLEANUP)
    assert agg.get_pattern(cause)["template"].startswith("cause:")
    assert agg.add_error({"type": "", "message": words_only}, category=CLEANUP) == cause
    for report in other_outputs(40, seed=3):
        agg.add_error(report, category=CLEANUP)
    assert agg.get_pattern(cause) is None
    again = agg.add_error({"type": "", "message": words_only}, category=CLEANUP)
    assert agg.get_pattern(again) is not None
