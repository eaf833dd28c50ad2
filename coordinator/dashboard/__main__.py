"""python -m coordinator.dashboard --coordinator URL --error-tracking [--port 8085]: the dashboard
against a coordinator that runs elsewhere (it proxies the API and the live stream)."""
from __future__ import annotations

import argparse
import os
import sys

from aiohttp import web

from coordinator.config import is_loopback
from coordinator.dashboard.remote import RemoteConfig, create_remote_app
from coordinator.ratelimit import RateLimitSettings
from worker.logs import configure_logging


def parse_args(argv: list[str] | None = None) -> RemoteConfig:
    env = os.environ
    p = argparse.ArgumentParser(prog="python -m coordinator.dashboard",
                                description="Serve the dtf dashboard against a remote coordinator.")
    p.add_argument("--coordinator", default=env.get("DTF_COORDINATOR_URL"),
                   help="the coordinator's base URL, e.g. http://127.0.0.1:8080 (env DTF_COORDINATOR_URL)")
    p.add_argument("--error-tracking", action="store_true",
                   default=env.get("DTF_ERROR_TRACKING", "").lower() in ("1", "true", "yes"),
                   help="show the errors, recovery-actions and history views (env DTF_ERROR_TRACKING)")
    p.add_argument("--host", default=env.get("DTF_DASHBOARD_HOST", "127.0.0.1"),
                   help="address to bind (env DTF_DASHBOARD_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(env.get("DTF_DASHBOARD_PORT", "8085")),
                   help="port to bind (env DTF_DASHBOARD_PORT; default 8085)")
    p.add_argument("--api-token", default=env.get("DTF_API_TOKEN"),
                   help="the coordinator's API token, added to every proxied request (env DTF_API_TOKEN)")
    p.add_argument("--allow-writes", action="store_true",
                   default=env.get("DTF_DASHBOARD_ALLOW_WRITES", "").lower() in ("1", "true", "yes"),
                   help="also forward POST requests (submitting and cancelling tasks with the proxy's "
                        "token); by default only GET is forwarded (env DTF_DASHBOARD_ALLOW_WRITES)")
    p.add_argument("--log-level", default=env.get("DTF_LOG_LEVEL", "INFO"), help="log level (env DTF_LOG_LEVEL)")
    args = p.parse_args(argv)
    if not args.coordinator:
        p.error("--coordinator URL is required (or set DTF_COORDINATOR_URL)")
    if not args.coordinator.startswith(("http://", "https://")):
        p.error(f"--coordinator must be an http(s) URL, got {args.coordinator!r}")
    if not is_loopback(args.host) and not args.api_token:
        p.error(f"binding {args.host} (not loopback) needs --api-token: the proxy would otherwise "
                "open the coordinator's API to the network")
    return RemoteConfig(coordinator_url=args.coordinator, host=args.host, port=args.port,
                        api_token=args.api_token, error_tracking=args.error_tracking,
                        allow_writes=args.allow_writes, log_level=args.log_level)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    configure_logging(config.log_level, "console")
    print(f"dtf dashboard: http://{config.host}:{config.port}/dashboard -> {config.coordinator_url}",
          flush=True)
    web.run_app(create_remote_app(config), host=config.host, port=config.port, print=None,
                shutdown_timeout=3.0, keepalive_timeout=RateLimitSettings.from_env().header_timeout_seconds or 3600.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
