"""The knowledge rules (rules/knowledge.json and the message rules beside it), case by case:
each checked on wording from tools it was not written from, with the rule that must decide."""
from __future__ import annotations

import pytest

from error_handling.categories import ErrorCategory as C
from error_handling.classify import Classifier


# general knowledge: phrases many tools share, each checked on wording from tools the rule was
# not written from (the rule names are in rules/knowledge.json)
@pytest.mark.parametrize("message, category, rule", [
    ("==1== LEAK SUMMARY:\n==1==    definitely lost: 64 bytes in 1 blocks", C.RESOURCE_CLEANUP_ERROR, "k-leak-or-unclean"),
    ("warning: 3 file descriptors were not properly closed at exit", C.RESOURCE_CLEANUP_ERROR, "k-leak-or-unclean"),
    ("rm: cannot remove '/scratch/run-7': Device or resource busy", C.RESOURCE_CLEANUP_ERROR, "cleanup-message"),
    ("umount: /mnt/data: target is busy.", C.RESOURCE_CLEANUP_ERROR, "k-busy-on-remove"),
    ("clGetDeviceIDs failed: DEVICE_NOT_FOUND", C.HARDWARE_AVAILABILITY_ERROR, "k-device-missing"),
    ("ibv_devinfo: No IB devices found", C.HARDWARE_AVAILABILITY_ERROR, "k-no-device-found"),
    ("mce: [Hardware Error]: Machine check events logged; 12 corrected memory errors on DIMM_A1",
     C.HARDWARE_AVAILABILITY_ERROR, "k-hardware-fault"),  # a machine check outranks corrected errors
    ("EDAC MC0: 4 CE memory read error on CPU_SrcID#0 (Correctable ECC)", C.HARDWARE_PERFORMANCE_ERROR,
     "k-corrected-errors"),
    ("fan3: speed has stopped, lower critical threshold crossed", C.HARDWARE_PERFORMANCE_ERROR,
     "k-hardware-degraded"),
    ("Detected zombie job: run_eval", C.WORKER_DISCONNECTION_ERROR, "k-agent-lost"),
    ("We stopped hearing from agent build-7.", C.WORKER_DISCONNECTION_ERROR, "k-agent-silent"),
    ("Gradle build daemon disappeared unexpectedly", C.WORKER_CRASH_ERROR, "k-runner-crashed"),
    ("Container killed by YARN for exceeding memory limits. 9.1 GB of 9 GB physical memory used",
     C.RESOURCE_ALLOCATION_ERROR, "k-memory-limit"),
    ("kernel did not respond within 30 seconds", C.NETWORK_TIMEOUT_ERROR, "k-unresponsive"),
    ("server reached MaxRequestWorkers setting, consider raising it", C.WORKER_OVERLOAD_ERROR, "k-at-limit"),
    ("ValueError: Unknown optimizer 'adamw8' in config", C.TEST_CONFIGURATION_ERROR, "k-config-unknown"),
    ("sqlite3.IntegrityError: UNIQUE constraint failed: runs.id", C.TEST_EXECUTION_ERROR, "k-constraint"),
    ("checkpoint was saved with a newer version of the library (3.1) than installed (2.9)",
     C.TEST_DEPENDENCY_ERROR, "k-version-newer"),
    ("error: Nodes cn[101-104] not responding, setting DOWN", C.WORKER_DISCONNECTION_ERROR, "k-node-not-responding"),
    ("nfs: server storage-node-1 not responding, still trying", C.NETWORK_TIMEOUT_ERROR, "k-netfs-not-responding"),
    ("executor 7 has been marked dead because the monitor missed too many heartbeats (OOM is one cause)",
     C.WORKER_DISCONNECTION_ERROR, "k-heartbeat-verdict"),
    ("Worker process still alive after 5.0 seconds, killing", C.RESOURCE_CLEANUP_ERROR, "k-stubborn-processes"),
    ("Failed to find an appropriate adapter", C.HARDWARE_AVAILABILITY_ERROR, "k-adapter-missing"),
    ("Request device failed: LimitsExceeded(max_buffer_size)", C.HARDWARE_CAPABILITY_ERROR, "k-limits-exceeded"),
    ("scheduler is temporarily unable to accept new jobs", C.WORKER_OVERLOAD_ERROR, "k-overload-verdicts"),
    ("A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.0", C.TEST_DEPENDENCY_ERROR,
     "k-dependency-verdicts"),
    ("ray.exceptions.ObjectStoreFullError: object store is full", C.RESOURCE_ALLOCATION_ERROR, "k-resource-verdicts"),
    ("AssertionError: num_heads (30) is not divisible by tensor model parallel size (4)",
     C.TEST_CONFIGURATION_ERROR, "k-config-verdicts"),
    ("kernel.cu:88: reduce: block: [3,0,0], thread: [1,0,0] Assertion `idx < n` failed.",
     C.TEST_EXECUTION_ERROR, "k-device-assert"),
    ("error: Unable to contact the batch controller (connect failure)", C.NETWORK_CONNECTION_ERROR,
     "k-connect-verdicts"),
    ('"Failed to update lease" err="context deadline exceeded"', C.WORKER_DISCONNECTION_ERROR, "k-lease-lost"),
    ("ConnectionError: client connection timeout", C.NETWORK_TIMEOUT_ERROR, "k-connection-timeout-words"),
    ("Tint WGSL reader failure: :3:1 error: unexpected token", C.TEST_EXECUTION_ERROR, "k-user-kernel-code"),
    ("InvalidArgumentError: Could not satisfy device specification '/device:GPU:3'",
     C.HARDWARE_AVAILABILITY_ERROR, "k-device-spec-unsatisfied"),
    ("solver failed: CUSOLVER arch mismatch for this device", C.HARDWARE_CAPABILITY_ERROR, "k-arch-mismatch"),
    ("the FPGA slot 2 is busy loading an image", C.HARDWARE_AVAILABILITY_ERROR, "k-device-busy"),
    ("TypeError: did not match C++ signature: Foo(int)", C.TEST_EXECUTION_ERROR, "k-bad-input-words"),
    ("object file 'k.o' newer than toolkit (125 vs 122)", C.TEST_DEPENDENCY_ERROR, "k-toolchain-newer"),
    ("ssh: kex_exchange_identification: read: Connection reset", C.NETWORK_CONNECTION_ERROR, "k-ssh-closed"),
    ('err="failed to resolve reference \\"r.example:5000/ml:cu121\\": net/http: request canceled while waiting for '
     'connection (Client.Timeout exceeded while awaiting headers)"', C.NETWORK_TIMEOUT_ERROR, "k-http-client-timeout"),
    ('Failed to pull image "cr.example.org/a/b:1": failed to resolve reference "cr.example.org/a/b:1": dial tcp: lookup cr.example.org on '
     '10.96.0.10:53: no such host', C.NETWORK_CONNECTION_ERROR, "k-go-dns"),
    ("exec /usr/local/bin/docker-entrypoint.sh: exec format error\nSTATUS CrashLoopBackOff",
     C.HARDWARE_CAPABILITY_ERROR, "k-unsupported-here"),
    ("ValueError(\"type fp8e4nv not supported in this architecture. The supported fp8 dtypes are ('fp8e5')\")",
     C.HARDWARE_CAPABILITY_ERROR, "k-unsupported-here"),
    ("prolog: GPU 5 health check: HW Thermal Slowdown active (GPU temp 91 C)\nsrun: job 9 queued and waiting for "
     "resources", C.HARDWARE_PERFORMANCE_ERROR, "k-thermal-verdict"),
    ("GPU 3: volatile single-bit ECC error count rose to 1422 in the last 10m (corrected)",
     C.HARDWARE_PERFORMANCE_ERROR, "k-corrected-ecc"),
    ("ERROR: Job failed (system failure): wait: remote command exited without exit status or exit signal",
     C.WORKER_DISCONNECTION_ERROR, "k-ssh-session-lost"),
    ("Error: Timed out 5000ms waiting for expect(locator).toHaveText(expected)\nExpected string: \"Billing\"",
     C.TEST_EXECUTION_ERROR, "k-matcher-failures"),
    ("AssertionError: Timed out retrying after 4000ms: expected '<span.total>' to contain '$90.00'",
     C.TEST_EXECUTION_ERROR, "k-matcher-failures"),
    ('Warning  Failed  14s (x5 over 60s)  kubelet  Error: secret "ci-registry-token" not found',
     C.TEST_CONFIGURATION_ERROR, "k-cluster-config-missing"),
    ("error: [job 4481923] epilog failed status=1:0\ndrain_nodes: node gpu-a17 state set to DRAIN",
     C.RESOURCE_CLEANUP_ERROR, "k-epilog-failed"),
    ("error: Failed to download `torch==2.4.1`\n  Caused by: error sending request for url (https://x.example/t.whl)\n"
     "  Caused by: connection closed before message completed", C.NETWORK_CONNECTION_ERROR, "k-download-connection"),
    ("NodeName=gpu-c11 Arch=x86_64\n   State=DOWN+NOT_RESPONDING ThreadsPerCore=2", C.WORKER_DISCONNECTION_ERROR,
     "k-node-not-responding"),
    ("worker_pool.cc:553: Some workers of the worker process(31234) have not registered within the timeout. The "
     "process is dead, probably it crashed during start.", C.WORKER_CRASH_ERROR, "k-process-dead-at-start"),
    ("sbatch: fatal: --mem, --mem-per-cpu, and --mem-per-gpu are mutually exclusive.", C.TEST_CONFIGURATION_ERROR,
     "k-mutually-exclusive"),
    ("trainer-0:412:498 [2] include/shm.h:48 NCCL WARN Error: failed to extend /dev/shm/nccl-pQk2Lm to 9637892 bytes",
     C.RESOURCE_ALLOCATION_ERROR, "k-shm-extend"),
    ('Failed to pull image "gpu-images.example.org/nvidia/tritonserver:24.05-py3": rpc error: code = Unknown desc = Error response '
     'from daemon: Get "https://gpu-images.example.org/v2/": net/http: TLS handshake timeout', C.NETWORK_TIMEOUT_ERROR,
     "k-http-client-timeout"),
    ("gcs_rpc_client.h:212: Failed to connect to GCS at address 10.4.7.2:6379 within 60 seconds.",
     C.NETWORK_TIMEOUT_ERROR, "k-connect-within"),
    ("022 (8123.000.000) 2024-06-11 03:12:40 Job disconnected, attempting to reconnect", C.WORKER_DISCONNECTION_ERROR,
     "k-batch-job-disconnected"),
    ("=>> PBS: job killed: node 3 (gpu-c03) requested job terminate, 'EOF' (code 1099) - received SISTER_EOF",
     C.WORKER_DISCONNECTION_ERROR, "k-batch-job-disconnected"),
    ("Unable to reach slave batch server on host <gpu-r2-07>; job status is unknown;", C.WORKER_DISCONNECTION_ERROR,
     "k-batch-job-disconnected"),
    ("HTTP/1.1 503 Service Unavailable\nserver: envoy\n\nupstream connect error or disconnect/reset before headers. "
     "retried and the latest reset reason: remote connection failure", C.NETWORK_CONNECTION_ERROR,
     "k-proxy-upstream-connect"),
    ("503 Server Error: Service Unavailable\nresponse body: upstream connect error or disconnect/reset before headers. "
     "reset reason: overflow", C.WORKER_OVERLOAD_ERROR, "overload-message"),  # Envoy's circuit breaker: load
    ('agent.client: RPC failed to server: method=Catalog.Register error="rpc error making call: i/o deadline reached"',
     C.NETWORK_TIMEOUT_ERROR, "k-deadline-reached"),
    ("amdgpu 0000:c1:00.0: amdgpu: SMU: I'm not done with your previous command: SMN_C2PMSG_66:0x00000006",
     C.HARDWARE_AVAILABILITY_ERROR, "k-gpu-init-failed"),
    ("$ xpu-smi discovery\nError: Level Zero Initialization Error", C.HARDWARE_AVAILABILITY_ERROR, "k-gpu-init-failed"),
    ("rocBLAS warning: No paths matched /opt/rocm/lib/rocblas/library/*gfx1103*co.\nrocBLAS error: Could not "
     "initialize Tensile host: No devices found", C.HARDWARE_CAPABILITY_ERROR, "k-gpu-arch-missing"),
    ("$ sudo nvidia-smi mig -i 0 -cgi 19,19,19 -C\nNo MIG-supported devices found.", C.HARDWARE_CAPABILITY_ERROR,
     "k-gpu-arch-missing"),
    ("1a1 | 06/02/2024 | 11:16:55 | Fan SYS_FAN4 | Lower Critical going low  | Asserted | Reading 600 < Threshold",
     C.HARDWARE_PERFORMANCE_ERROR, "k-sensor-thresholds"),
    ("[3] init.cc:1127 NCCL WARN Mismatched NCCL version detected : rank 3 version 21805 rank 0 version 22105",
     C.TEST_DEPENDENCY_ERROR, "k-version-mismatch-detected"),
    ("Timeout, server gpu-node-14 not responding.\nConnection to gpu-node-14 closed by remote host.",
     C.WORKER_DISCONNECTION_ERROR, "k-ssh-session-lost"),
    ("E   OSError: The temporary directory /tmp/pytest-of-ci is not owned by the current user. Fix this and try again.",
     C.RESOURCE_CLEANUP_ERROR, "k-tmp-not-owned"),
    ("/home/runner/work/_temp/3f2c.sh: line 3: nvidia-smi: command not found", C.HARDWARE_AVAILABILITY_ERROR,
     "k-accelerator-missing"),
    ("py311: failed with env name py311 conflicting with base python python3.10", C.TEST_CONFIGURATION_ERROR,
     "k-env-conflict"),
    ("WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.",
     C.HARDWARE_AVAILABILITY_ERROR, "k-accelerator-missing"),
    ("RuntimeError: HIP error: shared object initialization failed", C.HARDWARE_CAPABILITY_ERROR, "k-unsupported-here"),
    ("sbatch: error: Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)",
     C.TEST_CONFIGURATION_ERROR, "k-submission-invalid"),
    ("HINT: This error might have occurred since this system does not have Windows Long Path support enabled.",
     C.TEST_CONFIGURATION_ERROR, "k-platform-setting"),
    ("Sandbox: python3.11(48213) deny(1) file-write-create /Users/runner/Library/Caches/pip/http-v2/a",
     C.TEST_CONFIGURATION_ERROR, "k-platform-setting"),
    ('msg="failed to renew lease ci/workers/w-14 (id=694d8e2b5c1f0b33): etcdserver: too many requests"',
     C.WORKER_OVERLOAD_ERROR, "k-busy-status"),
    ('Error from server (Forbidden): pods "r-5x9wq" is forbidden: User "system:serviceaccount:ci:runner" cannot get '
     'resource "pods/log" in API group ""', C.TEST_CONFIGURATION_ERROR, "k-rbac-forbidden"),
    ("rsync: [receiver] io timeout after 300 seconds -- exiting", C.NETWORK_TIMEOUT_ERROR, "k-connection-timeout-words"),
    ("W: Could not find cuda drivers on your machine, GPU will not be used.", C.HARDWARE_AVAILABILITY_ERROR,
     "k-adapter-missing"),
    ("Buffer size 8589934592 is greater than the maximum buffer size (2147483648)", C.HARDWARE_CAPABILITY_ERROR,
     "k-limits-exceeded"),
    ("Waiting for next available executor on 'gpu-h100'", C.WORKER_OVERLOAD_ERROR, "k-overload-verdicts"),
    # the tool's own verdict is "unknown": no category is better than a guess
    ("CUDA error: unknown error\nCUDA kernel errors might be asynchronously reported at some other API call",
     C.UNKNOWN_ERROR, "k-unknown-verdict"),
    ("[999] Call to cuCtxSynchronize results in CUDA_ERROR_UNKNOWN", C.UNKNOWN_ERROR, "k-unknown-verdict"),
    ("INTERNAL: Mosaic failed to compile TPU kernel: unsupported op", C.UNKNOWN_ERROR, "code:absl-status:INTERNAL"),
    ("XlaRuntimeError: RESOURCE_EXHAUSTED: Failed to reserve the arena for compilation", C.RESOURCE_ALLOCATION_ERROR,
     "code:absl-status:RESOURCE_EXHAUSTED"),
    ("INTERNAL: Failed to execute XLA Runtime executable: run time error: custom call 'xla.gpu.func.launch' failed: "
     "CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered", C.WORKER_CRASH_ERROR,
     "code:cuda-driver:CUDA_ERROR_ILLEGAL_ADDRESS"),
    ("<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.UNKNOWN\n\tdetails = \"Stream removed\"",
     C.UNKNOWN_ERROR, "k-unknown-verdict"),
    ("Catastrophic failure (0x8000FFFF (E_UNEXPECTED))", C.UNKNOWN_ERROR, "k-unknown-verdict"),
    # ... but a GPU runtime that cannot start is no GPU here
    ("failed call to cuInit: CUDA_ERROR_UNKNOWN: unknown error", C.HARDWARE_AVAILABILITY_ERROR, "cuda-no-device"),
    ("Warning  BackoffLimitExceeded  3m  job-controller  Job has reached the specified backoff limit",
     C.UNKNOWN_ERROR, "k-retries-exhausted"),
    ("Jenkins: Agent ci-gpu-h100-9x2kd was deleted; cancelling node body\nCould not connect to ci-gpu-h100-9x2kd to "
     "send interrupt signal to process", C.WORKER_DISCONNECTION_ERROR, "k-agent-deleted"),
    ("RuntimeError: DataLoader worker (pid 4711) is killed by signal: Bus error. It is possible that dataloader's "
     "workers are out of shared memory.", C.RESOURCE_ALLOCATION_ERROR, "k-shared-memory-exhausted"),
    ("Your setup doesn't support bf16/gpu.", C.HARDWARE_CAPABILITY_ERROR, "k-precision-unsupported"),
    ("terminate called after throwing an instance of 'vk::DeviceLostError'\n  what():  vk::Device::waitIdle: "
     "ErrorDeviceLost\nAborted (core dumped)", C.HARDWARE_AVAILABILITY_ERROR, "k-vulkan-verdicts"),
    ("vkCreateDevice failed: VK_ERROR_EXTENSION_NOT_PRESENT", C.HARDWARE_CAPABILITY_ERROR, "k-vulkan-capability"),
    ("Execution failed for task ':test'.\n> Process 'Gradle Test Executor 1' finished with non-zero exit value 139",
     C.WORKER_CRASH_ERROR, "k-signal-exit-in-text"),
    ("[Producer clientId=producer-1] Connection to node 2 (kafka-2.svc/10.0.0.12:9092) could not be established. "
     "Broker may not be available.", C.NETWORK_CONNECTION_ERROR, "k-broker-unreachable"),
    ("error MSB3027: Could not copy \"obj\\Release\\App.dll\" to \"bin\\Release\\App.dll\". Exceeded retry count "
     "of 10. Failed. The file is locked by: \"App (4120)\"", C.RESOURCE_CLEANUP_ERROR, "k-locked-by-another"),
    ("(error) NOAUTH Authentication required.", C.TEST_CONFIGURATION_ERROR, "k-auth-required"),
    ("bench.service: Failed to locate executable /opt/bench/bin/run: No such file or directory",
     C.TEST_CONFIGURATION_ERROR, "k-systemd-exec-missing"),
    ("qsub: Job exceeds queue resource limits MSG=cannot satisfy queue max mem requirement",
     C.TEST_CONFIGURATION_ERROR, "k-submission-invalid"),
    ("Workflow processing has been postponed because too many workflows are already running",
     C.WORKER_OVERLOAD_ERROR, "k-busy-status"),
    ("runner.service: State 'final-sigterm' timed out. Killing.", C.RESOURCE_CLEANUP_ERROR, "k-stubborn-processes"),
    ("npm ERR! code 1\nnpm ERR! path /app/node_modules/canvas\nnpm ERR! command failed", C.UNKNOWN_ERROR,
     "k-wrapper-exit"),
    ('{"level":"error","msg":"rpc error: code = Unavailable desc = connection error: desc = \\"transport: '
     'Error while dialing\\""}', C.NETWORK_CONNECTION_ERROR, "code:grpc-go-status:Unavailable"),
    ("--- FAIL: TestUpload (0.01s)\n    upload_test.go:29: dial tcp 10.0.0.7:9000: connect: connection refused\nFAIL",
     C.NETWORK_CONNECTION_ERROR, "connection-message"),
    ("--- FAIL: TestParse (0.00s)\n    parse_test.go:12: got 3, want 4\nFAIL", C.TEST_EXECUTION_ERROR,
     "k-go-test-fail"),
    ("A jest worker process (pid=4242) was terminated by another process: signal=SIGSEGV, exitCode=null.",
     C.WORKER_CRASH_ERROR, "crash-message"),
    ("[o.e.c.r.a.DiskThresholdMonitor] [es-0] flood stage disk watermark [95%] exceeded on [node-1]",
     C.RESOURCE_ALLOCATION_ERROR, "k-disk-watermark"),
    ("FATAL: command execution failed\njava.nio.channels.ClosedChannelException\n\tat org.jenkinsci.remoting."
     "protocol.NetworkLayer.onRecvClosed(NetworkLayer.java:155)", C.WORKER_DISCONNECTION_ERROR, "k-agent-channel-closed"),
    ("flag provided but not defined: -gpu", C.TEST_CONFIGURATION_ERROR, "k-flag-undefined"),
    ("go: -race is not supported on linux/386", C.HARDWARE_CAPABILITY_ERROR, "k-platform-unsupported"),
    ("pg_ctl: server does not shut down", C.RESOURCE_CLEANUP_ERROR, "k-stubborn-processes"),
    ("scheduler.py:1089] Sequence group cmpl-42 is preempted by PreemptionMode.RECOMPUTE mode because there is "
     "not enough KV cache space.", C.WORKER_OVERLOAD_ERROR, "k-kv-cache-preemption"),
    ("Minimum loss scale reached (0.0001). Your loss is probably exploding.", C.TEST_EXECUTION_ERROR,
     "k-training-code-verdicts"),
    ("The checkpoint you are trying to load has model type `gemma9` but Transformers does not recognize this "
     "architecture.", C.TEST_DEPENDENCY_ERROR, "k-architecture-unknown"),
    ("Unable to open /dev/kfd read-write: Permission denied\nci is not member of \"render\" group",
     C.TEST_CONFIGURATION_ERROR, "k-device-group"),
    ("Graph execution error:\n2 root error(s) found.\n  (0) UNKNOWN:  \n\t [[{{node PyFunc}}]]", C.UNKNOWN_ERROR,
     "k-unknown-verdict"),
    ("Internal compiler error:\n/src/libsolidity/codegen/CompilerUtils.cpp(1458): Throw in function moveIntoStack",
     C.UNKNOWN_ERROR, "k-internal-verdict"),
    ("(500)\nReason: Internal Server Error\nHTTP response headers: HTTPHeaderDict({'Audit-Id': 'c1e2a3b4'})",
     C.UNKNOWN_ERROR, "k-internal-verdict"),
    ("Error: command buffer exited with error status.\n\tThe Metal Performance Shaders operations encoded on it may "
     "not have completed.\n\tError: \n\t(null)\n\tInternal Error", C.UNKNOWN_ERROR, "k-internal-verdict"),
    ("<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.INTERNAL\n\tdetails = \"Received "
     "RST_STREAM with error code 2\"", C.UNKNOWN_ERROR, "code:grpc-status:INTERNAL"),
    # a wrapper's bare exit status says nothing of the cause ...
    ("make[1]: *** [Makefile:214: check-recursive] Error 1\nmake[1]: Leaving directory '/builds/libfoo/tests'",
     C.UNKNOWN_ERROR, "k-wrapper-exit"),
    ("005 (4471.000.000) Job terminated.\n\t(1) Normal termination (return value 1)", C.UNKNOWN_ERROR,
     "k-wrapper-exit"),
    ("ERROR conda.cli.main_run:execute(125): `conda run python -m pytest` failed. (See above for error)",
     C.UNKNOWN_ERROR, "k-wrapper-exit"),
    ("2024-06-02 11:21:10,004 INFO exited: api (exit status 2; not expected)", C.UNKNOWN_ERROR, "k-wrapper-exit"),
    ("11:02:07 web.1    | exited with code 1\n11:02:07 system   | sending SIGTERM to all processes", C.UNKNOWN_ERROR,
     "k-wrapper-exit"),
    ("[0] vite exited with code 2", C.UNKNOWN_ERROR, "k-wrapper-exit"),
    ('TaskRun unit-r-2x failed: "step-unit-tests" exited with code 1 (image: "ci-runner:3")', C.UNKNOWN_ERROR,
     "k-wrapper-exit"),
    # a tool's whole verdict is that it failed, or does not know why
    ("ERROR: Repository has unknown error (repository=org/app)", C.UNKNOWN_ERROR, "k-bare-verdict"),
    ("lxc-start: ci-7: lxc_start.c: main: 306 The container failed to start", C.UNKNOWN_ERROR, "k-bare-verdict"),
    (" * ERROR: nginx failed to start", C.UNKNOWN_ERROR, "k-bare-verdict"),
    ("[Errno 524] Unknown error 524", C.UNKNOWN_ERROR, "k-bare-verdict"),
    # ... a signal or a timeout's status does, and so does any message rule about the text before it
    ("bench-1 exited with code 139", C.WORKER_CRASH_ERROR, "k-signal-exit-in-text"),
    ("Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error", C.HARDWARE_AVAILABILITY_ERROR,
     "gpu-hardware-fault"),
    # test runners print their verdicts in capitals; a CI system's "failed: <step>" is no test verdict
    ("FAIL: test_parse (tests.test_io.ParseTest)", C.TEST_EXECUTION_ERROR, "k-test-framework-fail"),
    # ... a signal or a timeout's status does, and so does any message rule about the text before it
    ("src/gemm.cu:3:10: fatal error: cutlass/gemm.h: No such file or directory\ncompilation terminated.\n"
     "make[2]: *** [CMakeFiles/x.dir/build.make:131: x] Error 1", C.TEST_DEPENDENCY_ERROR, "k-dependency"),
])
def test_general_knowledge_rules(clf: Classifier, message: str, category: C, rule: str) -> None:
    assert clf.explain({"type": "", "message": message}) == (category, rule)


@pytest.mark.parametrize("status", [124, 126, 127, 134, 137, 139, 143])
def test_a_wrappers_telling_exit_status_is_left_to_the_exit_status_rules(clf: Classifier, status: int) -> None:
    report = {"type": "subprocess.CalledProcessError", "exit_code": status,
              "message": f"Command '['python', 'bench.py']' returned non-zero exit status {status}."}
    assert clf.explain(report)[1] != "k-wrapper-exit"
    assert clf.explain(dict(report, exit_code=1, message=report["message"].replace(str(status), "1"))) == \
        (C.UNKNOWN_ERROR, "k-wrapper-exit")


@pytest.mark.parametrize("type_name, message, category, rule", [
    ("TypeError", "MPS BFloat16 is only supported on MacOS 14 or newer", C.HARDWARE_CAPABILITY_ERROR,
     "k-os-version-only"),
    ("CondaHTTPError", "HTTP 503 SERVICE UNAVAILABLE for url <https://conda.example/linux-64/repodata.json>",
     C.WORKER_OVERLOAD_ERROR, "k-busy-status"),
    ("redis.exceptions.ConnectionError", "max number of clients reached", C.WORKER_OVERLOAD_ERROR, "k-busy-status"),
    ("requests.exceptions.RetryError", "HTTPSConnectionPool(host='hf.example', port=443): Max retries exceeded with url: "
     "/api/models (Caused by ResponseError('too many 429 error responses'))", C.WORKER_OVERLOAD_ERROR, "k-busy-status"),
    ("websockets.exceptions.InvalidStatus", "server rejected WebSocket connection: HTTP 502", C.NETWORK_CONNECTION_ERROR,
     "k-ws-gateway"),
    ("tensorflow.python.framework.errors_impl.NotFoundError", "Could not find device for node: {{node Erf}} = "
     "Erf[T=DT_BFLOAT16]", C.HARDWARE_CAPABILITY_ERROR, "k-unsupported-here"),
    ("ray.exceptions.NodeDiedError", "Task failed due to the node (where this task was running)  was dead or "
     "unavailable. This can happen if ... raylet crashed unexpectedly (e.g., due to OOM)", C.WORKER_DISCONNECTION_ERROR,
     "k-node-died"),
    ("lightning_fabric.utilities.exceptions.MisconfigurationException", "`CUDAAccelerator` can not run on your system "
     "since the accelerator is not available.", C.HARDWARE_AVAILABILITY_ERROR, "k-accelerator-missing"),
    ("subprocess.TimeoutExpired", "Command '['umount', '/mnt/overlay-ci-4471']' timed out after 60 seconds",
     C.RESOURCE_CLEANUP_ERROR, "k-cleanup-command-timeout"),
    ("psutil.TimeoutExpired", "timeout after 30 seconds (pid=88123, name='python3.11')", C.RESOURCE_CLEANUP_ERROR,
     "k-process-wait-types"),
    ("hypothesis.errors.FlakyFailure", "Hypothesis test_roundtrip(payload=b'') produces unreliable results",
     C.TEST_EXECUTION_ERROR, "k-flaky-types"),
    ("AttributeError", "`np.NaN` was removed in the NumPy 2.0 release. Use `np.nan` instead.", C.TEST_DEPENDENCY_ERROR,
     "k-api-removed"),
    ("AssertionError", "GEMM throughput 41.3 TFLOPS below 60% of expected (throttle reason: HW_POWER_BRAKE_SLOWDOWN)",
     C.HARDWARE_PERFORMANCE_ERROR, "k-thermal-verdict"),
    ("paramiko.ssh_exception.SSHException", "SSH session not active", C.WORKER_DISCONNECTION_ERROR,
     "k-ssh-session-lost"),
    ("ray.exceptions.ActorDiedError", "The actor died unexpectedly before finishing this task.\nThe actor is dead "
     "because its node has died.", C.WORKER_DISCONNECTION_ERROR, "k-node-died"),
    ("websockets.exceptions.ConnectionClosedError", "received 1013 (try again later) server at capacity",
     C.WORKER_OVERLOAD_ERROR, "k-busy-status"),
])
def test_general_rules_that_override_the_type(clf: Classifier, type_name: str, message: str, category: C,
                                              rule: str) -> None:
    assert clf.explain({"type": type_name, "message": message}) == (category, rule)


@pytest.mark.parametrize("type_name, message, category, rule", [
    ("", "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 3\n>>> "
     "'maxmemory 2gb extra'\nBad directive or wrong number of arguments",
     C.TEST_CONFIGURATION_ERROR, "k-config-file-fatal"),
    ("", "ERROR: [2] bootstrap checks failed. You must address the points described in the following [2] "
     "lines before starting Elasticsearch.",
     C.TEST_CONFIGURATION_ERROR, "k-config-file-fatal"),
    ("", "Message: no such element: Unable to locate element: "
     "{\"method\":\"xpath\",\"selector\":\"//button[@id='save']\"}",
     C.TEST_EXECUTION_ERROR, "k-element-missing"),
    ("", "Error: Connection terminated unexpectedly",
     C.NETWORK_CONNECTION_ERROR, "k-connection-terminated"),
    ("AxiosError", "timeout of 10000ms exceeded\n  code: 'ECONNABORTED'",
     C.NETWORK_TIMEOUT_ERROR, "k-client-timeout"),
    ("", "[o.e.c.s.MasterService] [es-0] node-left[{es-data-1}{a1b2}{10.0.0.9:9300}] reason: disconnected",
     C.WORKER_DISCONNECTION_ERROR, "k-member-left"),
    ("", "1:X 02 Jun 2024 09:12:44.001 # +sdown master db 10.0.0.5 6379",
     C.WORKER_DISCONNECTION_ERROR, "k-member-left"),
    ("", "dependency failed to start: container app-db-1 exited (1)",
     C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "verifying example.org/x/net@v0.23.0: checksum mismatch\n\tdownloaded: h1:abc=\n\tgo.sum:     h1:def=",
     C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "> Could not resolve all files for configuration ':lib:testRuntimeClasspath'.\n   > Could not find "
     "org.example:core-lib:1.2.0.",
     C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "failed to pull and unpack image \"ci.example.org/app:7\": no match for platform in manifest: not found",
     C.HARDWARE_CAPABILITY_ERROR, "k-unsupported-here"),
    ("", "[ERROR] [MY-010259] [Server] Another process with pid 88 is using unix socket file.",
     C.RESOURCE_CLEANUP_ERROR, "k-locked-by-another"),
    ("", "E11000 duplicate key error collection: app.users index: name_1 dup key: { name: \"x\" }",
     C.TEST_EXECUTION_ERROR, "k-constraint"),
    ("httpx.HTTPStatusError", "Server error '500 Internal Server Error' for url 'https://api.example.org/v1/runs'",
     C.UNKNOWN_ERROR, "k-internal-verdict"),
    ("urllib3.exceptions.ProxyError", "Unable to connect to proxy: Tunnel connection failed: 407 Proxy Authentication Required"
     "Unable to connect to proxy: Tunnel connection failed: 407 Proxy Authentication Required",
     C.TEST_CONFIGURATION_ERROR, "k-auth-required"),
    ("", "3b:00.0 3D controller: NVIDIA Corporation GA100 [A100 PCIe 40GB] (rev ff)",
     C.HARDWARE_AVAILABILITY_ERROR, "k-device-off-bus"),
    ("", "[gw2] [ 17%] FAILED tests/test_io.py::test_read",
     C.TEST_EXECUTION_ERROR, "pytest-failure"),
    ("", "ERROR tests/test_api.py::test_login - TypeError: create() got an unexpected keyword argument 'ttl'",
     C.TEST_EXECUTION_ERROR, "pytest-failure"),
    ("", "ERROR tests/test_db.py::test_x - ConnectionRefusedError: [Errno 111] Connection refused",
     C.NETWORK_CONNECTION_ERROR, "errno-connection"),
    ("", "Fatal Python error: init_fs_encoding: failed to get the Python codec of the filesystem encoding\n"
     "ModuleNotFoundError: No module named 'encodings'", C.TEST_CONFIGURATION_ERROR, "k-python-home-broken"),
    ("", "[ WARN:0@0.02] global cap_v4l.cpp:997 open VIDEOIO(V4L2:/dev/video1): can't open camera by index",
     C.HARDWARE_AVAILABILITY_ERROR, "k-device-absent"),
    ("", "ERROR: (gcloud.compute.tpus.tpu-vm.create) Quota 'TPUV4PodPerProjectPerZone' exhausted. Limit 8 in zone "
     "us-central2-b", C.RESOURCE_ALLOCATION_ERROR, "k-resource-verdicts"),
    ("", "[Rank:1] FATAL ERROR :: MODULE:PT_DEVMEM Allocation failed for size::2147483648 (2048)MB",
     C.RESOURCE_ALLOCATION_ERROR, "k-resource-verdicts"),
    ("", "[opencl_init] opencl is not available on this system", C.HARDWARE_AVAILABILITY_ERROR, "k-device-absent"),
    ("RuntimeError", "Failed to infer device type", C.HARDWARE_AVAILABILITY_ERROR, "k-device-absent"),
    ("", "curl: (28) Failed to connect to mirror.internal port 443 after 10002 ms: Timeout was reached",
     C.NETWORK_TIMEOUT_ERROR, "k-client-timeout"),
    ("", "curl: (7) Couldn't connect to server", C.NETWORK_CONNECTION_ERROR, "k-connection-terminated"),
    ("tensorflow.python.framework.errors_impl.InvalidArgumentError", "Unable to find a context_id matching the "
     "specified one (42). Perhaps the worker was restarted, or the context was GC'd?", C.WORKER_DISCONNECTION_ERROR,
     "k-worker-restarted"),
    ("", "ERROR: accuracy 74.9% is below the required target 75.6%", C.TEST_EXECUTION_ERROR, "k-accuracy-target-missed"),
    ("", "[TRT] [E] 1: Serialization assertion failed. Version tag does not match. Current Version: 236",
     C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "Error code:\n\t10 | AMDSMI_STATUS_NO_PERM - Permission denied", C.TEST_CONFIGURATION_ERROR, "k-device-group"),
    ("", "INFO  [SessionTracker:ZooKeeperServer@610] - Expiring session 0x2000b1c9e5a0003, timeout of 30000ms "
     "exceeded", C.WORKER_DISCONNECTION_ERROR, "k-member-left"),
    ("", "Error response from daemon: rpc error: code = Unavailable desc = The swarm does not have a leader.",
     C.WORKER_DISCONNECTION_ERROR, "k-member-left"),
    ("java.io.IOException", "Backing channel 'gpu-agent-3' is disconnected.\nCaused by: java.io.IOException: "
     "Connection aborted", C.WORKER_DISCONNECTION_ERROR, "k-agent-channel-closed"),
    ("execnet.gateway_base.HostNotFound", "ssh=gpu-07.internal//python=python3", C.NETWORK_CONNECTION_ERROR,
     "lib-connection-types"),
    ("Error", "WebSocket was closed before the connection was established", C.NETWORK_CONNECTION_ERROR,
     "k-connection-terminated"),
    ("aiohttp.client_exceptions.WSServerHandshakeError", "503, message='Invalid response status', "
     "url=URL('wss://coord.internal/ws')", C.NETWORK_CONNECTION_ERROR, "k-ws-gateway"),
    ("", "The zone 'projects/ci/zones/eu-west4-a' does not have enough resources available to fulfill the request.",
     C.RESOURCE_ALLOCATION_ERROR, "k-resource-verdicts"),
    ("", "kinit: Clock skew too great while getting initial credentials", C.TEST_CONFIGURATION_ERROR, "k-clock-skew"),
    ("", "Failed to start runner.service: Unit runner.service has a bad unit file setting.",
     C.TEST_CONFIGURATION_ERROR, "k-config-file-fatal"),
    ("", "no matching manifest for linux/arm64/v8 in the manifest list entries", C.HARDWARE_CAPABILITY_ERROR,
     "k-unsupported-here"),
    ("", "JobState=PENDING Reason=DependencyNeverSatisfied Dependency=afterok:4419118(failed)",
     C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "[TRT] [E] 10: Could not find any implementation for node /attn/MatMul due to insufficient workspace.",
     C.RESOURCE_ALLOCATION_ERROR, "k-resource-verdicts"),
    ("", "ptxas /tmp/x.ptx, line 5; fatal   : Unsupported .version 8.5; current version is '8.1'",
     C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "'sm_120' is not a recognized processor for this target (ignoring processor)", C.HARDWARE_CAPABILITY_ERROR,
     "k-unsupported-here"),
    ("RuntimeError", "Expected is_sm80 || is_sm90 to be true, but got false.", C.HARDWARE_CAPABILITY_ERROR,
     "k-unsupported-here"),
    ("", "Cannot use FlashAttention-2 backend for Volta and Turing GPUs.", C.HARDWARE_CAPABILITY_ERROR,
     "k-unsupported-here"),
    ("ValueError", "torch.cuda.is_available() should be True but is False. xformers' memory efficient attention is "
     "only available for GPU", C.HARDWARE_AVAILABILITY_ERROR, "k-device-absent"),
    ("huggingface_hub.errors.LocalEntryNotFoundError", "Cannot find the requested files in the local cache and "
     "outgoing traffic has been disabled.", C.TEST_CONFIGURATION_ERROR, "k-offline-mode"),
    ("sklearn.exceptions.ConvergenceWarning", "lbfgs failed to converge (status=1):\nSTOP: TOTAL NO. of ITERATIONS "
     "REACHED LIMIT.", C.TEST_EXECUTION_ERROR, "lib-test-types"),
    ("torch._dynamo.exc.Unsupported", "call_function BuiltinVariable(open) [ConstantVariable(str)] {}",
     C.TEST_EXECUTION_ERROR, "lib-test-types"),
    ("ray.exceptions.ActorUnavailableError", "The actor 8f3c is unavailable: RpcError: Socket closed.",
     C.WORKER_DISCONNECTION_ERROR, "k-remote-worker-types"),
    # CUDA's libdevice, missing from the toolkit, is no device missing
    ("tensorflow.python.framework.errors_impl.InternalError", "libdevice not found at ./libdevice.10.bc",
     C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "The installed version of bitsandbytes was compiled without GPU support.", C.TEST_DEPENDENCY_ERROR,
     "k-dependency-verdicts"),
    ("", "An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed. Falling back to "
     "cpu.", C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "[81:81:0516/101503.774:ERROR:gpu_process_host.cc(991)] GPU process exited unexpectedly: exit_code=139",
     C.WORKER_CRASH_ERROR, "k-signal-exit-in-text"),
    ("", "[metal::malloc] Attempting to allocate 34359738368 bytes which is greater than the maximum allowed buffer "
     "size of 22906503168 bytes.", C.RESOURCE_ALLOCATION_ERROR, "k-resource-verdicts"),
    ("ray.exceptions.ActorDiedError", "The actor died unexpectedly before finishing this task.\nThe actor is dead "
     "because its worker process has died. There are some potential root causes. (1) The process is killed by "
     "SIGKILL by OOM killer due to high memory usage.", C.WORKER_CRASH_ERROR, "k-ray-worker-died"),
    ("", "/bin/sh: ./tools/swiftgen: Bad CPU type in executable", C.HARDWARE_CAPABILITY_ERROR, "k-unsupported-here"),
    ("java.lang.UnsatisfiedLinkError", "libcodec.so: cannot open shared object file (Possible cause: can't load AMD "
     "64 .so on a AARCH64 platform)", C.HARDWARE_CAPABILITY_ERROR, "k-unsupported-here"),
    ("", "Remote Execution Failure:\nUnavailable: Worker {\"hostname\":\"bb-7\"} disappeared while task was executing",
     C.WORKER_DISCONNECTION_ERROR, "k-member-left"),
    ("", " ERR_PNPM_OUTDATED_LOCKFILE  Cannot install with \"frozen-lockfile\" because pnpm-lock.yaml is not up to "
     "date", C.TEST_DEPENDENCY_ERROR, "k-dependency-verdicts"),
    ("", "No test matches the given testcase filter `Category=Smoke` in /src/Api.Tests.dll", C.TEST_CONFIGURATION_ERROR,
     "k-test-selection-empty"),
    ("", "error MSB4181: The \"VSTest\" task returned false but did not log an error.", C.UNKNOWN_ERROR,
     "k-bare-verdict"),
    ("", "Jest did not exit one second after the test run has completed.", C.RESOURCE_CLEANUP_ERROR,
     "k-stubborn-processes"),
    ("", "[ERROR] Could not resolve dependencies for project a:b:jar:1: Could not transfer artifact c:d:pom:2 from/to "
     "nexus (https://nexus.example.org/): Connect to nexus.example.org:443 failed: Connect timed out",
     C.NETWORK_TIMEOUT_ERROR, "k-transfer-timed-out"),
    ("", "[ERROR] Could not transfer artifact c:d:pom:2 from/to nexus (https://nexus.example.org/): Connect to "
     "nexus.example.org:443 failed: Connection refused", C.NETWORK_CONNECTION_ERROR, "k-transfer-refused"),
    # the suite ran and fell short of its coverage floor: the tests' verdict
    ("", "FAIL Required test coverage of 90% not reached. Total coverage: 84.12%", C.TEST_EXECUTION_ERROR,
     "k-coverage-under"),
    # a collective or peer waited for past a watchdog's limit, whatever the tool calls it
    ("", "[W ProcessGroup.cpp:88] Rank 3 has been waiting for the other ranks' allgather for more than 300 seconds",
     C.NETWORK_TIMEOUT_ERROR, "k-waited-past-limit"),
    ("", "Not running job nightly.gemm: it requires 2 slots but only 1 open slot is available in pool gpu",
     C.WORKER_OVERLOAD_ERROR, "k-no-open-slots"),
    ("", "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.", C.TEST_CONFIGURATION_ERROR,
     "k-no-node-matches-selector"),
    # a client's connection pool ran dry: load, whatever the timeout type says
    ("sqlalchemy.exc.TimeoutError", "QueuePool limit of size 20 overflow 0 reached, connection timed out, timeout "
     "10.00", C.WORKER_OVERLOAD_ERROR, "k-pool-shedding"),
])
def test_services_and_fleet_rules(clf: Classifier, type_name: str, message: str, category: C, rule: str) -> None:
    """Services' own verdicts (config refused at start, a member dropped, a constraint broken) and
    the fleet's (a device off the bus, a proxy wanting credentials, a bare 500), each by its wording."""
    assert clf.explain({"type": type_name, "message": message}) == (category, rule)


@pytest.mark.parametrize("message, counted", [
    ("===== 1 failed, 212 passed, 3 skipped in 4.1s =====", True),
    ("1 failed in 0.02s", True),
    ("Test Suites: 1 failed, 37 passed, 38 total", True),
    ("[LightGBM] [Warning] Connecting to rank 2 failed, waiting for 1720 milliseconds", False),
    ("Launch attempt 1 failed, retrying...", False),
])
def test_a_test_summary_counts_failures_and_a_numbered_thing_that_failed_does_not(
        message: str, counted: bool) -> None:
    # the count is a weak verdict (k-runner-summary-failed): checked without the learned layer ahead of it
    assert (Classifier(model=False).explain({"type": "", "message": message})[1] == "k-runner-summary-failed") \
        is counted
