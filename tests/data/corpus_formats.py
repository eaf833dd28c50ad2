"""Documented error formats of tools this machine cannot run (GPU stacks, kernels, schedulers,
cloud clients), as those tools print them, with their parameters varied.

Each row: (library, type, message template, category, pattern, alternatives). Placeholders
(``{size}``, ``{port}``, ``{host}`` ...) are filled from a seeded generator, so every report
of a pattern differs in its parameters the way real repeats do. ``alternatives`` lists the
other categories a careful reader could defend for that report.
"""
from __future__ import annotations

import random
from typing import Any

RA, RC = "resource_allocation_error", "resource_cleanup_error"
NC, NT = "network_connection_error", "network_timeout_error"
HA, HC, HP = "hardware_availability_error", "hardware_capability_error", "hardware_performance_error"
WD, WC, WO = "worker_disconnection_error", "worker_crash_error", "worker_overload_error"
TE, TD, TC = "test_execution_error", "test_dependency_error", "test_configuration_error"
UK = "unknown_error"

VARIANTS = 8


def _values(rng: random.Random) -> dict[str, Any]:
    unit = rng.choice(["MiB", "GiB", "KiB"])
    return {
        "size": f"{rng.choice([2, 20, 128, 512, 1.5, 3.25, 64])}.{rng.randint(0, 99):02d} {unit}",
        "gib": f"{rng.uniform(0.5, 79):.2f}", "mib": rng.choice([2, 20, 64, 256, 1024, 4096]),
        "bytes": rng.choice([1073741824, 17179869184, 268435456, 4194304, 2147483648]),
        "port": rng.choice([80, 443, 5432, 6379, 8080, 29500, 50051, rng.randint(1024, 65000)]),
        "host": rng.choice(["gpu-node-07", "db.internal", "cache-2.prod.local", "10.0.3.17", "api.example.com",
                            "worker-gpu-02", "storage-01"]),
        "ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "path": rng.choice(["/data/models/bert-base/config.json", "/home/ci/work/run-17/out.bin", "/tmp/pytest-of-ci/x.db",
                            "/mnt/scratch/ckpt/step_1200.pt", "/opt/app/settings.yaml"]),
        "pid": rng.randint(300, 99999), "n": rng.randint(2, 64), "gpu": rng.randint(0, 7), "rank": rng.randint(0, 31),
        "pci": f"0000:{rng.randint(0, 255):02x}:{rng.randint(0, 31):02x}.0",
        "ts": f"{rng.randint(10, 99999)}.{rng.randint(0, 999999):06d}",
        "addr": f"0x{rng.getrandbits(40):x}", "secs": rng.choice([30, 60, 120, 300, 600, 1800]),
        "ms": rng.randint(100, 60000), "id": f"{rng.getrandbits(32):08x}",
        "node": rng.choice(["node01", "gpu-a100-3", "ip-10-0-1-12", "cn0412", "worker-7"]),
        "job": rng.randint(10000, 9999999), "pkg": rng.choice(["torch", "flash-attn", "xformers", "apex", "triton",
                                                             "deepspeed", "bitsandbytes", "vllm"]),
        "ver": f"{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        "word": rng.choice(["encoder", "decoder", "proj", "attn", "mlp", "head"]),
        "key": rng.choice(["lr", "batch_size", "model.name", "optimizer", "seed", "data.path"]),
        "temp": rng.randint(85, 105), "load": f"{rng.uniform(20, 90):.2f}", "cpus": rng.choice([8, 16, 32, 64]),
        "shape": f"[{rng.choice([8, 16, 32, 64])},{rng.choice([128, 512, 1024])},{rng.choice([512, 768, 4096])}]",
        "seq": rng.randint(1000, 999999), "cap": rng.choice(["7.0", "7.5", "6.1", "5.2"]),
        "sm": rng.choice(["sm_50", "sm_61", "sm_70", "sm_75"]), "task": f"task-{rng.getrandbits(24):06x}",
        "worker": f"worker-{rng.choice(['gpu', 'cpu'])}-{rng.randint(1, 40):02d}",
        "url": rng.choice(["https://api.example.com/v1/items", "http://10.0.0.5:8080/health", "https://files.example.org/x.tar.gz"]),
    }


# (library, type, template, category, pattern, alternatives)
FORMATS: list[tuple[str, str, str, str, str, tuple[str, ...]]] = [
    # --- CuPy ---------------------------------------------------------------------------------------------
    ("cupy", "cupy.cuda.memory.OutOfMemoryError", "Out of memory allocating {bytes:,} bytes (allocated so far: {bytes:,} bytes).", RA, "cupy-oom", ()),
    ("cupy", "cupy_backends.cuda.api.runtime.CUDARuntimeError", "cudaErrorNoDevice: no CUDA-capable device is detected", HA, "cupy-no-device", ()),
    ("cupy", "cupy_backends.cuda.api.runtime.CUDARuntimeError", "cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version", TD, "cupy-insufficient-driver", (HC,)),
    ("cupy", "cupy_backends.cuda.api.runtime.CUDARuntimeError", "cudaErrorIllegalAddress: an illegal memory access was encountered", WC, "cupy-illegal-address", (TE,)),
    ("cupy", "cupy.cuda.compiler.CompileException", "{path}(12): error: identifier \"{word}_t\" is undefined\n1 error detected in the compilation of \"/tmp/tmp{id}/kern.cu\".", TE, "cupy-compile", (TC,)),
    ("cupy", "cupy_backends.cuda.api.runtime.CUDARuntimeError", "cudaErrorNoKernelImageForDevice: no kernel image is available for execution on the device", HC, "cupy-no-kernel-image", ()),
    # --- JAX / XLA -----------------------------------------------------------------------------------------
    ("jax", "jaxlib.xla_extension.XlaRuntimeError", "RESOURCE_EXHAUSTED: Out of memory while trying to allocate {bytes} bytes.", RA, "jax-oom", ()),
    ("jax", "RuntimeError", "Unable to initialize backend 'cuda': FAILED_PRECONDITION: No visible GPU devices. (you may need to uninstall the failing plugin package, or set JAX_PLATFORMS=cpu to skip this backend.)", HA, "jax-no-gpu", ()),
    ("jax", "RuntimeError", "Unable to initialize backend 'cuda': jaxlib/cuda/versions_helpers.cc:{n}: operation cuInit(0) failed: CUDA_ERROR_NO_DEVICE", HA, "jax-cuinit-no-device", ()),
    ("jax", "jaxlib.xla_extension.XlaRuntimeError", "INTERNAL: Failed to execute XLA Runtime executable: run time error: custom call 'xla.gpu.func.launch' failed: CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered.", WC, "jax-illegal-address", ()),
    ("jax", "jax.errors.ConcretizationTypeError", "Abstract tracer value encountered where concrete value is expected: traced array with shape int32[]\nThe problem arose with the `bool` function.", TE, "jax-concretization", ()),
    ("jax", "RuntimeError", "jaxlib version {ver} is newer than and incompatible with jax version {ver}. Please update your jax and/or jaxlib packages.", TD, "jax-version-mismatch", ()),
    # --- TensorFlow ----------------------------------------------------------------------------------------
    ("tensorflow", "tensorflow.python.framework.errors_impl.ResourceExhaustedError", "OOM when allocating tensor with shape{shape} and type float on /job:localhost/replica:0/task:0/device:GPU:{gpu} by allocator GPU_{gpu}_bfc", RA, "tf-oom", ()),
    ("tensorflow", "tensorflow.python.framework.errors_impl.InternalError", "Blas GEMM launch failed : a.shape=(32, 512), b.shape=(512, 512), m=32, n=512, k=512 [Op:MatMul]", HA, "tf-blas-gemm", (RA,)),
    ("tensorflow", "tensorflow.python.framework.errors_impl.NotFoundError", "{path}: No such file or directory [Op:ReadFile]", TC, "tf-not-found", ()),
    ("tensorflow", "tensorflow.python.framework.errors_impl.InvalidArgumentError", "Incompatible shapes: {shape} vs. {shape} [Op:AddV2]", TE, "tf-incompatible-shapes", ()),
    ("tensorflow", "", "W tensorflow/stream_executor/platform/default/dso_loader.cc:{n}] Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory", TD, "tf-dso-loader", ()),
    # --- onnxruntime ---------------------------------------------------------------------------------------
    ("onnxruntime", "onnxruntime.capi.onnxruntime_pybind11_state.Fail", "[ONNXRuntimeError] : 1 : FAIL : CUDA failure 2: out of memory ; GPU={gpu} ; hostname={node} ; file=cuda_allocator.cc ; line={n}", RA, "ort-cuda-oom", ()),
    ("onnxruntime", "onnxruntime.capi.onnxruntime_pybind11_state.NoSuchFile", "[ONNXRuntimeError] : 3 : NO_SUCHFILE : Load model from {path} failed:Load model {path} failed. File doesn't exist", TC, "ort-no-such-file", ()),
    ("onnxruntime", "onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented", "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for {word}(14) node with name '/{word}/MatMul'", HC, "ort-not-implemented", (TE,)),
    ("onnxruntime", "onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument", "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: input_ids for the following indices\n index: 1 Got: {n} Expected: 128", TE, "ort-invalid-argument", ()),
    ("onnxruntime", "RuntimeError", "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.11: cannot open shared object file: No such file or directory", TD, "ort-provider-library", ()),
    # --- TensorRT / Triton / attention kernels -------------------------------------------------------------
    ("tensorrt", "", "[TRT] [E] 1: [defaultAllocator.cpp::allocate::{n}] Error Code 1: Cuda Runtime (out of memory)", RA, "trt-oom", ()),
    ("tensorrt", "", "[TRT] [E] 6: The engine plan file is generated on an incompatible device, expecting compute {cap} got compute 8.6, please rebuild.", HC, "trt-incompatible-plan", ()),
    ("triton", "triton.runtime.errors.OutOfResources", "out of resource: shared memory, Required: {bytes}, Hardware limit: 101376. Reducing block sizes or `num_stages` may help.", HC, "triton-out-of-resources", (RA,)),
    ("flash-attn", "RuntimeError", "FlashAttention only supports Ampere GPUs or newer.", HC, "flash-attn-arch", ()),
    ("bitsandbytes", "RuntimeError", "CUDA Setup failed despite GPU being available. Please run the following command to get more information: python -m bitsandbytes", TD, "bnb-cuda-setup", (HA,)),
    ("xformers", "NotImplementedError", "No operator found for `memory_efficient_attention_forward` with inputs:\n     query : shape=(1, {n}, 16, 64) (torch.float16)\n`cutlassF` is not supported because:\n    requires device with capability > (8, 0) but your GPU has capability ({cap}) (too old)", HC, "xformers-no-operator", ()),
    # --- torch (more formats) ------------------------------------------------------------------------------
    ("torch", "RuntimeError", "No CUDA GPUs are available", HA, "no-gpus-available", ()),
    ("torch", "torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate {size}. GPU {gpu} has a total capacity of {gib} GiB of which {size} is free. Process {pid} has {gib} GiB memory in use.", RA, "torch-oom-new", ()),
    ("torch", "RuntimeError", "Expected all tensors to be on the same device, but found at least two devices, cuda:{gpu} and cpu!", TE, "torch-device-mismatch", ()),
    ("torch", "RuntimeError", "mat1 and mat2 shapes cannot be multiplied ({n}x768 and 512x{n})", TE, "torch-shape-mismatch", ()),
    ("torch", "RuntimeError", "\"addmm_impl_cpu_\" not implemented for 'Half'", HC, "torch-half-cpu", (TE,)),
    ("torch", "torch.distributed.DistBackendError", "NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:{n}, unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.18.1\nncclUnhandledCudaError: Call to CUDA function failed.", HA, "nccl-cuda-error", (WC,)),
    ("torch", "torch.distributed.DistNetworkError", "The client socket has timed out after {secs}s while trying to connect to ({ip}, {port}).", NT, "torch-c10d-client-timeout", ()),
    ("torch", "torch.distributed.elastic.multiprocessing.errors.ChildFailedError", "train.py FAILED\nFailures:\n  <NO_OTHER_FAILURES>\nRoot Cause (first observed failure):\n[0]:\n  rank      : {rank} (local_rank: {gpu})\n  exitcode  : -9 (pid: {pid})\n  error_file: <N/A>\n  traceback : Signal 9 (SIGKILL) received by PID {pid}", RA, "torch-elastic-sigkill", (WC,)),
    ("torch", "torch.distributed.elastic.multiprocessing.errors.ChildFailedError", "train.py FAILED\nRoot Cause (first observed failure):\n[0]:\n  rank      : {rank} (local_rank: {gpu})\n  exitcode  : -11 (pid: {pid})\n  traceback : Signal 11 (SIGSEGV) received by PID {pid}", WC, "torch-elastic-sigsegv", ()),
    ("torch", "RuntimeError", "CUDA error: misaligned address\nCUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.", WC, "torch-misaligned-address", (TE,)),
    ("torch", "RuntimeError", "Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False. If you are running on a CPU-only machine, please use torch.load with map_location=torch.device('cpu') to map your storages to the CPU.", HA, "torch-deserialize-no-cuda", (TC,)),
    ("torch", "RuntimeError", "PyTorch is not linked with support for xpu devices", TD, "torch-no-xpu", (HA,)),
    ("torch-rocm", "RuntimeError", "HIP error: hipErrorNoDevice\nHIP kernel errors might be asynchronously reported at some other API call", HA, "hip-no-device", ()),
    ("torch-rocm", "torch.OutOfMemoryError", "HIP out of memory. Tried to allocate {size}. GPU {gpu} has a total capacity of {gib} GiB of which {size} is free.", RA, "rocm-hip-oom", ()),
    ("rocm-smi", "", "ERROR: GPU[{gpu}]\t\t: Unable to get temperature: Device not found or not supported", HA, "rocm-smi-unavailable", ()),
    ("torch-mps", "RuntimeError", "MPS backend out of memory (MPS allocated: {gib} GB, other allocations: {size}, max allowed: {gib} GB). Tried to allocate {size} on private pool.", RA, "mps-oom-alloc", ()),
    ("torch-mps", "TypeError", "Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64. Please use float32 instead.", HC, "mps-float64", ()),
    ("torch-mps", "NotImplementedError", "The operator 'aten::{word}_out' is not currently implemented for the MPS device. If you want this op to be added in priority during the prototype phase of this feature, please comment on https://github.com/pytorch/pytorch/issues/77764.", HC, "mps-op-missing", ()),
    # --- WebGPU ------------------------------------------------------------------------------------------
    ("webgpu", "GPUValidationError", "Unsupported feature: shader-f16", HC, "webgpu-feature-f16", ()),
    ("webgpu", "GPUPipelineError", "Requested limit maxComputeWorkgroupStorageSize ({n}384) exceeds the adapter's limit (16384).", HC, "webgpu-limit-exceeded", ()),
    ("webgpu", "OperationError", "Failed to execute 'requestDevice' on 'GPUAdapter': device lost: reason=unknown, message=Device was lost because of a GPU process crash", HA, "webgpu-request-device-lost", (WC,)),
    # --- NVIDIA Xid (kernel log) ---------------------------------------------------------------------------
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 48, pid={pid}, name=python, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 0, subpartition 1.", HA, "xid-48-dbe", ()),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.", HA, "xid-79-fallen-off-bus", ()),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 63, pid='<unknown>', name=<unknown>, Row Remapper: New row ({addr}) Marked for Remapping, reset gpu to activate.", HP, "xid-63", (HA,)),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 64, pid='<unknown>', name=<unknown>, Row Remapper Error: ({addr}) - All reserved rows for bank are remapped", HA, "xid-64", ()),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 94, pid={pid}, name=python, Contained: SM (0x1). RST: No, D-RST: No", WC, "xid-94", (HA,)),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 95, pid={pid}, name=python, Uncontained: FBHUB. RST: Yes, D-RST: No", HA, "xid-95", ()),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 119, pid={pid}, name=python, Timeout after 6s of waiting for RPC response from GPU{gpu} GSP! Expected function 76 (GSP_RM_CONTROL).", HA, "xid-119", ()),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 31, pid={pid}, name=python, Ch 00000010, intr 00000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x7f_{id}. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ", WC, "xid-31-mmu-fault", (TE,)),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 13, pid={pid}, name=python, Graphics Exception: ChID 0010, Class 0000c7c0, Offset 00000000, Data 00000000", WC, "xid-13-graphics", (TE,)),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 92, pid='<unknown>', name=<unknown>, High single-bit ECC error rate", HP, "xid-92", (HA,)),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 74, pid={pid}, name=python, NVLink: fatal error detected on link {n}(0x0, 0x0, 0x10000, 0x0, 0x0, 0x0, 0x0)", HA, "xid-74-nvlink", ()),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 45, pid={pid}, name=python, Ch 00000008", WC, "xid-45", (WD,)),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 61, pid='<unknown>', name=<unknown>, Internal micro-controller breakpoint/warning (PMU halt)", HA, "xid-61", ()),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 62, pid='<unknown>', name=<unknown>, Internal micro-controller halt", HA, "xid-62", ()),
    ("nvidia-xid", "", "[{ts}] NVRM: Xid (PCI:{pci}): 8, pid={pid}, name=python, Channel 00000020", WC, "xid-8", (HA,)),
    # --- nvidia-smi / DCGM / NVML ------------------------------------------------------------------------
    ("nvidia-smi", "", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.", HA, "nvidia-smi-no-driver", ()),
    ("nvidia-smi", "", "Unable to determine the device handle for GPU{gpu}: {pci}: GPU is lost.  Reboot the system to recover this GPU", HA, "smi-gpu-lost", ()),
    ("nvidia-smi", "", "GPU {pci}\n    Clocks Event Reasons\n        HW Slowdown                       : Active\n        HW Thermal Slowdown               : Active\n    Temperature\n        GPU Current Temp                  : {temp} C", HP, "smi-hw-thermal-slowdown", ()),
    ("nvidia-smi", "", "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: {ver}", HA, "nvml-version-mismatch", (TD,)),
    ("dcgm", "", "Health Monitor Report: GPU {gpu}: Error: DCGM_FR_VOLATILE_DBE_DETECTED: Detected {n} volatile double-bit ECC error(s) in GPU {gpu}.", HA, "dcgm-dbe", ()),
    ("dcgm", "", "Health Monitor Report: GPU {gpu}: Warning: DCGM_FR_CLOCK_THROTTLE_THERMAL: Clocks are being throttled for GPU {gpu} because of clock throttling starting {secs} seconds ago. Thermal violation.", HP, "dcgm-thermal", ()),
    ("dcgm", "", "Health Monitor Report: GPU {gpu}: Error: DCGM_FR_NVLINK_DOWN: GPU {gpu}'s NvLink link {n} is currently down", HA, "dcgm-nvlink-down", ()),
    ("dcgm", "", "Health Monitor Report: GPU {gpu}: Warning: DCGM_FR_PCI_REPLAY_RATE: Detected {n} PCIe replays per minute for GPU {gpu} : which exceeds the limit of 8", HP, "dcgm-pcie-replay", (HA,)),
    ("pynvml", "pynvml.NVMLError_GpuIsLost", "GPU is lost", HA, "nvml-gpu-lost", ()),
    ("pynvml", "pynvml.NVMLError_LibraryNotFound", "NVML Shared Library Not Found", HA, "nvml-library-not-found", (TD,)),
    # --- Linux kernel ------------------------------------------------------------------------------------
    ("linux-kernel", "", "[{ts}] Memory cgroup out of memory: Killed process {pid} (python) total-vm:{pid}kB, anon-rss:{pid}kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:{n}kB oom_score_adj:0", RA, "oom-killer-cgroup", ()),
    ("linux-kernel", "", "[{ts}] mce: [Hardware Error]: Machine check events logged\n[{ts}] mce: [Hardware Error]: CPU {n}: Machine Check: 0 Bank 7: ee2000000003110a", HA, "kernel-mce", ()),
    ("linux-kernel", "", "[{ts}] CPU{n}: Core temperature above threshold, cpu clock throttled (total events = {pid})", HP, "kernel-cpu-throttle", ()),
    ("linux-kernel", "", "[{ts}] CPU{n}: Package temperature above threshold, cpu clock throttled (total events = {pid})", HP, "kernel-cpu-throttle", ()),
    ("linux-kernel", "", "[{ts}] amdgpu {pci}: amdgpu: GPU reset begin!", HA, "kernel-amdgpu-reset", (WC,)),
    ("linux-kernel", "", "[{ts}] [drm:amdgpu_job_timedout [amdgpu]] *ERROR* ring gfx timeout, signaled seq={seq}, emitted seq={seq}", HA, "kernel-amdgpu-ring-timeout", (WC,)),
    ("linux-kernel", "", "[{ts}] INFO: task python:{pid} blocked for more than {secs} seconds.", HP, "kernel-hung-task", (WO,)),
    ("linux-kernel", "", "[{ts}] watchdog: BUG: soft lockup - CPU#{n} stuck for 22s! [python:{pid}]", HP, "kernel-soft-lockup", (HA,)),
    ("linux-kernel", "", "[{ts}] nfs: server {host} not responding, still trying", NT, "kernel-nfs-not-responding", (NC,)),
    ("linux-kernel", "", "[{ts}] python[{pid}]: segfault at {addr} ip {addr} sp {addr} error 4 in libtorch_cpu.so[{addr}+{addr}]", WC, "kernel-segfault", ()),
    ("linux-kernel", "", "[{ts}] EDAC MC0: 1 UE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0", HA, "kernel-edac-ue", ()),
    ("linux-kernel", "", "[{ts}] EXT4-fs error (device nvme0n1p2): ext4_find_entry:1455: inode #{pid}: comm python: reading directory lblock 0", HA, "kernel-ext4-error", (RA,)),
    # --- schedulers and containers ---------------------------------------------------------------------
    ("slurm", "", "slurmstepd: error: Detected {n} oom_kill event in StepId={job}.batch. Some of the step tasks have been OOM Killed.", RA, "slurm-oom-kill", ()),
    ("slurm", "", "slurmstepd: error: *** JOB {job} ON {node} CANCELLED AT 2024-0{gpu}-12T10:1{gpu}:00 DUE TO TIME LIMIT ***", NT, "slurm-time-limit", (WO,)),
    ("slurm", "", "slurmstepd: error: *** JOB {job} ON {node} CANCELLED AT 2024-0{gpu}-12T10:1{gpu}:00 DUE TO PREEMPTION ***", WD, "slurm-preemption", ()),
    ("slurm", "", "srun: error: Unable to allocate resources: Requested node configuration is not available", RA, "slurm-node-config", (TC, HA)),
    ("slurm", "", "srun: error: {node}: task {rank}: Killed", RA, "slurm-task-killed", (WC,)),
    ("kubernetes", "", "0/{n} nodes are available: {n} Insufficient nvidia.com/gpu. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod.", HA, "k8s-insufficient-gpu", (WO,)),
    ("kubernetes", "", "The node was low on resource: memory. Threshold quantity: 100Mi, available: {n}Ki. Container trainer was using {n}Ki, request is 0, has larger consumption of memory.", RA, "k8s-evicted-memory", ()),
    ("kubernetes", "", "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: {n}Ki.", RA, "k8s-evicted-storage", ()),
    ("kubernetes", "", "Back-off restarting failed container trainer in pod train-{id}_default({id})", WC, "k8s-crashloop", ()),
    ("kubernetes", "", "Failed to pull image \"registry.example.com/ml/train:{ver}\": rpc error: code = NotFound desc = failed to pull and unpack image: not found", TD, "k8s-image-pull", (TC,)),
    ("docker", "", "docker: Error response from daemon: could not select device driver \"\" with capabilities: [[gpu]].", HA, "docker-no-gpu-driver", (TD,)),
    ("docker", "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", NC, "docker-daemon-down", ()),
    ("docker", "", "Unable to find image 'ml/train:{ver}' locally\ndocker: Error response from daemon: manifest for ml/train:{ver} not found: manifest unknown: manifest unknown.", TD, "docker-manifest-unknown", ()),
    ("mpi", "", "mpirun noticed that process rank {rank} with PID {pid} on node {node} exited on signal 11 (Segmentation fault).", WC, "mpi-rank-sigsegv", ()),
    ("mpi", "", "mpirun noticed that process rank {rank} with PID {pid} on node {node} exited on signal 9 (Killed).", RA, "mpi-rank-sigkill", (WC,)),
    ("mpi", "", "ORTE was unable to reliably start one or more daemons. This usually is caused by:\n* not finding the required libraries and/or binaries on one or more nodes.", TD, "mpi-orte-start", (NC,)),
    ("nccl", "", "{node}:{pid}:{pid} [{gpu}] NCCL INFO NET/IB : Got completion from peer {ip}<{port}> with error 12, opcode 0, len 0, vendor err 129", NC, "nccl-ib-completion", ()),
    ("nccl", "torch.distributed.DistBackendError", "[Rank {rank}] Watchdog caught collective operation timeout: WorkNCCL(SeqNum={seq}, OpType=ALLREDUCE, NumelIn={pid}, NumelOut={pid}, Timeout(ms)={ms}) ran for {ms} milliseconds before timing out.", NT, "nccl-watchdog-timeout", ()),
    # --- Python package tooling ------------------------------------------------------------------------
    ("pip", "", "ERROR: Package '{pkg}' requires a different Python: 3.8.10 not in '>=3.9'", TD, "pip-requires-python", ()),
    ("pip", "", "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes.\n    {pkg} from https://files.example.org/{pkg}-{ver}.whl:\n        Expected sha256 {id}\n             Got        {id}", TD, "pip-hash-mismatch", (NC,)),
    ("pip", "", "error: subprocess-exited-with-error\n\n  × Building wheel for {pkg} (pyproject.toml) did not run successfully.\n  │ exit code: 1\n  ╰─> [{n} lines of output]\nERROR: Failed building wheel for {pkg}", TD, "pip-wheel-build", ()),
    ("pip", "", "WARNING: Retrying (Retry(total={gpu}, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ReadTimeoutError(\"HTTPSConnectionPool(host='files.example.org', port=443): Read timed out. (read timeout=15)\")': /simple/{pkg}/", NT, "pip-read-timeout", (NC,)),
    ("conda", "PackagesNotFoundError", "The following packages are not available from current channels:\n\n  - {pkg}=={ver}\n\nCurrent channels:\n\n  - https://conda.example.org/main/linux-64", TD, "conda-packages-not-found", ()),
    ("conda", "CondaHTTPError", "HTTP 000 CONNECTION FAILED for url <https://conda.example.org/main/linux-64/repodata.json>\nElapsed: -\n\nAn HTTP error occurred when trying to retrieve this URL.", NC, "conda-http-000", ()),
    ("conda", "UnsatisfiableError", "The following specifications were found to be incompatible with each other:\n\nOutput in format: Requested package -> Available versions\n\nPackage {pkg} conflicts for:\n{pkg}=={ver}", TD, "conda-unsatisfiable", ()),
    # --- network clients --------------------------------------------------------------------------------
    ("httpx", "httpx.ConnectError", "[Errno 111] Connection refused", NC, "socket-connection-refused", ()),
    ("httpx", "httpx.ReadTimeout", "The read operation timed out", NT, "httpx-read-timeout", ()),
    ("httpx", "httpx.ConnectTimeout", "timed out", NT, "httpx-connect-timeout", ()),
    ("httpx", "httpx.HTTPStatusError", "Server error '503 Service Unavailable' for url '{url}'\nFor more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/503", WO, "httpx-503", (NC,)),
    ("websockets", "websockets.exceptions.ConnectionClosedError", "received 1011 (internal error) keepalive ping timeout; then sent 1011 (internal error) keepalive ping timeout", WD, "websockets-keepalive-timeout", (NT,)),
    ("websockets", "websockets.exceptions.InvalidStatus", "server rejected WebSocket connection: HTTP 403", TC, "websockets-403", (NC,)),
    ("websockets", "websockets.exceptions.InvalidURI", "ws//{host}:{port}/ws isn't a valid URI: scheme isn't ws or wss", TC, "websockets-invalid-uri", ()),
    ("grpc", "grpc._channel._InactiveRpcError", "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.UNAVAILABLE\n\tdetails = \"failed to connect to all addresses; last error: UNKNOWN: ipv4:{ip}:{port}: Failed to connect to remote host: Connection refused\"\n>", NC, "grpc-unavailable", ()),
    ("grpc", "grpc._channel._InactiveRpcError", "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.DEADLINE_EXCEEDED\n\tdetails = \"Deadline Exceeded\"\n>", NT, "grpc-deadline", ()),
    ("grpc", "grpc._channel._InactiveRpcError", "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.RESOURCE_EXHAUSTED\n\tdetails = \"Received message larger than max ({bytes} vs. 4194304)\"\n>", TC, "grpc-message-too-large", (RA,)),
    ("redis", "redis.exceptions.ConnectionError", "Error 111 connecting to {host}:{port}. Connection refused.", NC, "redis-connection-refused", ()),
    ("redis", "redis.exceptions.TimeoutError", "Timeout reading from socket", NT, "redis-timeout", ()),
    ("redis", "redis.exceptions.ResponseError", "OOM command not allowed when used memory > 'maxmemory'.", RA, "redis-oom", ()),
    ("psycopg2", "psycopg2.OperationalError", "connection to server at \"{host}\" ({ip}), port {port} failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?", NC, "pg-connection-refused", ()),
    ("psycopg2", "psycopg2.OperationalError", "connection to server at \"{host}\" ({ip}), port {port} failed: FATAL:  sorry, too many clients already", WO, "pg-too-many-clients", (RA,)),
    ("psycopg2", "psycopg2.OperationalError", "connection to server at \"{host}\" ({ip}), port {port} failed: FATAL:  password authentication failed for user \"ci\"", TC, "pg-auth-failed", ()),
    ("botocore", "botocore.exceptions.EndpointConnectionError", "Could not connect to the endpoint URL: \"https://s3.{host}/bucket-{n}/ckpt.pt\"", NC, "boto-endpoint", ()),
    ("botocore", "botocore.exceptions.NoCredentialsError", "Unable to locate credentials", TC, "boto-no-credentials", ()),
    ("botocore", "botocore.exceptions.ClientError", "An error occurred (SlowDown) when calling the PutObject operation (reached max retries: 4): Please reduce your request rate.", WO, "boto-slowdown", ()),
    ("botocore", "botocore.exceptions.ReadTimeoutError", "Read timeout on endpoint URL: \"https://s3.{host}/bucket-{n}\"", NT, "boto-read-timeout", ()),
    ("huggingface_hub", "OSError", "We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the cached files and it looks like bert-base-{word} is not the path to a directory containing a file named config.json.", NC, "hf-cannot-connect", (TD,)),
    ("huggingface_hub", "huggingface_hub.utils._errors.RepositoryNotFoundError", "401 Client Error. (Request ID: Root=1-{id})\n\nRepository Not Found for url: https://huggingface.co/api/models/org/{word}-{n}.", TC, "hf-repo-not-found", (TD,)),
    # --- configuration validation -------------------------------------------------------------------------
    ("pydantic", "pydantic_core._pydantic_core.ValidationError", "1 validation error for Settings\n{key}\n  Input should be a valid integer, unable to parse string as an integer [type=int_parsing, input_value='abc{n}', input_type=str]", TC, "pydantic-int-parsing", ()),
    ("pydantic", "pydantic_core._pydantic_core.ValidationError", "{n} validation errors for TrainConfig\n{key}\n  Field required [type=missing, input_value={{}}, input_type=dict]", TC, "pydantic-missing", ()),
    ("jsonschema", "jsonschema.exceptions.ValidationError", "'{key}' is a required property\n\nFailed validating 'required' in schema:\n    {{'type': 'object', 'required': ['{key}']}}", TC, "jsonschema-required", ()),
    ("omegaconf", "omegaconf.errors.ConfigAttributeError", "Key '{key}' is not in struct\n    full_key: {key}\n    object_type=dict", TC, "omegaconf-not-in-struct", ()),
    ("omegaconf", "omegaconf.errors.MissingMandatoryValue", "Missing mandatory value: {key}\n    full_key: {key}\n    object_type=dict", TC, "omegaconf-missing-value", ()),
    # --- test runners -----------------------------------------------------------------------------------
    ("pytest-xdist", "", "[gw{gpu}] node down: Not properly terminated\nF\nreplacing crashed worker gw{gpu}", WC, "xdist-node-down", ()),
    ("pytest-xdist", "", "worker 'gw{gpu}' crashed while running 'tests/test_{word}.py::test_{word}_{n}'", WC, "xdist-worker-crashed", ()),
    ("pytest-timeout", "Failed", "Timeout >{secs}.0s", NT, "pytest-timeout", (TE,)),
    ("pytest", "", "INTERNALERROR> Traceback (most recent call last):\nINTERNALERROR>   File \"/opt/venv/lib/python3.11/site-packages/_pytest/main.py\", line 271, in wrap_session\nINTERNALERROR> AssertionError: {word} plugin state", TC, "pytest-internalerror", (TE,)),
    ("numpy", "numpy.core._exceptions._ArrayMemoryError", "Unable to allocate {gib} GiB for an array with shape ({pid}, {n}) and data type float64", RA, "numpy-array-memory", ()),
    ("numpy", "ValueError", "operands could not be broadcast together with shapes ({n},) ({pid},) ", TE, "numpy-broadcast", ()),
    ("numpy", "numpy.linalg.LinAlgError", "Singular matrix", TE, "numpy-singular", ()),
    ("pandas", "pandas.errors.ParserError", "Error tokenizing data. C error: Expected {n} fields in line {pid}, saw {n}", TC, "pandas-tokenizing", (TE,)),
    ("pandas", "KeyError", "\"None of [Index(['{word}_{n}'], dtype='object')] are in the [columns]\"", TE, "pandas-columns", ()),
    # --- remote shells and transfer tools -----------------------------------------------------------
    ("ssh", "", "ssh: connect to host {host} port 22: Connection refused", NC, "ssh-refused", ()),
    ("ssh", "", "ssh: connect to host {host} port 22: Connection timed out", NT, "ssh-timed-out", (NC,)),
    ("ssh", "", "ci@{host}: Permission denied (publickey).", TC, "ssh-publickey", ()),
    ("ssh", "", "ssh: Could not resolve hostname {host}: Name or service not known", NC, "ssh-resolve", ()),
    ("rsync", "", "rsync: [sender] write error: Broken pipe (32)\nrsync error: error in socket IO (code 10) at io.c(823) [sender=3.2.7]", NC, "rsync-socket-io", ()),
    ("rsync", "", "rsync: write failed on \"{path}\": No space left on device (28)\nrsync error: error in file IO (code 11) at receiver.c(378) [receiver=3.2.7]", RA, "rsync-no-space", ()),
]

# dtf's own scheduler and dependency messages (coordinator and worker), decided by type.
DTF_FORMATS: list[tuple[str, str, str, str, str, tuple[str, ...]]] = [
    ("dtf", "TaskRejected", "Worker {worker} at capacity: {n}/{n} concurrent tasks running", WO, "dtf-at-capacity", ()),
    ("dtf", "TaskRejected", "System load too high: loadavg {load} (1m) on {cpus} CPUs exceeds limit {load}", WO, "dtf-load-too-high", ()),
    ("dtf", "DependencyFailed", "Dependency task {task} failed", TD, "dtf-dependency-failed", ()),
    ("dtf", "UpstreamFailed", "upstream task {task} ended failed; not run", TD, "dtf-upstream-failed", ()),
    ("dtf", "NoEligibleWorker", "no connected worker offers hardware cuda with {n} GiB free for {task}", HA, "dtf-no-eligible-worker", (WO,)),
    ("dtf", "LeaseExpired", "no result for {task} within {secs}s + grace", NT, "dtf-lease-expired", ()),
    ("dtf", "WorkerDisconnected", "worker {worker} disconnected while running {task}", WD, "dtf-worker-disconnected", ()),
    ("dtf", "HeartbeatTimeout", "worker {worker} missed {n} heartbeats", WD, "dtf-heartbeat-timeout", ()),
    ("dtf", "WorkerCrashed", "worker {worker} connection ended without a close frame while running {task}", WC, "dtf-worker-crashed", ()),
    ("dtf", "UnsupportedTaskType", "worker {worker} does not run task type 'notebook{n}'", TC, "dtf-unsupported-type", ()),
]


def add_formats(c: Any, seed: int = 11) -> None:
    rng = random.Random(seed)
    for library, type_, template, category, pattern, alternatives in FORMATS + DTF_FORMATS:
        for _ in range(VARIANTS):
            message = template.format(**_values(rng))
            c.add("documented", type_, message, category, pattern, library=library, alternatives=list(alternatives))
