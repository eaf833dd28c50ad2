"""Templates, similarity grouping, stable ids, bounded memory, correlations, trends, corpus grouping."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from error_handling.categories import ErrorCategory as C
from error_handling.model import ErrorInfo
from error_handling.patterns import (ErrorAggregator, Trend, align, make_template, pattern_id_for, primary_line,
                                     summarize_correlations, traceback_fingerprint)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "error_corpus.jsonl"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("message, expected", [
    ("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity; 512MB free)",
     "CUDA out of memory. Tried to allocate <SIZE> (GPU <NUM>; <SIZE> total capacity; <SIZE> free)"),
    ("segfault at 0x7f3a2b1c0000 ip 00007f3a2b1c4d2e", "segfault at <HEX> ip <HEX>"),
    ("NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU has fallen off the bus.",
     "NVRM: Xid (<PCI>): 79, pid=<NUM>, name=python, GPU has fallen off the bus."),
    ("[Errno 2] No such file or directory: /var/lib/dtf/work/x.json", "[Errno <NUM>] No such file or directory: <PATH>"),
    ("run 3f2504e0-4f89-11d3-9a0c-0305e82c3301 failed", "run <UUID> failed"),
    ("task task-abc123 on worker-3 lost", "task task-<ID> on worker-<ID> lost"),
    ("Cannot connect to host 10.0.0.5:8080 ssl:default", "Cannot connect to host <IP> ssl:default"),
    ("Error 111 connecting to localhost:6379. Connection refused.", "Error <NUM> connecting to <HOST>:<NUM>. Connection refused."),
    ("No module named 'torch'", "No module named <STR>"),
    ("429, message='Too Many Requests', url='http://h:1/x'", "429, message='Too Many Requests', url=<STR>"),
    ("Client error '429 Too Many Requests' for url 'https://api.example.org/v1/x'",
     "Client error '429 Too Many Requests' for url <STR>"),
    ("Server error '503 Service Unavailable' for url 'http://10.0.0.5:8080/health'",
     "Server error '503 Service Unavailable' for url <STR>"),
    ("2024-05-01T12:00:03.123Z heartbeat missed", "heartbeat missed"),
    ("at 2024-05-01 12:00:03 the link dropped after 12.5s", "at <TS> the link dropped after <DUR>"),
    ("  spaces\t and   tabs  ", "spaces and tabs"),
    # dmesg -T's human-readable timestamp is a log prefix like dmesg's seconds
    ("[Tue May 14 10:22:31 2024] NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU has fallen off the bus.",
     "NVRM: Xid (<PCI>): 79, pid=<NUM>, name=python, GPU has fallen off the bus."),
    # durations as Go and Kubernetes write them
    ("Back-off pulling image: 2m13s (x3 over 1h5m), next in 3h", "Back-off pulling image: <DUR> (x<NUM> over <DUR>), next in <DUR>"),
    ("took 5ms then 4 hours", "took <DUR> then <DUR>"),
    ("Traceback (most recent call last):\n  File \"x.py\", line 3, in f\nValueError: bad value 7",
     "ValueError: bad value <NUM>"),
])
def test_make_template_masks_parameters(message: str, expected: str) -> None:
    assert make_template(message) == expected


def test_make_template_prefixes_short_type_and_picks_primary_line() -> None:
    assert make_template("boom 3", "pkg.mod.WidgetError") == "WidgetError: boom <NUM>"
    assert make_template("WidgetError: boom", "WidgetError") == "WidgetError: boom"
    pytest_output = ("============ test session starts ============\ncollected 1 item\n\ntest_a.py F\n"
                     ">       assert 1 == 2\nE       assert 1 == 2\n=== 1 failed in 0.03s ===")
    assert primary_line(pytest_output).startswith("E       assert 1 == 2")
    assert make_template(pytest_output) == "E assert <NUM> == <NUM>"


def test_the_primary_line_skips_patterns_by_their_words_exactly() -> None:
    # no line holds a pattern's words: each pattern is skipped, and the first line is the answer
    assert primary_line("starting up\nall good so far\nbye") == "starting up"
    assert primary_line("== run ==\nprocess status FAILED\nnext") == "process status FAILED"
    # a dotless i matches "i" case-insensitively, so a text that holds one is searched line by line
    assert primary_line("first line\nthe job fa\u0131led here\nlast") == "the job fa\u0131led here"


def test_wrapper_lines_are_passed_over_for_the_line_that_names_the_failure() -> None:
    bare = "libmamba Could not set lock (Resource temporarily unavailable)"
    echoed = f"$ conda install -y -n nightly -c conda-forge numpy\nerror {bare}"
    wrapped = f"Running with gitlab-runner 16.9\nerror {bare}\nERROR: Job failed: exit code 1"
    summary = f"+ make test\nerror {bare}\nError: Process completed with exit code 1."
    assert {primary_line(m) for m in (echoed, wrapped, summary)} == {f"error {bare}"}
    # a report of wrappers alone still has a template, and what the runner said stays apart
    assert primary_line("$ make bench\nERROR: Job failed: exit code 2") == "$ make bench"
    assert make_template("ERROR: Job failed: exit code 1\nFAILED tests/test_a.py::test_x") != ""
    # build tools' own wrappers: ninja's failed target, lit's test banner, Gradle's and CMake's headers
    for wrapper in ("FAILED: lib/Target/X86/CMakeFiles/LLVMX86CodeGen.dir/X86ISelLowering.cpp.o",
                    "******************** TEST 'LLVM :: CodeGen/X86/vperm2.ll' FAILED ********************",
                    "FAILURE: Build failed with an exception.",
                    "CMake Error at cmake/modules/Toolchain.cmake:41 (message):"):
        assert primary_line(f"{wrapper}\nerror: unknown target CPU 'znver9'") == "error: unknown target CPU 'znver9'"


def test_a_traceback_whose_exception_no_pattern_names_is_templated_by_its_last_line() -> None:
    # MissingSchema names no Error: the line Python raised, printed last, is the primary line,
    # not the header every traceback starts with
    traceback = ('Traceback (most recent call last):\n  File "ci/upload.py", line 9, in <module>\n'
                 '    requests.post(url)\nrequests.exceptions.MissingSchema: Invalid URL \'None/api\': '
                 'No scheme supplied.')
    assert primary_line(traceback).startswith("requests.exceptions.MissingSchema: Invalid URL")
    other = traceback.replace("MissingSchema: Invalid URL 'None/api': No scheme supplied.",
                              "InvalidStatus: server rejected WebSocket connection: HTTP 401")
    assert make_template(traceback) != make_template(other)


def test_grpc_errors_are_templated_by_their_details() -> None:
    def rpc(code: str, details: str) -> str:
        return (f"<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.{code}\n"
                f'\tdetails = "{details}"\n\tdebug_error_string = "UNKNOWN:Error received from peer"\n>')
    typ = "grpc._channel._InactiveRpcError"
    assert make_template(rpc("UNAVAILABLE", "DNS resolution failed for ranker:50051"), typ) \
        == "_InactiveRpcError: DNS resolution failed for ranker:<NUM>"
    agg = ErrorAggregator()
    dns = {agg.add_error({"type": typ, "message": rpc("UNAVAILABLE", f"DNS resolution failed for svc-{i}:50051")})
           for i in range(3)}
    reset = agg.add_error({"type": typ, "message": rpc("INTERNAL", "Received RST_STREAM with error code 2")})
    assert len(dns) == 1 and reset not in dns  # one header line, two different errors


def oom(gib: str, gpu: int, total: str) -> dict:
    return {"type": "torch.cuda.OutOfMemoryError",
            "message": f"CUDA out of memory. Tried to allocate {gib} GiB (GPU {gpu}; {total} GiB total capacity)"}


def test_same_error_different_parameters_groups() -> None:
    agg = ErrorAggregator()
    ids = {agg.add_error(oom(g, i, t)) for g, i, t in (("2.00", 0, "15.78"), ("1.50", 3, "23.65"), ("20.00", 1, "79.15"))}
    assert len(ids) == 1
    assert agg.get_pattern(ids.pop())["count"] == 3


def test_near_identical_messages_group_and_different_errors_do_not() -> None:
    agg = ErrorAggregator(similarity_threshold=0.8)
    a = agg.add_error({"type": "", "message": "worker alpha lost its lease on the scheduler queue during drain"})
    b = agg.add_error({"type": "", "message": "worker gamma lost its lease on the scheduler queue during drain"})
    c = agg.add_error({"type": "ConnectionRefusedError", "message": "[Errno 111] Connection refused"})
    d = agg.add_error({"type": "ConnectionResetError", "message": "[Errno 104] Connection reset by peer"})
    e = agg.add_error({"type": "MemoryError", "message": ""})
    assert a == b
    assert len({a, c, d, e}) == 4
    assert agg.get_pattern(a)["template"] == "worker <*> lost its lease on the scheduler queue during drain"
    strict = ErrorAggregator(similarity_threshold=0.95)
    assert strict.add_error({"type": "", "message": "worker alpha lost its lease on the scheduler queue during drain"}) != \
        strict.add_error({"type": "", "message": "worker gamma lost its lease on the scheduler queue during drain"})


def test_grouping_stays_within_category() -> None:
    agg = ErrorAggregator()
    x = agg.add_error({"type": "", "message": "the widget failed"}, category=C.WORKER_CRASH_ERROR)
    y = agg.add_error({"type": "", "message": "the widget failed"}, category="worker_overload_error")
    z = agg.add_error({"type": "", "message": "the widget failed"}, category=C.WORKER_CRASH_ERROR)
    assert x != y and x == z
    assert agg.get_pattern(x)["category"] == "worker_crash_error"


def test_ids_are_stable_across_instances_and_orders() -> None:
    errors = [oom("2.00", 0, "15.78"), {"type": "MemoryError", "message": ""},
              {"type": "", "message": "worker worker-3 missed heartbeat"}, {"type": "KeyError", "message": "'model'"}]
    first, second = ErrorAggregator(), ErrorAggregator()
    ids_first = [first.add_error(e, category="unknown_error") for e in errors]
    ids_second = [second.add_error(e, category="unknown_error") for e in reversed(errors)][::-1]
    assert ids_first == ids_second
    template = first.get_pattern(ids_first[1])["template"]
    assert ids_first[1] == pattern_id_for(template, "unknown_error")
    assert ErrorAggregator().add_error(errors[1]) != ids_first[1]  # category is part of the id


def test_seeded_patterns_keep_ids_of_joined_variants() -> None:
    base = {"type": "", "message": "worker alpha lost its lease on the scheduler queue during drain"}
    variant = {"type": "", "message": "worker gamma lost its lease on the scheduler queue during drain"}
    before = ErrorAggregator()
    pid = before.add_error(base)
    assert before.add_error(variant) == pid
    stored = before.get_patterns()
    after = ErrorAggregator()
    assert after.seed_patterns(stored) == 1
    assert after.add_error(variant) == pid  # the variant arrives first after the restart


def test_accepts_exceptions_mappings_and_error_info() -> None:
    agg = ErrorAggregator()
    a = agg.add_error(ValueError("bad value 3"))
    b = agg.add_error({"type": "ValueError", "message": "bad value 4"})
    c = agg.add_error(ErrorInfo(type="ValueError", message="bad value 5"))
    assert a == b == c
    with pytest.raises(TypeError):
        agg.add_error(42)


def test_history_is_a_bounded_ring() -> None:
    agg = ErrorAggregator(error_history_size=50)
    for i in range(500):
        agg.add_error({"type": "", "message": f"failure kind {i % 7} on shard {i}"}, {"worker_id": f"w{i % 3}"})
        assert len(agg) <= 50
    assert len(agg) == 50
    assert sum(p["held"] for p in agg.get_patterns()) == 50
    assert sum(p["count"] for p in agg.get_patterns()) == 500


def test_pattern_count_is_capped_least_recently_seen_first() -> None:
    clock = Clock()
    agg = ErrorAggregator(error_history_size=1000, max_patterns=10, clock=clock)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
             "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]
    ids = []
    for word in words:
        clock.now += 1
        ids.append(agg.add_error({"type": "", "message": f"{word} subsystem exploded"}))
    assert len(agg.get_patterns()) == 10
    assert agg.get_pattern(ids[0]) is None and agg.get_pattern(ids[-1]) is not None
    # touching an old pattern keeps it alive
    clock.now += 1
    agg.add_error({"type": "", "message": "kilo subsystem exploded"})
    for word in ("x1", "x2", "x3"):
        agg.add_error({"type": "", "message": f"{word} module melted down badly"})
    assert agg.get_pattern(ids[words.index("kilo")]) is not None
    assert len(agg) == 24  # held errors are not lost with their pattern


def test_correlations_and_summary() -> None:
    agg = ErrorAggregator()
    pid = ""
    for i in range(100):
        worker = "worker-3" if i < 87 else f"worker-{i % 5 + 4}"
        pid = agg.add_error(oom("2.00", i % 2, "15.78"),
                            {"worker_id": worker, "hardware_type": "cuda", "tags": {"model": "bert" if i % 2 else "gpt2"}})
    corr = agg.get_correlations(pid)
    assert corr["worker_id"]["worker-3"] == 0.87
    assert corr["hardware_type"] == {"cuda": 1.0}
    assert corr["tags"]["model"] == {"bert": 0.5, "gpt2": 0.5}
    assert agg.correlation_summary(pid) == ["87% of these on worker-3", "100% of these on cuda hardware"]
    assert summarize_correlations(corr, min_share=0.4)[-1] == "50% of these with model=bert"
    assert agg.get_patterns()[0]["summary"][0] == "87% of these on worker-3"
    with pytest.raises(KeyError):
        agg.get_correlations("pat-0000")


def test_correlations_follow_the_ring() -> None:
    agg = ErrorAggregator(error_history_size=10)
    for i in range(10):
        pid = agg.add_error({"type": "", "message": "disk hiccup"}, {"worker_id": "worker-1"})
    for i in range(10):
        agg.add_error({"type": "", "message": "disk hiccup"}, {"worker_id": "worker-2"})
    assert agg.get_correlations(pid)["worker_id"] == {"worker-2": 1.0}


def test_trend_and_frequency_with_injected_clock() -> None:
    clock = Clock()
    agg = ErrorAggregator(clock=clock, window_seconds=60, error_history_size=1000)
    msg = {"type": "", "message": "flaky link"}
    pid = agg.add_error(msg)
    assert agg.trend(pid) is Trend.NEW
    clock.now += 61  # previous window: 1 error; then 6 in the current window
    for _ in range(6):
        clock.now += 5
        agg.add_error(msg)
    assert agg.trend(pid) is Trend.RISING
    assert agg.frequency(pid) == 6
    assert agg.frequency(pid, window_seconds=12) == 3
    clock.now += 60  # those 6 are now the previous window, 1 in the current one
    agg.add_error(msg)
    assert agg.trend(pid) is Trend.FALLING
    clock.now += 60
    agg.add_error(msg)
    assert agg.trend(pid) is Trend.STEADY  # 1 now, 1 before
    frequent = agg.get_frequent_patterns(min_count=3)
    assert frequent[0]["pattern_id"] == pid and frequent[0]["trend"] == "steady"
    assert {"pattern_id", "template", "count", "first_seen", "last_seen", "trend"} <= frequent[0].keys()


def test_frequent_patterns_ordering() -> None:
    agg = ErrorAggregator()
    for name, n in (("alpha", 2), ("bravo", 5), ("charlie", 3)):
        for _ in range(n):
            agg.add_error({"type": "", "message": f"{name} exploded badly"})
    frequent = agg.get_frequent_patterns(min_count=3)
    assert [p["count"] for p in frequent] == [5, 3]
    assert frequent[0]["template"] == "bravo exploded badly"


@pytest.mark.parametrize("kwargs", [{"similarity_threshold": 0}, {"similarity_threshold": 1.5}, {"error_history_size": 0},
                                    {"window_seconds": 0}, {"max_patterns": 0}])
def test_invalid_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ErrorAggregator(**kwargs)


def _pairwise_f1(labels: list[str], clusters: list[str]) -> float:
    from collections import Counter

    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    both = pairs(Counter(zip(labels, clusters)))
    precision = both / pairs(Counter(clusters))
    recall = both / pairs(Counter(labels))
    return 2 * precision * recall / (precision + recall)


def test_corpus_grouping_beats_drain3() -> None:
    from error_handling.classify import Classifier

    entries = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    labels = [e["pattern"] for e in entries]
    # templates alone: the corpus's labels split one root cause by batch and by call (its own
    # "emfile-open" and "emfile-socket"), which grouping by cause joins (test_causes scores that)
    # (and no second chance by words, which joins the same way: test_word_index)
    clf, agg = Classifier(), ErrorAggregator(error_history_size=10_000, group_by_cause=False, word_threshold=None)
    ours = _pairwise_f1(labels, [agg.add_error(e, category=clf.classify(e)) for e in entries])
    # a regression guard just under the current figure: 0.906 on the corpus before blind batches
    # 60-61 joined, 0.892 after (their repeats of corpus errors landed in clusters that already join
    # labels the corpus keeps apart, such as CuPy's and CUDA's identical "no kernel image")
    assert ours >= 0.89
    drain3 = pytest.importorskip("drain3")
    miner = drain3.TemplateMiner()
    texts = [f"{e['type'].rsplit('.', 1)[-1]}: {e['message']}" if e["type"] else e["message"] for e in entries]
    theirs = _pairwise_f1(labels, [str(miner.add_log_message(t)["cluster_id"]) for t in texts])
    assert ours > theirs


# -- grouping across lengths and parameters -------------------------------------------------

def test_a_pattern_is_not_worn_down_to_wildcards() -> None:
    # each message differs from the one before in one word of seven (6/7 >= 0.8): merge after
    # merge would turn every word into <*>, and then any seven-word message would join
    agg = ErrorAggregator()
    words = "alpha bravo charlie delta echo foxtrot golf".split()
    first = agg.add_error({"type": "", "message": " ".join(words)})
    for i, replacement in enumerate("one two three four five six seven".split()):
        words[i] = replacement
        agg.add_error({"type": "", "message": " ".join(words)})
    for pattern in agg.get_patterns():
        tokens = pattern["template"].split(" ")
        assert tokens.count("<*>") * 2 <= len(tokens), pattern["template"]
    assert agg.add_error({"type": "", "message": "entirely unrelated words make up this line"}) != first


def test_templates_of_different_lengths_join() -> None:
    agg = ErrorAggregator()
    a = agg.add_error({"type": "ConnectionRefusedError", "message": "Connection refused by server"})
    b = agg.add_error({"type": "ConnectionRefusedError", "message": "Connection refused by remote host"})
    assert a == b
    assert agg.pattern_template(a) == "ConnectionRefusedError: Connection refused by <*>"
    # the wildcard now takes runs of up to three tokens; a longer run is wording, not a parameter
    c = agg.add_error({"type": "ConnectionRefusedError", "message": "Connection refused by a load balancer"})
    assert c == a
    d = agg.add_error({"type": "ConnectionRefusedError", "message": "Connection refused by policy of the remote firewall"})
    assert d != a


def test_cuda_oom_sizes_and_hosts_are_parameters() -> None:
    agg = ErrorAggregator()
    ids = {agg.add_error({"type": "torch.OutOfMemoryError",
                          "message": f"CUDA out of memory. Tried to allocate {size}. GPU {gpu} has a total capacity of "
                                     f"{total} GiB of which {free} is free."})
           for size, gpu, total, free in (("128.00 GiB", 0, "79.15", "1.2 GiB"), ("2.00 MiB", 3, "15.78", "512 KiB"),
                                          ("20.5 KiB", 7, "23.6", "0 bytes"))}
    assert len(ids) == 1
    hosts = {agg.add_error({"type": "", "message": f"ssh: connect to host {h} port 22: Connection refused"})
             for h in ("db.internal", "10.0.0.7", "gpu-node-07", "api.example.com")}
    assert len(hosts) == 1
    users = {agg.add_error({"type": "", "message": f"{u}: Permission denied (publickey)."})
             for u in ("ci@gpu-node-07", "ci@api.example.com", "deploy@10.1.2.3")}
    assert len(users) == 1


def test_different_codes_never_join_whatever_the_length() -> None:
    agg = ErrorAggregator(similarity_threshold=0.5)
    xids = {agg.add_error({"type": "", "message": f"NVRM: Xid (PCI:0000:3b:00): {x}, pid=12, name=python, Ch 00000010"})
            for x in (13, 31, 43, 79)}
    assert len(xids) == 4
    a = agg.add_error({"type": "", "message": "worker died with SIGSEGV while running the test"})
    b = agg.add_error({"type": "", "message": "worker died with SIGKILL while running the long test"})
    assert a != b


def test_each_buckets_words_hold_every_token_of_its_patterns() -> None:
    # the cross-length search skips a bucket whose words share too few tokens with a template:
    # a bucket's words must hold every token its patterns hold now, through joins, wildcards,
    # moves between lengths and evictions
    records = [json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines() if x.strip()]
    agg = ErrorAggregator(error_history_size=40)
    for i, rec in enumerate(records[:1500] + records[:300]):
        agg.add_error({"type": rec.get("type") or "", "message": rec.get("message") or ""}, None,
                      rec["category"])
        if i % 50 == 0:
            for category, buckets in agg._buckets.items():
                assert buckets.size == sum(map(len, buckets.patterns)) > 0, category  # (none kept empty)
                for length, (bucket, words) in enumerate(zip(buckets.patterns, buckets.words)):
                    assert {t for p in bucket.values() for t in p.tokens} <= words, (category, length)
                    assert all(len(p.tokens) == length for p in bucket.values())
    # patterns gone since a bucket's words were built: counted while they are kept, and never
    # more than the bucket holds (then they are built again)
    gone = [(g, len(b)) for buckets in agg._buckets.values() for g, b in zip(buckets.gone, buckets.patterns) if g]
    assert gone, "evictions left buckets with stale words"
    assert all(0 < g <= held for g, held in gone)


def test_similarity_threshold_keeps_its_meaning_across_lengths() -> None:
    strict = ErrorAggregator(similarity_threshold=1.0)
    a = strict.add_error({"type": "E", "message": "Connection refused by server"})
    assert strict.add_error({"type": "E", "message": "Connection refused by remote host"}) != a
    loose = ErrorAggregator(similarity_threshold=0.8)
    a = loose.add_error({"type": "E", "message": "disk full on volume data"})
    # same length, 2 of 6 positions equal
    assert loose.add_error({"type": "E", "message": "disk quota exceeded on volume"}) != a
    assert align("E: a b c".split(), "E: a x y c".split()) == (0.75, ["E:", "a", "<*>", "c"])
    assert align("E: a b c d".split(), "E: a x y c d".split()) == (0.8, ["E:", "a", "<*>", "c", "d"])


def test_align_bound_never_rules_out_a_template_align_would_accept() -> None:
    import random

    from error_handling.similarity import align_bound, token_counts
    rng = random.Random(5)
    words = ["E:", "a", "b", "c", "failed", "<NUM>", "<SIZE>", "<PATH>", "on", "host"]
    seen_below = seen_above = 0
    for _ in range(3000):
        a = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        b = list(a)  # a few tokens inserted, dropped or changed: some pairs stay close
        for _ in range(rng.randint(1, 4)):
            i = rng.randint(0, len(b))
            edit = rng.choice("idc")
            if edit == "i" or not b:
                b.insert(i, rng.choice(words))
            elif edit == "d":
                del b[min(i, len(b) - 1)]
            else:
                b[min(i, len(b) - 1)] = rng.choice(words)
        if len(a) == len(b):
            continue
        score, _ = align(a, b)
        bound = align_bound(token_counts(a), token_counts(b), len(a), len(b))
        assert score <= bound + 1e-9, (a, b, score, bound)
        seen_below += bound < 0.8
        seen_above += score >= 0.8
    assert seen_below > 100 and seen_above > 10  # the bound prunes, and merges were tried
    assert token_counts(["E:", "<*>", "<NUM>"]) == {"E:": 1, "<>": 2}


def test_similarity_bound_never_rules_out_a_template_of_the_same_length() -> None:
    import random

    from error_handling.similarity import similarity, similarity_bound, token_counts
    rng = random.Random(7)
    words = ["E:", "a", "b", "failed", "<NUM>", "<SIZE>", "<*>", "on", "host"]
    pruned = 0
    for _ in range(3000):
        a = [rng.choice(words) for _ in range(rng.randint(1, 10))]
        b = [t if rng.random() < 0.7 else rng.choice(words) for t in a]
        bound = similarity_bound(token_counts(a), set(a) & set(b))
        assert similarity(a, b) <= bound / len(b), (a, b)
        pruned += bound / len(b) < 0.8
    assert pruned > 100


def test_cross_length_pattern_ids_survive_a_restart() -> None:
    first = ErrorAggregator()
    pid = first.add_error({"type": "E", "message": "Connection refused by server"})
    assert first.add_error({"type": "E", "message": "Connection refused by remote host"}) == pid
    stored = [{"pattern_id": p["pattern_id"], "template": p["template"], "category": p["category"]}
              for p in first.get_patterns()]
    later = ErrorAggregator()
    later.seed_patterns(stored)
    assert later.add_error({"type": "E", "message": "Connection refused by a proxy"}) == pid
    fresh = ErrorAggregator()  # same order, new process: the same id (it is the founding template's)
    assert fresh.add_error({"type": "E", "message": "Connection refused by server"}) == pid


TB = '''Traceback (most recent call last):
  File "/srv/app/tests/test_model.py", line {line}, in test_forward
    out = model(x)
  File "/srv/app/model.py", line 40, in forward
    return self.proj(x)
  File "/opt/venv/lib/python3.11/site-packages/torch/nn/modules/module.py", line 1501, in _call_impl
    return forward_call(*args)
RuntimeError: {message}
'''


def test_traceback_fingerprint_is_type_and_innermost_application_frames() -> None:
    assert traceback_fingerprint("RuntimeError", TB.format(line=12, message="x")) == \
        "RuntimeError @ model.py:forward < test_model.py:test_forward"
    library_only = '  File "/usr/lib/python3.11/json/decoder.py", line 3, in decode\nValueError: x\n'
    assert traceback_fingerprint("ValueError", library_only) is None


def test_group_by_traceback_joins_one_raise_site_whatever_the_message() -> None:
    by_site = ErrorAggregator(group_by_traceback=True)
    a = by_site.add_error({"type": "RuntimeError", "message": "mat1 and mat2 shapes cannot be multiplied (8x768 and 512x8)",
                           "traceback": TB.format(line=12, message="mat1 and mat2 shapes cannot be multiplied")})
    b = by_site.add_error({"type": "RuntimeError", "message": "Expected all tensors to be on the same device",
                           "traceback": TB.format(line=19, message="Expected all tensors to be on the same device")})
    assert a == b
    plain = ErrorAggregator()
    assert plain.add_error({"type": "RuntimeError", "message": "mat1 and mat2 shapes cannot be multiplied (8x768)",
                            "traceback": TB.format(line=12, message="m")}) != \
        plain.add_error({"type": "RuntimeError", "message": "Expected all tensors to be on the same device",
                         "traceback": TB.format(line=19, message="e")})
    # without application frames the message template decides, as usual
    c = by_site.add_error({"type": "ValueError", "message": "bad 1", "traceback": "ValueError: bad 1\n"})
    assert c == by_site.add_error({"type": "ValueError", "message": "bad 2"})
