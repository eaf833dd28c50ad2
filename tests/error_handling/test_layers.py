"""Each classification layer on its own, and their order: pre-classified, user rules, code
tables, confident rules (types with known bases, errno, messages, exit status), the learned
layer with its floor, weak rules, unknown."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from error_handling.categories import ErrorCategory as C
from error_handling.classify import ClassificationRule, Classifier
from error_handling.codes import CodeTable, CodeTables
from error_handling.features import concepts, features
from error_handling.learned import LinearModel, shipped_model
from error_handling.train_model import train
from error_handling.type_knowledge import known_bases


# -- code tables ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, category, code", [
    ("[ 812.3] NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.", C.HARDWARE_AVAILABILITY_ERROR, "nvidia-xid:79"),
    ("NVRM: Xid (PCI:0000:3b:00): 13, pid=991, name=python, Graphics Exception", C.WORKER_CRASH_ERROR, "nvidia-xid:13"),
    ("NVRM: Xid (PCI:0000:3b:00): 92, pid=1, name=x, High single-bit ECC error rate", C.HARDWARE_PERFORMANCE_ERROR, "nvidia-xid:92"),
    # a row remapped, pending a reset: the GPU works with degraded memory; a remapper out of rows does not
    ("NVRM: Xid (PCI:0000:3b:00): 63, pid=1, name=x, Row Remapper: New row (0x0a3f) marked for remapping, reset gpu to "
     "activate.", C.HARDWARE_PERFORMANCE_ERROR, "nvidia-xid:63"),
    ("NVRM: Xid (PCI:0000:04:02.0): 64, pid='<unknown>', name=<unknown>, Row Remapper Error: (0xa3f4) - All reserved "
     "rows for bank are remapped", C.HARDWARE_AVAILABILITY_ERROR, "nvidia-xid:64"),
    ("GPU 3: Error: DCGM_FR_NVLINK_DOWN: link 2 is down", C.HARDWARE_AVAILABILITY_ERROR, "dcgm:DCGM_FR_NVLINK_DOWN"),
    ("cupy_backends.cuda.api.runtime.CUDARuntimeError: cudaErrorInsufficientDriver", C.TEST_DEPENDENCY_ERROR, "cuda-runtime:cudaErrorInsufficientDriver"),
    ("operation cuInit(0) failed: CUDA_ERROR_NO_DEVICE", C.HARDWARE_AVAILABILITY_ERROR, "cuda-driver:CUDA_ERROR_NO_DEVICE"),
    ("[46] Call to cuDevicePrimaryCtxRetain results in CUDA_ERROR_DEVICES_UNAVAILABLE", C.HARDWARE_AVAILABILITY_ERROR,
     "cuda-driver:CUDA_ERROR_DEVICES_UNAVAILABLE"),
    ("cupy_backends.cuda.libs.cusolver.CUSOLVER_STATUS_INVALID_VALUE", C.TEST_EXECUTION_ERROR,
     "gpu-libraries:CUSOLVER_STATUS_INVALID_VALUE"),
    ("RuntimeError: HIP error: hipErrorOutOfMemory", C.RESOURCE_ALLOCATION_ERROR, "hip-runtime:hipErrorOutOfMemory"),
    # NCCL's own verdict that the job uses it wrongly (two ranks on one GPU): the job's setup, as the corpus and the
    # check sets both label it
    ("torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, invalid usage (run with "
     "NCCL_DEBUG=WARN for details), NCCL version 2.20.5\nncclInvalidUsage: This usually reflects invalid usage of NCCL "
     "library.\nLast error:\nDuplicate GPU detected : rank 1 and rank 0 both on CUDA device 41000",
     C.TEST_CONFIGURATION_ERROR, "gpu-libraries:ncclInvalidUsage"),
    ("status = StatusCode.DEADLINE_EXCEEDED", C.NETWORK_TIMEOUT_ERROR, "grpc-status:DEADLINE_EXCEEDED"),
    ("Process finished with exit code -1073741819 (0xC0000005)", C.WORKER_CRASH_ERROR, "windows-ntstatus:C0000005"),
    ("exited with code 0xc000001d", C.HARDWARE_CAPABILITY_ERROR, "windows-ntstatus:c000001d"),
    ("[WinError 10061] No connection could be made because the target machine actively refused it",
     C.NETWORK_CONNECTION_ERROR, "windows-error:10061"),
    ("[WinError 32] The process cannot access the file because it is being used by another process",
     C.RESOURCE_CLEANUP_ERROR, "windows-error:32"),
])
def test_code_tables_decide_by_the_code(clf: Classifier, text: str, category: C, code: str) -> None:
    assert clf.explain({"type": "", "message": text}) == (category, f"code:{code}")


def test_a_signal_named_in_the_text_is_read_after_the_type() -> None:
    # a timeout whose process group got SIGTERM is a timeout: signals in text are message rules,
    # which come after specific types (a code table would have come before them)
    clf = Classifier()
    report = {"type": "TimeoutError", "message": "chaos hang exceeded its timeout of 1.5 s; process group killed "
                                                 "with SIGTERM", "signal": 15}
    assert clf.classify(report) is C.NETWORK_TIMEOUT_ERROR
    assert clf.classify({"type": "", "message": "traceback : Signal 9 (SIGKILL) received by PID 4242"}) \
        is C.RESOURCE_ALLOCATION_ERROR
    assert clf.classify({"type": "", "message": "mpirun noticed that process rank 3 exited on signal 11 "
                                                "(Segmentation fault)."}) is C.WORKER_CRASH_ERROR


def test_a_windows_exit_status_alone_is_read_from_the_code_table(clf: Classifier) -> None:
    # no text names the code: the exit status field does (signed or unsigned, as tools print it)
    for status in (-1073741819, 3221225477):
        assert clf.explain({"type": "", "message": "", "exit_code": status}) == \
            (C.WORKER_CRASH_ERROR, f"code:windows-ntstatus:{status}")
    assert clf.explain({"type": "", "message": "", "exit_code": -1073741795})[0] is C.HARDWARE_CAPABILITY_ERROR


@pytest.mark.parametrize("type_name, category", [
    ("ray.exceptions.RayTaskError(KeyError)", C.TEST_EXECUTION_ERROR),
    ("ray.exceptions.RayTaskError(ConnectionRefusedError)", C.NETWORK_CONNECTION_ERROR),
    ("ray.exceptions.RayTaskError(torch.OutOfMemoryError)", C.RESOURCE_ALLOCATION_ERROR),
])
def test_a_wrapped_cause_is_read_as_the_type_it_is_derived_from(clf: Classifier, type_name: str,
                                                                   category: C) -> None:
    # Ray's RayTaskError(Cause) derives from both: the cause decides where the wrapper says nothing
    assert clf.classify({"type": type_name, "message": "ray::evaluate_split() (pid=90122, ip=10.0.1.8)"}) == category


def test_a_code_the_table_does_not_know_decides_nothing() -> None:
    tables = CodeTables.shipped()
    assert tables.decide("NVRM: Xid (PCI:0000:3b:00): 999, pid=1") is None
    assert tables.decide("nothing coded here") is None


def test_code_table_validation() -> None:
    with pytest.raises(ValueError, match="captures no code"):
        CodeTable("bad", [r"Xid \d+"], {"1": "unknown_error"})
    with pytest.raises(ValueError, match="needs patterns and codes"):
        CodeTable("empty", [], {})
    table = CodeTable("t", [r"E(\d+)"], {"7": "worker_crash_error"}, needles=["E"])
    assert table.find("code E7 here") == ("7", "worker_crash_error")
    assert table.find("code e7 here") is None  # the needle is absent: skipped without a search


def test_fallback_codes_yield_to_the_message_and_decide_when_it_says_nothing(clf: Classifier) -> None:
    table = CodeTable("t", [r"STATUS=([A-Z]+)"], {"GONE": "hardware_availability_error"},
                      fallback={"FAILED": "unknown_error"})
    assert table.find("STATUS=FAILED") is None  # a fallback code is no decisive code
    assert table.find("STATUS=FAILED", fallback=True) == ("FAILED", "unknown_error")
    with pytest.raises(ValueError, match="both decisive and fallback"):
        CodeTable("t", [r"(X)"], {"X": "unknown_error"}, fallback={"X": "unknown_error"})
    # onnxruntime's catch-all status: the arena's allocation failure beside it decides
    arena = ("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running MatMul node. "
             "Status Message: bfc_arena.cc:376 Failed to allocate memory for requested buffer of size 3221225472")
    assert clf.classify({"type": "RuntimeException", "message": arena}) is C.RESOURCE_ALLOCATION_ERROR
    # and with nothing else to go on, the fallback code still does
    bare = "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Add node."
    assert clf.explain({"type": "", "message": bare}) == (C.TEST_EXECUTION_ERROR,
                                                          "code:onnxruntime-status:RUNTIME_EXCEPTION")


@pytest.mark.parametrize("message, category", [
    ("CUDA error: operation not supported", C.HARDWARE_CAPABILITY_ERROR),
    ("CUDA failure 999: too many resources requested for launch ; GPU=0 ; hostname=a", C.HARDWARE_CAPABILITY_ERROR),
    ("cudaMalloc failed: mapping of buffer object failed", C.RESOURCE_ALLOCATION_ERROR),
    ("CUDA error: PTX JIT compiler library not found", C.TEST_DEPENDENCY_ERROR),
])
def test_cuda_error_strings_are_a_code_table(clf: Classifier, message: str, category: C) -> None:
    got, rule = clf.explain({"type": "RuntimeError", "message": message})
    assert (got, rule.split(":")[:2]) == (category, ["code", "cuda-error-strings"])


def test_constant_status_codes_are_also_read_as_words(clf: Classifier) -> None:
    # no rule names GEARMAN_JOB_QUEUE_FULL; "job queue full" is what the overload rules read
    got, rule = clf.explain({"type": "", "message": "gearman: gearman_client_run_tasks : GEARMAN_JOB_QUEUE_FULL"})
    assert got is C.WORKER_OVERLOAD_ERROR and rule is not None and not rule.startswith("learned")
    assert clf.explain({"type": "", "message": "flush(GEARMAN_COULD_NOT_CONNECT) localhost:4730"})[0] \
        is C.NETWORK_CONNECTION_ERROR


def test_a_launchers_negative_return_code_is_the_signal_that_killed_the_child(clf: Classifier) -> None:
    line = "[launch.py:325:sigkill_handler] ['python3', '-u', 'train.py'] exits with return code = -{}"
    assert clf.explain({"type": "", "message": line.format(6), "exit_code": 250}) \
        == (C.WORKER_CRASH_ERROR, "signal-crash")
    assert clf.classify({"type": "", "message": line.format(9)}) is C.RESOURCE_ALLOCATION_ERROR  # SIGKILL
    # a plain exit status says nothing of a signal
    assert clf.classify({"type": "", "message": "Process exits with return code = 1"}) is C.UNKNOWN_ERROR


def test_every_shipped_code_maps_to_a_built_in_category() -> None:
    assert CodeTables.shipped().categories() <= {c.value for c in C}


# -- exception types and their known bases ----------------------------------------------------

def test_known_bases_nearest_first() -> None:
    assert known_bases("requests.exceptions.ConnectTimeout")[:2] == (
        "requests.exceptions.ConnectionError", "requests.exceptions.Timeout")
    assert known_bases("no.such.Type") == ()


@pytest.mark.parametrize("type_, category", [
    ("requests.exceptions.ReadTimeout", C.NETWORK_TIMEOUT_ERROR),          # base requests.exceptions.Timeout
    ("httpx.PoolTimeout", C.NETWORK_TIMEOUT_ERROR),                         # base httpx.TimeoutException
    ("httpx.ReadError", C.NETWORK_CONNECTION_ERROR),                        # base httpx.NetworkError
    ("redis.exceptions.BusyLoadingError", C.WORKER_OVERLOAD_ERROR),         # its own rule before its base's
    ("click.exceptions.MissingParameter", C.TEST_CONFIGURATION_ERROR),      # base click UsageError
    ("omegaconf.errors.ConfigKeyError", C.TEST_CONFIGURATION_ERROR),
    ("psutil.ZombieProcess", C.RESOURCE_CLEANUP_ERROR),                     # base psutil.NoSuchProcess
])
def test_report_types_inherit_their_bases_rules(clf: Classifier, type_: str, category: C) -> None:
    # a message no rule reads: only the type (through its known bases) can decide
    assert clf.classify({"type": type_, "message": "opaque detail 42"}) is category


# -- dtf's own reports: right by construction ---------------------------------------------------

def test_every_dtf_type_classifies_as_its_rule_says(clf: Classifier) -> None:
    data = json.loads(resources.files("error_handling.rules").joinpath("dtf.json").read_text())
    checked = 0
    for rule in data["rules"]:
        if rule.get("context") or rule.get("message"):
            continue
        for type_ in rule["types"]:
            got = clf.explain({"type": type_, "message": "whatever the wording is"})
            assert got == (C(rule["category"]), rule["name"]), type_
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("report, category", [
    ({"type": "RuntimeError", "message": "No CUDA GPUs are available"}, C.HARDWARE_AVAILABILITY_ERROR),
    ({"type": "TaskRejected", "message": "Worker worker-gpu-02 at capacity: 4/4 concurrent tasks running"}, C.WORKER_OVERLOAD_ERROR),
    ({"type": "", "message": "System load too high: loadavg 47.92 (1m) on 16 CPUs exceeds limit 24.0"}, C.WORKER_OVERLOAD_ERROR),
    ({"type": "DependencyFailed", "message": "Dependency task build-wheels-cu121 failed"}, C.TEST_DEPENDENCY_ERROR),
    ({"type": "RuntimeError", "message": "Bfloat16 is only supported on GPUs with compute capability of at least 8.0"}, C.HARDWARE_CAPABILITY_ERROR),
    ({"type": "RuntimeError", "message": "FlashAttention only supports Ampere GPUs or newer."}, C.HARDWARE_CAPABILITY_ERROR),
    ({"type": "", "message": "Unsupported feature: shader-f16"}, C.HARDWARE_CAPABILITY_ERROR),
])
def test_the_issues_examples(clf: Classifier, report: dict, category: C) -> None:
    assert clf.classify(report) is category


# -- the learned layer -------------------------------------------------------------------------

TOY = ([{"type": "FooMemoryError", "message": f"pool {i} exhausted allocating buffer", "category": "resource_allocation_error",
         "pattern": f"mem{i % 3}", "library": f"lib{i % 4}"} for i in range(12)]
       + [{"type": "BarLinkError", "message": f"peer {i} refused the link", "category": "network_connection_error",
           "pattern": f"net{i % 3}", "library": f"lib{i % 4}"} for i in range(12)])


def test_training_learns_words_and_a_model_round_trips(tmp_path) -> None:
    model = train(TOY, floor=0.6)
    assert model.classes == ("network_connection_error", "resource_allocation_error")
    assert model.predict(features("QuxError", "buffer pool exhausted", None, None, None, None))[0] == \
        "resource_allocation_error"
    assert model.decide(features("", "the peer refused", None, None, None, None))[0] == "network_connection_error"
    path = tmp_path / "m.bin"
    model.save(path)
    again = LinearModel.load(path)
    assert again.classes == model.classes and again.floor == 0.6
    probe = features("", "peer refused buffer", None, None, None, None)
    assert again.probabilities(probe) == pytest.approx(model.probabilities(probe), abs=1e-3)


def test_the_floor_is_where_answering_stops_beating_abstaining() -> None:
    from error_handling.train_model import best_floor
    # (p, answer right, label unknown): answering down to 0.6 gains; at 0.55 the label is
    # unknown_error and the answer wrong, and below that answers are wrong as often as not
    scored = [(0.99, True, False), (0.9, True, False), (0.8, False, False), (0.7, True, False),
              (0.6, True, False), (0.55, False, True), (0.52, True, False), (0.51, False, True)]
    assert best_floor(scored) == 0.6
    assert best_floor([(0.9, False, True), (0.8, False, True)]) == 1.0  # abstaining is always better
    assert best_floor([]) == 1.0
    # too few libraries to hold any out: the default floor, sure at it too
    tiny = train([{"category": "test_execution_error", "message": "boom", "type": "", "library": "x"},
                  {"category": "worker_crash_error", "message": "segv", "type": "", "library": "x"}])
    assert (tiny.floor, tiny.sure) == (0.5, 0.5)


def test_a_wrong_answer_can_cost_more_than_abstaining() -> None:
    from error_handling.train_model import best_doubt, best_floor
    # answering below 0.9 is right once and wrong twice: worth it at no cost, not when a wrong answer costs
    scored = [(0.9, True, False), (0.7, False, False), (0.6, False, False), (0.5, True, False)]
    assert best_floor(scored) == 0.5
    assert best_floor(scored, misroute=0.5) == 0.9
    # (probability of unknown_error, answer right, label unknown_error) of the answers the floor lets through:
    # withholding from 0.3 up gains three unknowns for one right answer lost
    answered = [(0.4, False, True), (0.3, False, True), (0.3, False, True), (0.3, True, False), (0.1, True, False),
                (0.05, False, False), (0.05, False, False)]
    assert best_doubt(answered) == 0.3
    assert best_doubt(answered, misroute=1.0) == 0.05  # the wrong answers at 0.05 are worth withholding too
    assert best_doubt([(0.2, True, False)]) == 1.0 and best_doubt([]) == 1.0


def test_doubt_withholds_an_answer_when_unknown_error_is_close_behind() -> None:
    # p(test_execution | "halting") = 0.73, p(unknown) = 0.27
    model = LinearModel(["test_execution_error", "unknown_error", "worker_crash_error"], [0.0, 0.0, -9.0],
                        {"w=halting": [(0, 2.0), (1, 1.0)]}, floor=0.5, doubt=0.2)
    clf = Classifier(rules=[], model=model)
    assert clf.explain({"type": "", "message": "halting"}) == (C.UNKNOWN_ERROR, None)
    assert model.assess(["w=halting"]) == ("test_execution_error", pytest.approx(0.7310, abs=1e-3),
                                           pytest.approx(0.2689, abs=1e-3))
    trusting = LinearModel.from_dict(dict(model.to_dict(), doubt=0.3))
    assert Classifier(rules=[], model=trusting).explain({"type": "", "message": "halting"}) == \
        (C.TEST_EXECUTION_ERROR, "learned (0.73)")
    old = model.to_dict()
    del old["doubt"]  # a model file from before doubt: never withholds
    assert LinearModel.from_dict(old).doubt == 1.0
    with pytest.raises(ValueError, match="doubt"):
        LinearModel(["a"], [0.0], {}, doubt=0.0)


def test_calibration_scores_only_what_the_rules_leave_to_the_model() -> None:
    clf = Classifier(model=False)
    assert clf.decided_by_rules({"type": "", "message": "CUDA out of memory. Tried to allocate 2.00 GiB"})
    assert not clf.decided_by_rules({"type": "", "message": "the frobnicator gave up"})


def test_the_floor_turns_unsure_answers_into_none_and_unknown() -> None:
    model = LinearModel(["a", "b"], [0.0, 0.0], {"w=x": [(0, 3.0)], "w=y": [(1, 3.0)]}, floor=0.9)
    assert model.decide(["w=x"]) == ("a", pytest.approx(0.9526, abs=1e-3))
    assert model.decide(["w=x", "w=y"]) is None            # 50/50: below the floor
    assert model.decide(["w=unseen"]) is None
    toy = train(TOY, floor=0.99)
    clf = Classifier(rules=[], model=toy)
    assert clf.classify({"type": "", "message": "peer refused buffer"}) is C.UNKNOWN_ERROR
    assert clf.explain({"type": "", "message": "nothing in common"}) == (C.UNKNOWN_ERROR, None)


def test_an_unsure_answer_waits_for_the_fallback_rules_and_beats_unknown() -> None:
    # p(hardware_performance | xylo) = 0.95: sure; with "halfway" too, 0.73: between floor and sure
    model = LinearModel(["hardware_performance_error", "test_execution_error"], [0.0, 0.0],
                        {"w=xylo": [(0, 3.0)], "w=halfway": [(1, 2.0)]}, floor=0.6, sure=0.9)
    with pytest.raises(ValueError, match="sure"):
        LinearModel(["a"], [0.0], {}, floor=0.6, sure=0.5)
    clf = Classifier(rules=[], model=model)
    sure_report, unsure_report = {"type": "", "message": "xylo"}, {"type": "", "message": "xylo halfway"}
    assert clf.explain(sure_report) == (C.HARDWARE_PERFORMANCE_ERROR, "learned (0.95)")
    assert clf.explain(unsure_report) == (C.HARDWARE_PERFORMANCE_ERROR, "learned (0.73)")  # nothing else knows
    clf.add_rule({"name": "late", "category": "worker_crash_error", "message": "xylo"}, first=False)
    assert clf.explain(unsure_report) == (C.WORKER_CRASH_ERROR, "late")  # the user's fallback goes first
    assert clf.explain(sure_report) == (C.HARDWARE_PERFORMANCE_ERROR, "learned (0.95)")  # a sure answer before it
    assert LinearModel.from_dict(model.to_dict()).sure == 0.9


def test_the_models_unknown_is_no_decision() -> None:
    sure_unknown = LinearModel(["unknown_error", "test_execution_error"], [0.0, 0.0], {"w=nothing": [(0, 9.0)]}, floor=0.5)
    clf = Classifier(rules=[], model=sure_unknown)
    assert clf.explain({"type": "", "message": "nothing"}) == (C.UNKNOWN_ERROR, None)
    # a fallback rule (consulted after the model) still decides what the model calls unknown
    clf.add_rule({"name": "late", "category": "worker_crash_error", "message": "nothing"}, first=False)
    assert clf.explain({"type": "", "message": "nothing"}) == (C.WORKER_CRASH_ERROR, "late")


def test_a_model_file_reads_back_the_same_answers_and_older_json_files_still_read(tmp_path) -> None:
    model = LinearModel(["a", "b", "c"], [0.1, 0.0, -0.2],
                        {"w=zeta": [(0, 1.25)], "w=alpha": [(1, -0.5), (2, 2.0)], "w=mid": [(2, 0.0001)]},
                        floor=0.4, sure=0.7, doubt=0.9, meta={"entries": 3})
    model.save(tmp_path / "m.bin")
    again = LinearModel.load(tmp_path / "m.bin")
    assert (again.classes, again.bias, again.floor, again.sure, again.doubt, again.meta) == \
        (model.classes, model.bias, 0.4, 0.7, 0.9, {"entries": 3})
    # the first and the last row of the file, one feature twice, unknown features; rows made as asked
    for probe in (["w=alpha"], ["w=zeta", "w=nope"], ["w=mid", "w=alpha", "w=alpha"], [], ["w=nope"]):
        assert again.probabilities(probe) == model.probabilities(probe)
    assert again.rows == model.rows and again.to_bytes() == model.to_bytes()
    # a model file in the dict form (JSON), as dtf wrote before the packed file
    (tmp_path / "m.bin").write_text(json.dumps(model.to_dict()))
    assert LinearModel.load(tmp_path / "m.bin").rows == model.rows


def test_bad_model_files_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="format"):
        LinearModel.from_dict({"classes": ["a"], "bias": [0.0], "weights": {}})
    with pytest.raises(ValueError, match="out of range"):
        LinearModel(["a"], [0.0], {"w=x": [(3, 1.0)]})
    with pytest.raises(ValueError, match="floor"):
        LinearModel(["a"], [0.0], {}, floor=1.5)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read model"):
        LinearModel.load(broken)
    good = LinearModel(["a", "b"], [0.0, 0.0], {"w=x": [(0, 1.0)], "w=y": [(1, 1.0)]}).to_bytes()
    for name, data, why in (("other.bin", b"PK\x03\x04 a zip", "not a dtf linear model"),
                            ("short.bin", good[:-4], "one per class"),
                            ("header.bin", good[:40], "cannot read model"),
                            ("missing.bin", None, "cannot read model")):
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=why):
            LinearModel.load(tmp_path / name)
    with pytest.raises(ValueError, match="too large"):
        LinearModel(["a"], [0.0], {"w=x": [(0, 1e6)]}).to_bytes()


def test_the_shipped_model_loads_with_a_calibrated_floor() -> None:
    model = shipped_model()
    assert model is not None
    assert set(model.classes) <= {c.value for c in C} and len(model.classes) >= 13
    assert 0.5 <= model.floor <= 0.95
    assert model.meta["entries"] >= 2000 and model.meta["libraries"] >= 60


def test_the_model_answers_only_where_no_confident_rule_does() -> None:
    # a model that always says overload, with certainty
    always = LinearModel(["worker_overload_error"], [0.0], {}, floor=0.5)
    clf = Classifier(model=always)
    # confident rules and code tables first
    assert clf.classify({"type": "ConnectionRefusedError", "message": "[Errno 111] Connection refused"}) \
        is C.NETWORK_CONNECTION_ERROR
    assert clf.classify({"type": "", "message": "NVRM: Xid (PCI:0000:01:00): 79, GPU has fallen off the bus."}) \
        is C.HARDWARE_AVAILABILITY_ERROR
    # a generic type alone is a weak rule: the model is asked before it
    category, rule = clf.explain({"type": "ValueError", "message": "opaque detail"})
    assert (category, rule.split(" ")[0]) == (C.WORKER_OVERLOAD_ERROR, "learned")
    # without a model the weak rule decides
    assert Classifier(model=False).explain({"type": "ValueError", "message": "opaque detail"})[1] == "test-raised"


def test_user_rules_come_before_code_tables_and_fallbacks_after_the_model() -> None:
    clf = Classifier()
    xid = {"type": "", "message": "NVRM: Xid (PCI:0000:01:00): 79, GPU has fallen off the bus."}
    clf.add_rule(ClassificationRule(name="site-xid", category="worker_crash_error", message=r"Xid"))
    assert clf.explain(xid) == (C.WORKER_CRASH_ERROR, "site-xid")
    always = Classifier(model=LinearModel(["worker_overload_error"], [0.0], {}, floor=0.5))
    always.add_rule({"name": "late", "category": "test_execution_error", "message": "opaque"}, first=False)
    assert always.explain({"type": "", "message": "opaque detail"})[0] is C.WORKER_OVERLOAD_ERROR
    never = Classifier(model=LinearModel(["worker_overload_error", "unknown_error"], [0.0, 0.0], {}, floor=0.9))
    never.add_rule({"name": "late", "category": "test_execution_error", "message": "opaque"}, first=False)
    assert never.explain({"type": "", "message": "opaque detail"}) == (C.TEST_EXECUTION_ERROR, "late")


def test_features_split_names_and_know_concepts() -> None:
    found = features("torch.cuda.OutOfMemoryError", "cudaErrorMemoryAllocation while allocating", None, -9, None,
                     {"stage": "call", "task_type": "pytest"})
    for f in ("T=OutOfMemoryError", "M=torch", "t=memory", "tc=memory", "w=allocating", "C=memory",
              "c=cudaErrorMemoryAllocation", "x=-9", "sig=9", "s=call", "k=pytest"):
        assert f in found, f
    assert "memory" in concepts("allocation") and concepts("zzz") == ()


def test_the_trainers_misroute_cost_is_checked(tmp_path) -> None:
    from error_handling.train_model import main
    with pytest.raises(SystemExit) as exited:
        main(["--misroute-cost", "-1", "--out", str(tmp_path / "m.bin")])
    assert exited.value.code == 2 and not (tmp_path / "m.bin").exists()


def test_the_trainer_reads_check_sets_and_refuses_a_missing_directory(tmp_path) -> None:
    from error_handling.train_model import check_set_entries, main

    (tmp_path / "a.jsonl").write_text('{"category": "unknown_error", "message": "x", "library": "t"}\n\n'
                                      '{"category": "unknown_error", "message": "y", "library": "t", "id": "kept"}\n')
    assert [e["id"] for e in check_set_entries(tmp_path)] == ["a-1", "kept"]
    with pytest.raises(SystemExit) as exited:
        main(["--check-sets", str(tmp_path / "none"), "--out", str(tmp_path / "m.bin")])
    assert exited.value.code == 2 and not (tmp_path / "m.bin").exists()


def test_a_weak_message_rule_waits_for_a_sure_learned_answer() -> None:
    # the same model as above: "xylo" is sure (0.95), "xylo halfway" unsure (0.73)
    model = LinearModel(["hardware_performance_error", "test_execution_error"], [0.0, 0.0],
                        {"w=xylo": [(0, 3.0)], "w=halfway": [(1, 2.0)]}, floor=0.6, sure=0.9)
    summary = ClassificationRule.from_mapping({"name": "summary", "category": "test_execution_error", "weak": True,
                                               "message": r"\bxylo\b"})
    clf = Classifier(rules=[summary], model=model)
    assert clf.explain({"type": "", "message": "xylo"}) == (C.HARDWARE_PERFORMANCE_ERROR, "learned (0.95)")
    assert clf.explain({"type": "", "message": "xylo halfway"}) == (C.TEST_EXECUTION_ERROR, "summary")
    assert Classifier(rules=[summary], model=False).explain({"type": "", "message": "xylo"}) == \
        (C.TEST_EXECUTION_ERROR, "summary")
    confident = ClassificationRule.from_mapping({"name": "summary", "category": "test_execution_error",
                                                 "message": r"\bxylo\b"})
    assert Classifier(rules=[confident], model=model).explain({"type": "", "message": "xylo"}) == \
        (C.TEST_EXECUTION_ERROR, "summary")  # the same rule, not weak, decides before the model
