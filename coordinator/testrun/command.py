"""``dtf test``: collect locally, plan shards, submit them as pytest tasks, follow, merge, exit."""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from coordinator.client import ApiClient, ApiError
from coordinator.models import TaskStatus
from coordinator.testrun.collect import CollectError, collect, conftest_imports
from coordinator.testrun.fleet import Fleet, durations_for, fleet, suite_key
from coordinator.testrun.plan import Shard, plan
from coordinator.testrun.report import (BAD, ExitCode, Outcome, Run, TestResult, banner, counts_line,
                                        exit_code, summary_lines, write_junit)
from coordinator.testrun.trees import pack, upload

POLL_SECONDS = 0.1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dtf test", allow_abbrev=False,  # an abbreviation must not swallow a pytest option
        description="Run a pytest suite over the fleet: collect here, shard by recorded "
        "durations, run the shards on the workers, merge one report. Arguments dtf does not know go to "
        "pytest (put them after -- to be explicit). Exit codes are pytest's: 0 passed, 1 tests failed, "
        "2+ could not run.")
    p.add_argument("--url", default=os.environ.get("DTF_URL"), help="coordinator URL (env DTF_URL; default: "
                   "the one `dtf up` recorded in the data dir, else http://127.0.0.1:8080)")
    p.add_argument("--api-token", default=os.environ.get("DTF_API_TOKEN"),
                   help="API token (env DTF_API_TOKEN; default: the data dir's api_token file)")
    p.add_argument("--data-dir", default=os.environ.get("DTF_DATA_DIR", "./.dtf"),
                   help="dtf up's data dir: its address and token, and this command's collection cache "
                   "(env DTF_DATA_DIR; default ./.dtf)")
    p.add_argument("--junitxml", default=None, help="write the merged JUnit XML report here")
    p.add_argument("--reruns", type=int, default=0, help="rerun failed tests up to N times, each time on "
                   "a different worker where there is one (failed then passed = flaky)")
    p.add_argument("--shards", type=int, default=0, help="number of shards (default: 2 per worker slot when "
                   "durations are recorded, else shards of decreasing size, none under a 4-per-slot share; "
                   "longest first, so a worker that finishes early takes the next one)")
    p.add_argument("--tree", choices=("auto", "shared", "ship"), default="auto",
                   help="shared: workers see this checkout at the same path; ship: send it as an archive "
                   "each worker fetches once; auto: shared when every worker runs on this host")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs pytest here (and on "
                   "workers sharing the checkout); default: this one")
    p.add_argument("--cold", action="store_true", help="start every shard in a fresh interpreter (default: "
                   "workers fork shards from a warm pytest process per interpreter and environment)")
    p.add_argument("--no-warmup", action="store_true", help="while collecting here, do not send the "
                   "workers a warm-up (by default each worker sharing the checkout starts the suite's fork "
                   "server meanwhile)")
    p.add_argument("--shard-timeout", type=float, default=3600.0,
                   help="seconds a shard's attempt may run; a shard that times out or loses its worker is "
                   "retried under the coordinator's policy (pytest-timeout's --timeout goes to pytest)")
    p.add_argument("--recollect", action="store_true", help="collect again even if the tree is unchanged")
    p.add_argument("--suite", default=None, help="name under which durations are kept (default: from the "
                   "root directory)")
    return p


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    tail: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, tail = argv[:cut], argv[cut + 1:]
    opts, rest = build_parser().parse_known_args(argv)
    if opts.reruns < 0 or opts.shards < 0:
        build_parser().error("--reruns and --shards must be >= 0")
    return opts, rest + tail


class Progress:
    def __init__(self, total_tests: int, total_shards: int) -> None:
        self.total_tests, self.total_shards = total_tests, total_shards
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()

    def show(self, shards_done: int, tests_done: int, bad: int, final: bool = False) -> None:
        width = 30
        filled = int(width * tests_done / max(1, self.total_tests))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {tests_done}/{self.total_tests} tests, "
                f"{shards_done}/{self.total_shards} shards, {bad} failed, {time.monotonic() - self.started:5.1f}s")
        if self.tty:
            print("\r" + line, end="\n" if final else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def max_failures(pytest_args: Sequence[str]) -> int | None:
    """-x / --exitfirst -> 1, --maxfail N -> N, else None (pytest's own rule: the last one given wins)."""
    found = None
    for i, arg in enumerate(pytest_args):
        if arg in ("-x", "--exitfirst"):
            found = 1
        elif arg.startswith("--maxfail="):
            found = int(arg.split("=", 1)[1]) if arg.split("=", 1)[1].isdigit() else found
        elif arg == "--maxfail" and i + 1 < len(pytest_args) and pytest_args[i + 1].isdigit():
            found = int(pytest_args[i + 1])
    return found or None  # --maxfail=0 means no limit


def _ts(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


@dataclass(kw_only=True)
class ShardRun:
    shard: Shard
    task_id: str
    task: dict[str, Any] | None = None
    code: int | None = None  # the shard's pytest exit code (3 when it has none: lost, crashed, ...)

    @property
    def last_attempt(self) -> dict[str, Any]:
        attempts = (self.task or {}).get("attempts") or []
        return attempts[-1] if attempts else {}

    @property
    def worker_id(self) -> str | None:
        return self.last_attempt.get("worker_id")

    def dispatch_seconds(self) -> float | None:
        """From submission until the worker started it (queueing included)."""
        created, start = _ts((self.task or {}).get("created_at")), _ts(self.last_attempt.get("started_at"))
        return (start - created) if created and start else None

    def busy_seconds(self) -> float:
        a = self.last_attempt
        start, end = _ts(a.get("started_at")), _ts(a.get("finished_at"))
        return (end - start) if start and end else 0.0

    def exit_code(self) -> int:
        task = self.task or {}
        code = ((task.get("result") or {}).get("exit_code") if isinstance(task.get("result"), dict) else None)
        if code is None:
            code = ((task.get("details") or {}).get("exit_code"))
        status = TaskStatus(task.get("status", TaskStatus.ERROR.value))
        if status in (TaskStatus.COMPLETED, TaskStatus.FAILED) and code in (0, 1, 5):
            return int(code)
        if isinstance(code, int) and 2 <= code <= 4 and status is TaskStatus.ERROR:
            return code
        return int(ExitCode.INTERNAL_ERROR)  # lost, timed out, crashed, cancelled, no report


class TestRun:
    """One ``dtf test`` invocation against a coordinator."""

    def __init__(self, client: ApiClient, opts: argparse.Namespace, pytest_args: list[str]) -> None:
        self.client, self.opts, self.args = client, opts, pytest_args
        self.run_id = uuid.uuid4().hex[:12]
        self.results: dict[str, TestResult] = {}
        self.shard_runs: list[ShardRun] = []
        self.fleet: Fleet | None = None
        self.timing: dict[str, float] = {}
        self.max_fail = max_failures(pytest_args)
        self.stop_early = self.max_fail is not None
        self.stopping = False  # -x and a test failed: the other shards were cancelled
        self.not_run = 0
        self.warmups: list[str] = []

    def run(self) -> int:
        t0 = time.monotonic()
        cwd = Path.cwd()
        data_dir = Path(self.opts.data_dir)
        self.fleet = fleet(self.client)
        try:
            # our own outputs inside the tree must not count as edits (or nothing would be cached)
            outputs = [p for p in (data_dir, Path(self.opts.junitxml) if self.opts.junitxml else None) if p]
            coll = collect(self.args, python=self.opts.python, cwd=cwd,
                           cache_dir=None if self.opts.recollect else data_dir / "collect", exclude=outputs,
                           on_miss=lambda: self._warm_up(cwd))
        except CollectError as exc:
            self._cancel(self.warmups)
            print(str(exc), file=sys.stderr)
            return exc.exit_code
        self.timing["collect"] = coll.seconds
        if not coll.items:
            self._cancel(self.warmups)
            print(banner("no tests ran"))
            return int(ExitCode.NO_TESTS_COLLECTED)
        if not self.fleet.workers:
            print("dtf test: no connected worker can take work (start some with `dtf up`)", file=sys.stderr)
            return int(ExitCode.INTERNAL_ERROR)
        suite = suite_key(coll.rootdir, self.opts.suite)
        durations = durations_for(self.client, suite)
        shards = plan(coll.items, durations, self.opts.shards, self.fleet.slots, coll.module_seconds)
        base = self._where(cwd, Path(coll.rootdir))
        if coll.xdist:
            self.args = [*self.args, "-n", "0"]  # the last -n wins: no xdist workers inside a shard
        self.timing["prepare"] = time.monotonic() - t0
        print(banner(f"dtf test: {len(coll.items)} tests in {len(shards)} shards on {len(self.fleet.workers)} "
                     f"workers ({self.fleet.slots} slots)"))
        print(f"collection {coll.seconds:.2f}s{' (cached: tree unchanged)' if coll.cached else ''}; "
              f"durations known for {sum(s.known for s in shards)}/{len(coll.items)} tests"
              f"{' (none recorded yet: a coordinator with --result-aggregator keeps them)' if not durations else ''}; tree "
              f"{'shipped ' + base['tree'][:12] if 'tree' in base else 'shared'}")
        runnable = [s for s in shards if s.hardware is None or self.fleet.offers(s.hardware)]
        for shard in shards:
            if shard not in runnable:  # it would wait in the queue for a worker nobody started
                self._unrunnable(shard, f"no connected worker offers {shard.hardware} "
                                        f"(tests marked @pytest.mark.{shard.hardware})")
        progress = Progress(sum(len(s.nodeids) for s in runnable), len(runnable))
        submitted = time.monotonic()
        if runnable:
            self._follow(self._submit(runnable, base, suite, rerun=0), progress)
        makespan = time.monotonic() - submitted
        for attempt in range(1, 0 if self.stopping else self.opts.reruns + 1):
            again = self._rerun(base, suite, attempt)
            if not again:
                break
            self._follow(again, None)
        self._cancel(self.warmups)  # one whose worker went away would wait for it
        elapsed = time.monotonic() - t0
        return self._finish(elapsed, makespan)

    def _warm_up(self, cwd: Path) -> None:
        """While this machine collects (the workers are idle meanwhile), each worker sharing the
        checkout starts the suite's fork server, which imports the installed modules the suite's
        conftests import (read here, not run), so the first shards start warm. Only where the tree
        is shared: a shipped tree needs the collection's rootdir first. A warm-up runs no test and
        reports nothing."""
        if self.opts.cold or self.opts.no_warmup or self.fleet is None or not self.fleet.workers:
            return
        if not (self.opts.tree == "shared" or (self.opts.tree == "auto" and self.fleet.local())):
            return
        base = self._where(cwd, cwd)
        ids = [w["worker_id"] for w in self.fleet.workers]
        preload = conftest_imports(cwd)
        tasks = [{"type": "pytest", "config": {**base, "args": self.args, "warmup": True, "preload": preload},
                  # one per worker: every other worker is avoided
                  "requirements": {"avoid_workers": [o for o in ids if o != w]}, "priority": -1,
                  "timeout_seconds": 120, "max_retries": 0, "tags": {"run": self.run_id, "warmup": True}}
                 for w in ids]
        try:
            self.warmups = self.client.post("/api/v1/tasks", {"tasks": tasks})["task_ids"]
        except ApiError:
            self.warmups = []  # an optimisation only

    def _cancel(self, task_ids: list[str]) -> None:
        if not task_ids:
            return
        try:
            page = self.client.get(f"/api/v1/tasks?limit=1000&ids={','.join(task_ids)}")["items"]
        except ApiError:
            return
        for task in page:
            if not TaskStatus(task["status"]).terminal:
                try:
                    self.client.post(f"/api/v1/tasks/{task['task_id']}/cancel")
                except ApiError:
                    pass  # it ended meanwhile

    def _where(self, cwd: Path, rootdir: Path) -> dict[str, Any]:
        """The config fields that tell a worker where the suite is."""
        shared = self.opts.tree == "shared" or (self.opts.tree == "auto" and self.fleet is not None
                                                and self.fleet.local())
        if shared:
            if self.fleet is not None and self.fleet.runs_python(self.opts.python):
                return {"cwd": str(cwd)}  # also what a restricted worker (no chosen interpreter) takes
            return {"cwd": str(cwd), "python": self.opts.python}
        root = rootdir if cwd == rootdir or rootdir in cwd.parents else cwd
        digest, data = pack(root)
        sent = upload(self.client, digest, data)
        print(f"tree {digest[:12]}: {len(data) / 1e6:.1f} MB {'uploaded' if sent else 'already stored'}")
        return {"tree": digest, "cwd": str(cwd.relative_to(root)) if cwd != root else "."}

    def _submit(self, shards: list[Shard], base: dict[str, Any], suite: str, rerun: int,
                avoid: dict[int, str] | None = None) -> list[ShardRun]:
        tasks = []
        for shard in shards:
            reqs: dict[str, Any] = {}
            if shard.hardware:
                reqs["hardware"] = [shard.hardware]
            if avoid and shard.index in avoid:
                reqs["avoid_workers"] = [avoid[shard.index]]
            tasks.append({"type": "pytest", "config": {**base, "args": self.args, "select": shard.nodeids,
                                                       "warm": not self.opts.cold},
                          "requirements": reqs, "priority": shard.index, "timeout_seconds": self.opts.shard_timeout,
                          "tags": {"suite": suite, "run": self.run_id, "shard": shard.index, "rerun": rerun}})
        ids = self.client.post("/api/v1/tasks", {"tasks": tasks})["task_ids"]
        runs = [ShardRun(shard=s, task_id=t) for s, t in zip(shards, ids)]
        self.shard_runs.extend(runs)
        return runs

    def _unrunnable(self, shard: Shard, why: str) -> None:
        run = ShardRun(shard=shard, task_id="", task={"status": TaskStatus.ERROR.value,
                                                      "error": {"type": "NoMatchingWorker", "message": why}})
        self.shard_runs.append(run)
        self._absorb(run)

    def cancel_pending(self) -> int:
        """Ctrl-C: the shards not finished yet are cancelled, not left running for nobody."""
        cancelled = 0
        for run in self.shard_runs:
            if run.task is None and run.task_id:
                try:
                    self.client.post(f"/api/v1/tasks/{run.task_id}/cancel")
                    cancelled += 1
                except ApiError:
                    pass  # it ended meanwhile
        self._cancel(self.warmups)
        return cancelled

    def _follow(self, runs: list[ShardRun], progress: Progress | None) -> None:
        pending = {r.task_id: r for r in runs}
        done_tests = bad = 0
        while pending:
            ids = list(pending)
            for i in range(0, len(ids), 200):
                page = self.client.get(f"/api/v1/tasks?limit=1000&ids={','.join(ids[i:i + 200])}")["items"]
                for task in page:
                    run = pending.get(task["task_id"])
                    if run is None or not TaskStatus(task["status"]).terminal:
                        continue
                    run.task = task
                    del pending[task["task_id"]]
                    added = self._absorb(run)
                    done_tests += len(run.shard.nodeids)
                    bad += sum(1 for o in added if o in BAD)
                    if self.max_fail is not None and bad >= self.max_fail and not self.stopping:
                        self.stopping = True  # as pytest -x: the first failure ends the session
                        self.cancel_pending()
                    if progress is not None:
                        progress.show(len(runs) - len(pending), done_tests, bad, final=not pending)
            if pending:
                time.sleep(POLL_SECONDS)

    def _absorb(self, run: ShardRun) -> list[Outcome]:
        """The shard's cases into the per-test results; a test it did not report becomes an error
        with the reason (never a silently missing result)."""
        task = run.task or {}
        worker = run.worker_id
        hardware = run.shard.hardware or (self.fleet.hardware_of(worker) if self.fleet else None)
        details = task.get("details") or {}
        cases = details.get("cases") or []
        run.code = run.exit_code()
        seen: set[str] = set()
        outcomes = []
        for case in cases:
            nodeid = case.get("nodeid") or case.get("name")
            if nodeid in seen:  # a teardown error after a failure: pytest writes the case twice; keep the worst
                prior = self.results[nodeid].runs[-1]
                if prior.outcome in BAD:
                    continue
                self.results[nodeid].runs.pop()
            seen.add(nodeid)
            outcome = Outcome(case.get("outcome", "error"))
            self.results.setdefault(nodeid, TestResult(nodeid=nodeid)).runs.append(Run(
                outcome=outcome, worker_id=worker, hardware=hardware,
                duration_seconds=float(case.get("duration") or 0.0), message=case.get("message"),
                text=case.get("text"), task_id=run.task_id))
            outcomes.append(outcome)
        missing = [n for n in run.shard.nodeids if n not in seen]
        if missing and self.stop_early and (run.code in (1, 2) or task.get("status") == TaskStatus.CANCELLED.value):
            # -x / --maxfail: pytest stops and never mentions the rest; so do we, but we count them
            self.not_run += len(missing)
            run.code = None
        elif missing:
            error = task.get("error") or {}
            why = (f"shard {run.shard.index} ({task.get('status', 'lost')} on {worker or 'no worker'}): "
                   f"{error.get('type', '')}: {error.get('message') or details.get('junit_error') or 'no result for this test'}")
            for nodeid in missing:
                self.results.setdefault(nodeid, TestResult(nodeid=nodeid)).runs.append(Run(
                    outcome=Outcome.ERROR, worker_id=worker, hardware=hardware, duration_seconds=0.0,
                    message=why[:500], text=(error.get("stderr") or error.get("traceback")), task_id=run.task_id))
                outcomes.append(Outcome.ERROR)
        return outcomes

    def _rerun(self, base: dict[str, Any], suite: str, attempt: int) -> list[ShardRun]:
        """Failed tests again, grouped by the worker they failed on, each group on another worker."""
        by_worker: dict[tuple[str | None, str | None], list[str]] = {}
        for r in self.results.values():
            if r.final.outcome in BAD:
                hw = next((s.shard.hardware for s in self.shard_runs if r.final.task_id == s.task_id), None)
                by_worker.setdefault((r.final.worker_id, hw), []).append(r.nodeid)
        if not by_worker:
            return []
        self.fleet = fleet(self.client)
        shards, avoid = [], {}
        for i, ((worker, hw), nodeids) in enumerate(sorted(by_worker.items(), key=lambda kv: str(kv[0]))):
            shards.append(Shard(index=i, hardware=hw, nodeids=sorted(nodeids)))
            if worker and self.fleet.others(worker, hw):
                avoid[i] = worker
        print(f"rerun {attempt}: {sum(len(s.nodeids) for s in shards)} failed tests"
              f"{' on other workers' if avoid else ''}", file=sys.stderr)
        runs = self._submit(shards, base, suite, rerun=attempt, avoid=avoid)
        return runs

    def _finish(self, elapsed: float, makespan: float) -> int:
        results = sorted(self.results.values(), key=lambda r: r.nodeid)
        if self.opts.junitxml:
            write_junit(Path(self.opts.junitxml), results, elapsed)
        lines = summary_lines(results)
        if lines:
            print(banner("short test summary info"))
            for line in lines:
                print(line)
        first = [s for s in self.shard_runs if (s.task or {}).get("tags", {}).get("rerun", 0) == 0]
        busy = [s.busy_seconds() for s in first]
        slots = self.fleet.slots if self.fleet else 1
        test_time = sum(r.runs[0].duration_seconds for r in results)
        overhead = [max(0.0, s.busy_seconds() - sum(c.get("duration") or 0.0 for c in
                                                     ((s.task or {}).get("details") or {}).get("cases") or []))
                    for s in first]
        print(f"makespan {makespan:.2f}s, ideal {sum(busy) / max(1, slots):.2f}s ({sum(busy):.2f}s of shard time / "
              f"{slots} slots); tests {test_time:.2f}s, start-up and collection per shard "
              f"{(sum(overhead) / max(1, len(overhead))):.2f}s; local collection {self.timing.get('collect', 0):.2f}s")
        waits = [w for w in (s.dispatch_seconds() for s in first) if w is not None]
        if waits:
            print(f"first shard started {min(waits):.2f}s after submission; before that, {self.timing['prepare']:.2f}s "
                  "here (collection, history, plan, tree)")
        # a shard that could not run counts while any of its tests is still without a good result
        codes = [s.code for s in self.shard_runs if s.code is not None and
                 (s.code in (0, 1, 5) or any(self.results[n].final.outcome in BAD for n in s.shard.nodeids))]
        code = exit_code(results, codes)
        if self.not_run:
            print(f"{self.not_run} tests not run: stopped early (-x / --maxfail), as pytest does")
        print(banner(counts_line(results, elapsed)))
        return int(code)


def main(argv: Sequence[str], resolve: Callable[[argparse.Namespace], tuple[str, str | None]]) -> int:
    """``resolve`` finds the coordinator's URL and API token from the options (the CLI's own
    lookup: flags, environment, then what ``dtf up`` wrote into the data dir)."""
    opts, pytest_args = parse(argv)
    run: TestRun | None = None
    try:
        url, token = resolve(opts)
        run = TestRun(ApiClient(url, token), opts, pytest_args)
        return run.run()
    except ApiError as exc:
        print(f"dtf test: {exc}", file=sys.stderr)
        return int(ExitCode.INTERNAL_ERROR)
    except KeyboardInterrupt:
        if run is not None:
            print(f"\ndtf test: interrupted; cancelled {run.cancel_pending()} unfinished shards", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
