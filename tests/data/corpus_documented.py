"""Error reports this machine cannot produce (no GPU, no kernel log, no internet), written in the
formats the tools print: PyTorch CUDA/ROCm/MPS, WebGPU, nvidia-smi, NVRM Xid lines, the OOM
killer, requests/urllib3, PyYAML, pip's resolver, the coordinator's own heartbeat/overload lines.
Each format comes with parameter variations (sizes, GPU indices, PCI ids, pids, hosts)."""
from __future__ import annotations

from typing import Any

RA, RC = "resource_allocation_error", "resource_cleanup_error"
NC, NT = "network_connection_error", "network_timeout_error"
HA, HC, HP = "hardware_availability_error", "hardware_capability_error", "hardware_performance_error"
WD, WC, WO = "worker_disconnection_error", "worker_crash_error", "worker_overload_error"
TE, TD, TC = "test_execution_error", "test_dependency_error", "test_configuration_error"

_CUDA_TAIL = ("\nCUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below "
              "might be incorrect.\nFor debugging consider passing CUDA_LAUNCH_BLOCKING=1.\n"
              "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.")

# (type, message format, parameter tuples, category, pattern label, extra fields)
DOCUMENTED: list[tuple[str, str, list[tuple], str, str, dict[str, Any]]] = [
    ("torch.cuda.OutOfMemoryError",
     "CUDA out of memory. Tried to allocate {} GiB (GPU {}; {} GiB total capacity; {} GiB already allocated; {} MiB free; "
     "{} GiB reserved in total by PyTorch) If reserved memory is >> allocated memory try setting max_split_size_mb to avoid "
     "fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF",
     [("2.00", 0, "15.78", "13.12", "512.00", "14.01"), ("1.50", 1, "23.65", "21.90", "98.44", "22.10"),
      ("20.00", 0, "79.15", "60.12", "14.06", "77.30"), ("256.00", 3, "39.39", "37.80", "120.50", "38.00")],
     RA, "cuda-oom-v1", {"context": {"hardware_type": "cuda"}}),
    ("RuntimeError",
     "CUDA out of memory. Tried to allocate {} MiB (GPU {}; {} GiB total capacity; {} GiB already allocated; {} MiB free; "
     "{} GiB reserved in total by PyTorch)",
     [("64.00", 0, "10.76", "9.55", "18.62", "9.80"), ("128.00", 2, "31.75", "30.12", "40.06", "31.00")],
     RA, "cuda-oom-v0", {}),
    ("torch.OutOfMemoryError",
     "CUDA out of memory. Tried to allocate {} MiB. GPU {} has a total capacity of {} GiB of which {} MiB is free. "
     "Process {} has {} GiB memory in use. Of the allocated memory {} GiB is allocated by PyTorch, and {} MiB is reserved "
     "by PyTorch but unallocated. If reserved but unallocated memory is large try setting "
     "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.",
     [("20.00", 0, "79.15", "7.31", 1234, "79.14", "78.23", "1.10"), ("512.00", 1, "23.68", "100.44", 98765, "23.57", "22.80", "512.33"),
      ("2.00", 7, "44.40", "1.25", 4242, "44.39", "40.02", "3.57")],
     RA, "cuda-oom-v2", {}),
    ("RuntimeError", "CUDA error: out of memory" + _CUDA_TAIL, [(), (), ()], RA, "cuda-error-oom", {}),
    ("RuntimeError", "CUDA error: no CUDA-capable device is detected" + _CUDA_TAIL, [(), ()], HA, "cuda-no-device", {}),
    ("RuntimeError", "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver "
     "from http://www.nvidia.com/Download/index.aspx", [()], HA, "torch-no-nvidia-driver", {}),
    ("RuntimeError", "The NVIDIA driver on your system is too old (found version {}). Please update your GPU driver by "
     "downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx Alternatively, go "
     "to: https://pytorch.org to install a PyTorch version that has been compiled with your version of the CUDA driver.",
     [(10010,), (11040,)], TD, "torch-driver-too-old", {"alternatives": [HC]}),
    ("RuntimeError", "CUDA driver version is insufficient for CUDA runtime version", [(), ()], TD, "cuda-driver-insufficient", {"alternatives": [HC]}),
    ("RuntimeError", "CUDA error: device-side assert triggered" + _CUDA_TAIL, [(), ()], TE, "cuda-device-assert", {}),
    ("RuntimeError", "{}: operator(): block: [{},0,0], thread: [{},0,0] Assertion `-sizes[i] <= index && index < sizes[i] && "
     "\"index out of bounds\"` failed.\nRuntimeError: CUDA error: device-side assert triggered",
     [("../aten/src/ATen/native/cuda/IndexKernel.cu:92", 3, 64), ("../aten/src/ATen/native/cuda/IndexKernel.cu:92", 17, 5)],
     TE, "cuda-device-assert", {}),
    ("RuntimeError", "CUDA error: an illegal memory access was encountered" + _CUDA_TAIL, [(), (), ()], WC, "cuda-illegal-access", {}),
    ("RuntimeError", "CUDA error: unspecified launch failure" + _CUDA_TAIL, [()], WC, "cuda-launch-failure", {}),
    ("RuntimeError", "CUDA error: no kernel image is available for execution on the device" + _CUDA_TAIL, [(), ()], HC,
     "cuda-no-kernel-image", {}),
    ("UserWarning", "\n{} with CUDA capability sm_{} is not compatible with the current PyTorch installation.\nThe current "
     "PyTorch install supports CUDA capabilities sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 compute_37.",
     [("NVIDIA H100 80GB HBM3", 90), ("NVIDIA GeForce RTX 4090", 89)], HC, "torch-capability-not-compatible", {}),
    ("RuntimeError", "CUDA error: invalid device ordinal" + _CUDA_TAIL, [(), ()], HC, "cuda-invalid-ordinal", {}),
    ("AssertionError", "Torch not compiled with CUDA enabled", [(), ()], TD, "torch-not-compiled-cuda", {}),
    ("RuntimeError", "CUDA error: uncorrectable ECC error encountered" + _CUDA_TAIL, [()], HA, "cuda-ecc", {}),
    ("torch.distributed.DistBackendError",
     "NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:{}, unhandled system error (run with NCCL_DEBUG=INFO "
     "for details), NCCL version 2.{}.3\nncclSystemError: System call (e.g. socket, malloc) or external library call failed "
     "or device error.\nLast error:\nsocketStartConnect: Connect to {}<{}> failed : Software caused connection abort",
     [(1691, 18, "10.0.3.17", 43211), (1970, 19, "10.0.7.2", 35789), (1275, 14, "192.168.1.40", 29500)], NC, "nccl-system-error", {}),
    ("torch.distributed.DistBackendError",
     "NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:{}, unhandled cuda error (run with NCCL_DEBUG=INFO "
     "for details), NCCL version 2.{}.3\nncclUnhandledCudaError: Call to CUDA function failed.",
     [(1269, 14), (1691, 18)], HA, "nccl-cuda-error", {}),
    ("RuntimeError",
     "[Rank {}] Watchdog caught collective operation timeout: WorkNCCL(SeqNum={}, OpType=ALLREDUCE, NumelIn={}, NumelOut={}, "
     "Timeout(ms)=600000) ran for {} milliseconds before timing out.",
     [(0, 1432, 262144, 262144, 600012), (3, 88, 1048576, 1048576, 600537), (1, 9021, 4096, 4096, 600001)], NT, "nccl-watchdog-timeout", {}),
    ("RuntimeError", "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if you passed in a non-contiguous input.",
     [(), ()], HC, "cudnn-not-supported", {}),
    ("RuntimeError", "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR", [(), ()], HA, "cudnn-internal-error", {}),
    ("RuntimeError", "cuDNN error: CUDNN_STATUS_NOT_INITIALIZED", [()], HA, "cudnn-not-initialized", {}),
    ("RuntimeError", "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`", [(), ()], RA, "cublas-alloc-failed", {}),
    ("RuntimeError", "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasSgemm( handle, opa, opb, m, n, k, &alpha, "
     "a, lda, b, ldb, &beta, c, ldc)`", [()], WC, "cublas-execution-failed", {}),
    ("RuntimeError", "cuDNN version incompatibility: PyTorch was compiled  against (8, {}, 2) but found runtime version (8, {}, 0). "
     "PyTorch already comes bundled with cuDNN. One option to resolving this error is to ensure PyTorch can find the bundled "
     "cuDNN.", [(9, 5), (7, 2)], TD, "cudnn-version-mismatch", {}),
    ("torch.OutOfMemoryError",
     "HIP out of memory. Tried to allocate {} GiB. GPU {} has a total capacity of {} GiB of which {} GiB is free. Of the "
     "allocated memory {} GiB is allocated by PyTorch, and {} MiB is reserved by PyTorch but unallocated.",
     [("4.00", 0, "63.98", "2.11", "58.40", "301.22"), ("1.00", 1, "191.98", "0.45", "180.02", "80.00")],
     RA, "hip-oom", {"context": {"hardware_type": "rocm"}}),
    ("RuntimeError", "HIP error: hipErrorNoDevice\nHIP kernel errors might be asynchronously reported at some other API call, "
     "so the stacktrace below might be incorrect.\nFor debugging consider passing AMD_SERIALIZE_KERNEL=3", [(), ()], HA, "hip-no-device", {}),
    ("RuntimeError", "No HIP GPUs are available", [(), ()], HA, "no-gpus-available", {}),
    ("RuntimeError", "HIP error: invalid device function\nHIP kernel errors might be asynchronously reported at some other API "
     "call, so the stacktrace below might be incorrect.", [(), ()], HC, "hip-invalid-device-function", {}),
    ("", "rocBLAS error: Cannot read {}/rocblas/library/TensileLibrary.dat: No such file or directory for GPU arch : gfx{}\n"
     "hipErrorNoBinaryForGpu: Unable to find code object for all current devices!",
     [("/opt/rocm/lib", 1031), ("/opt/rocm-6.0.2/lib", 1100)], HC, "hip-no-binary-for-gpu", {"exit_code": -6, "signal": 6}),
    ("RuntimeError", "MPS backend out of memory (MPS allocated: {} GB, other allocations: {} MB, max allowed: {} GB). Tried to "
     "allocate {} MB on private pool. Use PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations "
     "(may cause system failure).",
     [("17.85", "2.00", "18.13", "256.00"), ("9.01", "640.50", "9.07", "64.00"), ("35.10", "1.25", "36.27", "1024.00")],
     RA, "mps-oom", {"context": {"hardware_type": "mps"}}),
    ("RuntimeError", "MPS backend is not available: the MPS backend is supported on MacOS 12.3+ and requires an Apple Silicon GPU",
     [()], HA, "mps-not-available", {}),
    ("RuntimeError", "The MPS backend is supported on MacOS 12.3+.Current OS version can be queried using `sw_vers`", [()], HA,
     "mps-macos-version", {}),
    ("NotImplementedError",
     "The operator '{}' is not currently implemented for the MPS device. If you want this op to be added in priority during "
     "the prototype phase of this feature, please comment on https://github.com/pytorch/pytorch/issues/77764. As a temporary "
     "fix, you can set the environment variable `PYTORCH_ENABLE_MPS_FALLBACK=1` to use the CPU as a fallback for this op. "
     "WARNING: this will be slower than running natively on MPS.",
     [("aten::_linalg_solve_ex.result",), ("aten::upsample_bicubic2d.out",), ("aten::nonzero",)], HC, "mps-op-not-implemented", {}),
    ("TypeError", "Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64. Please use float32 "
     "instead.", [(), ()], HC, "mps-float64", {}),
    ("Error", "No appropriate GPUAdapter found.", [(), ()], HA, "webgpu-no-adapter", {"context": {"hardware_type": "webgpu"}}),
    ("OperationError", "Failed to create WebGPU adapter: navigator.gpu is undefined", [()], HA, "webgpu-no-navigator-gpu", {}),
    ("", "GPUDevice was lost: reason={}, message={}",
     [("unknown", "D3D12 device removed (DXGI_ERROR_DEVICE_HUNG)"), ("unknown", "VK_ERROR_DEVICE_LOST"), ("destroyed", "Device was destroyed.")],
     HA, "webgpu-device-lost", {"context": {"hardware_type": "webgpu"}}),
    ("GPUOutOfMemoryError", "Out of memory", [(), ()], RA, "webgpu-oom", {"context": {"hardware_type": "webgpu"}}),
    ("", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver "
     "is installed and running.", [(), ()], HA, "nvidia-smi-no-driver", {"exit_code": 9}),
    ("", "No devices were found", [(), ()], HA, "nvidia-smi-no-devices", {"exit_code": 6}),
    ("", "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: {}", [("535.104",), ("550.54",)], HA,
     "nvml-version-mismatch", {"exit_code": 18}),
    ("", "Unable to determine the device handle for GPU{}: Unknown Error", [("0000:3B:00.0",), ("00000000:86:00.0",)], HA,
     "nvidia-smi-device-handle", {}),
    ("", "[{}] NVRM: Xid (PCI:{}): 79, pid={}, name={}, GPU has fallen off the bus.",
     [("123456.789012", "0000:3b:00", 1234, "python"), ("  812.004211", "0000:86:00", 45012, "python3"),
      ("98765.000001", "0000:af:00", 777, "pt_main_thread")], HA, "xid-79-fallen-off-bus", {}),
    ("", "[{}] NVRM: Xid (PCI:{}): 48, pid={}, name={}, An uncorrectable double bit error (DBE) has been detected on GPU in the "
     "framebuffer at partition {}, subpartition 0.",
     [("5123.443210", "0000:65:00", 2301, "python", 6), ("77001.100000", "0000:b1:00", 9120, "python3", 2)], HA, "xid-48-dbe", {}),
    ("", "[{}] NVRM: Xid (PCI:{}): 13, pid={}, name={}, Graphics SM Warp Exception on (GPC {}, TPC {}, SM 0): Out Of Range Address",
     [("3312.778899", "0000:3b:00", 5512, "python", 0, 1), ("412.000120", "0000:18:00", 803, "python3", 4, 3)], WC, "xid-13-warp-exception", {}),
    ("", "[{}] NVRM: Xid (PCI:{}): 31, pid={}, name={}, Ch {}, intr 10000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted "
     "@ 0x7f{}_a0000000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ",
     [("1200.5", "0000:3b:00", 4321, "python", "00000008", "12"), ("88123.25", "0000:86:00", 1999, "torchrun", "00000010", "3e")],
     WC, "xid-31-mmu-fault", {}),
    ("", "[{}] NVRM: Xid (PCI:{}): 43, pid={}, name={}, Ch {}", [("600.1", "0000:3b:00", 3030, "python", "00000018"),
                                                                ("70000.9", "0000:db:00", 8080, "python3", "00000020")],
     WC, "xid-43-stopped", {}),
    ("", "[{}] NVRM: Xid (PCI:{}): 74, pid={}, name={}, NVLink: fatal error detected on link {}(0x{}, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0)",
     [("4040.4", "0000:3b:00", 99, "python", 3, "10000"), ("5050.5", "0000:5e:00", 101, "python", 11, "20000")], HA, "xid-74-nvlink", {}),
    ("", "Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, UID:{} "
     "pgtables:{}kB oom_score_adj:{}",
     [(1234, "python", 98765432, 61234567, 0, 0, 1000, 120456, 0), (40123, "python3", 12345678, 11000123, 2048, 512, 0, 24000, 0),
      (777, "pytest", 5432100, 5100000, 1024, 0, 1001, 10240, 200)], RA, "oom-killer-killed-process", {}),
    ("", "Memory cgroup out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:0kB, "
     "UID:0 pgtables:{}kB oom_score_adj:{}",
     [(3456, "python", 4123456, 3999000, 12000, 8000, 999), (2101, "torchrun", 8765432, 8001234, 4096, 16384, -997)], RA,
     "oom-killer-cgroup", {}),
    ("", "{} invoked oom-killer: gfp_mask=0x{}({}), order=0, oom_score_adj={}",
     [("python", "cc0", "GFP_KERNEL", 0), ("pt_main_thread", "100cca", "GFP_HIGHUSER_MOVABLE", 0), ("pytest", "cc0", "GFP_KERNEL", 200)],
     RA, "oom-killer-invoked", {}),
    ("", "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset={},mems_allowed=0,oom_memcg=/kubepods/burstable/pod{},"
     "task_memcg=/kubepods/burstable/pod{},task=python,pid={},uid=0",
     [("cri-1", "a1b2c3d4", "a1b2c3d4", 4242), ("cri-7", "ffee0011", "ffee0011", 31337)], RA, "oom-kill-constraint", {}),
    ("", "container {} terminated: reason=OOMKilled exit_code=137", [("worker-3",), ("worker-12",)], RA, "k8s-oomkilled",
     {"exit_code": 137}),
    ("", "Illegal instruction (core dumped)", [(), ()], HC, "illegal-instruction", {"exit_code": 132}),
    ("", "Segmentation fault (core dumped)", [(), ()], WC, "segfault-core-dumped", {"exit_code": 139}),
    ("requests.exceptions.ConnectionError",
     "HTTPConnectionPool(host='{}', port={}): Max retries exceeded with url: {} (Caused by NewConnectionError('<urllib3.connection."
     "HTTPConnection object at 0x{}>: Failed to establish a new connection: [Errno 111] Connection refused'))",
     [("127.0.0.1", 8080, "/api/v1/status", "7f1c2a3b4c50"), ("coordinator", 8081, "/health", "7fa0b1c2d3e4"),
      ("10.0.0.5", 9000, "/metrics", "7f00112233aa")], NC, "requests-connection-refused", {}),
    ("requests.exceptions.ReadTimeout", "HTTPConnectionPool(host='{}', port={}): Read timed out. (read timeout={})",
     [("127.0.0.1", 8080, 5), ("results.internal", 443, 30), ("10.1.2.3", 8000, 2.5)], NT, "requests-read-timeout", {}),
    ("requests.exceptions.ConnectTimeout",
     "HTTPSConnectionPool(host='{}', port=443): Max retries exceeded with url: {} (Caused by ConnectTimeoutError(<urllib3."
     "connection.HTTPSConnection object at 0x{}>, 'Connection to {} timed out. (connect timeout={})'))",
     [("artifacts.internal", "/models/bert.bin", "7f9a8b7c6d5e", "artifacts.internal", 10),
      ("10.9.8.7", "/upload", "7f0011aa22bb", "10.9.8.7", 3)], NT, "requests-connect-timeout", {}),
    ("requests.exceptions.ConnectionError",
     "HTTPSConnectionPool(host='{}', port=443): Max retries exceeded with url: / (Caused by NameResolutionError(\"<urllib3."
     "connection.HTTPSConnection object at 0x{}>: Failed to resolve '{}' ([Errno -2] Name or service not known)\"))",
     [("storage.nonexistent.invalid", "7f11aa22bb33", "storage.nonexistent.invalid"), ("db-2.invalid", "7f44cc55dd66", "db-2.invalid")],
     NC, "requests-name-resolution", {}),
    ("requests.exceptions.SSLError",
     "HTTPSConnectionPool(host='{}', port=443): Max retries exceeded with url: {} (Caused by SSLError(SSLCertVerificationError(1, "
     "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)')))",
     [("registry.internal", "/v2/"), ("minio.local", "/bucket/obj")], TC, "requests-ssl-verify", {}),
    ("requests.exceptions.HTTPError", "429 Client Error: Too Many Requests for url: http://{}:{}/api/v1/tasks",
     [("127.0.0.1", 8080), ("coordinator", 9090)], WO, "requests-429", {}),
    ("yaml.scanner.ScannerError",
     "while scanning a simple key\n  in \"{}\", line {}, column 1\ncould not find expected ':'\n  in \"{}\", line {}, column 1",
     [("config.yaml", 3, "config.yaml", 4), ("suite/gpu.yaml", 12, "suite/gpu.yaml", 13), ("<unicode string>", 1, "<unicode string>", 2)],
     TC, "yaml-scanner-simple-key", {}),
    ("yaml.parser.ParserError",
     "while parsing a block mapping\n  in \"{}\", line 1, column 1\nexpected <block end>, but found '<block mapping start>'\n"
     "  in \"{}\", line {}, column 3", [("tasks.yaml", "tasks.yaml", 5), ("<unicode string>", "<unicode string>", 2)],
     TC, "yaml-parser-block-end", {}),
    ("", "ERROR: Cannot install {}=={} and {}=={} because these package versions have conflicting dependencies.\n\nThe conflict "
     "is caused by:\n    The user requested {}=={}\n    {} {} depends on {}<2\n\nERROR: ResolutionImpossible: for help visit the "
     "pip documentation on dealing with dependency conflicts",
     [("pkg-a", "1.0", "pkg-b", "2.0", "pkg-b", "2.0", "pkg-a", "1.0", "pkg-b"),
      ("torch", "2.3.0", "numpy", "2.1.0", "numpy", "2.1.0", "torch", "2.3.0", "numpy")], TD, "pip-resolution-impossible",
     {"exit_code": 1}),
    ("", "WARNING: Retrying (Retry(total={}, connect=None, read=None, redirect=None, status=None)) after connection broken by "
     "'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x{}>: Failed to establish a new "
     "connection: [Errno 101] Network is unreachable')': /simple/{}/",
     [(4, "7f2a3b4c5d6e", "torch"), (3, "7f6e5d4c3b2a", "numpy")], NC, "pip-retry-network", {}),
    ("", "worker {} missed heartbeat: no heartbeat for {}s (timeout {}s)", [("worker-3", "31.2", "30.0"), ("worker-17", "45.9", "30.0"),
                                                                             ("worker-gpu-2", "62.0", "60.0")], WD, "worker-missed-heartbeat", {}),
    ("", "WebSocket connection closed: code={} ({}), worker {}", [(1006, "abnormal closure", "worker-1"), (1006, "abnormal closure", "worker-9")],
     WD, "websocket-abnormal-closure", {}),
    ("websockets.exceptions.ConnectionClosedError",
     "received 1011 (internal error) keepalive ping timeout; then sent 1011 (internal error) keepalive ping timeout",
     [(), ()], WD, "websockets-keepalive-timeout", {}),
    ("websockets.exceptions.ConnectionClosedError", "no close frame received or sent", [(), ()], WD, "websockets-no-close-frame", {}),
    ("", "worker {} overloaded: load average {} on {} cores, {} tasks queued", [("worker-2", "15.20", 4, 37), ("worker-8", "63.91", 16, 120)],
     WO, "worker-load-average", {}),
    ("", "task queue full ({} pending), rejecting task {}", [(1000, "task-7f3a"), (5000, "task-b81c")], WO, "task-queue-full", {}),
    ("", "benchmark step '{}' took {}s, exceeding the {}s budget", [("resnet50-fwd", "12.4", "5.0"), ("bert-train", "95.1", "60.0"),
                                                                    ("decode", "3.3", "1.0")], HP, "step-over-budget", {}),
    ("", "throughput below threshold on {}: {} samples/s < {} samples/s", [("cuda:0", "120.5", "400.0"), ("cuda:3", "88.0", "350.0")],
     HP, "throughput-below", {}),
    ("", "GPU {}: clocks_throttle_reasons.hw_thermal_slowdown : Active, temperature.gpu : {} C",
     [("00000000:3B:00.0", 91), ("00000000:86:00.0", 88)], HP, "gpu-thermal-slowdown", {}),
    ("", "clocks_event_reasons.sw_thermal_slowdown, {}, Active", [("GPU-1a2b3c4d",), ("GPU-9f8e7d6c",)], HP, "gpu-sw-thermal", {}),
    ("OSError", "[Errno 16] Device or resource busy: '{}'", [("/tmp/pytest-of-ci/pytest-12/test_io0/.nfs000000000123abcd",),
                                                            ("/var/lib/dtf/work/task-88/.nfs0000000000aa01",)],
     RC, "rmdir-busy", {"context": {"stage": "cleanup"}}),
    ("", "failed to remove {}: Directory not empty", [("/var/lib/dtf/work/task-abc123",), ("/var/lib/dtf/work/task-ff0042",)], RC,
     "rm-directory-not-empty", {}),
    ("UserWarning", "resource_tracker: There appear to be {} leaked semaphore objects to clean up at shutdown", [(1,), (6,)], RC,
     "leaked-semaphores", {}),
    ("RuntimeError", "Unexpected state {} in scheduler tick {}", [("IDLE", 4411), ("DRAINING", 90)], "unknown_error", "unknown-runtime", {}),
    ("Exception", "something went wrong: {}", [("code 7",), ("see log",)], "unknown_error", "unknown-exception", {}),
]


def add_documented(corpus: Any) -> None:
    for type_, fmt, variations, category, label, extra in DOCUMENTED:
        for params in variations:
            corpus.add("documented", type_, fmt.format(*params), category, label, **extra)
