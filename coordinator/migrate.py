"""Numbered .sql migrations, applied at start in one transaction, the version recorded."""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

# The `migrations` package's files, where it is installed (a wheel carries them as package data).
MIGRATIONS_ROOT = Path(str(resources.files("migrations")))
_NAME = re.compile(r"^(\d{3})_[\w-]+\.sql$")


class SchemaTooNewError(RuntimeError):
    pass


def migration_files(kind: str) -> list[tuple[int, Path]]:
    folder = MIGRATIONS_ROOT / kind
    found = []
    for path in sorted(folder.glob("*.sql")):
        m = _NAME.match(path.name)
        if m:
            found.append((int(m.group(1)), path))
    if not found:
        raise RuntimeError(f"no migrations found in {folder}")
    return found


def check_version(current: int, kind: str, db: str) -> list[tuple[int, Path]]:
    files = migration_files(kind)
    latest = files[-1][0]
    if current > latest:
        raise SchemaTooNewError(
            f"{db} has schema version {current}, newer than this dtf knows ({latest}); "
            "upgrade dtf or point it at another file")
    return [(v, p) for v, p in files if v > current]
