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

from corpus_formats import HA, HC, NC, NT, RA, RC, TC, TD, TE, WC, WD, WO, _values

BLIND_VARIANTS = 3

BLIND_FORMATS: list[tuple[str, str, str, str, str, tuple[str, ...]]] = [
    ("accelerate", "ValueError", "fp16 mixed precision requires a GPU (not 'mps').", HC, "accelerate-fp16-needs-gpu", (HA,)),
    ("vllm", "ValueError", "The model's max seq len ({pid}) is larger than the maximum number of tokens that can be stored in KV cache ({n}). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.", RA, "vllm-kv-cache", (TC,)),
    ("numba", "numba.cuda.cudadrv.error.CudaSupportError", "Error at driver init: Call to cuInit results in CUDA_ERROR_NO_DEVICE (100)", HA, "numba-no-device", ()),
    ("numba", "numba.core.errors.TypingError", "Failed in nopython mode pipeline (step: nopython frontend)\nUnknown attribute '{word}' of type int64", TE, "numba-typing", ()),
    ("pyarrow", "pyarrow.lib.ArrowInvalid", "Could not convert 'abc{n}' with type str: tried to convert to int64", TE, "arrow-invalid", (TC,)),
    ("pyarrow", "pyarrow.lib.ArrowIOError", "Failed to open local file '{path}'. Detail: [errno 2] No such file or directory", TC, "arrow-io-missing", ()),
    ("h5py", "OSError", "Unable to open file (unable to lock file, errno = 11, error message = 'Resource temporarily unavailable')", RC, "h5py-lock", (RA,)),
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
    ("catboost", "_catboost.CatBoostError", "catboost/cuda/cuda_lib/cuda_base.h:281: CUDA error 35: CUDA driver version is insufficient for CUDA runtime version", TD, "catboost-driver", (HC,)),
    ("spacy", "OSError", "[E050] Can't find model 'en_core_web_sm'. It doesn't seem to be a Python package or a valid path to a data directory.", TD, "spacy-model-missing", ()),
    ("nltk", "LookupError", "\n**********************************************************************\n  Resource punkt not found.\n  Please use the NLTK Downloader to obtain the resource:", TD, "nltk-resource", ()),
    ("safetensors", "safetensors_rust.SafetensorError", "Error while deserializing header: HeaderTooLarge", TE, "safetensors-header", (TD,)),
    ("datasets", "datasets.exceptions.DatasetNotFoundError", "Dataset 'org/ds-{n}' doesn't exist on the Hub or cannot be accessed.", TC, "datasets-not-found", (TD,)),
    ("minio", "minio.error.S3Error", "S3 operation failed; code: NoSuchBucket, message: The specified bucket does not exist, resource: /ckpt-{n}", TC, "minio-no-bucket", ()),
    ("ansible", "", "fatal: [{node}]: UNREACHABLE! => {{\"changed\": false, \"msg\": \"Failed to connect to the host via ssh: ssh: connect to host {ip} port 22: No route to host\", \"unreachable\": true}}", NC, "ansible-unreachable", ()),
    ("terraform", "", "Error: creating EC2 Instance: InsufficientInstanceCapacity: We currently do not have sufficient p4d.24xlarge capacity in the Availability Zone you requested (us-east-1a).", HA, "terraform-capacity", (WO,)),
    ("kubectl", "", "error: You must be logged in to the server (Unauthorized)", TC, "kubectl-unauthorized", ()),
    ("podman", "", "Error: initializing source docker://ml/train:{ver}: reading manifest {ver} in hub.example.org/ml/train: manifest unknown", TD, "podman-manifest", ()),
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
# same errno, the same runtime message). Each pair in same_error_as.json was read and judged the
# same error; the later report takes the earlier one's pattern label so grouping is scored
# against one truth.
SAME_ERROR_AS: dict[str, str] = json.loads(
    (Path(__file__).resolve().parent / "same_error_as.json").read_text(encoding="utf-8"))["pairs"]


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
