"""Later batches of documented formats, labelled before the classifier ever saw them.

Each batch (40, 30 and 28 formats from libraries and tools not in the corpus before) was written
and labelled, then classified once by the classifier as it stood (rules, code tables and the
learned layer trained on the rest): 47.5%, 53.3% and 53.6% right. Those first runs are the
figures in the README measured on reports nobody had tuned anything to. Each batch joined the
corpus afterwards, so later figures include it as fitted data like the rest.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from corpus_formats import HA, HC, NC, NT, RA, TC, TD, TE, WC, WD, WO, _values

BLIND_VARIANTS = 3

BLIND_FORMATS: list[tuple[str, str, str, str, str, tuple[str, ...]]] = [
    ("accelerate", "ValueError", "fp16 mixed precision requires a GPU (not 'mps').", HC, "accelerate-fp16-needs-gpu", (HA,)),
    ("vllm", "ValueError", "The model's max seq len ({pid}) is larger than the maximum number of tokens that can be stored in KV cache ({n}). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.", RA, "vllm-kv-cache", (TC,)),
    ("numba", "numba.cuda.cudadrv.error.CudaSupportError", "Error at driver init: Call to cuInit results in CUDA_ERROR_NO_DEVICE (100)", HA, "numba-no-device", ()),
    ("numba", "numba.core.errors.TypingError", "Failed in nopython mode pipeline (step: nopython frontend)\nUnknown attribute '{word}' of type int64", TE, "numba-typing", ()),
    ("pyarrow", "pyarrow.lib.ArrowInvalid", "Could not convert 'abc{n}' with type str: tried to convert to int64", TE, "arrow-invalid", (TC,)),
    ("pyarrow", "pyarrow.lib.ArrowIOError", "Failed to open local file '{path}'. Detail: [errno 2] No such file or directory", TC, "arrow-io-missing", ()),
    ("h5py", "OSError", "Unable to open file (unable to lock file, errno = 11, error message = 'Resource temporarily unavailable')", RA, "h5py-lock", ()),
    ("scikit-learn", "sklearn.exceptions.NotFittedError", "This LogisticRegression instance is not fitted yet. Call 'fit' with appropriate arguments before using this estimator.", TE, "sklearn-not-fitted", ()),
    ("scikit-learn", "ValueError", "Input X contains NaN.", TE, "sklearn-nan", ()),
    ("matplotlib", "RuntimeError", "Invalid DISPLAY variable", TC, "mpl-display", ()),
    ("opencv", "cv2.error", "OpenCV(4.8.0) /io/opencv/modules/imgproc/src/resize.cpp:{n}: error: (-215:Assertion failed) !ssize.empty() in function 'resize'", TE, "cv2-assert", ()),
    ("pillow", "PIL.UnidentifiedImageError", "cannot identify image file '{path}'", TE, "pil-unidentified", (TD,)),
    ("celery", "celery.exceptions.TimeLimitExceeded", "TimeLimitExceeded({secs},)", NT, "celery-time-limit", ()),
    ("kombu", "kombu.exceptions.OperationalError", "[Errno 111] Connection refused", NC, "kombu-refused", ()),
    ("pymongo", "pymongo.errors.ServerSelectionTimeoutError", "{host}:27017: [Errno -3] Temporary failure in name resolution, Timeout: {secs}s, Topology Description: <TopologyDescription id: {id}, topology_type: Unknown>", NT, "pymongo-selection-timeout", (NC,)),
    ("elasticsearch", "elasticsearch.exceptions.ConnectionTimeout", "ConnectionTimeout caused by - ReadTimeoutError(HTTPConnectionPool(host='{host}', port=9200): Read timed out. (read timeout=10))", NT, "es-timeout", ()),
    ("kafka-python", "kafka.errors.NoBrokersAvailable", "NoBrokersAvailable", NC, "kafka-no-brokers", ()),
    ("paramiko", "paramiko.ssh_exception.AuthenticationException", "Authentication failed.", TC, "paramiko-auth", ()),
    ("paramiko", "paramiko.ssh_exception.NoValidConnectionsError", "[Errno None] Unable to connect to port 22 on {ip}", NC, "paramiko-no-connection", ()),
    ("ray", "ray.exceptions.OutOfMemoryError", "Task was killed due to the node running low on memory.\nMemory on the node (IP: {ip}, ID: {id}) where the task was running was {gib}GB / {gib}GB (0.96), which exceeds the memory usage threshold of 0.95.", RA, "ray-oom", ()),
    ("ray", "ray.exceptions.WorkerCrashedError", "The worker died unexpectedly while executing this task. Check python-core-worker-*.log files for more information.", WC, "ray-worker-crashed", ()),
    ("ray", "ray.exceptions.RayActorError", "The actor died unexpectedly before finishing this task.", WC, "ray-actor-died", ()),
    ("dask", "distributed.scheduler.KilledWorker", "Attempted to run task '{word}-{id}' on {n} different workers, but all those workers died while running it.", WC, "dask-killed-worker", ()),
    ("jax", "RuntimeError", "Unable to initialize backend 'tpu': UNAVAILABLE: No TPU devices found", HA, "jax-no-tpu", ()),
    ("intel-xpu", "RuntimeError", "Native API failed. Native API returns: -5 (PI_ERROR_OUT_OF_RESOURCES)", RA, "xpu-out-of-resources", ()),
    ("nvidia-container-toolkit", "", "nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown", HA, "nvidia-container-driver", ()),
    ("systemd", "", "train.service: Main process exited, code=killed, status=9/KILL", RA, "systemd-killed-9", (WC,)),
    ("systemd", "", "train.service: Main process exited, code=dumped, status=11/SEGV", WC, "systemd-dumped-segv", ()),
    ("npm", "", "npm ERR! code ENOTFOUND\nnpm ERR! network request to https://registry.example.org/{pkg} failed, reason: getaddrinfo ENOTFOUND registry.example.org", NC, "npm-enotfound", ()),
    ("cargo", "", "error: failed to select a version for the requirement `serde = \"^9.{n}\"`\ncandidate versions found which didn't match: 1.0.190", TD, "cargo-select-version", ()),
    ("go", "", "go: github.com/example/{word}@v{ver}: reading https://proxy.example.org/github.com/example/{word}/@v/v{ver}.mod: 404 Not Found", TD, "go-module-404", ()),
    ("java", "java.lang.OutOfMemoryError", "Java heap space", RA, "java-heap", ()),
    ("java", "java.net.ConnectException", "Connection refused (Connection refused)", NC, "java-connect-refused", ()),
    ("bazel", "", "ERROR: /src/BUILD:{n}:10: no such target '//lib:{word}': target '{word}' not declared in package 'lib'", TC, "bazel-no-target", ()),
    ("cmake", "", "CMake Error at CMakeLists.txt:{n} (find_package):\n  Could not find a package configuration file provided by \"CUDAToolkit\" with any of the following names:", TD, "cmake-find-package", ()),
    ("nvcc", "", "nvcc fatal   : Unsupported gpu architecture 'compute_90'", HC, "nvcc-unsupported-arch", (TD,)),
    ("tox", "", "ERROR: InterpreterNotFound: python3.{n}", TD, "tox-interpreter", ()),
    ("poetry", "SolverProblemError", "Because app depends on {pkg} ({ver}) which doesn't match any versions, version solving failed.", TD, "poetry-solver", ()),
    ("scipy", "numpy.linalg.LinAlgError", "Matrix is singular.", TE, "scipy-singular", ()),
    ("celery", "celery.exceptions.WorkerLostError", "Worker exited prematurely: signal 9 (SIGKILL) Job: {n}.", RA, "celery-worker-lost", (WC,)),
]


def add_blind(c: Any, seed: int = 12) -> None:
    rng = random.Random(seed)
    for library, type_, template, category, pattern, alternatives in BLIND_FORMATS:
        for _ in range(BLIND_VARIANTS):
            c.add("documented", type_, template.format(**_values(rng)), category, pattern, library=library,
                  alternatives=list(alternatives))


# A second batch, written and labelled after the first joined the corpus and the rules had been
# extended for what the first run missed; classified once before it joined in turn.
BLIND_FORMATS_2: list[tuple[str, str, str, str, str, tuple[str, ...]]] = [
    ("lightning", "lightning_fabric.utilities.exceptions.MisconfigurationException", "No supported gpu backend found!", HA, "lightning-no-gpu-backend", (TC,)),
    ("lightning", "lightning_fabric.utilities.exceptions.MisconfigurationException", "You requested gpu: [0, 1, 2, 3]\n But your machine only has: [0]", HA, "lightning-too-few-gpus", (TC,)),
    ("transformers", "OSError", "Can't load tokenizer for 'org/model-{n}'. If you were trying to load it from 'https://huggingface.co/models', make sure you don't have a local directory with the same name.", TD, "transformers-tokenizer", (TC, NC)),
    ("deepspeed", "deepspeed.ops.op_builder.builder.CUDAMismatchException", ">- DeepSpeed Op Builder: Installed CUDA version 12.{gpu} does not match the version torch was compiled with 11.8, unable to compile cuda/cpp extensions without a matching cuda version.", TD, "deepspeed-cuda-mismatch", ()),
    ("apex", "RuntimeError", "Cuda extensions are being compiled with a version of Cuda that does not match the version used to compile Pytorch binaries.  Pytorch binaries were compiled with Cuda 11.{gpu}.", TD, "apex-cuda-mismatch", ()),
    ("torch-inductor", "torch._dynamo.exc.BackendCompilerFailed", "backend='inductor' raised:\nRuntimeError: Found Tesla P100 which is too old to be supported by the triton GPU compiler, which is used as the backend. Triton only supports devices of CUDA Capability >= 7.0, but your device is of CUDA capability 6.0", HC, "inductor-gpu-too-old", ()),
    ("torch", "RuntimeError", "Distributed package doesn't have NCCL built in", TD, "torch-no-nccl", ()),
    ("torch", "torch.distributed.DistStoreError", "Timed out after {secs} seconds waiting for clients. {gpu}/8 clients joined.", NT, "torch-store-timeout", ()),
    ("mlflow", "mlflow.exceptions.MlflowException", "API request to endpoint /api/2.0/mlflow/runs/create failed with error code 403 != 200. Response body: 'Forbidden'", TC, "mlflow-403", ()),
    ("wandb", "wandb.errors.CommError", "Network error (ConnectionError), entering retry loop.", NC, "wandb-network", ()),
    ("botocore", "botocore.exceptions.ClientError", "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied", TC, "boto-access-denied", ()),
    ("google-api-core", "google.api_core.exceptions.ServiceUnavailable", "503 Getting metadata from plugin failed with error: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))", WO, "gcp-503", (NC,)),
    ("azure-core", "azure.core.exceptions.ServiceRequestError", "<urllib3.connection.HTTPSConnection object at {addr}>: Failed to establish a new connection: [Errno 110] Connection timed out", NT, "azure-connect-timeout", (NC,)),
    ("sqlalchemy", "sqlalchemy.exc.OperationalError", "(psycopg2.OperationalError) could not translate host name \"db-{n}\" to address: Name or service not known", NC, "sqlalchemy-dns", ()),
    ("sqlalchemy", "sqlalchemy.exc.TimeoutError", "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00", WO, "sqlalchemy-pool", (RA, NT)),
    ("alembic", "alembic.util.exc.CommandError", "Can't locate revision identified by '{id}'", TC, "alembic-revision", ()),
    ("docker-py", "docker.errors.ImageNotFound", "404 Client Error for http+docker://localhost/v1.43/images/create: Not Found (\"pull access denied for ml/train, repository does not exist or may require 'docker login'\")", TD, "dockerpy-image-not-found", ()),
    ("s3fs", "FileNotFoundError", "bucket-{n}/data/train.parquet", TC, "s3fs-not-found", ()),
    ("uvicorn", "", "ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', {port}): address already in use", RA, "uvicorn-bind", ()),
    ("gunicorn", "", "[CRITICAL] WORKER TIMEOUT (pid:{pid})", NT, "gunicorn-worker-timeout", (WO,)),
    ("nginx", "", "upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}", NT, "nginx-upstream-timeout", ()),
    ("nbclient", "nbclient.exceptions.CellTimeoutError", "A cell timed out while it was being executed, after {secs} seconds.", NT, "nbclient-cell-timeout", ()),
    ("nbclient", "nbclient.exceptions.DeadKernelError", "Kernel died", WC, "nbclient-dead-kernel", ()),
    ("selenium", "selenium.common.exceptions.WebDriverException", "Message: unknown error: cannot find Chrome binary", TD, "selenium-no-chrome", ()),
    ("playwright", "playwright._impl._errors.TimeoutError", "Page.goto: Timeout {ms}ms exceeded.", NT, "playwright-goto-timeout", ()),
    ("protobuf", "google.protobuf.message.DecodeError", "Error parsing message with type 'train.Config{n}'", TE, "protobuf-decode", (TC,)),
    ("msgpack", "msgpack.exceptions.ExtraData", "unpack(b) received extra data.", TE, "msgpack-extra-data", ()),
    ("rocblas", "", "rocBLAS error: Cannot read /opt/rocm/lib/rocblas/library/TensileLibrary.dat: No such file or directory for GPU arch : gfx10{n}", HC, "rocblas-arch", (TD,)),
    ("lsf", "", "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit.", RA, "lsf-memlimit", ()),
    ("pbs", "", "=>> PBS: job killed: walltime {secs} exceeded limit 3600", NT, "pbs-walltime", ()),
]


def add_blind_2(c: Any, seed: int = 13) -> None:
    rng = random.Random(seed)
    for library, type_, template, category, pattern, alternatives in BLIND_FORMATS_2:
        for _ in range(BLIND_VARIANTS):
            c.add("documented", type_, template.format(**_values(rng)), category, pattern, library=library,
                  alternatives=list(alternatives))


# A third batch, labelled after the second joined the corpus and the type-word layer was added
# (written for what the second batch missed); classified once before it joined in turn.
BLIND_FORMATS_3: list[tuple[str, str, str, str, str, tuple[str, ...]]] = [
    ("keras", "ValueError", "Input 0 of layer \"dense\" is incompatible with the layer: expected axis -1 of input shape to have value 784, but received input with shape (None, {n}, 28)", TE, "keras-incompatible-input", ()),
    ("httpcore", "httpcore.ConnectError", "[Errno -2] Name or service not known", NC, "httpcore-dns", ()),
    ("trio", "trio.TooSlowError", "", NT, "trio-too-slow", ()),
    ("asyncpg", "asyncpg.exceptions.TooManyConnectionsError", "sorry, too many clients already", WO, "asyncpg-too-many", (RA,)),
    ("asyncpg", "asyncpg.exceptions.InvalidPasswordError", "password authentication failed for user \"ci{n}\"", TC, "asyncpg-password", ()),
    ("mysql-connector", "mysql.connector.errors.DatabaseError", "2003 (HY000): Can't connect to MySQL server on '{host}:3306' (111)", NC, "mysql-cant-connect", ()),
    ("pika", "pika.exceptions.AMQPConnectionError", "", NC, "pika-amqp-connection", ()),
    ("pyzmq", "zmq.error.ZMQError", "Address already in use (addr='tcp://*:{port}')", RA, "zmq-address-in-use", ()),
    ("tritonclient", "tritonclient.utils.InferenceServerException", "[StatusCode.UNAVAILABLE] failed to connect to all addresses; last error: UNKNOWN: ipv4:{ip}:8001", NC, "triton-client-unavailable", ()),
    ("mpi4py", "mpi4py.MPI.Exception", "MPI_ERR_TRUNCATE: message truncated", TE, "mpi4py-truncate", ()),
    ("hydra", "hydra.errors.MissingConfigException", "Cannot find primary config 'train{n}'. Check that it's in your config search path.", TC, "hydra-missing-config", ()),
    ("lightgbm", "lightgbm.basic.LightGBMError", "GPU Tree Learner was not enabled in this build.\nPlease recompile with CMake option -DUSE_GPU=1", TD, "lightgbm-no-gpu-build", (HC,)),
    ("xgboost", "xgboost.core.XGBoostError", "[10:21:33] /workspace/src/tree/updater_gpu_hist.cu:{n}: Exception in gpu_hist: NCCL failure :unhandled cuda error", HA, "xgboost-nccl", (WC,)),
    ("catboost", "_catboost.CatBoostError", "catboost/cuda/cuda_lib/cuda_base.h:281: CUDA error 35: CUDA driver version is insufficient for CUDA runtime version", HC, "catboost-driver", ()),
    ("spacy", "OSError", "[E050] Can't find model 'en_core_web_sm'. It doesn't seem to be a Python package or a valid path to a data directory.", TD, "spacy-model-missing", ()),
    ("nltk", "LookupError", "\n**********************************************************************\n  Resource punkt not found.\n  Please use the NLTK Downloader to obtain the resource:", TD, "nltk-resource", ()),
    ("safetensors", "safetensors_rust.SafetensorError", "Error while deserializing header: HeaderTooLarge", TE, "safetensors-header", (TD,)),
    ("datasets", "datasets.exceptions.DatasetNotFoundError", "Dataset 'org/ds-{n}' doesn't exist on the Hub or cannot be accessed.", TC, "datasets-not-found", (TD,)),
    ("minio", "minio.error.S3Error", "S3 operation failed; code: NoSuchBucket, message: The specified bucket does not exist, resource: /ckpt-{n}", TC, "minio-no-bucket", ()),
    ("ansible", "", "fatal: [{node}]: UNREACHABLE! => {{\"changed\": false, \"msg\": \"Failed to connect to the host via ssh: ssh: connect to host {ip} port 22: No route to host\", \"unreachable\": true}}", NC, "ansible-unreachable", ()),
    ("terraform", "", "Error: creating EC2 Instance: InsufficientInstanceCapacity: We currently do not have sufficient p4d.24xlarge capacity in the Availability Zone you requested (us-east-1a).", HA, "terraform-capacity", (WO,)),
    ("kubectl", "", "error: You must be logged in to the server (Unauthorized)", TC, "kubectl-unauthorized", ()),
    ("podman", "", "Error: initializing source docker://ml/train:{ver}: reading manifest {ver} in docker.io/ml/train: manifest unknown", TD, "podman-manifest", ()),
    ("gevent", "gevent.timeout.Timeout", "{secs} seconds", NT, "gevent-timeout", ()),
    ("starlette", "starlette.websockets.WebSocketDisconnect", "1006", WD, "starlette-ws-disconnect", ()),
    ("torch-dataloader", "RuntimeError", "DataLoader worker (pid {pid}) is killed by signal: Killed. ", RA, "dataloader-killed", (WC,)),
    ("torch-dataloader", "RuntimeError", "DataLoader worker (pid(s) {pid}) exited unexpectedly", WC, "dataloader-exited", ()),
    ("jax", "jax.errors.UnexpectedTracerError", "Encountered an unexpected tracer. A function transformed by JAX had a side effect, allowing for a reference to an intermediate value with type float32[] to escape.", TE, "jax-unexpected-tracer", ()),
]


def add_blind_3(c: Any, seed: int = 14) -> None:
    rng = random.Random(seed)
    for library, type_, template, category, pattern, alternatives in BLIND_FORMATS_3:
        for _ in range(BLIND_VARIANTS):
            c.add("documented", type_, template.format(**_values(rng)), category, pattern, library=library,
                  alternatives=list(alternatives))


# Batches 4 and on: JSON Lines in ``blind/`` (library, type, message, category, alternatives,
# exit_code, signal, source_note), written and labelled by a labeller who never read the rules or
# the model, each from libraries and tools not in the corpus before it. Each was classified once as
# the classifier stood (the first figure is in the README) before it joined the corpus.
BLIND_DIR = Path(__file__).resolve().parent / "blind"

# A labeller sometimes wrote, under another tool's name, an error the corpus already held (the
# same errno, the same runtime message). Each pair below was read and judged the same error; the
# later report takes the earlier one's pattern label so grouping is scored against one truth.
SAME_ERROR_AS = {
    "websockify-batch16-45": "socket-connection-refused",
    "spack-batch16-25": "enospc",
    "cffi-batch15-35": "module-not-found",
    "gensim-batch15-33": "cannot-import-name",
    "detectron2-batch15-67": "cuda-no-kernel-image",
    "therm_throt-batch16-72": "kernel-cpu-throttle",
    "btrfs-batch15-75": "kernel-hung-task",
    "pgpool-batch16-78": "pg-too-many-clients",
    "oc-batch16-9": "kubectl-unauthorized",
    "next.js-batch16-22": "nodejs-batch6-3",
    "kpartx-batch15-87": "dmsetup-batch9-12",
    "ginkgo-batch15-96": "gomega-batch9-76",
    "xorg-batch16-59": "xvfb-batch10-65",
    "watchpack-batch16-28": "chokidar-batch11-5",
    "hyper-batch15-42": "reqwest-batch11-21",
    "jlink-batch15-14": "segger-jlink-batch11-33",
    "edgetpu-batch15-20": "pycoral-batch11-36",
    "seastar-batch16-74": "redpanda-batch11-48",
    "k3s-batch15-56": "coredns-batch14-58",
    "bcrypt-batch15-34": "better-sqlite3-batch14-86",
    "xargs-batch16-99": "findutils-batch14-98",
    "nodemailer-batch16-41": "amqplib-batch15-40",
    "sshfs-batch18-40": "connection-reset",
    "sendgrid-batch18-58": "urllib-http-429",
    "gymnasium-batch17-66": "module-not-found",
    "mamba-ssm-batch17-23": "cuda-no-kernel-image",
    "jetson-batch17-17": "no-gpus-available",
    "jbd2-batch17-94": "kernel-hung-task",
    "fs-extra-batch17-41": "nodejs-batch6-12",
    "cugraph-batch17-32": "cudf-batch7-3",
    "ice-batch17-93": "mlx5_core-batch7-44",
    "sshfs-batch18-33": "fuse-batch8-10",
    "sqlcmd-batch18-31": "mssql-batch9-13",
    "decord-batch17-76": "faulthandler-batch10-64",
    "jetson-batch17-96": "tegra-soctherm-batch14-49",
    "loki-batch17-75": "coredns-batch14-58",
    "loki-batch17-92": "promtail-batch14-66",
    "openfpgaloader-batch18-69": "libftdi-batch15-13",
    "pyenv-batch18-13": "rbenv-batch16-31",
    "web-llm-batch18-82": "mlc-web-llm-batch17-26",
    "openslide-batch20-14": "shared-object-missing",
    "oom_reaper-batch20-71": "oom-killer-killed-process",
    "trtexec-batch20-88": "trt-incompatible-plan",
    "nvenc-batch20-92": "ffmpeg-batch5-33",
    "libmount-batch19-96": "util-linux-batch6-11",
    "virsh-batch20-75": "libvirt-batch6-14",
    "argon2-batch19-30": "nodejs-batch6-86",
    "txgbe-batch20-95": "mlx5_core-batch7-44",
    "System.Net.Http-batch20-32": "dotnet-batch9-25",
    "pythonnet-batch20-43": "dotnet-batch9-59",
    "libcamera-batch19-1": "rpicam-apps-batch10-38",
    "minicom-batch19-10": "picocom-batch11-31",
    "pyvips-batch20-15": "weasyprint-batch11-87",
    "thanos-batch20-39": "coredns-batch14-58",
    "aer-batch19-79": "pcieport-batch16-71",
    "igb-batch19-6": "igc-batch17-16",
    "numcodecs-batch20-91": "chromadb-batch17-22",
    "xmlrpc-batch22-92": "socket-connection-refused",
    "pathlib-batch22-79": "rmdir-not-empty",
    "memcg-batch21-23": "oom-killer-invoked",
    "hung_task-batch21-78": "kernel-hung-task",
    "lockup_detector-batch21-81": "kernel-soft-lockup",
    "smart_open-batch22-60": "boto-slowdown",
    "os-batch22-80": "windows-batch5-9",
    "ggml-batch21-17": "llama.cpp-batch5-31",
    "cxgb4-batch21-80": "mlx5_core-batch7-44",
    "restsharp-batch22-96": "dotnet-batch9-25",
    "gperftools-batch21-26": "tcmalloc-batch20-63",
    "openfaas-batch22-57": "ocelot-batch22-56",
    "aio-pika-batch23-36": "asyncio-connect-call-failed",
    "imaplib-batch23-49": "socket-timed-out",
    "tinygrad-batch24-35": "cuda-error-oom",
    "causal-conv1d-batch23-11": "cuda-no-kernel-image",
    "keydb-batch23-24": "redis-oom",
    "colcon-batch23-33": "cmake-find-package",
    "nlohmann_json-batch24-40": "cmake-find-package",
    "axum-batch23-64": "rust-std-batch5-47",
    "ember-cli-batch23-26": "nodejs-batch6-3",
    "del-batch23-87": "nodejs-batch6-12",
    "sycl-batch24-17": "dpcpp-sycl-batch6-31",
    "sycl-batch24-23": "dpcpp-sycl-batch6-39",
    "nestjs-batch24-38": "nodejs-batch6-86",
    "bnx2x-batch23-67": "mlx5_core-batch7-44",
    "ib_write_bw-batch23-69": "perftest-batch7-45",
    "yaml-cpp-batch24-41": "ld-batch7-82",
    "globus-compute-batch23-80": "parsl-batch9-53",
    "annoy-batch23-62": "faulthandler-batch10-64",
    "gatsby-batch23-25": "chokidar-batch11-5",
    "ptp4l-batch24-70": "linuxptp-batch11-95",
    "ipykernel-batch23-60": "jupyterlab-batch12-59",
    "teleport-batch24-64": "coredns-batch14-58",
    "mmsegmentation-batch23-31": "mmdet-batch14-84",
    "mmc-batch23-70": "sdhci-batch20-97",
    "tmp-batch24-90": "nyc-batch22-82",
    "ddtrace-batch25-28": "socket-timed-out",
    "hypercorn-batch25-4": "emfile-socket",
    "alphafold-batch25-79": "module-not-found",
    "kornia-batch25-38": "mps-op-not-implemented",
    "tiktoken-batch26-24": "requests-connect-timeout",
    "qede-batch26-43": "mlx5_core-batch7-44",
    "nfp-batch26-44": "mlx5_core-batch7-44",
    "riak-batch26-51": "erlang-otp-batch7-56",
    "jfrog-cli-batch25-18": "doctl-batch9-18",
    "torchaudio-batch26-63": "faulthandler-batch10-64",
    "iscsiadm-batch25-12": "open-iscsi-batch11-14",
    "k9s-batch25-60": "coredns-batch14-58",
    "appveyor-batch25-93": "foreman-batch14-100",
    "celery-batch28-55": "connection-reset",
    "python-batch28-8": "rmdir-not-empty",
    "python-batch28-76": "recursion-error",
    "pytest-batch28-71": "pytest-assert-equal",
    "pytorch-batch27-36": "kornia-batch25-74",
    "rocm-smi-batch28-33": "rocm-smi-batch27-16",
    "kubernetes-batch28-51": "kubernetes-batch27-22",
    "ray-batch28-54": "ray-batch27-23",
    "tritonclient-batch28-69": "tritonclient-batch27-34",
    "torch-batch28-42": "pytorch-batch27-73",
    "torch-batch28-36": "pytorch-batch27-75",
    "linux-batch28-45": "linux-kernel-batch27-80",
    "linux-kernel-batch29-79": "nvme-batch5-39",
    "pytorch-batch29-11": "gloo-batch7-53",
    "vllm-batch29-71": "sglang-batch8-30",
    "openmpi-batch29-60": "prrte-batch11-53",
    "kubectl-batch29-33": "kube-apiserver-batch15-81",
    "linux-kernel-batch29-77": "pcieport-batch16-71",
    "pytest-batch29-39": "kornia-batch25-74",
    "python-batch30-2": "enospc",
    "huggingface_hub-batch30-96": "requests-429",
    "pip-batch30-23": "pip-resolution-impossible",
    "uv-batch30-24": "uv-batch4-65",
    "unittest-batch30-18": "nose2-batch20-55",
    "kubernetes-batch30-95": "kubernetes-batch27-22",
    "urllib-batch30-9": "python-batch28-28",
    "pytorch-batch30-94": "python-batch28-29",
    "pytest-batch30-19": "pytest-batch28-73",
    "pip-batch30-84": "pip-batch28-78",
    "python-batch32-9": "rmdir-busy",
    "openai-batch32-79": "openai-batch6-24",
    "ray-batch32-34": "ray-batch28-53",
    "jax-batch32-14": "tritonclient-batch29-10",
    "nvidia-smi-batch32-68": "nvidia-smi-batch29-26",
    "huggingface_hub-batch32-39": "requests-batch30-79",
    "pytorch-batch31-71": "cuda-device-assert",
    "xformers-batch31-36": "xformers-no-operator",
    "pip-batch31-79": "pip-wheel-build",
    "kubectl-batch31-100": "flux-batch8-78",
    "requests-batch31-17": "requests-batch28-15",
    "conda-batch31-78": "conda-batch30-25",
    "python-batch34-4": "enospc",
    "python-batch34-7": "enomem-mmap",
    "python-batch34-10": "rmdir-busy",
    "python-batch34-14": "mkdir-exists",
    "python-batch34-80": "shared-object-missing",
    "amd-smi-batch34-84": "shared-object-missing",
    "python-batch34-76": "int-invalid-literal",
    "pip-batch33-79": "pip-resolution-impossible",
    "linux-kernel-batch33-60": "kernel-segfault",
    "smartctl-batch34-45": "smartctl-batch4-37",
    "uv-batch33-80": "uv-batch4-65",
    "jenkins-batch33-93": "jenkins-batch6-96",
    "github-actions-batch33-92": "github-actions-runner-batch6-97",
    "python-batch33-81": "flash-attn-batch29-96",
    "triton-batch33-71": "triton-batch29-34",
    "pytest-batch36-10": "pytest-collect-import",
    "setuptools-batch36-87": "cannot-import-name",
    "pytorch-batch36-72": "cuda-illegal-access",
    "playwright-batch36-34": "playwright-goto-timeout",
    "gnu-time-batch36-94": "foreman-batch14-100",
    "requests-batch36-28": "requests-batch28-15",
    "metal-batch36-93": "metal-batch29-53",
    "execnet-batch36-65": "execnet-batch30-72",
    "pytest-batch36-9": "pytest-batch33-82",
    "tox-batch39-14": "rmdir-busy",
    "nox-batch39-67": "requests-429",
    "submitit-batch39-41": "flash-attn-arch",
    "docker-batch39-29": "docker-no-gpu-driver",
    "pytest-xdist-batch39-58": "xdist-worker-crashed",
    "github-actions-batch39-51": "github-actions-runner-batch6-52",
    "buildkite-batch39-55": "buildkite-agent-batch7-52",
    "buildkite-agent-batch39-99": "buildkite-agent-batch7-95",
    "jenkins-batch39-92": "jenkins-batch6-96",
    "gitlab-runner-batch39-97": "gitlab-runner-batch6-98",
    "selenium-batch39-13": "chromedriver-batch10-11",
    "kubectl-batch39-40": "nerdctl-batch18-83",
    "airflow-batch39-38": "aphrodite-engine-batch23-17",
    "ray-batch39-54": "ray-batch27-23",
    "dask-batch39-53": "dask-batch27-24",
    "kubelet-batch39-34": "kubernetes-batch27-71",
    "ray-batch39-80": "ray-batch27-96",
    "ray-batch39-66": "ray-batch28-68",
    "jenkins-batch39-70": "jenkins-batch31-65",
    "github-actions-batch39-86": "github-actions-batch33-85",
    "puppeteer-batch39-18": "playwright-batch36-3",
    "dask-batch39-22": "dask-batch36-32",
}


def add_blind_batches(c: Any) -> None:
    for path in sorted(BLIND_DIR.glob("batch*.jsonl")):
        batch = path.stem
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            r = json.loads(line)
            pattern = f"{r['library']}-{batch}-{n}"
            c.add("documented", r.get("type") or "", r["message"], r["category"], SAME_ERROR_AS.get(pattern, pattern),
                  exit_code=r.get("exit_code"), signal=r.get("signal"), library=r["library"],
                  alternatives=list(r.get("alternatives") or ()))
