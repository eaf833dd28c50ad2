"""The rules read from the pattern-labelled check sets (tests/data/holdout/grouping-batch71-294), each
checked on wording from another tool than the one it was read from, with the rule that must decide."""
from __future__ import annotations

import pytest

from error_handling.categories import ErrorCategory as C
from error_handling.classify import Classifier, default_rules
from error_handling.rule import Tier


@pytest.mark.parametrize("message, category, rule", [
    ("Error: NoCredentialProviders: no valid providers in chain", C.TEST_CONFIGURATION_ERROR, "k-credentials-missing"),
    ("./run.sh: line 3: DATA_DIR: unbound variable", C.TEST_CONFIGURATION_ERROR, "k-credentials-missing"),
    ("nox > Session lint-3.9 skipped: Python interpreter 3.9 not found.", C.TEST_DEPENDENCY_ERROR,
     "k-toolchain-missing"),
    ("[c10d] The server socket has failed to bind to 10.1.2.3:29500 (errno: 99 - Cannot assign requested address).",
     C.TEST_CONFIGURATION_ERROR, "k-bind-foreign-address"),
    ("global loadsave.cpp:241 imread_('/d/x.png'): can't open/read file: check file path/integrity",
     C.TEST_CONFIGURATION_ERROR, "k-input-path-unreadable"),
    ("[rank0]:[E1 ProcessGroupNCCL.cpp:616] Watchdog caught collective operation timeout: WorkNCCL(OpType=ALLREDUCE)\n"
     "Worker proc VllmWorker-3 died unexpectedly, shutting down executor.", C.NETWORK_TIMEOUT_ERROR, "nccl-timeout"),
    ("FAILED tests/test_q.py::test_acc - AssertionError: accuracy drop 2.1% exceeds budget 1.0%",
     C.TEST_EXECUTION_ERROR, "k-quality-budget"),
    ("WARN Failed to heartbeat: Post \"https://ci.example.org/api\": dial tcp 10.0.0.1:443: connect: connection refused",
     C.WORKER_DISCONNECTION_ERROR, "k-heartbeat-lost"),
    ("grpc: Failed to connect to coordinator at 10.1.1.1:8476: DEADLINE_EXCEEDED", C.NETWORK_TIMEOUT_ERROR,
     "k-connect-deadline"),
    ("ssh: connect to host node17 port 22: No route to host", C.NETWORK_CONNECTION_ERROR, "k-no-route"),
    ("vkCreateInstance failed with ERROR_INCOMPATIBLE_DRIVER", C.HARDWARE_AVAILABILITY_ERROR, "k-vulkan-no-driver"),
    ("The file lock '/srv/cache/x.lock' could not be acquired.", C.RESOURCE_CLEANUP_ERROR, "k-file-lock-held"),
    ("panic: runtime error: invalid memory address or nil pointer dereference", C.WORKER_CRASH_ERROR,
     "k-go-panic"),
    ("ERROR: failed to solve: failed to compute cache key: \"/app/req.txt\": not found", C.TEST_CONFIGURATION_ERROR,
     "k-build-context-missing"),
    ("ERROR: failed to solve: failed to compute cache key: write /var/lib/docker/overlay2/x/diff: no space left on device",
     C.RESOURCE_ALLOCATION_ERROR, "k-memory-exhausted"),
    ("ERROR 1045 (28000): Access denied for user 'ci'@'10.0.0.4' (using password: YES)", C.TEST_CONFIGURATION_ERROR,
     "k-credentials-refused"),
    ("psycopg2.OperationalError: connection to server at \"db\" (10.0.0.9), port 5432 failed: FATAL:  password "
     "authentication failed for user \"ci\"", C.TEST_CONFIGURATION_ERROR, "k-credentials-refused"),
    ("[WARN ][o.e.c.r.a.DiskThresholdMonitor] high disk watermark [90%] exceeded on [node-1][/data] free: 2gb",
     C.RESOURCE_ALLOCATION_ERROR, "k-disk-watermark"),
    ("org.elasticsearch.common.breaker.CircuitBreakingException: [parent] Data too large, data for [indices:data/write]",
     C.RESOURCE_ALLOCATION_ERROR, "k-search-circuit-breaker"),
    ("[bench:nightly] Invalid snapshot name [nightly], snapshot with the same name already exists",
     C.RESOURCE_CLEANUP_ERROR, "k-search-leftover-index"),
    ("E   KeyError: 'DATABASE_URL'", C.TEST_CONFIGURATION_ERROR, "k-credentials-missing"),
    ("deploy.sh: line 4: REGISTRY_HOST: parameter null or not set", C.TEST_CONFIGURATION_ERROR,
     "k-credentials-missing"),
    ("FATAL:  configuration file \"/etc/postgresql/16/main/postgresql.conf\" contains errors",
     C.TEST_CONFIGURATION_ERROR, "k-server-settings-refused"),
    ("error: none of the selected packages contains these features: simd", C.TEST_CONFIGURATION_ERROR,
     "k-server-settings-refused"),
    ("error: 2 dependencies of derivation '/nix/store/abc-app-1.0.drv' failed to build", C.TEST_DEPENDENCY_ERROR,
     "k-nix-dependency-failed"),
    ("src/x.cc:12:3: internal compiler error: Segmentation fault\nPlease submit a full bug report",
     C.WORKER_CRASH_ERROR, "k-compiler-panic"),
    ("Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
     C.TEST_CONFIGURATION_ERROR, "k-access-or-target-wrong"),
    ("The model's max seq len (8192) is larger than the maximum number of tokens that can be stored in KV cache (4096).",
     C.RESOURCE_ALLOCATION_ERROR, "k-kv-cache-too-small"),
    ("ProcessGroupNCCL is only supported with GPUs, no GPUs found!", C.TEST_CONFIGURATION_ERROR,
     "k-job-settings-refused"),
    ("DataLoader worker (pid 4411) is killed by signal: Killed.", C.RESOURCE_ALLOCATION_ERROR,
     "k-loader-worker-killed"),
    ("x509: certificate has expired or is not yet valid: current time 2025-01-02 is after 2024-12-31",
     C.NETWORK_CONNECTION_ERROR, "k-cert-expired"),
    ("[E ProcessGroupGloo.cpp:144] Gloo connectFullMesh failed with [pair.cc:144] no error", C.NETWORK_CONNECTION_ERROR,
     "k-gloo-mesh"),
    ("fatal: detected dubious ownership in repository at '/srv/ci/src'", C.TEST_CONFIGURATION_ERROR,
     "k-runner-setup-refused"),
    ("xcrun: error: invalid active developer path (/Library/Developer/CommandLineTools)", C.TEST_DEPENDENCY_ERROR,
     "k-toolchain-missing-platform"),
    ("CMake Error: Error: generator : Ninja\nDoes not match the generator used previously: Unix Makefiles",
     C.RESOURCE_CLEANUP_ERROR, "k-stale-build-dir"),
    ("ray.exceptions.PendingCallsLimitExceeded: too many tasks queued on the actor", C.WORKER_OVERLOAD_ERROR,
     "k-caller-over-limit"),
    ("upload failed: ./a.tar to s3://b/a.tar Read timeout on endpoint URL: \"https://s3.example.org/b/a.tar\"",
     C.NETWORK_TIMEOUT_ERROR, "k-endpoint-timeout"),
    ("dist/App.app: errSecInternalComponent", C.TEST_CONFIGURATION_ERROR, "k-signing-setup"),
    ("ERROR: Another Bazel command is currently holding the output base lock at /srv/bazel/lock",
     C.RESOURCE_CLEANUP_ERROR, "k-build-server-held"),
    ("FAIL: MLIR :: Dialect/Linalg/tile.mlir (17 of 902)", C.TEST_EXECUTION_ERROR, "k-lit-fail"),
    ("Task exited with return code Negsignal.SIGSEGV", C.WORKER_CRASH_ERROR, "k-negsignal-crash"),
    ("torch._dynamo hit config.recompile_limit (8)", C.TEST_EXECUTION_ERROR, "k-recompile-limit"),
    ("ERROR YarnScheduler: Lost executor 3 on dn-2.internal: Container killed by YARN for exceeding physical memory "
     "limits. 9.1 GB of 9 GB physical memory used.", C.RESOURCE_ALLOCATION_ERROR, "k-yarn-memory-kill"),
    ("* daemon not running; starting now at tcp:5037\nADB server didn't ACK\n* failed to start daemon",
     C.RESOURCE_CLEANUP_ERROR, "k-stale-lock-holder"),
    ("E5RT: MILCompilerForANE error: failed to compile ANE model using ANEF.", C.HARDWARE_CAPABILITY_ERROR,
     "k-ane-compile"),
    ("I ThermalManagerService: Thermal status changed from 2 to 4 (CRITICAL)", C.HARDWARE_PERFORMANCE_ERROR,
     "k-device-throttled"),
    # read from sets 92 and 94 (workflow managers, robotics rigs); each worded here as another tool prints it
    ("ERROR ~ Unable to acquire lock on session with ID 5b1e6c2a-0f3d-4b8e-9a71-2c4d9e8f1a07", C.RESOURCE_CLEANUP_ERROR,
     "k-stale-lock-holder"),
    ('docker: Error response from daemon: Conflict. The container name "/pg-it" is already in use by container '
     '"9f2c". You have to remove (or rename) that container to be able to reuse that name.', C.RESOURCE_CLEANUP_ERROR,
     "k-stale-lock-holder"),
    ('{"level":"warn","worker":"ci-gpu-07","missed_heartbeats":4,"action":"requeue"}', C.WORKER_DISCONNECTION_ERROR,
     "k-heartbeat-lost"),
    ("botocore.exceptions.ClientError: An error occurred (ExpiredToken) when calling the PutObject operation: "
     "The provided token has expired.", C.TEST_CONFIGURATION_ERROR, "k-credentials-expired"),
    ("subprocess.CalledProcessError: Command '['./bench']' died with <Signals.SIGSEGV: 11>.\nreturn code -11",
     C.WORKER_CRASH_ERROR, "k-signal-exit-crash"),
    ("make[1]: *** [Makefile:12: gen] Error 127\nscript exited with code 127", C.TEST_DEPENDENCY_ERROR, "k-exit-127"),
    ("ROS_DISTRO was set to 'humble' before. Please make sure that the environment does not mix paths",
     C.TEST_CONFIGURATION_ERROR, "k-ros-setup"),
    ("ERROR: Cannot locate rosdep definition for [serial_driver]", C.TEST_DEPENDENCY_ERROR, "k-rosdep-missing"),
    ("Warn : UNEXPECTED idcode: 0x2ba01477\nError: expected 1 of 1: 0x6ba02477", C.TEST_CONFIGURATION_ERROR,
     "k-debug-target-mismatch"),
    ("esptool.py v4.7.0\nA fatal error occurred: Could not open /dev/ttyUSB0, the port doesn't exist\n"
     "serial.serialutil.SerialException: could not open port /dev/ttyUSB0: [Errno 13] Permission denied: "
     "'/dev/ttyUSB0'", C.TEST_CONFIGURATION_ERROR, "k-device-node-permission"),
    ("    JobID    State ExitCode\n   881.ba+ OUT_OF_ME+    0:125", C.RESOURCE_ALLOCATION_ERROR, "k-memory-exhausted"),
    # read from sets 191-198 (session 35); each worded here as another tool prints it
    ("[agent] lost connection with the controller: read tcp 10.0.0.7:51022->10.0.0.1:443: connect: no route to host",
     C.WORKER_DISCONNECTION_ERROR, "k-lost-contact"),
    ("WARNING: Updating job to coordinator... failed  job=41 status=dial tcp 10.0.0.2:443: i/o timeout",
     C.WORKER_DISCONNECTION_ERROR, "k-lost-contact"),
    ("stress: FAIL: [88] (415) <-- worker 90 got signal 7 (Bus error)\nburnin: FAIL memory (UE on DIMM B2), node drained",
     C.HARDWARE_AVAILABILITY_ERROR, "k-memory-uncorrectable"),
    ("modprobe: FATAL: Module habanalabs not found in directory /lib/modules/6.8.0-41-generic",
     C.HARDWARE_AVAILABILITY_ERROR, "k-adapter-missing"),
    # read from sets 199-206
    ("Agent win-build-04 was marked offline: Connection was broken: java.nio.channels.ClosedChannelException",
     C.WORKER_DISCONNECTION_ERROR, "k-lost-contact"),
    # read from sets 159-246 (session 36), each checked on another tool's wording
    ("Warning  FailedScheduling  default-scheduler  0/6 nodes are available: 6 Insufficient amd.com/gpu.",
     C.RESOURCE_ALLOCATION_ERROR, "k-quota"),
    ("[hil] ERROR rig 4: CAN interface board not responding (bus-off?)", C.HARDWARE_AVAILABILITY_ERROR,
     "k-no-device-found"),
    ("cx_Oracle.DatabaseError: ORA-00054: resource busy and acquire with NOWAIT specified or timeout expired",
     C.RESOURCE_CLEANUP_ERROR, "k-locked-by-another"),
    ("ImportError while importing test module: A module that was compiled using NumPy 1.x cannot be run in NumPy 2;"
     " AttributeError: _ARRAY_API not found", C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("ERROR tests/test_api.py - TypeError: Descriptors cannot be created directly.", C.TEST_DEPENDENCY_ERROR,
     "k-dependency-verdicts"),
    ("AttributeError: module 'jax.random' has no attribute 'KeyArray'", C.TEST_DEPENDENCY_ERROR,
     "k-dependency-verdicts"),
    ("filelock: Timed out waiting for a write lock after 600 seconds on /srv/cache/.index.lock",
     C.RESOURCE_CLEANUP_ERROR, "k-locked-by-another"),
    ("CypressError: Timed out retrying after 4000ms: `cy.type()` failed because this element is disabled.",
     C.TEST_EXECUTION_ERROR, "k-assertion-words"),
    # read from sets 255-262 (session 37)
    ("sbatch: error: Batch job submission failed: Requested node configuration is not available",
     C.RESOURCE_ALLOCATION_ERROR, "k-quota"),
    ("E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4121 (apt-get)",
     C.RESOURCE_CLEANUP_ERROR, "k-locked-by-another"),
    ("ERROR: Following operations are not supported by GPU delegate: CUSTOM TFLite_Detection_PostProcess\n"
     "ERROR: TfLiteGpuDelegate Init: delegate is not initialized", C.HARDWARE_CAPABILITY_ERROR, "k-arch-mismatch"),
    ("scontrol: error: Munge decode failed: Invalid credential", C.TEST_CONFIGURATION_ERROR, "k-credentials-refused"),
    ("remoteFailed: [Failure instance: Traceback (failure with no frames): "
     "<class 'twisted.spread.pb.PBConnectionLost'>: [Failure instance: Traceback: <class "
     "'twisted.internet.error.ConnectionLost'>", C.WORKER_DISCONNECTION_ERROR, "k-agent-channel-closed"),
    ("There are not enough slots available in the system to satisfy the 64\nslots that were requested by the "
     "application:", C.TEST_CONFIGURATION_ERROR, "k-config-verdicts"),
    # read from sets 263-269 (session 37)
    ("Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE: Package org.example.app signatures do not match the previously "
     "installed version; ignoring!]", C.RESOURCE_CLEANUP_ERROR, "k-left-on-target"),
    ("An error was encountered processing the command (domain=com.apple.CoreSimulator.SimError, code=405):\n"
     "Unable to boot device in current state: Booted", C.RESOURCE_CLEANUP_ERROR, "k-left-on-target"),
    ("serial.serialutil.SerialException: [Errno 2] could not open port /dev/ttyACM1: [Errno 2] No such file or "
     "directory: '/dev/ttyACM1'", C.HARDWARE_AVAILABILITY_ERROR, "k-device-node-missing"),
    ("smartcard.Exceptions.CardConnectionException: SCARD_E_NO_READERS_AVAILABLE", C.HARDWARE_AVAILABILITY_ERROR,
     "k-device-node-missing"),
    ("ERROR: Executable file /home/ci/jobs/run_sim.sh does not exist", C.TEST_CONFIGURATION_ERROR,
     "k-config-verdicts"),
    ("E0203 11:02:03.123 cuInit failed: CUDA_ERROR_INSUFFICIENT_DRIVER", C.TEST_DEPENDENCY_ERROR,
     "cuda-driver-too-old"),
    # read from sets 271-278 (session 37)
    ("Warning  FailedAttachVolume  4m  attachdetach-controller  Multi-Attach error for volume \"pvc-1\" Volume is "
     "already used by pod(s) web-0", C.RESOURCE_CLEANUP_ERROR, "k-left-on-target"),
    ("[TRT] [E] 1: [builderConfig.cpp::setFlag::42] INT8 is not supported natively on this platform",
     C.HARDWARE_CAPABILITY_ERROR, "k-hardware-lacks-feature"),
    ("pkcs11.exceptions.MechanismInvalid: C_SignInit returned CKR_MECHANISM_INVALID", C.HARDWARE_CAPABILITY_ERROR,
     "k-hardware-lacks-feature"),
    ("org.apache.spark.sql.AnalysisException: [PATH_NOT_FOUND] Path does not exist: file:/data/in/2024-02-30.",
     C.TEST_CONFIGURATION_ERROR, "k-config-verdicts"),
    # read from sets 279-286 (session 37)
    ("E   FileExistsError: [Errno 17] File exists: '/tmp/ci/render-out'", C.RESOURCE_CLEANUP_ERROR,
     "k-left-on-target"),
    ("/usr/lib/python3.12/shutil.py:725: in rmtree\n    _rmtree_safe_fd(fd, path, onexc)\n"
     "E   OSError: [Errno 39] Directory not empty: 'cache'", C.RESOURCE_CLEANUP_ERROR, "k-left-on-target"),
    ("OSError: [Errno 11] Unable to create file (unable to lock file, errno = 11, error message = 'Resource "
     "temporarily unavailable')", C.RESOURCE_CLEANUP_ERROR, "k-file-lock-held"),
    ("2024-09-15T18:08:12Z 0 [ERROR] [MY-012574] [InnoDB] Unable to lock ./ibdata1 error: 11",
     C.RESOURCE_CLEANUP_ERROR, "k-file-lock-held"),
])
def test_rules_read_from_the_check_sets(clf: Classifier, message: str, category: C, rule: str) -> None:
    assert clf.explain({"type": "", "message": message}) == (category, rule)


# read from sets 92-118 (session 33): a test runner's own summary says that tests failed, and nothing else. The rule
# is weak (after the learned layer): here it is checked alone, on other runners' wording
@pytest.mark.parametrize("message", [
    "67% tests passed, 1 tests failed out of 3\n\nThe following tests FAILED:\n\t  2 - solver_conv (Failed)",
    "[==========] 12 tests from 3 test suites ran. (40 ms total)\n[  PASSED  ] 11 tests.\n"
    "[  FAILED  ] 1 test, listed below:",
    "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
    "Finished in 1.2 seconds (files took 0.4 seconds to load)\n14 examples, 2 failures",
    "  31 passing (2s)\n  2 failing",
    "Failed!  - Failed:     1, Passed:    52, Skipped:     0, Total:    53 - Shop.Tests.dll (net8.0)",
])
def test_a_runner_summary_that_tests_failed(message: str) -> None:
    assert Classifier(model=False).explain({"type": "", "message": message}) == (
        C.TEST_EXECUTION_ERROR, "k-runner-summary-failed")


def test_what_made_the_tests_fail_decides_over_the_summary(clf: Classifier) -> None:
    assert clf.explain({"type": "", "message": "connect ECONNREFUSED 127.0.0.1:5432\n\n  0 passing (2s)\n  1 failing"}) == (
        C.NETWORK_CONNECTION_ERROR, "errno-connection")


@pytest.mark.parametrize("message", [
    "100% tests passed, 0 tests failed out of 12",
    "98% tests passed, 1 tests failed out of 48\n\nThe following tests FAILED:\n\t 27 - seg_roundtrip (OTHER_FAULT)\n"
    "Errors while running CTest",  # CTest's test crashed: not the test's verdict
    "test result: ok. 88 passed; 0 failed; 0 ignored",
    "[  PASSED  ] 12 tests.",
    "14 examples, 0 failures",
    "  31 passing (2s)\n  0 failing",
    "Ran 7 tests in 0.031s\n\nOK",
])
def test_a_runner_summary_without_failures_is_no_verdict(clf: Classifier, message: str) -> None:
    assert clf.explain({"type": "", "message": message})[1] != "k-runner-summary-failed"


@pytest.mark.parametrize("message, not_category", [
    # curl retrying its own request is no service pushing back
    ("curl: (7) Failed to connect to mirror.example.org port 443: Connection refused\n"
     "Warning: Problem : connection refused. Will retry in 4 seconds. 2 retries left.", C.WORKER_OVERLOAD_ERROR),
    # docker prints this before every pull; what the pull then says decides
    ("Unable to find image 'builder:2024.05' locally\n2024.05: Pulling from ci/builder\n"
     "docker: error pulling image: read tcp 10.1.0.4:40112->10.1.0.9:443: read: connection reset by peer.",
     C.TEST_DEPENDENCY_ERROR),
    # a pool worker stopped by SIGTERM (a rollout) was stopped from outside, not crashed (read from sets 215-222)
    ("celery.exceptions.WorkerLostError: Worker exited prematurely: signal 15 (SIGTERM) Job: 12.", C.WORKER_CRASH_ERROR),
    # a tool's lock left by a run that died is no crash of this one
    ("ERROR: Unable to acquire lock. Most likely another DVC process is running or was terminated abruptly.",
     C.WORKER_CRASH_ERROR),
    # ROS launch reports every node that exits; with an ordinary status it failed, it did not crash
    ("[ERROR] [lidar_check-2]: process has died [pid 812, exit code 1, cmd '/ws/install/lidar/lib/lidar/check'].",
     C.WORKER_CRASH_ERROR),
    # a dask warning on the way to whatever happened is no leak left behind
    ("distributed.worker.memory - WARNING - Unmanaged memory use is high. This may indicate a memory leak",
     C.RESOURCE_CLEANUP_ERROR),
])
def test_words_that_only_look_like_a_verdict(clf: Classifier, message: str, not_category: C) -> None:
    assert clf.classify({"type": "", "message": message}) != not_category


def test_an_autoscaler_that_cannot_grow_is_no_overload() -> None:
    """The pod asks for what the pool cannot give: the cluster is not busy (sets 159-262: 25 of 28 labelled
    allocation), so what FailedScheduling said decides."""
    events = ("Warning  FailedScheduling  3m  default-scheduler  0/9 nodes are available: 9 Insufficient memory.\n"
              "Normal   NotTriggerScaleUp  3m  cluster-autoscaler  pod didn't trigger scale-up: "
              "1 max node group size reached")
    assert Classifier(model=False).explain({"type": "", "message": events}) == (C.RESOURCE_ALLOCATION_ERROR, "k-quota")


def test_a_compile_error_in_the_change_is_weak() -> None:
    """k-undeclared-in-change is weak: a name nowhere declared is the change's own fault unless the learned layer
    is sure of more (a header or library too old)."""
    rule = next(rule for rule in default_rules() if rule.name == "k-undeclared-in-change")
    assert rule.tier == Tier.WEAK_MESSAGE
    gcc = "src/io.cc:88:5: error: 'kRetryBudget' was not declared in this scope"
    assert Classifier(model=False).explain({"type": "", "message": gcc}) == \
        (C.TEST_EXECUTION_ERROR, "k-undeclared-in-change")


def test_slurms_queue_line_is_no_verdict() -> None:
    """srun prints it for every job that waits in the queue, whatever happens next."""
    queued = "srun: job 7731942 queued and waiting for resources"
    assert Classifier(model=False).explain({"type": "", "message": queued})[1] != "k-overload-verdicts"


def test_a_crash_loop_is_decided_by_what_the_container_said() -> None:
    """k-crash-loop is weak: Kubernetes restarting a container is a crash only where its log says no more."""
    loop = "Warning  BackOff  12s (x9 over 2m)  kubelet  Back-off restarting failed container amf in pod amf-0"
    assert Classifier(model=False).explain({"type": "", "message": loop}) == (C.WORKER_CRASH_ERROR, "k-crash-loop")
    said = "[amf] dial tcp 10.96.4.2:27017: connect: connection refused\n" + loop
    assert Classifier().classify({"type": "", "message": said}) == C.NETWORK_CONNECTION_ERROR


def test_an_mpi_fatal_error_is_decided_by_its_error_stack(clf: Classifier) -> None:
    stack = ("Fatal error in PMPI_Allreduce: Other MPI error, error stack:\n"
             "MPIR_Allreduce_impl(293): connect to 10.2.0.17:41233 failed: Connection refused")
    assert clf.classify({"type": "", "message": stack}) == C.NETWORK_CONNECTION_ERROR


def test_a_load_tests_thresholds_are_its_verdict_not_its_cause() -> None:
    """k-thresholds-crossed is weak: k6 says the run failed its thresholds; what it printed before says why."""
    crossed = "ERRO[0300] thresholds on metrics 'http_req_duration, http_req_failed' have been crossed"
    assert next(rule for rule in default_rules() if rule.name == "k-thresholds-crossed").tier == Tier.WEAK_MESSAGE
    assert Classifier(model=False).explain({"type": "", "message": crossed}) == \
        (C.TEST_EXECUTION_ERROR, "k-thresholds-crossed")
    said = ("WARN[0121] Request Failed  error=\"Get \\\"https://api.example.org/match\\\": dial tcp 10.0.3.7:443: "
            "connect: connection refused\"\n" + crossed)
    assert Classifier(model=False).classify({"type": "", "message": said}) == C.NETWORK_CONNECTION_ERROR


def test_a_wrappers_exit_status_yields_to_a_sure_model() -> None:
    """k-wrapper-exit is weak (after the learned layer, which answers ahead of it when sure): a whole output
    often names its cause above the wrapper's line in words no rule knows. Alone, the line is no cause."""
    wrapper = next(rule for rule in default_rules() if rule.name == "k-wrapper-exit")
    assert wrapper.tier == Tier.WEAK_MESSAGE
    bare = {"type": "", "message": "Command 'make check' returned non-zero exit status 2."}
    assert Classifier().explain(bare) == (C.UNKNOWN_ERROR, "k-wrapper-exit")
