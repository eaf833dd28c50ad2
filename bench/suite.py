"""`dtf test` against pytest and pytest-xdist on a real third-party suite fetched from PyPI.

    .venv/bin/python bench/suite.py [--package attrs==26.1.0] [--rounds 3] [--workdir DIR]
        [--fresh] [--timeline] [--variant ARGS] [--variant-root DIR] [--with-cold]

``--fresh`` makes every round a first run (restarted workers, no history, no cached collection);
``--timeline`` prints each shard's start, end, tests and overhead; ``--variant`` /
``--variant-root`` run a second dtf each round (other flags, or another checkout's client, e.g.
``git archive main coordinator worker | tar -x -C DIR``) for a same-round A/B.

The package's sdist (which ships its tests) is downloaded with pip, unpacked, and installed with
the test dependencies it declares (``[dependency-groups] tests`` or the ``tests``/``test`` extra)
plus pytest-xdist into a throwaway venv under --workdir (kept between runs; default a folder in
the temp dir). Nothing in the suite is changed and nothing in dtf knows about it.

A real coordinator (with --result-aggregator, so durations are recorded) and 2 local workers
(1 slot each) run the shards. Each round runs, one after the other on the same machine:
plain ``pytest``, ``pytest -n 2`` (xdist), and ``dtf test``. The first dtf run has no history
and collects cold; later rounds plan from recorded durations and reuse the collection of the
unchanged tree. Printed: wall times (median over rounds, and each round), dtf/xdist, makespan
against the ideal, and whether the per-test outcomes (passed, failed, skipped node ids) equal
plain pytest's exactly.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import Cluster  # noqa: E402
from worker.executors.pytest_exec import parse_junit  # noqa: E402


def sh(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=False, capture_output=True, text=True, **kw)


def _group(groups: dict, name: str) -> list[str]:
    out = []
    for entry in groups.get(name, []):
        out += _group(groups, entry["include-group"]) if isinstance(entry, dict) else [entry]
    return out


def test_deps(src: Path) -> list[str]:
    """What the sdist says its tests need."""
    try:
        meta = tomllib.loads((src / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return []
    groups = meta.get("dependency-groups", {})
    for name in ("tests", "test", "testing"):
        if name in groups:
            return _group(groups, name)
    extras = meta.get("project", {}).get("optional-dependencies", {})
    for name in ("tests", "test", "testing"):
        if name in extras:
            return list(extras[name])
    return []


def prepare(package: str, workdir: Path) -> tuple[Path, Path]:
    """-> (the unpacked suite, the venv's python)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = workdir / "ready.json"
    if stamp.exists():
        ready = json.loads(stamp.read_text())
        if ready["package"] == package:
            return Path(ready["src"]), Path(ready["python"])
    dl = workdir / "sdist"
    done = sh([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", package, "-d", str(dl)])
    if done.returncode:
        sys.exit(f"pip download {package} failed:\n{done.stderr[-2000:]}")
    archive = sorted(dl.glob("*.tar.gz"))[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    src = workdir / archive.name[:-len(".tar.gz")]
    venv = workdir / "venv"
    sh([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    deps = [d for d in test_deps(src) if not re.match(r"^pytest-xdist\b", d)]
    print(f"installing {src.name} with its test dependencies: {', '.join(deps) or '(none declared)'}")
    done = sh([str(python), "-m", "pip", "install", "-q", str(src), "pytest", "pytest-xdist", *deps])
    if done.returncode:
        sys.exit(f"pip install failed:\n{done.stderr[-2000:]}")
    stamp.write_text(json.dumps({"package": package, "src": str(src), "python": str(python)}))
    return src, python


def outcomes(junit: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for case in parse_junit(junit, 200):
        prior = out.get(case["nodeid"])
        if prior not in ("failed", "error"):  # a teardown error after a failure: keep the first verdict
            out[case["nodeid"]] = case["outcome"]
    return out


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str, int]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.stdout + done.stderr, done.returncode


def _startup(lines: list[str]) -> str:
    for line in lines:
        found = re.search(r"start-up and collection per shard ([0-9.]+s)", line)
        if found:
            return found.group(1)
    return "?"


def new_tasks(cluster: Cluster, seen: set[str]) -> list[dict]:
    """Tasks not in ``seen`` (which they are added to)."""
    out, cursor = [], "0"
    while cursor:
        page = cluster.api.get(f"/api/v1/tasks?limit=1000&cursor={cursor}")
        out += [t for t in page["items"] if t["task_id"] not in seen]
        cursor = page["next_cursor"]
    seen.update(t["task_id"] for t in out)
    return out


def cpu_seconds(pid: int) -> float:
    """A process's own CPU time (user + system), not its children's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_cpu(cluster: Cluster) -> float:
    procs = [cluster.coordinator, *cluster.workers.values()]
    return sum(cpu_seconds(p.pid) for p in procs if p is not None)


def timeline(tasks: list[dict], started: float) -> list[str]:
    """Per shard, in seconds from the dtf command's start: submitted, started, finished, worker, tests,
    their own time, and the shard's overhead (its busy time less its tests' time)."""
    rows = []
    for t in tasks:
        if t.get("type") != "pytest":
            continue
        a = (t.get("attempts") or [{}])[-1]
        ts = [datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp() - started if x else float("nan")
              for x in (t.get("created_at"), a.get("started_at"), a.get("finished_at"))]
        cases = (t.get("details") or {}).get("cases") or []
        own = sum(c.get("duration") or 0.0 for c in cases)
        tags = t.get("tags") or {}
        name = "warm-up" if tags.get("warmup") else f"shard {tags.get('shard')}"
        rows.append((ts[1], f"    {name}: submitted {ts[0]:5.2f} started {ts[1]:5.2f} "
                            f"finished {ts[2]:5.2f} on {a.get('worker_id')}: {len(cases)} tests {own:5.2f}s, "
                            f"overhead {ts[2] - ts[1] - own:4.2f}s"))
    return [r for _, r in sorted(rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package", default="attrs==26.1.0")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--with-cold", action="store_true",
                    help="also run `dtf test --cold` each round (shards in fresh interpreters, no fork server)")
    ap.add_argument("--fresh", action="store_true",
                    help="every round is a first run: restarted workers (no warm fork server), a new suite "
                    "name (no recorded durations) and an empty collection cache")
    ap.add_argument("--variant", default=None, help="also run dtf test with these extra arguments each round "
                    "(e.g. --variant=--no-warmup), after the plain dtf run")
    ap.add_argument("--variant-root", default=None, help="also run the dtf client from this checkout each round "
                    "(its coordinator/ and worker/, e.g. an older version exported with git archive), for an A/B")
    ap.add_argument("--timeline", action="store_true", help="print each dtf shard's start, end and overhead")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "dtf-bench-suite"))
    args = ap.parse_args()
    src, python = prepare(args.package, Path(args.workdir))
    base = ["-p", "no:cacheprovider"]
    junit1 = ["-o", "junit_family=xunit1"]  # keeps each case's file, so node ids compare exactly
    with tempfile.TemporaryDirectory(prefix="dtf-bench-suite-") as tmp:
        tmpdir = Path(tmp)
        cluster = Cluster(tmpdir, coordinator_args=["--result-aggregator"])
        try:
            cluster.start_coordinator()

            def workers(r: int) -> None:
                for name, proc in list(cluster.workers.items()):  # --fresh: no warm fork server left over
                    proc.terminate()
                    proc.wait(15)
                    del cluster.workers[name]
                for i in (1, 2):
                    cluster.start_worker(f"local-{i}" if r == 0 else f"local-r{r + 1}-{i}", concurrency=1)
            workers(0)
            seen: set[str] = set()
            env = {**cluster.env, "DTF_API_TOKEN": cluster.api_token}
            dtf = [sys.executable, "-m", "coordinator.cli", "test", "--url", cluster.api.base_url,
                   "--python", str(python), "--data-dir", str(tmpdir / "client")]
            times: dict[str, list[float]] = {"pytest": [], "xdist -n 2": [], "dtf test": []}
            if args.with_cold:
                times["dtf --cold"] = []
            startup: dict[str, list[str]] = {"dtf test": [], "dtf --cold": []}
            lines: list[str] = []
            reference: dict[str, str] = {}
            same = True
            ratios: list[float] = []
            for r in range(args.rounds):
                t, out, code = timed([str(python), "-m", "pytest", "-q", *base, *junit1, f"--junitxml={tmpdir}/plain.xml"], src)
                times["pytest"].append(t)
                reference = outcomes(tmpdir / "plain.xml")
                xdist = [str(python), "-m", "pytest", "-q", "-n", "2", *base, *junit1, f"--junitxml={tmpdir}/xdist.xml"]
                variant = f"dtf {args.variant or ''}{' @' + Path(args.variant_root).name if args.variant_root else ''}".strip()
                order = ["xdist -n 2", "dtf test"] + ([variant] if args.variant or args.variant_root else [])
                # rotate which goes first: a busy machine's drift then hits each alike
                for name in order[r % len(order):] + order[:r % len(order)]:
                    if name == "xdist -n 2":
                        t, _, _ = timed(xdist, src)
                        times[name].append(t)
                        continue
                    if args.fresh and (r or name != "dtf test"):
                        workers(r * 10 + order.index(name))
                    tag = "fresh" if name == "dtf test" else "variant"
                    fresh = ["--suite", f"{tag}-{r}", "--data-dir", str(tmpdir / f"{tag}-{r}")] if args.fresh else []
                    run_env = env if name == "dtf test" or not args.variant_root else \
                        {**env, "PYTHONPATH": str(Path(args.variant_root).resolve())}
                    extra = (args.variant or "").split() if name != "dtf test" else []
                    report = tmpdir / ("dtf.xml" if name == "dtf test" else "variant.xml")
                    began, cpu_before = time.time(), service_cpu(cluster)
                    t, run_out, run_code = timed([*dtf, *fresh, *extra, "--junitxml", str(report), *base], src, run_env)
                    service = service_cpu(cluster) - cpu_before
                    shards = new_tasks(cluster, seen)
                    times.setdefault(name, []).append(t)
                    run_lines = [line for line in run_out.splitlines() if line.startswith(("makespan", "collection"))]
                    got = outcomes(report)
                    if got != reference:
                        same = False
                        diff = sorted(n for n in set(got) | set(reference) if got.get(n) != reference.get(n))
                        print(f"round {r + 1}, {name}: {len(diff)} node ids differ, e.g. "
                              + "; ".join(f"{n}: pytest {reference.get(n)}, dtf {got.get(n)}" for n in diff[:5]))
                    if name == "dtf test":
                        out, dtf_code, lines = run_out, run_code, run_lines
                    else:
                        print(f"round {r + 1}: {name} {t:.2f}s (exit {run_code}); {' | '.join(run_lines)}", flush=True)
                    if args.timeline:
                        print(f"  {name}:\n" + "\n".join(timeline(shards, began))
                              + f"\n    coordinator and worker processes (not the shards): {service:.2f}s of CPU", flush=True)
                startup["dtf test"].append(_startup(lines))
                if args.with_cold:
                    t, cold_out, _ = timed([*dtf, "--cold", *base], src, env)
                    times["dtf --cold"].append(t)
                    startup["dtf --cold"].append(_startup(cold_out.splitlines()))
                ratios.append(times["dtf test"][-1] / times["xdist -n 2"][-1])
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items())
                      + f", dtf/xdist {ratios[-1]:.2f}; dtf exit {dtf_code}; {' | '.join(lines)}", flush=True)
            counts: dict[str, int] = {}
            for o in reference.values():
                counts[o] = counts.get(o, 0) + 1
            print()
            print(f"suite: {src.name}, {len(reference)} tests "
                  f"({', '.join(f'{n} {o}' for o, n in sorted(counts.items()))}); 2 workers x 1 slot, "
                  f"{os.cpu_count()} cores")
            for name, ts in times.items():
                print(f"  {name:<11} median {statistics.median(ts):6.2f}s   rounds: "
                      + " ".join(f"{t:.2f}" for t in ts))
            later = ratios[1:] or ratios
            if args.fresh:
                print(f"  dtf / xdist, same round, every round a first run (fresh workers, no history, collection "
                      f"not cached): median {statistics.median(ratios):.2f} (each: {' '.join(f'{x:.2f}' for x in ratios)})")
            else:
                print(f"  dtf / xdist, same round: first run (no history, collection not cached) {ratios[0]:.2f}; "
                      f"later rounds median {statistics.median(later):.2f} (each: {' '.join(f'{x:.2f}' for x in later)})")
            for name, ts in times.items():
                if name.startswith("dtf ") and name not in ("dtf test", "dtf --cold"):
                    each = [a / b for a, b in zip(ts, times["xdist -n 2"])]
                    print(f"  {name} / xdist, same round: median {statistics.median(each):.2f} "
                          f"(each: {' '.join(f'{x:.2f}' for x in each)})")
            for name, values in startup.items():
                if values:
                    print(f"  {name}: start-up and collection per shard, each round: {' '.join(values)}")
            print(f"  outcomes equal to plain pytest's (passed, failed, skipped, error node ids): "
                  f"{'yes' if same else 'NO'}")
            print(f"  last dtf run: {' | '.join(lines)}")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
