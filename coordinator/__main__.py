"""python -m coordinator / dtf-coordinator."""
from __future__ import annotations

import importlib.util
import sys

from coordinator.config import ConfigError, load_config
from worker.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    missing = [name for name in ("aiosqlite", "duckdb", "prometheus_client") if importlib.util.find_spec(name) is None]
    if missing:
        print(f"dtf-coordinator: {', '.join(missing)} not installed: install the coordinator's extra, "
              "pip install 'dtf[coordinator]'", file=sys.stderr)
        return 2
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"dtf-coordinator: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format)
    # Only now: an install without the coordinator's extra got the message above, not an ImportError.
    from coordinator.app import Coordinator, StartupError
    from coordinator.integrations import apply_flags
    coordinator = Coordinator(config=config)
    apply_flags(coordinator)
    try:
        coordinator.run()
    except StartupError as exc:
        print(f"dtf-coordinator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
