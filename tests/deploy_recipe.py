"""Reading the container recipe as the tests need it: Dockerfile.coordinator's instructions, the
compose file's services with their environment interpolated as compose does, and the flags in a
command line (tests/test_deploy.py checks them against the programs' own parsers)."""
from __future__ import annotations

import json
import re
import secrets
import shlex
from typing import Any

import yaml

from tests.harness import ROOT

DOCKERFILE = ROOT / "Dockerfile.coordinator"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT = ROOT / "docker" / "dtf-worker-entrypoint"
TOKENS = ("DTF_WORKER_TOKEN", "DTF_API_TOKEN")
MOUNTS = ("/data", "/worker-token")   # the coordinator's volume, and the worker token's own


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


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def argv_of(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def env_example(commented: bool = False) -> dict[str, str]:
    """The settings .env.example sets (with commented=True: also those it shows commented out)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if commented and re.match(r"#\s*DTF_\w+=", line):
            line = line.lstrip("#").strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def env_filled_in() -> dict[str, str]:
    """.env as a user who chooses the tokens writes it."""
    return {token: secrets.token_urlsafe(32) for token in TOKENS}


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
    """The container's environment from the service's: a bare name takes the value from the
    environment (or .env) and is absent when that does not set it."""
    raw = service(name).get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
    out = {}
    for key, value in raw.items():
        if value is None:
            if key in env:
                out[key] = env[key]
        else:
            out[key] = interpolate(str(value), env)
    return out


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
