"""The wheel carries the schema and the classifier's data: migrations/, the rules and the learned
model are package data, found through importlib.resources wherever dtf is installed (not beside a
source checkout)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from tests.harness import ROOT

SOURCES = ("coordinator", "worker", "error_handling", "migrations")

FIND_SCHEMA = """
import pathlib, sys
import coordinator.migrate as c, error_handling.migrate as e
site = pathlib.Path.cwd().resolve()
assert c.MIGRATIONS_ROOT.resolve().is_relative_to(site), c.MIGRATIONS_ROOT
assert e.MIGRATIONS_DIR.resolve().is_relative_to(site), e.MIGRATIONS_DIR
print(" ".join(p.name for _, p in c.migration_files("sqlite")))
print(" ".join(m.path.name for m in e.discover()))
from error_handling.learned import shipped_model
model = shipped_model()
assert model is not None and model.classes, "the wheel's learned model"
"""


def test_the_wheel_ships_the_migrations_and_the_code_reads_them_from_it(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in SOURCES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    # Offline: the build tools come with the test extra.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(out), str(src)], check=True, timeout=300, cwd=tmp_path)
    wheel = next(out.glob("dtf-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"migrations/{p.relative_to(ROOT / 'migrations').as_posix()}"
                for p in (ROOT / "migrations").rglob("*.sql")}
    assert expected and expected <= names
    assert "migrations/__init__.py" in names
    assert "error_handling/knowledge/model.bin" in names and "error_handling/knowledge/codes.json" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # -S: no site-packages, so not this checkout's editable install; only the unpacked wheel.
    proc = subprocess.run([sys.executable, "-S", "-c", FIND_SCHEMA], cwd=site, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    sqlite, duckdb = proc.stdout.splitlines()
    assert sqlite.split() == sorted(p.name for p in (ROOT / "migrations" / "sqlite").glob("*.sql"))
    assert duckdb.split() == sorted(p.name for p in (ROOT / "migrations" / "duckdb").glob("*.sql"))
