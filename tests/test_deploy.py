"""The container recipe agrees with the real CLI, and its exact commands work as local processes.

No Docker engine is needed (tests/deploy/test_compose.py runs the real cluster): Dockerfile.coordinator
and docker-compose.yml are parsed, every command, flag, port, path and environment variable in them
is checked against the parsers the programs use, then the compose commands are started as
processes (service host -> 127.0.0.1, /data and /worker-token -> temp dirs, 8080 -> a free port)
with no token given, as a plain `docker compose up` starts them, and the image's HEALTHCHECK is run
against them.
"""
from __future__ import annotations

import fnmatch
import importlib.machinery
import importlib.util
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from coordinator.client import ApiClient, ApiError
from coordinator.config import build_parser as coordinator_parser, load_config
from tests.deploy_recipe import (COMPOSE, DOCKERFILE, DOCKERIGNORE, ENTRYPOINT, MOUNTS, TOKENS, argv_of, compose,
                                 dockerfile, env_example, env_filled_in, flags_in, healthcheck_url, image_cmd,
                                 image_healthcheck, instructions, interpolate, option, option_strings, service,
                                 service_env)
from tests.harness import ROOT, free_port, wait_until
from worker.__main__ import build_parser as worker_parser


# ---- the image ----------------------------------------------------------------------------------

def test_dockerfile_one_recipe_two_bases_non_root_and_offline_from_wheels():
    lines = dockerfile()
    # ARG BASE_IMAGE (default python:3.11-slim) is the only thing the two ways of building change.
    first_from = next(i for i, (kw, _) in enumerate(lines) if kw == "FROM")
    args = [a for kw, a in lines[:first_from] if kw == "ARG"]
    assert "BASE_IMAGE=python:3.11-slim" in args, args
    froms = instructions("FROM")
    assert len(froms) >= 1 and all(f.split()[0] == "${BASE_IMAGE}" for f in froms), froms
    users = [(i, args) for i, (kw, args) in enumerate(lines) if kw == "USER"]
    assert users and users[-1][1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    cmd_at = next(i for i, (kw, _) in enumerate(lines) if kw == "CMD")
    assert users[-1][0] < cmd_at
    # Dependencies: from docker/wheels with --no-index when make image filled it, else the index.
    runs = instructions("RUN")
    deps = next(r for r in runs if "/wheels" in r)
    assert re.search(r"--no-index --find-links /wheels", deps) and "ls /wheels/*.whl" in deps
    assert any(c.split()[0] == "docker/wheels/" for c in instructions("COPY"))
    assert (ROOT / "docker" / "wheels" / "README").is_file(), "the folder COPY reads must exist in a fresh clone"
    # The source (migrations beside the packages) is copied and installed editable, offline.
    copied = {c.split()[0] for c in instructions("COPY") if not c.startswith("--from")}
    assert {"coordinator", "worker", "error_handling", "migrations"} <= copied, copied
    assert any(re.search(r"pip install\b.*--no-index.*\s-e\s+/app", r) for r in runs)
    assert (ROOT / "migrations" / "sqlite").is_dir() and (ROOT / "migrations" / "duckdb").is_dir()
    assert instructions("EXPOSE") == ["8080"]
    for mount in MOUNTS:
        assert any(mount in r and "chown dtf:dtf" in r for r in runs), f"{mount} must belong to the image's user"
    env = " ".join(instructions("ENV"))
    assert "DTF_DATA_DIR=/data" in env, "`dtf token` in the container finds the API token"


def in_tmp(argv: list[str], tmp: Path) -> list[str]:
    """The container paths (/data, /worker-token) moved under tmp."""
    out = []
    for arg in argv:
        for mount in MOUNTS:
            if arg.startswith(mount + "/"):
                arg = str(tmp / mount.strip("/") / arg.removeprefix(mount + "/"))
        out.append(arg)
    return out


def test_image_command_is_a_valid_coordinator_command_storing_into_the_volumes(tmp_path):
    argv = image_cmd()
    assert argv[:3] == ["python", "-m", "coordinator"]
    assert set(flags_in(argv[3:])) <= option_strings(coordinator_parser())
    config = load_config(in_tmp(argv[3:], tmp_path), env={})
    assert config.host == "0.0.0.0"
    assert str(config.port) in instructions("EXPOSE")
    plain = load_config(argv[3:], env=env_filled_in())
    for path in (plain.db_path, plain.state_path, plain.api_token_file):
        assert Path(path).parent == Path("/data"), path
    assert Path(plain.worker_token_file).parent == Path("/worker-token")
    # No token given: both generated, 0600, where the workers (worker token) and `dtf token` look.
    api_file, worker_file = Path(config.api_token_file), Path(config.worker_token_file)
    assert config.api_token == api_file.read_text().strip() and config.worker_token == worker_file.read_text().strip()
    assert config.api_token != config.worker_token
    assert {oct(api_file.stat().st_mode & 0o777), oct(worker_file.stat().st_mode & 0o777)} == {"0o600"}
    # Given tokens win over the files.
    given = env_filled_in()
    config = load_config(in_tmp(argv[3:], tmp_path), env=given)
    assert (config.api_token, config.worker_token) == (given["DTF_API_TOKEN"], given["DTF_WORKER_TOKEN"])


@pytest.mark.parametrize("where", ["Dockerfile", "compose"])
def test_healthcheck_is_python_getting_health_on_the_coordinator_port(where):
    if where == "Dockerfile":
        argv = image_healthcheck()
    else:
        test = service("coordinator")["healthcheck"]["test"]
        assert test[0] == "CMD", test
        argv = test[1:]
    url = urlparse(healthcheck_url(argv))
    assert url.hostname in ("127.0.0.1", "localhost") and url.path == "/health"
    assert url.port == int(option(image_cmd(), "--port"))


# ---- the compose file ---------------------------------------------------------------------------

def volumes_of(name: str) -> dict[str, tuple[str, str]]:
    """mount point -> (volume name, mode) for a service's volumes."""
    out = {}
    for spec in service(name).get("volumes", []):
        parts = spec.split(":")
        out[parts[1]] = (parts[0], parts[2] if len(parts) > 2 else "rw")
    return out


def test_compose_coordinator_builds_the_image_publishes_the_port_and_keeps_data_in_volumes(tmp_path):
    svc = service("coordinator")
    assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert interpolate(svc["build"]["args"]["BASE_IMAGE"], {}) == "python:3.11-slim"
    assert interpolate(svc["image"], {}) == "dtf:latest", "the tag `make image` builds"
    argv = argv_of(svc["command"])
    assert argv[:3] == ["python", "-m", "coordinator"]
    assert {"--dashboard", "--result-aggregator", "--load-balancer"} <= set(argv), "the whole product, as dtf up"
    assert set(flags_in(argv[3:])) <= option_strings(coordinator_parser())
    config = load_config(in_tmp(argv[3:], tmp_path), env=service_env("coordinator", {}))
    assert config.dashboard and config.host == "0.0.0.0"
    published = [interpolate(str(p), {}) for p in svc["ports"]]
    assert [p.rsplit(":", 1)[1] for p in published] == [str(config.port)]
    assert [p.split(":")[0] for p in published] == ["8080"], "default host port"
    mounts = volumes_of("coordinator")
    assert set(mounts) == set(MOUNTS) and all(mode == "rw" for _, mode in mounts.values())
    assert {name for name, _ in mounts.values()} <= set(compose()["volumes"]), "named volumes"
    plain = load_config(argv[3:], env=env_filled_in())
    for path in (plain.db_path, plain.state_path, plain.api_token_file):
        assert Path(path).parent == Path("/data")
    assert Path(plain.worker_token_file).parent == Path("/worker-token")
    assert svc["restart"] == "unless-stopped"
    assert set(svc["healthcheck"]) >= {"test", "interval", "retries"}


def test_compose_needs_no_env_file_and_given_tokens_win():
    text = COMPOSE.read_text()
    assert ":?" not in text, "nothing in the compose file may be required"
    assert not env_example(), ".env.example sets nothing: every line is optional"
    assert set(TOKENS) <= set(env_example(commented=True)), ".env.example shows how to give the tokens"
    coord, work = service_env("coordinator", {}), service_env("worker", {})
    assert not set(TOKENS) & (set(coord) | set(work)), "no token given: none set, so the files are used"
    given = env_filled_in()
    assert {k: service_env("coordinator", given)[k] for k in TOKENS} == given
    assert service_env("worker", given)["DTF_WORKER_TOKEN"] == given["DTF_WORKER_TOKEN"]
    assert "DTF_API_TOKEN" not in service_env("worker", given), "workers need only their own token"
    # The worker token lives in its own volume: read-write for the coordinator, read-only for the
    # workers, who do not mount the coordinator's data (and so never see the API token).
    coordinator_argv, worker_argv = argv_of(service("coordinator")["command"]), argv_of(service("worker")["command"])
    token_file = option(coordinator_argv, "--worker-token-file")
    assert option(worker_argv, "--token-file") == token_file
    volume, mode = volumes_of("worker")[str(Path(token_file).parent)]
    assert volumes_of("coordinator")[str(Path(token_file).parent)] == (volume, "rw") and mode == "ro"
    assert "/data" not in volumes_of("worker")
    assert Path(option(coordinator_argv, "--api-token-file")).parent == Path("/data")


def test_compose_environment_variables_are_settings_the_programs_read(monkeypatch, tmp_path):
    example = env_filled_in()
    coord_env = service_env("coordinator", example)
    known = {"DTF_" + s.lstrip("-").replace("-", "_").upper() for s in option_strings(coordinator_parser())
             if s.startswith("--") and s != "--help"}
    assert set(coord_env) <= known, set(coord_env) - known
    config = load_config(in_tmp(argv_of(service("coordinator")["command"])[3:], tmp_path), env=coord_env)
    for name, value in coord_env.items():
        field = name[4:].lower()
        field = next(f for f in (field, field + "_seconds") if hasattr(config, f))
        assert str(getattr(config, field)).lower() == value.lower(), name
    # The worker reads its environment when its parser is built: each variable must move a default.
    for key in [k for k in os.environ if k.startswith("DTF_")]:
        monkeypatch.delenv(key)
    plain = vars(worker_parser().parse_args([]))
    for name, value in service_env("worker", example).items():
        monkeypatch.setenv(name, value)
        changed = {k for k, v in vars(worker_parser().parse_args([])).items() if v != plain[k]}
        monkeypatch.delenv(name)
        assert changed, f"the worker ignores {name}"


def test_compose_worker_targets_the_coordinator_service_and_scales():
    svc = service("worker")
    coordinator = service("coordinator")
    assert svc.get("image") == coordinator.get("image") or svc.get("build") == coordinator.get("build")
    argv = argv_of(svc["command"])
    assert argv[0] == ENTRYPOINT.name, "the entry point that names the worker after its container"
    assert set(flags_in(argv[1:])) <= option_strings(worker_parser())
    url = urlparse(worker_parser().parse_args(argv[1:]).coordinator)
    container_port = int(str(coordinator["ports"][0]).rsplit(":", 1)[1])
    assert (url.scheme, url.hostname, url.port, url.path) == ("ws", "coordinator", container_port, "/ws")
    assert svc["depends_on"]["coordinator"]["condition"] == "service_healthy"
    assert svc["deploy"]["replicas"] >= 2
    assert svc.get("restart") in ("unless-stopped", "always", "on-failure")
    # Scaling needs distinct containers and distinct worker ids: nothing may pin either.
    assert "container_name" not in svc and "hostname" not in svc
    assert compose()["name"] == "dtf", "worker ids dtf-worker-<n>, whatever the clone's folder is called"
    assert "--worker-id" not in argv and "DTF_WORKER_ID" not in service_env("worker", env_filled_in())
    assert svc["healthcheck"].get("disable") is True, "the image's HTTP check would mark workers unhealthy"
    assert any(ENTRYPOINT.name in c and "/opt/dtf/bin" in c for c in instructions("COPY")), "on the image's PATH"


def test_dockerignore_keeps_local_state_out_and_the_source_in():
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatch(pre, pat.removeprefix("**/")) or fnmatch.fnmatch(pre, pat)
                   or fnmatch.fnmatch(pre.rsplit("/", 1)[-1], pat.removeprefix("**/"))
                   for pat in patterns for pre in prefixes)

    for path in (".venv/bin/python", ".git/HEAD", "coordinator/__pycache__/app.cpython-311.pyc",
                 "benchmark_db.duckdb", "coordinator_state.sqlite", ".pytest_cache/v", ".env", ".dtf/x.log",
                 "build/wheel-env/bin/pip"):
        assert ignored(path), path
    for path in ("pyproject.toml", "README.md", "coordinator/app.py", "worker/__main__.py", "error_handling/__init__.py",
                 "migrations/sqlite/001_initial.sql", "migrations/duckdb/001_initial.sql",
                 "docker/wheels/duckdb-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "docker/wheels/README",
                 "docker/dtf-worker-entrypoint"):
        assert not ignored(path), path


# ---- the worker entry point ---------------------------------------------------------------------

def entrypoint_module():
    loader = importlib.machinery.SourceFileLoader("dtf_worker_entrypoint", str(ENTRYPOINT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_entrypoint_reads_the_container_name_from_a_ptr_answer():
    """A DNS server on loopback answers the PTR query as Docker's does (a compressed name)."""
    ep = entrypoint_module()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    asked = []

    def answer() -> None:
        query, peer = sock.recvfrom(512)
        qid = query[:2]
        question = query[12:]
        asked.append(question)
        rdata = b"\x0cdtf-worker-2\x0bdtf_default\x00"
        reply = (qid + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question
                 + b"\xc0\x0c" + struct.pack("!HHIH", 12, 1, 600, len(rdata)) + rdata)
        sock.sendto(reply, peer)

    t = threading.Thread(target=answer)
    t.start()
    try:
        name = ep.ptr_name("172.18.0.5", "127.0.0.1", port=sock.getsockname()[1])
    finally:
        t.join(10)
        sock.close()
    assert name == "dtf-worker-2.dtf_default"
    assert asked and asked[0].startswith(b"\x015\x010\x0218\x03172\x07in-addr\x04arpa\x00")


def test_entrypoint_asks_only_dockers_dns_and_falls_back_to_the_hostname(tmp_path):
    ep = entrypoint_module()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.53\n")
    assert ep.container_name(str(resolv)) == socket.gethostname(), "no other DNS server is asked"
    assert ep.container_name(str(tmp_path / "missing")) == socket.gethostname()


# ---- the exact commands, as local processes -----------------------------------------------------

def localize(argv: list[str], data_dir: Path, port: int) -> list[str]:
    out = []
    for arg in argv:
        if arg == "python":
            arg = sys.executable
        elif arg == ENTRYPOINT.name:
            out.append(sys.executable)
            arg = str(ENTRYPOINT)
        elif any(arg.startswith(m + "/") for m in MOUNTS):
            arg = in_tmp([arg], data_dir)[0]
        else:
            arg = re.sub(r"(//(?:coordinator|127\.0\.0\.1|localhost)):8080\b", rf"\1:{port}", arg)
            arg = arg.replace("//coordinator:", "//127.0.0.1:")
        out.append(arg)
    return [str(port) if prev == "--port" else a for prev, a in zip([""] + out, out)]


@pytest.fixture
def processes():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_compose_commands_run_as_processes_with_no_token_given_pass_the_healthcheck_and_run_a_task(
        tmp_path, processes):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")}
    base_env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", TMPDIR=str(tmp_path),
                    PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

    coordinator_cmd = localize(argv_of(service("coordinator")["command"]), data_dir, port)
    with open(tmp_path / "coordinator.log", "wb") as log:
        coord = subprocess.Popen(coordinator_cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                                 env={**base_env, **service_env("coordinator", {})})
    processes.append(coord)
    api_token_file = data_dir / "data" / "api_token"
    wait_until(lambda: coord.poll() is None and api_token_file.exists(), 30, message="the API token to be generated")
    # `docker compose exec coordinator dtf token`, with the image's DTF_DATA_DIR.
    shown = subprocess.run([sys.executable, "-m", "coordinator.cli", "token"], capture_output=True, text=True,
                           timeout=30, env={**base_env, "DTF_DATA_DIR": str(api_token_file.parent)})
    assert shown.returncode == 0, shown.stderr
    client = ApiClient(f"http://127.0.0.1:{port}", shown.stdout.strip())

    def healthy() -> bool:
        assert coord.poll() is None, (tmp_path / "coordinator.log").read_text()
        try:
            return client.get("/health")["status"] == "ok"
        except ApiError:
            return False
    wait_until(healthy, 30, message="coordinator health")

    for check in (image_healthcheck(), service("coordinator")["healthcheck"]["test"][1:]):
        ok = subprocess.run(localize(check, data_dir, port), capture_output=True, timeout=20, env=base_env)
        assert ok.returncode == 0, ok.stderr
    down = subprocess.run(localize(image_healthcheck(), data_dir, free_port()), capture_output=True,
                          timeout=20, env=base_env)
    assert down.returncode != 0, "the health check must fail when nothing answers"

    with pytest.raises(ApiError, match="401"):
        ApiClient(f"http://127.0.0.1:{port}").get("/api/v1/status")
    client.get("/api/v1/status")

    worker_cmd = localize(argv_of(service("worker")["command"]), data_dir, port)
    assert f"ws://127.0.0.1:{port}/ws" in worker_cmd
    with open(tmp_path / "worker.log", "wb") as log:
        # DTF_WORKER_ID given: the entry point then asks no DNS server (outside a container there
        # is no Docker DNS to ask); tests/deploy/test_compose.py checks the names in containers.
        worker = subprocess.Popen(worker_cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                                  env={**base_env, **service_env("worker", {}), "DTF_WORKER_ID": "compose-local-1"})
    processes.append(worker)

    def connected() -> bool:
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        return any(w["worker_id"] == "compose-local-1" and w.get("connected")
                   for w in client.get("/api/v1/workers")["items"])
    wait_until(connected, 30, message="the compose worker to connect with the generated worker token")

    (task_id,) = client.post("/api/v1/tasks", {"tasks": [{"type": "python", "config": {
        "callable": "operator:add", "args": [2, 3]}}]})["task_ids"]
    task = wait_until(lambda: (t := client.get(f"/api/v1/tasks/{task_id}"))["status"] in
                      ("completed", "failed", "error", "timed_out", "cancelled") and t, 30,
                      message="the task to finish")
    assert task["status"] == "completed" and task["result"] == 5, task
    assert task["attempts"][-1]["worker_id"] == "compose-local-1"
    assert (data_dir / "data" / "coordinator_state.sqlite").exists(), "state must live in the /data volume"
    wait_until(lambda: (data_dir / "data" / "dtf_events.duckdb").exists(), 10,
               message="DuckDB file in the /data volume")
