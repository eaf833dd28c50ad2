"""Events/second through the whole error pipeline: classify + aggregate + decide + DuckDB.

    .venv/bin/python bench/error_pipeline.py [--events 100000] [--repeat 3] [--baseline-events 2000]

Measures ``DistributedErrorHandler.handle_error`` for every event with a real DuckDB file, from
the first ``handle_error`` to the moment ``handler.stop()`` returns (everything committed and
checkpointed), with a fresh handler and database per run (cold caches). Mixes:

- realistic: the built-in mix of real-world messages, ``--distinct`` concrete messages
  (default 2000, ~1.2k of them drawn) with a Zipf-like skew, as a fleet repeats its failures;
- all-distinct: every event's parameters fresh (the worst case for the per-message caches);
- corpus: tests/data/error_corpus.jsonl cycled (real tracebacks), when present.

Each is run ``--repeat`` times; the median decides whether the 50,000 events/s target (on the
realistic mix) is met. A naive baseline (same decisions, one INSERT per event) runs in the same
process for comparison. The generated input is moved out of the garbage collector's sight
(``gc.freeze``) before timing: a coordinator receives events one by one and never holds 300k
pre-built input dicts, which full collections would otherwise re-scan on every pass.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import statistics
import itertools
import json
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from error_handling import DistributedErrorHandler
from error_handling.causes import shipped_causes
from error_handling.migrate import apply_migrations
from error_handling.model import normalize_error

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "error_corpus.jsonl"

# (type, message template, exit_code, signal, context): {n} numbers, {h} hex, {p} paths vary.
BUILTIN_MIX = [
    ("torch.cuda.OutOfMemoryError", "CUDA out of memory. Tried to allocate {n}.00 MiB (GPU {d}; "
     "{n}.00 GiB total capacity; {n}.{d}0 GiB already allocated)", None, None, {"stage": "run"}),
    ("RuntimeError", "CUDA error: device-side assert triggered", None, None, {}),
    ("RuntimeError", "HIP error: hipErrorNoDevice", None, None, {}),
    ("ConnectionRefusedError", "[Errno 111] Connection refused", None, None, {}),
    ("aiohttp.client_exceptions.ClientConnectorError",
     "Cannot connect to host 10.0.{d}.{n}:8080 ssl:default [Connect call failed ('10.0.{d}.{n}', 8080)]",
     None, None, {}),
    ("requests.exceptions.ReadTimeout", "HTTPSConnectionPool(host='hub.example', port=443): "
     "Read timed out. (read timeout={n})", None, None, {}),
    ("socket.gaierror", "[Errno -2] Name or service not known", None, None, {}),
    ("ssl.SSLCertVerificationError", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
     "unable to get local issuer certificate (_ssl.c:{n})", None, None, {}),
    ("AssertionError", "assert {n} == {m}", None, None, {"stage": "test"}),
    ("AssertionError", "expected latency < {n} ms, got {m} ms", None, None, {"stage": "test"}),
    ("ModuleNotFoundError", "No module named 'transformers'", None, None, {}),
    ("yaml.scanner.ScannerError", "mapping values are not allowed here in \"{p}\", line {n}, column {d}",
     None, None, {}),
    ("json.decoder.JSONDecodeError", "Expecting ',' delimiter: line {n} column {m} (char {n}{m})",
     None, None, {}),
    ("", "Killed", 137, None, {}),
    ("", "Segmentation fault (core dumped)", -11, 11, {}),
    ("OSError", "[Errno 28] No space left on device: '{p}'", None, None, {}),
    ("PermissionError", "[Errno 13] Permission denied: '{p}'", None, None, {"stage": "cleanup"}),
    ("", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver", 9, None, {}),
    ("", "worker w{d} stopped sending heartbeats for {n} s", None, None, {"stage": "heartbeat"}),
    ("ZeroDivisionError", "division by zero", None, None, {"stage": "test"}),
    ("RuntimeError", "MPS backend out of memory (MPS allocated: {n}.{d} GB)", None, None, {}),
    ("TimeoutError", "task exceeded timeout of {n} seconds", None, None, {}),
    ("ValueError", "invalid literal for int() with base 10: '{h}'", None, None, {}),
    ("", "ERROR: Could not find a version that satisfies the requirement torch=={d}.{d}.{d}",
     1, None, {}),
]


def _fill(template: str, rng: random.Random) -> str:
    return (template.replace("{n}", str(rng.randint(1, 4096))).replace("{m}", str(rng.randint(1, 999)))
            .replace("{d}", str(rng.randint(0, 9))).replace("{h}", f"0x{rng.getrandbits(32):08x}")
            .replace("{p}", f"/tmp/dtf/run-{rng.randint(1, 10**6)}/out.bin"))


def builtin_events(n: int, distinct: int, seed: int = 1) -> list[tuple[dict, dict]]:
    """``n`` events drawn with a Zipf-like skew from ``distinct`` concrete messages (a fleet
    repeats its failures: the same refused port, the same OOM size); distinct=0: every event's
    parameters are fresh (the worst case for the per-message caches)."""
    rng = random.Random(seed)

    def one() -> tuple[dict, dict]:
        typ, msg, code, sig, extra = BUILTIN_MIX[rng.randrange(len(BUILTIN_MIX))]
        return {"type": typ, "message": _fill(msg, rng), "exit_code": code, "signal": sig}, extra

    pool = [one() for _ in range(distinct)]
    weights = [1.0 / (rank + 1) for rank in range(distinct)]
    picks = rng.choices(pool, weights=weights, k=n) if distinct else [one() for _ in range(n)]
    return [(dict(err), _context(i, rng, extra)) for i, (err, extra) in enumerate(picks)]


def corpus_events(n: int, distinct: int = 0, seed: int = 1) -> list[tuple[dict, dict]]:
    lines = [json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines() if x.strip()]
    rng = random.Random(seed)
    out = []
    for i, rec in zip(range(n), itertools.cycle(lines)):
        err = {k: rec.get(k) for k in ("type", "message", "exit_code", "signal", "traceback")}
        out.append((err, _context(i, rng, rec.get("context") or {})))
    return out


def _context(i: int, rng: random.Random, extra: dict) -> dict:
    return {"task_id": f"task-{i // 3}", "worker_id": f"worker-{rng.randint(1, 32)}",
            "hardware_type": rng.choice(("cuda", "cpu", "rocm", "mps")), "attempt": 1 + i % 3,
            "tags": {"model": rng.choice(("bert", "llama", "vit"))}, **extra}


async def run_pipeline(events, path: Path) -> tuple[float, int]:
    handler = DistributedErrorHandler(event_sink=path, rng=random.Random(0))
    await handler.start()
    t0 = time.perf_counter()
    for err, ctx in events:
        await handler.handle_error(err, ctx)
    await handler.stop()
    elapsed = time.perf_counter() - t0
    con = duckdb.connect(str(path))
    stored = con.execute("SELECT count(*) FROM error_events").fetchone()[0]
    con.close()
    return elapsed, stored


def run_naive(events, path: Path) -> tuple[float, int]:
    """Same decisions, one INSERT (autocommit) per event on the caller's thread."""
    handler = DistributedErrorHandler(rng=random.Random(0))
    con = duckdb.connect(str(path))
    apply_migrations(con)
    sql = ("INSERT INTO error_events (event_id, \"timestamp\", task_id, worker_id, attempt, category, "
           "type, message, hardware_type, pattern_id, retry, retry_delay, outcome, actions, context) "
           "VALUES (?, make_timestamp(CAST(? * 1000000 AS BIGINT)), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    t0 = time.perf_counter()
    for err, ctx in events:
        d, info = handler.decide(err, ctx)
        con.execute(sql, [d.event_id, d.timestamp, ctx["task_id"], ctx["worker_id"], d.attempt,
                          d.category.value, info.type, info.message, ctx["hardware_type"],
                          d.pattern_id, d.retry, d.retry_delay, d.outcome.value,
                          json.dumps([str(a) for a in d.actions]), json.dumps(ctx)])
    elapsed = time.perf_counter() - t0
    stored = con.execute("SELECT count(*) FROM error_events").fetchone()[0]
    con.close()
    return elapsed, stored


def stage_costs(events) -> dict[str, float]:
    """Microseconds per event for the in-memory stages alone (no storage)."""
    handler = DistributedErrorHandler(rng=random.Random(0))
    handler._classifier.warm_up(timeout=60)  # the multi-regex gate compiles once per process, in the background
    shipped_causes().warm_up(timeout=60)  # and the grouping's needle gate
    infos = [normalize_error(e, c) for e, c in events]
    out = {}
    t0 = time.perf_counter()
    for info in infos:
        handler._classifier.explain(info)
    out["classify_us"] = (time.perf_counter() - t0) / len(infos) * 1e6
    t0 = time.perf_counter()
    for info in infos:
        handler.aggregator.add_error(info, info.context, None)
    out["aggregate_us"] = (time.perf_counter() - t0) / len(infos) * 1e6
    h2 = DistributedErrorHandler(rng=random.Random(0))
    t0 = time.perf_counter()
    for e, c in events:
        h2.decide(e, c)
    out["decide_total_us"] = (time.perf_counter() - t0) / len(events) * 1e6
    return out


def _measure(label: str, events, tmp: Path, repeat: int, profile: bool = False) -> float:
    """Median events/s of ``repeat`` pipeline runs (fresh handler and database each)."""
    gc.collect()
    gc.freeze()
    rates = []
    try:
        for i in range(repeat):
            path = tmp / f"{label}-{i}.duckdb"
            if profile and i == 0:
                prof = cProfile.Profile()
                prof.enable()
            elapsed, stored = asyncio.run(run_pipeline(events, path))
            if profile and i == 0:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            assert stored == len(events), (stored, len(events))
            rates.append(len(events) / elapsed)
            path.unlink(missing_ok=True)
    finally:
        gc.unfreeze()
    median = statistics.median(rates)
    distinct = len({e["message"] for e, _ in events})
    print(f"pipeline, {label} ({len(events)} events, {distinct} distinct messages): "
          f"{median:,.0f} events/s median  [runs: {', '.join(f'{r:,.0f}' for r in rates)}]")
    return median


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--distinct-events", type=int, default=50_000,
                    help="events in the all-distinct run")
    ap.add_argument("--baseline-events", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per mix (median reported)")
    ap.add_argument("--distinct", type=int, default=2_000,
                    help="distinct messages in the realistic built-in mix")
    ap.add_argument("--no-corpus", action="store_true", help="skip the corpus mix")
    ap.add_argument("--profile", action="store_true", help="cProfile one realistic run")
    args = ap.parse_args(argv)
    realistic = builtin_events(args.events, args.distinct)
    print("handle_error (classify + aggregate + decide + enqueue) and the batched DuckDB sink, "
          "timed from the first handle_error until everything is committed")
    costs = stage_costs(realistic[:20_000])
    print("in-memory stage costs per event, realistic mix (us): "
          + ", ".join(f"{k}={v:.1f}" for k, v in costs.items()))
    with tempfile.TemporaryDirectory(prefix="dtf-bench-") as tmp_name:
        tmp = Path(tmp_name)
        rate = _measure("realistic mix", realistic, tmp, args.repeat, args.profile)
        del realistic
        _measure("all-distinct messages", builtin_events(args.distinct_events, 0, seed=2), tmp,
                 args.repeat)
        if CORPUS.exists() and not args.no_corpus:
            _measure("corpus with tracebacks", corpus_events(args.events), tmp, args.repeat)
        base = builtin_events(args.baseline_events, args.distinct)
        b_elapsed, b_stored = run_naive(base, tmp / "naive.duckdb")
        assert b_stored == len(base)
        b_rate = len(base) / b_elapsed
        print(f"naive baseline (same decisions, one INSERT per event, realistic mix): "
              f"{b_rate:,.0f} events/s ({len(base)} events in {b_elapsed:.2f} s)")
        print(f"speed-up over naive: {rate / b_rate:.1f}x; target 50,000 events/s on the "
              f"realistic mix: {'met' if rate >= 50_000 else 'NOT met'} ({rate:,.0f} median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
