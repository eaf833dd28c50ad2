"""Load on a real coordinator: many simulated workers on WebSockets plus a steady HTTP API load.

A fleet process holds --workers WebSocket connections (aiohttp client), each doing the real
protocol of worker/protocol.py: hello, heartbeats at the interval the welcome names, and an
immediate RESULTS answer to every TASKS frame (a passed attempt). The main process sends an
open-loop API load of --rate requests per second (GET /api/v1/status, GET /api/v1/tasks/{id},
POST /api/v1/tasks) and times each request from its scheduled start, so a stalled coordinator
shows as latency rather than as fewer requests.

Phases, one coordinator: RSS with nothing connected; connect the fleet (RSS again: memory per
connected worker); the API load with the fleet connected; the fleet disconnects; the same API
load with 0 workers connected (the baseline).

    python bench/load.py [--workers 500] [--rate 200] [--duration 60]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.protocol import MessageType, decode, encode  # noqa: E402
from tests.harness import free_port, wait_until  # noqa: E402

WORKER_TOKEN, API_TOKEN = "bench-wtok", "bench-atok"
HARDWARE = {"types": ["cpu"], "cpu_count": 1, "memory_gb": 4.0, "gpus": [], "packages": []}


# ---- the simulated fleet (its own process) ----------------------------------------------------------
class FleetStats:
    def __init__(self) -> None:
        self.connected = 0
        self.tasks_received = 0
        self.results_sent = 0
        self.acks = Counter()
        self.errors = Counter()
        self.hello_seconds: list[float] = []


async def sim_worker(http: aiohttp.ClientSession, url: str, wid: str, stats: FleetStats,
                     stop: asyncio.Event, all_connected: asyncio.Event, total: int) -> None:
    t0 = time.perf_counter()
    try:
        ws = await http.ws_connect(url, heartbeat=None, compress=0, max_msg_size=8 << 20)
    except (aiohttp.ClientError, OSError) as exc:
        stats.errors[f"connect: {type(exc).__name__}"] += 1
        return
    try:
        await ws.send_str(encode(MessageType.HELLO, worker_id=wid, token=WORKER_TOKEN, hardware=HARDWARE,
                                 concurrency=4, tags={"sim": "1"}, held=[]))
        first = await ws.receive(timeout=30)
        if first.type is not aiohttp.WSMsgType.TEXT or decode(first.data).type is not MessageType.WELCOME:
            stats.errors[f"hello: {first.type.name} {first.data!r:.60}"] += 1
            return
        welcome = decode(first.data).body
        stats.hello_seconds.append(time.perf_counter() - t0)
        stats.connected += 1
        if stats.connected == total:
            all_connected.set()
        interval = float(welcome.get("heartbeat_interval") or 1.0)
        running: dict[str, dict[str, Any]] = {}

        async def beat() -> None:
            # Spread the fleet's heartbeats over the interval instead of sending them in one burst.
            await asyncio.sleep(random.uniform(0, interval))
            while not ws.closed:
                await ws.send_str(encode(MessageType.HEARTBEAT, load={"running": len(running), "slots": 4},
                                         held=[], draining=False))
                await asyncio.sleep(interval)

        beater = asyncio.create_task(beat())
        stopper = asyncio.create_task(stop.wait())
        try:
            while True:
                recv = asyncio.create_task(ws.receive())
                done, _ = await asyncio.wait({recv, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    recv.cancel()
                    await ws.close(code=1000, message=b"bench done")
                    return
                msg = recv.result()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    if not stop.is_set():
                        stats.errors[f"socket: {msg.type.name} code={ws.close_code}"] += 1
                    return
                m = decode(msg.data)
                if m.type is MessageType.TASKS:
                    items = m.body["items"]
                    stats.tasks_received += len(items)
                    results = []
                    for it in items:
                        args = (it.get("config") or {}).get("args") or []
                        value = sum(a for a in args if isinstance(a, (int, float)))
                        results.append({"task_id": it["task_id"], "attempt": it["attempt"], "lease": it["lease"],
                                        "outcome": "passed", "result": value, "error": None, "details": None,
                                        "duration_seconds": 0.001})
                    await ws.send_str(encode(MessageType.RESULTS, items=results))
                    stats.results_sent += len(results)
                elif m.type is MessageType.RESULT_ACKS:
                    for ack in m.body["items"]:
                        stats.acks[ack.get("status")] += 1
                elif m.type is MessageType.COMMAND:
                    await ws.send_str(encode(MessageType.COMMAND_RESULT, command=m.body["command"], ok=True,
                                             detail={}))
        finally:
            beater.cancel()
            stopper.cancel()
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
        stats.errors[f"session: {type(exc).__name__}"] += 1
    finally:
        if not ws.closed:
            await ws.close()


async def fleet_main(url: str, n: int, connected_evt: Any, stop_evt: Any, out: Any) -> None:
    stats = FleetStats()
    stop, all_connected = asyncio.Event(), asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        t0 = time.perf_counter()
        async def one(i: int) -> None:
            await asyncio.sleep(i * 0.002)  # a fleet coming up over a second, not one SYN flood
            await sim_worker(http, url, f"sim-{i:04d}", stats, stop, all_connected, n)

        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        try:
            await asyncio.wait_for(all_connected.wait(), 120)
        except asyncio.TimeoutError:
            pass
        connect_seconds = time.perf_counter() - t0
        connected_evt.set()
        await asyncio.get_running_loop().run_in_executor(None, stop_evt.wait)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    hello = sorted(stats.hello_seconds)
    out.put({"connected": stats.connected, "connect_seconds": connect_seconds,
             "hello_p50": hello[len(hello) // 2] if hello else None,
             "hello_p99": hello[int(len(hello) * 0.99)] if hello else None,
             "tasks_received": stats.tasks_received, "results_sent": stats.results_sent,
             "acks": dict(stats.acks), "errors": dict(stats.errors)})


def fleet_process(url: str, n: int, connected_evt: Any, stop_evt: Any, out: Any) -> None:
    try:
        import uvloop
        uvloop.run(fleet_main(url, n, connected_evt, stop_evt, out))
    except ImportError:
        asyncio.run(fleet_main(url, n, connected_evt, stop_evt, out))


# ---- the API load (main process) -----------------------------------------------------------------------
async def api_load(base: str, rate: float, duration: float, known_ids: list[str]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    latencies: dict[str, list[float]] = {"status": [], "get_task": [], "post_task": []}
    errors: Counter = Counter()
    sem = asyncio.Semaphore(256)
    rng = random.Random(7)
    seq = [0]

    async def one(kind: str, scheduled: float, http: aiohttp.ClientSession) -> None:
        async with sem:
            try:
                if kind == "status":
                    resp = await http.get(f"{base}/api/v1/status", headers=headers)
                elif kind == "get_task":
                    resp = await http.get(f"{base}/api/v1/tasks/{rng.choice(known_ids)}", headers=headers)
                else:
                    seq[0] += 1
                    task = {"type": "python", "config": {"callable": "operator:add", "args": [seq[0], 1]}}
                    resp = await http.post(f"{base}/api/v1/tasks", data=orjson.dumps(task),
                                           headers={**headers, "Content-Type": "application/json"})
                body = await resp.read()
                if resp.status >= 400:
                    errors[f"{kind} HTTP {resp.status}"] += 1
                    return
                if kind == "post_task":
                    known_ids.append(orjson.loads(body)["task_id"])
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                errors[f"{kind} {type(exc).__name__}"] += 1
                return
            latencies[kind].append(time.perf_counter() - scheduled)

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=timeout) as http:
        start = time.perf_counter()
        pending = set()
        n = int(rate * duration)
        for i in range(n):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            r = rng.random()
            kind = "status" if r < 0.4 else "get_task" if r < 0.8 else "post_task"
            t = asyncio.create_task(one(kind, scheduled, http))
            pending.add(t)
            t.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - start
    every = sorted(x for v in latencies.values() for x in v)

    def pct(xs: list[float], q: float) -> float:
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")
    return {"requests": n, "ok": len(every), "errors": dict(errors), "achieved_rate": len(every) / elapsed,
            "p50_ms": pct(every, 0.5), "p99_ms": pct(every, 0.99), "max_ms": pct(every, 1.0),
            "by_kind": {k: {"n": len(v), "p50_ms": pct(sorted(v), 0.5), "p99_ms": pct(sorted(v), 0.99)}
                        for k, v in latencies.items()}}


def api_status(base: str) -> dict[str, Any]:
    import urllib.request
    req = urllib.request.Request(f"{base}/api/v1/status", headers={"Authorization": f"Bearer {API_TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return orjson.loads(resp.read())


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2 ** 20


def show(label: str, r: dict[str, Any]) -> None:
    errs = sum(r["errors"].values())
    print(f"  {label}: {r['ok']}/{r['requests']} ok at {r['achieved_rate']:.0f} req/s, errors {errs} "
          f"{r['errors'] or ''}, latency p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms")
    for kind, k in r["by_kind"].items():
        print(f"      {kind:9s} n={k['n']:6d}  p50 {k['p50_ms']:7.1f} ms  p99 {k['p99_ms']:7.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=500, help="simulated workers (default 500)")
    ap.add_argument("--rate", type=float, default=200.0, help="API requests per second (default 200)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of API load per phase (default 60)")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (logs, databases)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dtf-load-"))
    port = free_port()
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "coordinator", "--port", str(port), "--state-path", str(tmp / "state.sqlite"),
           "--db-path", str(tmp / "events.duckdb"), "--worker-token", WORKER_TOKEN, "--api-token", API_TOKEN,
           "--log-level", "WARNING", "--heartbeat-interval", "1", "--heartbeat-timeout", "10"]
    log = open(tmp / "coordinator.log", "ab")
    coord = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    ctx = mp.get_context("spawn")
    fleet = None
    try:
        def up() -> bool:
            if coord.poll() is not None:
                raise SystemExit(f"coordinator exited with {coord.returncode}; see {tmp / 'coordinator.log'}")
            try:
                return bool(api_status(base))
            except OSError:
                return False
        wait_until(up, 30, message="coordinator up")
        print(f"load: {args.workers} simulated workers, {args.rate:g} API req/s for {args.duration:g}s per phase, "
              f"coordinator pid {coord.pid}, {os.cpu_count()} CPUs")
        import urllib.request
        seed = orjson.dumps({"tasks": [{"type": "python", "config": {"callable": "operator:add", "args": [i, 1]}}
                                       for i in range(200)]})
        req = urllib.request.Request(f"{base}/api/v1/tasks", data=seed, method="POST", headers={
            "Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            known_ids: list[str] = orjson.loads(resp.read())["task_ids"]
        time.sleep(1.0)  # settle: let the allocator reach its steady state before measuring
        rss0 = rss_mb(coord.pid)

        connected_evt, stop_evt, out = ctx.Event(), ctx.Event(), ctx.Queue()
        fleet = ctx.Process(target=fleet_process, args=(ws_url, args.workers, connected_evt, stop_evt, out))
        t0 = time.perf_counter()
        fleet.start()
        if not connected_evt.wait(180):
            raise SystemExit("the fleet did not report back within 180 s")
        connect_s = time.perf_counter() - t0
        wait_until(lambda: api_status(base)["workers"].get("idle", 0) + api_status(base)["workers"].get("busy", 0)
                   >= args.workers, 60, 0.2, f"{args.workers} workers connected")
        time.sleep(1.0)  # same settle as before the first reading
        rss1 = rss_mb(coord.pid)
        completed_before = api_status(base)["tasks"].get("completed", 0)
        loaded = asyncio.run(api_load(base, args.rate, args.duration, known_ids))
        wait_until(lambda: api_status(base)["queue_depth"] == 0, 60, 0.2, "queue drained")
        status_loaded = api_status(base)
        rss2 = rss_mb(coord.pid)
        cpu_loaded = psutil.Process(coord.pid).cpu_times()
        stop_evt.set()
        fleet_stats = out.get(timeout=120)
        fleet.join(60)
        wait_until(lambda: api_status(base)["workers"].get("idle", 0) + api_status(base)["workers"].get("busy", 0)
                   == 0, 60, 0.2, "fleet disconnected")

        baseline = asyncio.run(api_load(base, args.rate, args.duration, known_ids))
        rss3 = rss_mb(coord.pid)

        completed = status_loaded["tasks"].get("completed", 0) - completed_before
        print(f"  fleet: {fleet_stats['connected']}/{args.workers} connected in {connect_s:.1f}s "
              f"(hello p50 {fleet_stats['hello_p50'] * 1000:.0f} ms, p99 {fleet_stats['hello_p99'] * 1000:.0f} ms); "
              f"tasks received {fleet_stats['tasks_received']}, results sent {fleet_stats['results_sent']}, "
              f"acks {fleet_stats['acks']}, fleet errors {sum(fleet_stats['errors'].values())} "
              f"{fleet_stats['errors'] or ''}")
        print(f"  coordinator RSS: {rss0:.1f} MiB with nothing connected, {rss1:.1f} MiB with {args.workers} "
              f"connected -> {(rss1 - rss0) * 1024 / max(1, args.workers):.1f} KiB per connected worker; "
              f"{rss2:.1f} MiB after the loaded phase, {rss3:.1f} MiB after the baseline")
        print(f"  tasks completed during the loaded phase: {completed} "
              f"(submitted by the API load: {loaded['by_kind']['post_task']['n']}), final {status_loaded['tasks']}")
        show(f"API with {args.workers} workers connected", loaded)
        show("API baseline, 0 workers connected", baseline)
        print(f"  coordinator CPU time from start to the end of the loaded phase: user {cpu_loaded.user:.1f}s, system {cpu_loaded.system:.1f}s")
        total_errors = (sum(loaded["errors"].values()) + sum(baseline["errors"].values())
                        + sum(fleet_stats["errors"].values()) + fleet_stats["acks"].get("rejected", 0))
        print(f"  errors in total: {total_errors}")
        return 0 if total_errors == 0 else 1
    finally:
        if fleet is not None and fleet.is_alive():
            fleet.terminate()
            fleet.join(10)
        coord.send_signal(signal.SIGTERM)
        try:
            coord.wait(30)
        except subprocess.TimeoutExpired:
            coord.kill()
            coord.wait()
        if args.keep:
            print(f"  files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
