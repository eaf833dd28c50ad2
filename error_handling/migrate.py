"""A tiny migration runner for the DuckDB schema: numbered ``NNN_name.sql`` files.

Each pending file runs in its own transaction with its version recorded in
``schema_version``; a database whose version is newer than the newest file refuses to open.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

# The `migrations` package's duckdb/ files, where it is installed (a wheel carries them as package
# data). A path, since the DuckDB child process opens them by name.
MIGRATIONS_DIR = Path(str(resources.files("migrations").joinpath("duckdb")))
_NAME = re.compile(r"^(\d{3})_([A-Za-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The migration files or the database's schema version are not usable."""


class SchemaTooNewError(MigrationError):
    """The database was written by a newer dtf than this one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: int
    name: str
    path: Path


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    if not directory.is_dir():
        raise MigrationError(f"migrations directory not found: {directory}")
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if m is None:
            raise MigrationError(f"migration file {path.name!r} is not named NNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations share version {version:03d}: "
                                 f"{found[version].path.name}, {path.name}")
        found[version] = Migration(version=version, name=m.group(2), path=path)
    return [found[v] for v in sorted(found)]


def current_version(con: Any) -> int:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, name VARCHAR, "
                "applied_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'))")
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def apply_migrations(con: Any, directory: Path = MIGRATIONS_DIR) -> int:
    """Bring the schema up to date; return the resulting version."""
    migrations = discover(directory)
    latest = migrations[-1].version if migrations else 0
    version = current_version(con)
    if version > latest:
        raise SchemaTooNewError(
            f"database schema version {version} is newer than this dtf supports ({latest}); "
            "upgrade dtf or point it at another database file")
    for mig in migrations:
        if mig.version <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(mig.path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)",
                        [mig.version, mig.name])
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            raise MigrationError(f"migration {mig.path.name} failed: {exc}") from exc
        version = mig.version
    return version
