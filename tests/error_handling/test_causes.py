"""Root causes by name (error_handling.causes): one pattern per cause across tools and report forms,
causes that take different fixes apart, and the gated lookup equal to trying every regex in order."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import re
import time

from error_handling.causes import (PREFIX, READ_CHARS, CauseTable, cause_of, is_cause, load_causes, load_causes_file,
                                   shipped_causes, with_shipped)
from error_handling.handler import DistributedErrorHandler
from error_handling.patterns import ErrorAggregator

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "error_corpus.jsonl"


def _group(reports: list[dict], category: str = "resource_allocation_error", **kwargs) -> list[str]:
    aggregator = ErrorAggregator(**kwargs)
    return [aggregator.add_error(report, category=category) for report in reports]


def test_one_full_disk_across_tools_is_one_pattern() -> None:
    reports = [
        {"type": "OSError", "message": "OSError: [Errno 28] No space left on device"},
        {"type": "RuntimeError", "message": "RuntimeError: [enforce fail at inline_container.cc:595] . unexpected pos 1728 vs 1621"},
        {"type": "safetensors_rust.SafetensorError", "message": 'Error while serializing: IoError(Os { code: 28, kind: '
                                                                'StorageFull, message: "No space left on device" })'},
        {"type": "", "message": "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device"},
    ]
    ids = _group(reports)
    assert len(set(ids)) == 1
    # off, the four templates are four patterns: what the knowledge adds
    assert len(set(_group(reports, group_by_cause=False))) == 4


def test_cuda_out_of_memory_in_every_torch_wording_is_one_pattern() -> None:
    reports = [
        {"type": "RuntimeError", "message": "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total "
                                            "capacity; 13.12 GiB already allocated; 1.20 GiB free)"},
        {"type": "torch.cuda.OutOfMemoryError", "message": "CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a "
                                                           "total capacty of 79.15 GiB of which 7.31 MiB is free."},
        {"type": "torch.OutOfMemoryError", "message": "CUDA out of memory. Tried to allocate 512.00 MiB. GPU 3 has a total "
                                                      "capacity of 39.39 GiB of which 100.44 MiB is free. Process 4711 has "
                                                      "39.28 GiB memory in use."},
        {"type": "", "message": "FAILED tests/test_llm.py::test_decode[bs=64] - torch.OutOfMemoryError: CUDA out of memory."},
    ]
    assert len(set(_group(reports))) == 1


def test_causes_that_take_different_fixes_stay_apart() -> None:
    kernel = {"type": "", "message": "[1822931.902114] Out of memory: Killed process 77120 (python3) total-vm:41233908kB"}
    pod = {"type": "", "message": "    State:          Terminated\n      Reason:       OOMKilled\n      Exit Code:    137"}
    slurm = {"type": "", "message": "slurmstepd: error: Detected 1 oom_kill event in StepId=4242.batch. Some of the step "
                                    "tasks have been OOM Killed."}
    cgroup = {"type": "", "message": "Memory cgroup out of memory: Killed process 5512 (python) total-vm:123kB"}
    container_store = {"type": "", "message": "failed to register layer: write /var/lib/docker/overlay2/x/diff/a.so: "
                                              "no space left on device"}
    scratch = {"type": "OSError", "message": "[Errno 28] No space left on device: '/scratch/ckpt.pt'"}
    shm = {"type": "RuntimeError", "message": "unable to write to file </torch_123_456_7>: No space left on device (28)"}
    ids = _group([kernel, pod, slurm, cgroup, container_store, scratch, shm])
    assert len(set(ids)) == 7


@pytest.mark.parametrize("a, b", [
    ("ModuleNotFoundError: No module named 'flash_attn'", "ModuleNotFoundError: No module named 'triton'"),
    ("NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus.",
     "NVRM: Xid (PCI:0000:3b:00): 48, pid=1, An uncorrectable double bit error"),
    ("NVRM: Xid (PCI:0000:3b:00): 13, pid=1, Graphics Exception", "NVRM: Xid (PCI:0000:3b:00): 31, pid=1, MMU Fault"),
    ("ImportError: libcudnn.so.8: cannot open shared object file: No such file or directory",
     "ImportError: libnccl.so.2: cannot open shared object file: No such file or directory"),
    ("OSError: [Errno 24] Too many open files", "OSError: [Errno 23] Too many open files in system"),
])
def test_near_misses_keep_their_own_cause(a: str, b: str) -> None:
    assert cause_of(a) is not None and cause_of(b) is not None
    assert cause_of(a) != cause_of(b)


def test_the_subject_joins_one_missing_thing_across_wordings() -> None:
    missing = ["ModuleNotFoundError: No module named 'flash_attn'",
               "ModuleNotFoundError: No module named 'flash_attn.flash_attn_interface'",
               "ImportError: FlashAttention2 has been toggled on, but it cannot be used due to the following error: the "
               "package flash_attn seems to be not installed."]
    assert len({cause_of(m) for m in missing}) == 1
    libraries = ["ImportError: libcudnn.so.8: cannot open shared object file: No such file or directory",
                 "W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library "
                 "'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file"]
    assert len({cause_of(m) for m in libraries}) == 1


def test_a_header_first_output_is_read_for_what_it_reports() -> None:
    describe = ("Name:         llm-bench-7f9c4-xk2lp\nNamespace:    bench\nContainers:\n  bench:\n    Last State:     "
                "Terminated\n      Reason:       OOMKilled\n      Exit Code:    137\n    Limits:\n      memory:  32Gi")
    get_pods = "NAME                  READY   STATUS      RESTARTS   AGE\nllm-bench-7f9c4-xk2lp 0/1     OOMKilled   3          6m"
    assert cause_of(describe) == cause_of(get_pods) is not None


def test_no_cause_for_symptoms_that_name_no_fix() -> None:
    for message in ("rpc error: code = DeadlineExceeded desc = context deadline exceeded",
                    "ConnectionRefusedError: [Errno 111] Connection refused",
                    "RuntimeError: CUDA error: an illegal memory access was encountered",
                    "AssertionError: assert 3 == 4", ""):
        assert cause_of(message) is None


def test_cause_patterns_have_stable_ids_and_never_join_by_similarity() -> None:
    report = {"type": "OSError", "message": "[Errno 28] No space left on device"}
    first, second = ErrorAggregator(), ErrorAggregator()
    assert first.add_error(report, category="resource_allocation_error") == \
        second.add_error(report, category="resource_allocation_error")
    pattern = first.get_patterns()[0]
    assert is_cause(pattern["template"])
    # a message template close in words to a cause's template founds its own pattern
    near = {"type": "", "message": "diskfull (no space left on devic)"}
    assert first.add_error(near, category="resource_allocation_error") != pattern["pattern_id"]
    # and a restart's seeding restores the cause pattern under its id
    seeded = ErrorAggregator()
    seeded.seed_patterns([{"pattern_id": pattern["pattern_id"], "template": pattern["template"],
                           "category": "resource_allocation_error"}])
    assert seeded.add_error(report, category="resource_allocation_error") == pattern["pattern_id"]


def test_cause_patterns_are_evicted_like_others() -> None:
    aggregator = ErrorAggregator(error_history_size=16, max_patterns=2)
    for message in ("[Errno 28] No space left on device", "Too many open files",
                    "No module named 'a'", "No module named 'b'"):
        aggregator.add_error({"type": "OSError", "message": message}, category="resource_allocation_error")
    assert len(aggregator.get_patterns()) == 2


def _every_regex_in_order(table: CauseTable, message: str) -> str | None:
    """The reference: the table's regexes tried one by one, no gate, no needles."""
    for cause in table.causes:
        for regex in cause.patterns:
            match = regex.search(message)
            if match is not None:
                subject = " ".join(v.lower() for k, v in match.groupdict().items() if v and k.startswith("subject"))
                return f"{PREFIX}{cause.name} {cause.title}" + (f" [{subject}]" if subject else "")
    return None


def _messages() -> list[str]:
    messages = [json.loads(line)["message"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    # and text the gate does not cover: non-ASCII, and control characters Python's \s reads
    return messages + ["Fehler: kein Speicherplatz – No space left on device", "ſcratch\x1cToo many open files"]


def test_gated_lookup_equals_every_regex_in_order() -> None:
    table = shipped_causes()
    gate = table._gate
    if gate is not None:
        assert gate.wait(60), gate.error
    messages = _messages()
    assert sum(_every_regex_in_order(table, m) is not None for m in messages) > 500  # the check reads real hits
    for message in messages:
        assert table.find(message) == _every_regex_in_order(table, message), message[:200]


def test_lookup_without_hyperscan_is_the_same() -> None:
    code = ("import json,sys; from error_handling.causes import shipped_causes; t=shipped_causes(); "
            "assert t._gate is None; print(json.dumps([t.find(m) for m in json.load(sys.stdin)]))")
    messages = _messages()
    env = {**os.environ, "DTF_HYPERSCAN": "0"}
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(messages), capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True).stdout
    table = shipped_causes()
    assert json.loads(out) == [_every_regex_in_order(table, m) for m in messages]


def test_the_table_is_checked_when_loaded() -> None:
    causes = load_causes()
    assert len({c.name for c in causes}) == len(causes)
    assert all(c.title and c.patterns for c in causes)
    with pytest.raises(ValueError, match="lower-case"):
        load_causes(json.dumps({"causes": [{"name": "Disk Full", "title": "x", "patterns": ["x"]}]}))
    with pytest.raises(ValueError, match="bad regex"):
        load_causes(json.dumps({"causes": [{"name": "bad", "title": "x", "patterns": ["(unclosed"]}]}))
    with pytest.raises(ValueError, match="title and a list of patterns"):
        load_causes(json.dumps({"causes": [{"name": "bad", "patterns": "x"}]}))
    with pytest.raises(ValueError, match="unique"):
        load_causes(json.dumps({"causes": [{"name": "a", "title": "x", "patterns": ["x"]}] * 2}))
    with pytest.raises(ValueError, match="not a causes table"):
        load_causes("[1, 2]")


def test_a_team_adds_its_own_causes_before_the_shipped_ones(tmp_path: Path) -> None:
    own = tmp_path / "causes.json"
    own.write_text(json.dumps({"causes": [
        {"name": "feature-store-down", "title": "feature store unreachable",
         "patterns": [r"feature-store\.internal[^\n]{0,80}(?:refused|timed out)", r"FeatureStoreUnavailable"]},
        # before the shipped disk-full: this team's scratch volume has its own fix
        {"name": "scratch-volume-full", "title": "the shared scratch volume is full",
         "patterns": [r"No space left on device: '/mnt/scratch/"]},
    ]}))
    table = with_shipped(load_causes_file(own))
    aggregator = ErrorAggregator(causes=table)
    down = [{"type": "ConnectionRefusedError", "message": "connect to feature-store.internal:7000 refused"},
            {"type": "client.FeatureStoreUnavailable", "message": "FeatureStoreUnavailable: shard 3 has no leader"}]
    ids = [aggregator.add_error(r, category="network_connection_error") for r in down]
    assert len(set(ids)) == 1 and "feature-store-down" in aggregator.pattern_template(ids[0])
    scratch = {"type": "OSError", "message": "[Errno 28] No space left on device: '/mnt/scratch/run1/ckpt.pt'"}
    other = {"type": "OSError", "message": "[Errno 28] No space left on device: '/tmp/x'"}
    assert "scratch-volume-full" in aggregator.pattern_template(
        aggregator.add_error(scratch, category="resource_allocation_error"))
    assert "disk-full" in aggregator.pattern_template(aggregator.add_error(other, category="resource_allocation_error"))
    # the shipped table is untouched, and a name may not shadow a shipped cause
    assert cause_of(down[1]["message"]) is None
    with pytest.raises(ValueError, match="disk-full"):
        with_shipped(load_causes(json.dumps({"causes": [{"name": "disk-full", "title": "x", "patterns": ["x"]}]})))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_causes_file(bad)


@pytest.mark.parametrize("name, one, other", [
    # the causes added from check sets 71-82, each on two tools' wordings written for this test
    ("hf-gated-repo", "huggingface_hub.errors.GatedRepoError: 401 Client Error. Cannot access gated repo for url x",
     "OSError: You are trying to access a gated repo.\nMake sure to have access to it."),
    ("hf-gated-not-granted", "Access to model org/m is restricted and you are not in the authorized list.",
     "403 Client Error. (Request ID: Root=1-abc)\n\nCannot access gated repo for url https://hub.example.org/x"),
    ("object-store-slowdown", "An error occurred (SlowDown) when calling the PutObject operation",
     "ERROR : a.bin: Failed to copy: SlowDown: Please reduce your request rate."),
    ("cxx-compiler-missing", "InvalidCxxCompiler: No working C++ compiler found in torch._inductor.config.cpp.cxx",
     "error: linker `cc` not found\n  = note: No such file or directory (os error 2)"),
    ("python-interpreter-missing", "py38: skipped because could not find python interpreter with spec(s): py38",
     "nox > Session tests-3.8 skipped: Python interpreter 3.8 not found."),
    ("kafka-no-broker", "kafka.errors.NoBrokersAvailable: NoBrokersAvailable",
     "KafkaConnectionError: Unable to bootstrap from [('kafka.internal', 9092)]"),
    ("triton-shared-memory", "triton.runtime.errors.OutOfResources: out of resource: shared memory, Required: 131072",
     "OutOfResources: out of resource: shared memory, Required: 196608, Hardware limit: 101376."),
    ("flash-attn-pre-ampere", "RuntimeError: FlashAttention only supports Ampere GPUs or newer.",
     "(RayTrainWorker pid=7, ip=10.0.0.3) RuntimeError: FlashAttention only supports Ampere GPUs or newer."),
    ("container-name-in-use", 'Conflict. The container name "/pg" is already in use by container "3f1a".',
     "409 Client Error: Conflict (You have to remove (or rename) that container to be able to reuse that name.)"),
    ("slurm-invalid-gres", "srun: error: Unable to allocate resources: Invalid generic resource (gres) specification",
     "sbatch: error: Invalid generic resource (gres) specification"),
    ("state-dict-mismatch", "RuntimeError: Error(s) in loading state_dict for GPTModel:\n\tMissing key(s)",
     "train.py:88 -- Failed to load checkpoint: Error(s) in loading state_dict for GPTModel: Unexpected key(s)"),
    ("derby-metastore-locked", "ERROR XSDB6: Another instance of Derby may have already booted the database /srv/x.",
     "java.sql.SQLException: Failed to start database 'metastore_db' with class loader, see the next exception"),
    ("trino-node-memory-limit", "Query 20240517_0211 failed: Query exceeded per-node memory limit of 8GB",
     "TrinoQueryError(type=INSUFFICIENT_RESOURCES, name=EXCEEDED_LOCAL_MEMORY_LIMIT, message=\"...\")"),
    ("parquet-not-parquet", "ArrowInvalid: Parquet magic bytes not found in footer. Either the file is corrupted",
     "polars.exceptions.ComputeError: parquet: File out of specification: The file must end with PAR1"),
    ("schema-registry-incompatible", "SchemaRegistryError: Schema being registered is incompatible with an earlier schema",
     "SerializationException: Error registering Avro schema{\"type\":\"record\"}"),
    ("adb-device-offline", "adbutils.errors.AdbError: device offline",
     "com.android.ddmlib.InstallException: device offline"),
    ("under-voltage", "hwmon hwmon1: Undervoltage detected!",
     "get_throttled=0x50005 (under-voltage now, throttled now)"),
])
def test_causes_read_from_the_check_sets_join_across_tools(name: str, one: str, other: str) -> None:
    assert cause_of(one) == cause_of(other)
    assert cause_of(one).startswith(f"{PREFIX}{name} ")


def test_a_truncated_checkpoint_and_a_file_that_is_not_weights_stay_apart() -> None:
    truncated = "safetensors_rust.SafetensorError: Error while deserializing header: MetadataIncompleteBuffer"
    pointer = "safetensors_rust.SafetensorError: Error while deserializing header: HeaderTooLarge"
    assert "checkpoint-truncated" in cause_of(truncated) and "weights-file-not-weights" in cause_of(pointer)


async def test_the_error_pipeline_groups_by_a_teams_own_causes() -> None:
    own = load_causes(json.dumps({"causes": [
        {"name": "licence-server-down", "title": "the licence server does not answer",
         "patterns": [r"licen[cs]e server[^\n]{0,80}(?:not responding|unreachable|refused)"]}]}))
    handler = DistributedErrorHandler(causes=with_shipped(own))
    reports = [{"type": "RuntimeError", "message": "FLEXlm: licence server lic01.internal not responding (-96)"},
               {"type": "ConnectionError", "message": "license server 10.0.0.5:27000 unreachable after 3 tries"}]
    decisions = [await handler.handle_error(r, {"task_id": f"t{i}", "worker_id": "w1"}) for i, r in enumerate(reports)]
    assert decisions[0].pattern_id == decisions[1].pattern_id
    assert "licence-server-down" in handler.aggregator.pattern_template(decisions[0].pattern_id)
    # the shipped causes still apply, and a handler given none reads the shipped table alone
    full = {"type": "OSError", "message": "[Errno 28] No space left on device"}
    assert "disk-full" in handler.aggregator.pattern_template((await handler.handle_error(full, {})).pattern_id)
    plain = DistributedErrorHandler()
    assert "licence-server-down" not in plain.aggregator.pattern_template(
        (await plain.handle_error(reports[0], {})).pattern_id)


def test_no_regex_of_the_table_repeats_without_a_bound() -> None:
    """A hostile worker's message must not make a regex backtrack over it once per position: every
    repeat of a negated class or of \\s/\\S is bounded, except the one anchored guard that reads a
    pip output once for the signs of a network failure."""
    unbounded = re.compile(r"\[\^[^\]]*\][*+]|\\[sS][*+]")
    for cause in load_causes():
        for regex in cause.patterns:
            if regex.pattern.startswith("^(?!"):
                continue
            assert unbounded.search(regex.pattern) is None, (cause.name, regex.pattern)


def test_hostile_messages_are_read_once_and_in_bounded_time() -> None:
    table = shipped_causes()
    needles = sorted({n for _c, _r, found in table._regexes for n in (found or ())})
    started = time.process_time()
    for needle in needles:
        table.find((needle + " ") * (200_000 // (len(needle) + 1)))
    # hundreds of 200 kB messages, each the worst its needle can do: about a second on a slow
    # machine; a regex that backtracked per position took seconds for one of them
    assert time.process_time() - started < 30
    # past READ_CHARS from both ends, a cause named in the middle is not read
    middle = "x" * READ_CHARS + "\nOSError: [Errno 28] No space left on device\n" + "y" * READ_CHARS
    assert table.find(middle) is None
    assert table.find(middle[:READ_CHARS + 50]) is not None
