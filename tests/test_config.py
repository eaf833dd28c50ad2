"""Coordinator configuration: every flag from CLI, environment and TOML, their precedence, validation,
the refusal to bind a public address without tokens, and complete --help for the three programs."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.config import ConfigError, CoordinatorConfig, build_parser, load_config
from tests.harness import ROOT, free_port
from worker.__main__ import build_parser as worker_parser

# One non-default, valid value per setting (dest -> value). A new flag fails the coverage test
# below until it gets a value here, so "every flag" stays every flag.
SAMPLES: dict[str, object] = {
    "host": "127.0.0.2",
    "port": 9123,
    "db_path": "events-x.duckdb",
    "state_path": "state-x.sqlite",
    "worker_token": "wt-1",
    "api_token": "at-1",
    "worker_token_file": "wt-file",
    "api_token_file": "at-file",
    "dashboard": True,
    "load_balancer": True,
    "result_aggregator": True,
    "heartbeat_interval_seconds": 0.25,
    "heartbeat_timeout_seconds": 2.5,
    "lease_grace_seconds": 7.5,
    "restart_grace_seconds": 3.5,
    "probation_seconds": 12.0,
    "drain_seconds": 1.5,
    "flaky_reruns": 2,
    "backup_coordinator": "http://backup:8080",
    "sqlite_synchronous": "FULL",
    "max_finished_in_memory": 1234,
    "prefetch_budget_seconds": 0.05,
    "max_held_per_worker": 64,
    "worker_retention_seconds": 3600.0,
    "max_departed_workers": 10,
    "log_level": "DEBUG",
    "log_format": "json",
}


def settings() -> list[tuple[str, str, bool]]:
    """(flag, dest, is_switch) for every setting the parser offers (not --help, not --config)."""
    out = []
    for action in build_parser()._actions:
        flag = next((s for s in action.option_strings if s.startswith("--")), None)
        if flag in (None, "--help", "--config"):
            continue
        out.append((flag, action.dest, action.nargs == 0))
    return out


def env_name(flag: str) -> str:
    return "DTF_" + flag[2:].replace("-", "_").upper()


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def write_toml(path: Path, values: dict[str, object], table: str | None = None) -> Path:
    lines = [f"[{table}]"] if table else []
    lines += [f"{key} = {toml_value(v)}" for key, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_argv() -> list[str]:
    argv = []
    for flag, dest, switch in settings():
        argv += [flag] if switch else [flag, str(SAMPLES[dest])]
    return argv


def expected() -> CoordinatorConfig:
    return CoordinatorConfig(**SAMPLES)


# ---- every setting from every source ------------------------------------------------------------

def test_samples_cover_every_flag_and_every_config_field():
    dests = {dest for _, dest, _ in settings()}
    fields = {f.name for f in dataclasses.fields(CoordinatorConfig)} - {"max_body_bytes"}
    assert dests == set(SAMPLES), "add the new setting to SAMPLES"
    assert fields <= dests, f"config fields without a flag: {fields - dests}"
    defaults = CoordinatorConfig()
    for dest, value in SAMPLES.items():
        assert getattr(defaults, dest) != value, f"SAMPLES[{dest!r}] must differ from the default"


def test_every_setting_from_the_command_line():
    assert load_config(cli_argv(), env={}) == expected()


def test_every_setting_from_the_environment():
    env = {env_name(flag): str(SAMPLES[dest]).lower() if switch else str(SAMPLES[dest])
           for flag, dest, switch in settings()}
    assert env["DTF_WORKER_TOKEN"] == "wt-1" and env["DTF_API_TOKEN"] == "at-1"
    assert load_config([], env=env) == expected()


@pytest.mark.parametrize("table", [None, "coordinator"])
def test_every_setting_from_a_toml_file(tmp_path, table):
    values = {flag[2:].replace("-", "_"): SAMPLES[dest] for flag, dest, _ in settings()}
    path = write_toml(tmp_path / "dtf.toml", values, table)
    assert load_config(["--config", str(path)], env={}) == expected()
    assert load_config([], env={"DTF_CONFIG": str(path)}) == expected()


def test_defaults_bind_loopback_and_need_no_tokens():
    config = load_config([], env={})
    assert config == CoordinatorConfig()
    assert config.host == "127.0.0.1" and config.port == 8080 and config.worker_token is None


# ---- precedence: CLI > env > TOML > default -----------------------------------------------------

def test_precedence_cli_then_env_then_toml_then_default(tmp_path):
    toml = write_toml(tmp_path / "c.toml", {"port": 1111, "log_level": "ERROR", "heartbeat_timeout": 9.0})
    env = {"DTF_PORT": "2222", "DTF_LOG_LEVEL": "WARNING"}
    config = load_config(["--config", str(toml), "--port", "3333"], env=env)
    assert (config.port, config.log_level, config.heartbeat_timeout_seconds, config.drain_seconds) == \
        (3333, "WARNING", 9.0, CoordinatorConfig().drain_seconds)
    assert load_config(["--config", str(toml)], env=env).port == 2222
    assert load_config(["--config", str(toml)], env={}).port == 1111
    assert load_config([], env={}).port == 8080


def test_switch_precedence_env_false_beats_toml_true_and_the_flag_beats_env(tmp_path):
    toml = write_toml(tmp_path / "c.toml", {"dashboard": True})
    assert load_config(["--config", str(toml)], env={}).dashboard is True
    assert load_config(["--config", str(toml)], env={"DTF_DASHBOARD": "0"}).dashboard is False
    assert load_config(["--config", str(toml), "--dashboard"], env={"DTF_DASHBOARD": "false"}).dashboard is True


def test_cli_config_path_beats_dtf_config(tmp_path):
    a = write_toml(tmp_path / "a.toml", {"port": 1001})
    b = write_toml(tmp_path / "b.toml", {"port": 1002})
    assert load_config(["--config", str(a)], env={"DTF_CONFIG": str(b)}).port == 1001


# ---- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, env, message", [
    (["--port", "0"], {}, "--port must be 1..65535"),
    (["--port", "70000"], {}, "--port must be 1..65535"),
    ([], {"DTF_PORT": "http"}, "DTF_PORT: expected int, got 'http'"),
    ([], {"DTF_HEARTBEAT_INTERVAL": "soon"}, "DTF_HEARTBEAT_INTERVAL: expected float"),
    ([], {"DTF_DASHBOARD": "maybe"}, "DTF_DASHBOARD: expected a boolean"),
    (["--heartbeat-interval", "5", "--heartbeat-timeout", "5"], {}, "--heartbeat-timeout must be longer"),
    (["--heartbeat-interval", "5", "--heartbeat-timeout", "2"], {}, "--heartbeat-timeout must be longer"),
    (["--heartbeat-interval", "0"], {}, "--heartbeat-interval must be > 0"),
    (["--log-format", "xml"], {}, "--log-format must be json or console"),
    (["--sqlite-synchronous", "SOMETIMES"], {}, "--sqlite-synchronous must be"),
    (["--flaky-reruns", "-1"], {}, "--flaky-reruns must be >= 0"),
])
def test_invalid_values_are_refused_with_a_message_naming_the_setting(argv, env, message):
    with pytest.raises(ConfigError) as info:
        load_config(argv, env=env)
    assert message in str(info.value)


@pytest.mark.parametrize("body, message", [
    ("port = 8080\nbogus_setting = 1\n", "unknown setting 'bogus_setting'"),
    ('port = "eighty"\n', "port: expected int, got 'eighty'"),
    ('dashboard = "perhaps"\n', "dashboard: expected a boolean"),
    ("port = = 1\n", "cannot read config file"),
])
def test_bad_toml_is_refused_with_a_message_naming_file_and_key(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_config(["--config", str(path)], env={})
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_toml_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(["--config", str(tmp_path / "nope.toml")], env={})


def test_non_integer_port_on_the_command_line_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        load_config(["--port", "eighty"], env={})
    assert info.value.code == 2
    assert "--port" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "coordinator"])
@pytest.mark.parametrize("tokens", [{}, {"DTF_WORKER_TOKEN": "w"}, {"DTF_API_TOKEN": "a"}])
def test_binding_beyond_loopback_without_both_tokens_is_refused(host, tokens):
    with pytest.raises(ConfigError) as info:
        load_config(["--host", host], env=tokens)
    assert f"binding {host}" in str(info.value)
    assert "--worker-token" in str(info.value) and "--api-token" in str(info.value)


W, A = "w-" + "x" * 30, "a-" + "y" * 30


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_binding_beyond_loopback_with_both_tokens_from_any_source(tmp_path, host):
    assert load_config(["--host", host, "--worker-token", W, "--api-token", A], env={}).host == host
    assert load_config(["--host", host], env={"DTF_WORKER_TOKEN": W, "DTF_API_TOKEN": A}).api_token == A
    toml = write_toml(tmp_path / "t.toml", {"worker_token": W, "api_token": A})
    assert load_config(["--host", host, "--config", str(toml)], env={}).worker_token == W


@pytest.mark.parametrize("worker_token, api_token, why", [
    ("changeme", A, "placeholder"), (W, "short-token", "shorter than 16"), (W, W, "must differ"),
    ("CHANGEME", A, "placeholder"), (W, "change-me-api-token", "placeholder")])
def test_weak_tokens_are_refused_for_a_public_bind(worker_token, api_token, why):
    with pytest.raises(ConfigError) as info:
        load_config(["--host", "0.0.0.0", "--worker-token", worker_token, "--api-token", api_token], env={})
    assert why in str(info.value)
    # On loopback the same tokens are the user's business.
    assert load_config(["--worker-token", worker_token, "--api-token", api_token], env={}).api_token == api_token


def test_token_files_are_generated_once_0600_and_given_tokens_win(tmp_path):
    wfile, afile = tmp_path / "secrets" / "worker_token", tmp_path / "api_token"
    argv = ["--host", "0.0.0.0", "--worker-token-file", str(wfile), "--api-token-file", str(afile)]
    first = load_config(argv, env={})
    assert first.worker_token == wfile.read_text().strip() and first.api_token == afile.read_text().strip()
    assert len(first.api_token) >= 32 and first.api_token != first.worker_token
    assert wfile.stat().st_mode & 0o777 == 0o600 and afile.stat().st_mode & 0o777 == 0o600
    again = load_config(argv, env={})
    assert (again.worker_token, again.api_token) == (first.worker_token, first.api_token)
    given = load_config(argv + ["--api-token", A], env={})
    assert given.api_token == A and afile.read_text().strip() == first.api_token
    afile.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(argv, env={})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "localhost", "::1"])
def test_loopback_needs_no_tokens(host):
    assert load_config(["--host", host], env={}).host == host


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DTF_")} | {"PYTHONPATH": str(ROOT)}


def test_real_process_binding_0000_without_tokens_exits_2_with_the_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "coordinator", "--host", "0.0.0.0", "--port", str(free_port()),
                           "--state-path", str(tmp_path / "s.sqlite"), "--db-path", str(tmp_path / "e.duckdb")],
                          capture_output=True, text=True, timeout=30, env=clean_env(), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "binding 0.0.0.0" in proc.stderr and "--worker-token" in proc.stderr and "--api-token" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "s.sqlite").exists(), "nothing may be created before the refusal"


def test_real_process_bad_toml_exits_2_without_traceback(tmp_path):
    (tmp_path / "c.toml").write_text("colour = 'blue'\n")
    proc = subprocess.run([sys.executable, "-m", "coordinator", "--config", str(tmp_path / "c.toml")],
                          capture_output=True, text=True, timeout=30, env=clean_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown setting 'colour'" in proc.stderr and "Traceback" not in proc.stderr


# ---- the worker reads DTF_<FLAG> too ------------------------------------------------------------

WORKER_ENV = {"--coordinator": ("DTF_COORDINATOR", "ws://elsewhere:9/ws"), "--token": ("DTF_WORKER_TOKEN", "t"),
              "--worker-id": ("DTF_WORKER_ID", "w-7"), "--hardware": ("DTF_HARDWARE", "cpu,cuda"),
              "--concurrency": ("DTF_CONCURRENCY", "3"), "--pool-size": ("DTF_POOL_SIZE", "2"),
              "--work-dir": ("DTF_WORK_DIR", "/somewhere"), "--tags": ("DTF_TAGS", "a=b"),
              "--allow-types": ("DTF_ALLOW_TYPES", "python"), "--allow-install": ("DTF_ALLOW_INSTALL", "1"),
              "--drain-seconds": ("DTF_DRAIN_SECONDS", "4.5"), "--log-level": ("DTF_LOG_LEVEL", "DEBUG"),
              "--log-format": ("DTF_LOG_FORMAT", "json"), "--token-file": ("DTF_TOKEN_FILE", "/run/token")}


def test_every_worker_flag_reads_its_environment_variable(monkeypatch):
    for key in [k for k in os.environ if k.startswith("DTF_")]:
        monkeypatch.delenv(key)
    flags = {next(s for s in a.option_strings if s.startswith("--")): a.dest
             for a in worker_parser()._actions if a.option_strings and a.dest != "help"}
    assert set(flags) == set(WORKER_ENV), "add the new worker flag to WORKER_ENV"
    plain = vars(worker_parser().parse_args([]))
    for flag, (name, raw) in WORKER_ENV.items():
        monkeypatch.setenv(name, raw)
        value = getattr(worker_parser().parse_args([]), flags[flag])
        monkeypatch.delenv(name)
        assert value != plain[flags[flag]] and str(value).lower() in (raw.lower(), "true"), (flag, name, value)
        cli = getattr(worker_parser().parse_args([flag] if isinstance(value, bool) else [flag, raw]), flags[flag])
        assert cli == value, f"{flag} from the CLI and {name} should agree"


# ---- --help -------------------------------------------------------------------------------------

def script(name: str) -> str:
    path = Path(sys.executable).parent / name
    assert path.exists(), f"console script {name} is not installed next to {sys.executable}"
    return str(path)


def run_help(*argv: str) -> str:
    proc = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=30, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


@pytest.mark.parametrize("argv", [[sys.executable, "-m", "coordinator"], ["dtf-coordinator"]])
def test_coordinator_help_lists_every_flag_with_its_help(argv):
    out = run_help(*(script(argv[0]) if len(argv) == 1 else argv[0], *argv[1:]))
    for action in build_parser()._actions:
        for option in action.option_strings:
            assert option in out, option
        assert action.help, f"{action.option_strings} has no help text"
    assert "DTF_" in out, "--help should say that every flag reads DTF_<FLAG>"


def test_worker_help_lists_every_flag():
    out = run_help(script("dtf-worker"))
    for action in worker_parser()._actions:
        for option in action.option_strings:
            assert option in out, option
    assert "DTF_WORKER_TOKEN" in out


def test_dtf_help_lists_its_subcommands_and_each_has_help():
    out = run_help(script("dtf"))
    for command in ("up", "submit", "status"):
        assert command in out
        assert run_help(script("dtf"), command).startswith(f"usage: dtf {command}")
    assert "--wait" in run_help(script("dtf"), "submit")
    assert "--workers" in run_help(script("dtf"), "up")
