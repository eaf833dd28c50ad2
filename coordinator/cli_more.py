"""Subcommands that read the error history (errors, report)."""
from __future__ import annotations

import argparse
from typing import Any, Callable


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    return None


def run(args: argparse.Namespace, client: Any) -> int:
    raise SystemExit(f"dtf: unknown command {args.command!r}")
