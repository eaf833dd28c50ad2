"""The container recipe agrees with the real CLI, and its exact commands work as local processes.

No Docker engine is needed: Dockerfile.coordinator and docker-compose.yml are parsed, every
command, flag, port, path and environment variable in them is checked against the parsers the
programs use, then the compose commands are started as processes (service host -> 127.0.0.1,
/data -> a temp dir, 8080 -> a free port) and the image's HEALTHCHECK is run against them.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from coordinator.client import ApiClient, ApiError
from coordinator.tokens import weakness
from coordinator.config import ConfigError, build_parser as coordinator_parser, load_config
from tests.harness import ROOT, free_port, wait_until
from worker.__main__ import build_parser as worker_parser

DOCKERFILE = ROOT / "Dockerfile.coordinator"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
TOKENS = ("DTF_WORKER_TOKEN", "DTF_API_TOKEN")


# ---- parsing helpers ----------------------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def instructions(name: str) -> list[str]:
    return [args for kw, args in dockerfile() if kw == name]


def exec_form(raw: str) -> list[str]:
    argv = json.loads(raw)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), raw
    return argv


def image_cmd() -> list[str]:
    cmds = instructions("CMD")
    assert len(cmds) == 1
    return exec_form(cmds[0])


def image_healthcheck() -> list[str]:
    (raw,) = instructions("HEALTHCHECK")
    _options, sep, command = raw.partition("CMD ")
    assert sep, "HEALTHCHECK needs a CMD"
    return exec_form(command)


def volume_path() -> str:
    (raw,) = instructions("VOLUME")
    (path,) = exec_form(raw) if raw.startswith("[") else raw.split()
    return path


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def argv_of(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def env_filled_in() -> dict[str, str]:
    """.env.example as a user leaves it: the placeholder tokens replaced by strong ones."""
    values = env_example()
    for token in TOKENS:
        assert weakness(values[token]), f"{token} in .env.example must be refused until replaced"
        values[token] = secrets.token_urlsafe(32)
    return values


_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (the forms this file uses)."""
    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        current = env.get(name)
        if op in (":?", "?") and not current:
            raise LookupError(f"{name}: {arg}")
        if op in (":-", "-") and not current:
            return arg
        return current or ""
    return _VAR.sub(sub, value)


def service_env(name: str, env: dict[str, str]) -> dict[str, str]:
    raw = service(name).get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: interpolate(str(v), env) for k, v in raw.items()}


def healthcheck_url(argv: list[str]) -> str:
    assert argv[:2] == ["python", "-c"], f"the health check should run Python: {argv}"
    code = argv[2]
    compile(code, "<healthcheck>", "exec")  # valid Python
    urls = re.findall(r"""['"](https?://[^'"]+)['"]""", code)
    assert len(urls) == 1, code
    return urls[0]


def option_strings(parser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def flags_in(argv: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# ---- the image ----------------------------------------------------------------------------------

def test_dockerfile_builds_a_slim_non_root_image_from_the_source_tree():
    (base,) = instructions("FROM")
    assert base.startswith("python:3.11") and "slim" in base, base
    users = [(i, args) for i, (kw, args) in enumerate(dockerfile()) if kw == "USER"]
    assert users and users[-1][1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    cmd_at = next(i for i, (kw, _) in enumerate(dockerfile()) if kw == "CMD")
    assert users[-1][0] < cmd_at
    # Migrations are found beside the packages, so the whole tree is copied and installed editable.
    (workdir,) = instructions("WORKDIR")
    assert any(args.split() in (["."], [".", workdir], [".", workdir + "/"]) or args.split()[0] == "."
               for args in instructions("COPY")), "the source tree must be copied"
    assert any(re.search(r"pip install\b.*\s-e\s+(\S+)", run) for run in instructions("RUN"))
    assert (ROOT / "migrations" / "sqlite").is_dir() and (ROOT / "migrations" / "duckdb").is_dir()
    assert instructions("EXPOSE") == ["8080"]
    assert volume_path() == "/data"


def test_image_command_is_a_valid_coordinator_command_storing_into_the_volume():
    argv = image_cmd()
    assert argv[:3] == ["python", "-m", "coordinator"]
    assert set(flags_in(argv[3:])) <= option_strings(coordinator_parser())
    config = load_config(argv[3:], env={t: f"{t}-{'s' * 24}" for t in TOKENS})
    assert config.host == "0.0.0.0"
    assert str(config.port) in instructions("EXPOSE")
    for path in (config.db_path, config.state_path):
        assert Path(path).parent == Path(volume_path()), path
    # Bound to 0.0.0.0, the image refuses to start until it is given both tokens.
    with pytest.raises(ConfigError, match="--worker-token and --api-token"):
        load_config(argv[3:], env={})


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

def test_compose_coordinator_builds_the_image_publishes_the_port_and_keeps_data_in_a_volume():
    svc = service("coordinator")
    assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DOCKERFILE
    argv = argv_of(svc["command"])
    assert argv[:3] == ["python", "-m", "coordinator"] and "--dashboard" in argv
    assert set(flags_in(argv[3:])) <= option_strings(coordinator_parser())
    config = load_config(argv[3:], env=service_env("coordinator", env_filled_in()))
    assert config.dashboard and config.host == "0.0.0.0"
    published = [interpolate(str(p), {}) for p in svc["ports"]]
    assert [p.rsplit(":", 1)[1] for p in published] == [str(config.port)]
    assert [p.split(":")[0] for p in published] == ["8080"], "default host port"
    (volume,) = svc["volumes"]
    name, mount = volume.split(":")[:2]
    assert mount == volume_path() and name in compose()["volumes"], "a named volume at /data"
    for path in (config.db_path, config.state_path):
        assert Path(path).parent == Path(mount)
    assert svc["restart"] == "unless-stopped"
    assert set(svc["healthcheck"]) >= {"test", "interval", "retries"}


def test_compose_tokens_come_from_the_environment_and_fail_loudly_when_missing():
    text = COMPOSE.read_text()
    example = env_example()
    for token in TOKENS:
        assert re.search(r"\$\{" + token + r":\?[^}]+\}", text), f"{token} should use ${{{token}:?message}}"
        assert example.get(token), f".env.example should give {token}"
    for name in ("coordinator", "worker"):
        with pytest.raises(LookupError, match="DTF_WORKER_TOKEN"):
            service_env(name, {})
    assert set(TOKENS) <= set(service_env("coordinator", example))
    assert "DTF_WORKER_TOKEN" in service_env("worker", example)
    assert "DTF_API_TOKEN" not in service_env("worker", example), "workers need only their own token"


def test_compose_environment_variables_are_settings_the_programs_read(monkeypatch):
    example = env_filled_in()
    coord_env = service_env("coordinator", example)
    known = {"DTF_" + s.lstrip("-").replace("-", "_").upper() for s in option_strings(coordinator_parser())
             if s.startswith("--") and s != "--help"}
    assert set(coord_env) <= known, set(coord_env) - known
    config = load_config(argv_of(service("coordinator")["command"])[3:], env=coord_env)
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
    assert argv[:3] == ["python", "-m", "worker"]
    assert set(flags_in(argv[3:])) <= option_strings(worker_parser())
    url = urlparse(worker_parser().parse_args(argv[3:]).coordinator)
    container_port = int(str(coordinator["ports"][0]).rsplit(":", 1)[1])
    assert (url.scheme, url.hostname, url.port, url.path) == ("ws", "coordinator", container_port, "/ws")
    assert svc["depends_on"]["coordinator"]["condition"] == "service_healthy"
    assert svc["deploy"]["replicas"] >= 2
    assert svc.get("restart") in ("unless-stopped", "always", "on-failure")
    # Scaling needs distinct containers and distinct worker ids: nothing may pin either.
    assert "container_name" not in svc and "hostname" not in svc
    assert "--worker-id" not in argv and "DTF_WORKER_ID" not in service_env("worker", env_example())
    assert svc["healthcheck"].get("disable") is True, "the image's HTTP check would mark workers unhealthy"


def test_dockerignore_keeps_local_state_out_and_the_source_in():
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatch(pre, pat.removeprefix("**/")) or fnmatch.fnmatch(pre, pat)
                   or fnmatch.fnmatch(pre.rsplit("/", 1)[-1], pat.removeprefix("**/"))
                   for pat in patterns for pre in prefixes)

    for path in (".venv/bin/python", ".git/HEAD", "coordinator/__pycache__/app.cpython-311.pyc",
                 "benchmark_db.duckdb", "coordinator_state.sqlite", ".pytest_cache/v", ".env", ".dtf/x.log"):
        assert ignored(path), path
    for path in ("pyproject.toml", "coordinator/app.py", "worker/__main__.py", "error_handling/__init__.py",
                 "migrations/sqlite/001_initial.sql", "migrations/duckdb/001_initial.sql"):
        assert not ignored(path), path


# ---- the exact commands, as local processes -----------------------------------------------------

def localize(argv: list[str], data_dir: Path, port: int) -> list[str]:
    out = []
    for arg in argv:
        if arg == "python":
            arg = sys.executable
        elif arg.startswith("/data/"):
            arg = str(data_dir / arg.removeprefix("/data/"))
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


def test_compose_commands_run_as_processes_pass_the_healthcheck_and_complete_a_task(tmp_path, processes):
    example = env_filled_in()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")}
    base_env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", TMPDIR=str(tmp_path))

    coordinator_cmd = localize(argv_of(service("coordinator")["command"]), data_dir, port)
    with open(tmp_path / "coordinator.log", "wb") as log:
        coord = subprocess.Popen(coordinator_cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                                 env={**base_env, **service_env("coordinator", example)})
    processes.append(coord)
    client = ApiClient(f"http://127.0.0.1:{port}", example["DTF_API_TOKEN"])

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

    worker_cmd = localize(argv_of(service("worker")["command"]), data_dir, port)
    assert f"ws://127.0.0.1:{port}/ws" in worker_cmd
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(worker_cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                                  env={**base_env, **service_env("worker", example)})
    processes.append(worker)
    expected_id = f"{socket.gethostname()}-{worker.pid}"  # the default a container gets too

    def connected() -> bool:
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        return any(w["worker_id"] == expected_id and w.get("connected")
                   for w in client.get("/api/v1/workers")["items"])
    wait_until(connected, 30, message="the compose worker to connect")

    (task_id,) = client.post("/api/v1/tasks", {"tasks": [{"type": "python", "config": {
        "callable": "operator:add", "args": [2, 3]}}]})["task_ids"]
    task = wait_until(lambda: (t := client.get(f"/api/v1/tasks/{task_id}"))["status"] in
                      ("completed", "failed", "error", "timed_out", "cancelled") and t, 30,
                      message="the task to finish")
    assert task["status"] == "completed" and task["result"] == 5, task
    assert task["attempts"][-1]["worker_id"] == expected_id
    assert (data_dir / "coordinator_state.sqlite").exists(), "state must live in the /data volume"
    wait_until(lambda: (data_dir / "dtf_events.duckdb").exists(), 10, message="DuckDB file in the /data volume")
