"""Coordinator configuration: built once at the entry point from CLI, environment and a TOML file.

Precedence: command-line flag, then environment variable (DTF_<FLAG>), then the TOML file
(``--config``), then the default.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import tomllib
from dataclasses import dataclass, fields, replace
from typing import Any, Sequence

from coordinator import tokens


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, kw_only=True)
class CoordinatorConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    db_path: str = "./benchmark_db.duckdb"
    state_path: str = "./coordinator_state.sqlite"
    worker_token: str | None = None
    api_token: str | None = None
    worker_token_file: str | None = None
    api_token_file: str | None = None
    dashboard: bool = False
    load_balancer: bool = False
    result_aggregator: bool = False
    heartbeat_interval_seconds: float = 1.0
    heartbeat_timeout_seconds: float = 5.0
    lease_grace_seconds: float = 10.0
    restart_grace_seconds: float = 10.0
    probation_seconds: float = 15.0
    drain_seconds: float = 5.0
    flaky_reruns: int = 0
    backup_coordinator: str | None = None
    sqlite_synchronous: str = "NORMAL"
    max_body_bytes: int = 16 * 1024 * 1024
    max_finished_in_memory: int = 50_000
    # Credit (coordinator/credit.py): work a worker may hold per slot beyond what it runs.
    prefetch_budget_seconds: float = 0.02
    max_held_per_worker: int = 512
    worker_retention_seconds: float = 7 * 24 * 3600.0
    max_departed_workers: int = 1000
    log_level: str = "INFO"
    log_format: str = "console"

    def validate(self) -> "CoordinatorConfig":
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be 1..65535, got {self.port}")
        if self.heartbeat_interval_seconds <= 0:
            raise ConfigError("--heartbeat-interval must be > 0 seconds")
        if self.heartbeat_timeout_seconds <= self.heartbeat_interval_seconds:
            raise ConfigError("--heartbeat-timeout must be longer than --heartbeat-interval")
        if self.log_format not in ("json", "console"):
            raise ConfigError("--log-format must be json or console")
        if self.sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError("--sqlite-synchronous must be OFF, NORMAL, FULL or EXTRA")
        if self.max_finished_in_memory < 0:
            raise ConfigError("--max-finished-in-memory must be >= 0")
        if self.prefetch_budget_seconds < 0:
            raise ConfigError("--prefetch-budget must be >= 0 seconds")
        if self.max_held_per_worker < 1:
            raise ConfigError("--max-held-per-worker must be >= 1")
        if self.worker_retention_seconds <= 0 or self.max_departed_workers < 0:
            raise ConfigError("--worker-retention must be > 0 and --max-departed-workers >= 0")
        if self.flaky_reruns < 0:
            raise ConfigError("--flaky-reruns must be >= 0")
        if not is_loopback(self.host) and not (self.worker_token and self.api_token):
            raise ConfigError(f"binding {self.host} (not loopback) needs both --worker-token and --api-token "
                              "(or DTF_WORKER_TOKEN and DTF_API_TOKEN): anyone who reaches the port could "
                              "otherwise run commands on your workers")
        if not is_loopback(self.host):
            for flag, token in (("--worker-token", self.worker_token), ("--api-token", self.api_token)):
                why = tokens.weakness(token or "")
                if why:
                    raise ConfigError(f"binding {self.host} (not loopback): {flag} {why}; generate one with "
                                      "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`")
            if self.worker_token == self.api_token:
                raise ConfigError(f"binding {self.host} (not loopback): --worker-token and --api-token must "
                                  "differ (a worker must not be able to submit tasks)")
        return self

    def with_token_files(self) -> "CoordinatorConfig":
        """Tokens not given directly come from their files, generated there on first start."""
        values: dict[str, str | None] = {}
        for name in ("worker_token", "api_token"):
            path = getattr(self, name + "_file")
            if getattr(self, name) == "":
                values[name] = None  # an empty token is no token, never one that matches ""
            if not getattr(self, name) and path:
                try:
                    values[name] = tokens.read_or_create(path)
                except tokens.TokenFileError as exc:
                    raise ConfigError(str(exc)) from None
        return replace(self, **values) if values else self


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# flag name -> (field, type, help)
_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--host", "host", str, "address to bind (default 127.0.0.1)"),
    ("--port", "port", int, "port for HTTP API and worker WebSocket (default 8080)"),
    ("--db-path", "db_path", str, "DuckDB file for error events, recovery actions and results"),
    ("--state-path", "state_path", str, "SQLite file for durable task/worker state"),
    ("--worker-token", "worker_token", str, "token workers must present on /ws"),
    ("--api-token", "api_token", str, "bearer token for the HTTP API"),
    ("--worker-token-file", "worker_token_file", str, "file holding the worker token (generated there, "
                                                       "mode 0600, when absent and --worker-token is not given)"),
    ("--api-token-file", "api_token_file", str, "file holding the API token (generated there, mode 0600, "
                                                 "when absent and --api-token is not given)"),
    ("--heartbeat-interval", "heartbeat_interval_seconds", float, "seconds between worker heartbeats"),
    ("--heartbeat-timeout", "heartbeat_timeout_seconds", float, "silence after which a worker is unavailable"),
    ("--lease-grace", "lease_grace_seconds", float, "seconds past a task's timeout before its lease expires"),
    ("--restart-grace", "restart_grace_seconds", float, "after a restart, how long workers have to reclaim tasks"),
    ("--probation", "probation_seconds", float, "seconds a recovered worker stays on probation"),
    ("--drain-seconds", "drain_seconds", float, "on shutdown, how long running tasks may finish"),
    ("--flaky-reruns", "flaky_reruns", int, "rerun failed tests this many times on other workers"),
    ("--backup-coordinator", "backup_coordinator", str, "URL of a backup coordinator handed to workers"),
    ("--sqlite-synchronous", "sqlite_synchronous", str, "SQLite synchronous mode (NORMAL: durable across "
                                                         "process crashes; FULL: across power loss)"),
    ("--max-finished-in-memory", "max_finished_in_memory", int, "finished tasks kept in memory (older ones "
                                                                  "are read back from SQLite)"),
    ("--prefetch-budget", "prefetch_budget_seconds", float, "seconds of short work a worker may hold per "
                                                            "slot beyond what it runs (0: one task per slot)"),
    ("--max-held-per-worker", "max_held_per_worker", int, "tasks one worker may hold at most (default 512)"),
    ("--worker-retention", "worker_retention_seconds", float, "seconds a disconnected worker stays listed "
                                                               "(default 7 days)"),
    ("--max-departed-workers", "max_departed_workers", int, "disconnected workers remembered at most; the "
                                                             "longest gone are forgotten first (default 1000)"),
    ("--log-level", "log_level", str, "DEBUG, INFO, WARNING or ERROR"),
    ("--log-format", "log_format", str, "json or console"),
]
_SWITCHES = [("--dashboard", "dashboard", "serve the dashboard at /dashboard"),
             ("--load-balancer", "load_balancer", "steer work away from failing workers and pairs"),
             ("--result-aggregator", "result_aggregator", "keep every task result in DuckDB for reports")]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dtf-coordinator", description="dtf coordinator: HTTP API, worker "
                                "WebSocket, scheduler and error pipeline. Every flag also reads DTF_<FLAG> "
                                "from the environment (e.g. DTF_API_TOKEN).")
    p.add_argument("--config", help="TOML file with any of these settings (lowest precedence)")
    for flag, dest, typ, help_ in _FLAGS:
        p.add_argument(flag, dest=dest, type=typ, default=None, help=help_)
    for flag, dest, help_ in _SWITCHES:
        p.add_argument(flag, dest=dest, action="store_true", default=None, help=help_)
    return p


def _env_name(flag: str) -> str:
    return "DTF_" + flag.lstrip("-").replace("-", "_").upper()


def _coerce(name: str, typ: Any, raw: Any) -> Any:
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {raw!r}")
    try:
        return typ(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {typ.__name__}, got {raw!r}") from None


def load_config(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> CoordinatorConfig:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    file_values: dict[str, Any] = {}
    config_path = args.config or env.get("DTF_CONFIG")
    if config_path:
        try:
            with open(config_path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_path}: {exc}") from None
        data = data.get("coordinator", data)
        by_key = {flag.lstrip("-").replace("-", "_"): (dest, typ) for flag, dest, typ, _ in _FLAGS}
        by_key.update({flag.lstrip("-").replace("-", "_"): (dest, bool) for flag, dest, _ in _SWITCHES})
        for key, value in data.items():
            if key not in by_key:
                raise ConfigError(f"{config_path}: unknown setting {key!r}")
            dest, typ = by_key[key]
            file_values[dest] = _coerce(f"{config_path}:{key}", typ, value)
    values: dict[str, Any] = {}
    for flag, dest, typ, _ in _FLAGS:
        cli = getattr(args, dest)
        if cli is not None:
            values[dest] = cli
        elif _env_name(flag) in env:
            values[dest] = _coerce(_env_name(flag), typ, env[_env_name(flag)])
        elif dest in file_values:
            values[dest] = file_values[dest]
    for flag, dest, _ in _SWITCHES:
        if getattr(args, dest):
            values[dest] = True
        elif _env_name(flag) in env:
            values[dest] = _coerce(_env_name(flag), bool, env[_env_name(flag)])
        elif dest in file_values:
            values[dest] = file_values[dest]
    known = {f.name for f in fields(CoordinatorConfig)}
    assert set(values) <= known
    return CoordinatorConfig(**values).with_token_files().validate()
