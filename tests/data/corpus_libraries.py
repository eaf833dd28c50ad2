"""Errors triggered for real in libraries and tools installed on this machine (beyond the stdlib
and network cases of ``corpus_triggers``): parsers, validators, CLIs, databases, compilers.

Each trigger is (library, category, pattern, alternatives, function of a variant index that
raises); ``add_libraries`` runs every one for several variants and records what it raised.
"""
from __future__ import annotations

import argparse
import configparser
import csv
import gzip
import io
import ipaddress
import os
import pickle
import re
import sqlite3
import subprocess
import sys
import tarfile
import unittest
import zipfile
import zlib
from decimal import Decimal, InvalidOperation
from importlib import metadata
from typing import Any, Callable

RA, RC = "resource_allocation_error", "resource_cleanup_error"
NC, NT = "network_connection_error", "network_timeout_error"
HA, HC, HP = "hardware_availability_error", "hardware_capability_error", "hardware_performance_error"
WD, WC, WO = "worker_disconnection_error", "worker_crash_error", "worker_overload_error"
TE, TD, TC = "test_execution_error", "test_dependency_error", "test_configuration_error"

VARIANTS = 6
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]


def _yaml_scanner(i: int) -> None:
    import yaml
    yaml.safe_load(f"key{i}: value\n  bad: [{i}\n")


def _yaml_constructor(i: int) -> None:
    import yaml
    yaml.safe_load(f"x: !!python/object:os.system{i} {{}}\n")


def _jsonschema(i: int) -> None:
    import jsonschema_rs
    jsonschema_rs.validate({"type": "object", "required": [WORDS[i]]}, {"other": i})


def _click(i: int) -> None:
    import click

    @click.command()
    @click.option("--workers", type=int)
    def cli(workers: int) -> None:
        pass
    cli.main([f"--workers=abc{i}"], standalone_mode=False)


def _click_no_option(i: int) -> None:
    import click

    @click.command()
    def cli() -> None:
        pass
    cli.main([f"--{WORDS[i]}-flag"], standalone_mode=False)


def _argparse(i: int) -> None:
    parser = argparse.ArgumentParser(prog="train", exit_on_error=False)
    parser.add_argument("--epochs", type=int)
    parser.parse_args([f"--epochs={WORDS[i]}"])


def _sqlite_no_table(i: int) -> None:
    sqlite3.connect(":memory:").execute(f"SELECT * FROM results_{WORDS[i]}")


def _sqlite_locked(i: int) -> None:
    import tempfile
    path = os.path.join(tempfile.mkdtemp(), f"db{i}.sqlite")
    a = sqlite3.connect(path, timeout=0.01)
    a.execute("CREATE TABLE t (x)")
    a.commit()
    a.execute("BEGIN EXCLUSIVE")
    b = sqlite3.connect(path, timeout=0.01)
    b.execute("SELECT * FROM t")


def _duckdb_catalog(i: int) -> None:
    import duckdb
    duckdb.connect().execute(f"SELECT * FROM metrics_{WORDS[i]}")


def _duckdb_parser(i: int) -> None:
    import duckdb
    duckdb.connect().execute(f"SELEC {i} FROM x")


def _configparser_dup(i: int) -> None:
    configparser.ConfigParser().read_string(f"[s{i}]\na=1\n[s{i}]\nb=2\n")


def _configparser_header(i: int) -> None:
    configparser.ConfigParser().read_string(f"key{i} = value\n")


def _csv(i: int) -> None:
    list(csv.reader(io.StringIO(f'a,"b{i}\x00c\n'), strict=True))


def _zip(i: int) -> None:
    zipfile.ZipFile(io.BytesIO(b"PK\x03\x04" + bytes(range(i, i + 40))))


def _tar(i: int) -> None:
    tarfile.open(fileobj=io.BytesIO(bytes(range(i, i + 200))))


def _gzip(i: int) -> None:
    gzip.decompress(b"not gzip" + bytes([i]))


def _zlib(i: int) -> None:
    zlib.decompress(bytes([120, 156, i, i + 1, 9]))


def _pickle(i: int) -> None:
    pickle.loads(b"\x80\x04garbage" + bytes([i]))


def _ipaddress(i: int) -> None:
    ipaddress.ip_address(f"10.0.{i}.300")


def _decimal(i: int) -> None:
    Decimal(f"{WORDS[i]}{i}")


def _re(i: int) -> None:
    re.compile(f"(unclosed{i}")


def _unittest(i: int) -> None:
    case = unittest.TestCase()
    case.assertEqual([1, 2, i], [1, 2, i + 1])


def _unittest_almost(i: int) -> None:
    unittest.TestCase().assertAlmostEqual(0.1 * i, 0.1 * i + 0.5)


def _metadata(i: int) -> None:
    metadata.version(f"dtf-missing-{WORDS[i]}")


def _requests_refused(i: int) -> None:
    import requests
    requests.get(f"http://127.0.0.1:{_free_port()}/v{i}", timeout=2)


def _requests_missing_schema(i: int) -> None:
    import requests
    requests.get(f"host-{i}.example/api")


def _requests_invalid_url(i: int) -> None:
    import requests
    requests.get(f"http://[::1{i}")


def _urllib3_refused(i: int) -> None:
    import urllib3
    urllib3.PoolManager(retries=urllib3.Retry(1, backoff_factor=0)).request("GET", f"http://127.0.0.1:{_free_port()}/x{i}")


def _urllib3_location(i: int) -> None:
    import urllib3
    urllib3.util.parse_url(f"http://host:{i}abc/")


def _uvloop_refused(i: int) -> None:
    import asyncio

    import uvloop

    async def go() -> None:
        await asyncio.open_connection("127.0.0.1", _free_port())
    uvloop.run(go())


def _anyio_timeout(i: int) -> None:
    import anyio

    async def go() -> None:
        with anyio.fail_after(0.01 * (i + 1)):
            await anyio.sleep(1)
    anyio.run(go)


def _anyio_closed(i: int) -> None:
    import anyio

    async def go() -> None:
        send, receive = anyio.create_memory_object_stream(1)
        await send.aclose()
        await send.send(i)
    anyio.run(go)


def _orjson(i: int) -> None:
    import orjson
    orjson.loads(f'{{"a": {i},}}')


def _tenacity(i: int) -> None:
    import tenacity

    @tenacity.retry(stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_none())
    def connect() -> None:
        raise ConnectionRefusedError(111, "Connection refused")
    connect()


def _pluggy(i: int) -> None:
    import pluggy
    spec, impl = pluggy.HookspecMarker("dtfx"), pluggy.HookimplMarker("dtfx")

    class Spec:
        @spec
        def on_thing(self, a):
            pass

    class Plugin:
        @impl
        def on_thing(self, a, extra_arg):
            pass
    pm = pluggy.PluginManager("dtfx")
    pm.add_hookspecs(Spec)
    pm.register(Plugin(), name=f"plugin{i}")


def _graphql(i: int) -> None:
    import graphql
    graphql.parse(f"{{ user(id: {i}) {{ name ")


def _attrs_frozen(i: int) -> None:
    import attrs

    @attrs.frozen
    class Config:
        lr: float
    Config(0.1 * i).lr = 1.0


def _pygments(i: int) -> None:
    import pygments.lexers
    pygments.lexers.get_lexer_by_name(f"nolang{i}")


def _idna(i: int) -> None:
    import idna
    idna.encode(f"bad_{WORDS[i]}.example")


def _hypothesis(i: int) -> None:
    from hypothesis import given, settings, strategies as st

    @settings(database=None, max_examples=50, derandomize=True)
    @given(st.integers(min_value=0, max_value=1000))
    def test_prop(x: int) -> None:
        assert x < 10 * (i + 1)
    test_prop()


def _psutil(i: int) -> None:
    import psutil
    psutil.Process(2 ** 22 + i)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(argv: list[str], cwd: str | None = None) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)
    if out.returncode == 0:
        raise AssertionError(f"{argv[0]} succeeded")
    raise subprocess.CalledProcessError(out.returncode, argv, out.stdout, out.stderr)


def _git_not_repo(i: int) -> None:
    import tempfile
    _run(["git", "log", "-1"], cwd=tempfile.mkdtemp())


def _git_clone_missing(i: int) -> None:
    import tempfile
    _run(["git", "clone", f"/nonexistent/repo-{WORDS[i]}.git", tempfile.mkdtemp() + "/x"])


def _curl_refused(i: int) -> None:
    _run(["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{_free_port()}/health{i}"])


def _curl_resolve(i: int) -> None:
    _run(["curl", "-sS", "--max-time", "5", f"http://no-such-host-{WORDS[i]}.invalid/"])


def _make_no_rule(i: int) -> None:
    import tempfile
    _run(["make", f"bench-{WORDS[i]}"], cwd=tempfile.mkdtemp())


def _gcc_missing_header(i: int) -> None:
    import tempfile
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "k.c"), "w") as f:
        f.write(f"#include <cuda_runtime_{i}.h>\nint main(void) {{ return 0; }}\n")
    _run(["gcc", "-c", "k.c"], cwd=d)


def _tar_missing(i: int) -> None:
    import tempfile
    _run(["tar", "xzf", f"dataset-{WORDS[i]}.tar.gz"], cwd=tempfile.mkdtemp())


def _python_syntax(i: int) -> None:
    _run([sys.executable, "-c", f"def f({i}):\n    pass"])


def _timeout_cmd(i: int) -> None:
    _run(["timeout", "0.2", "sleep", str(5 + i)])


def _ssh_refused(i: int) -> None:
    _run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "ConnectTimeout=3",
          "-p", str(_free_port()), f"ci{i}@127.0.0.1", "true"])


TRIGGERS: list[tuple[str, str, str, tuple[str, ...], Callable[[int], None]]] = [
    ("pyyaml", TC, "pyyaml-scanner", (), _yaml_scanner),
    ("pyyaml", TC, "pyyaml-constructor", (), _yaml_constructor),
    ("jsonschema-rs", TC, "jsonschema-required", (), _jsonschema),
    ("click", TC, "click-bad-parameter", (), _click),
    ("click", TC, "click-no-such-option", (), _click_no_option),
    ("argparse", TC, "argparse-invalid-int", (), _argparse),
    ("sqlite3", TE, "sqlite-no-table", (TC,), _sqlite_no_table),
    ("sqlite3", RA, "sqlite-locked", (WO,), _sqlite_locked),
    ("duckdb", TE, "duckdb-catalog", (TC,), _duckdb_catalog),
    ("duckdb", TE, "duckdb-parser", (TC,), _duckdb_parser),
    ("configparser", TC, "configparser-duplicate", (), _configparser_dup),
    ("configparser", TC, "ini-no-section", (), _configparser_header),
    ("csv", TC, "csv-nul", (TE,), _csv),
    ("zipfile", TD, "zipfile-bad", (TC,), _zip),
    ("tarfile", TD, "tarfile-read", (TC,), _tar),
    ("gzip", TD, "gzip-bad", (TC,), _gzip),
    ("zlib", TE, "zlib-error", (TD,), _zlib),
    ("pickle", TE, "pickle-unpickling", (TD,), _pickle),
    ("ipaddress", TC, "ipaddress-invalid", (), _ipaddress),
    ("decimal", TE, "decimal-invalid", (), _decimal),
    ("re", TE, "re-unterminated", (TC,), _re),
    ("unittest", TE, "unittest-assert-equal", (), _unittest),
    ("unittest", TE, "unittest-almost-equal", (), _unittest_almost),
    ("importlib.metadata", TD, "metadata-not-found", (), _metadata),
    ("requests", NC, "requests-connection-refused", (), _requests_refused),
    ("requests", TC, "requests-missing-schema", (), _requests_missing_schema),
    ("requests", TC, "requests-invalid-url", (), _requests_invalid_url),
    ("urllib3", NC, "requests-connection-refused", (), _urllib3_refused),
    ("urllib3", TC, "requests-invalid-url", (), _urllib3_location),
    ("uvloop", NC, "socket-connection-refused", (), _uvloop_refused),
    ("anyio", NT, "asyncio-timeout", (), _anyio_timeout),
    ("anyio", RC, "anyio-closed-resource", (TE,), _anyio_closed),
    ("orjson", TC, "orjson-decode", (), _orjson),
    ("tenacity", NC, "tenacity-retry-error", (), _tenacity),
    ("pluggy", TC, "pluggy-validation", (), _pluggy),
    ("graphql-core", TE, "graphql-syntax", (TC,), _graphql),
    ("attrs", TE, "attrs-frozen", (), _attrs_frozen),
    ("pygments", TC, "pygments-no-lexer", (), _pygments),
    ("idna", TC, "idna-invalid", (), _idna),
    ("hypothesis", TE, "hypothesis-falsifying", (), _hypothesis),
    ("psutil", RC, "psutil-no-such-process", (WC,), _psutil),
    ("git", TC, "git-not-a-repo", (), _git_not_repo),
    ("git", TD, "git-clone-missing", (TC,), _git_clone_missing),
    ("curl", NC, "curl-refused", (), _curl_refused),
    ("curl", NC, "curl-resolve", (), _curl_resolve),
    ("make", TC, "make-no-rule", (), _make_no_rule),
    ("gcc", TD, "gcc-missing-header", (), _gcc_missing_header),
    ("tar", TC, "tar-missing-archive", (TD,), _tar_missing),
    ("cpython", TE, "python-syntax", (TC,), _python_syntax),
    ("coreutils-timeout", NT, "timeout-124", (), _timeout_cmd),
    ("ssh", NC, "ssh-refused-live", (), _ssh_refused),
]


def add_libraries(c: Any) -> None:
    for library, category, pattern, alternatives, fn in TRIGGERS:
        got = 0
        for i in range(VARIANTS):
            try:
                fn(i)
            except BaseException as exc:  # noqa: BLE001 - SystemExit/argparse too: every failure is wanted
                if isinstance(exc, KeyboardInterrupt):
                    raise
                c.add_exc(exc, category, pattern, library=library, alternatives=list(alternatives))
                got += 1
        if not got:
            raise RuntimeError(f"{pattern}: no error raised")
