"""The compose deployment for real: the image, `docker compose up`, and faults across containers.

Needs a Docker engine and `docker compose` (v2); `make image` (docker/build-image.sh) arranges the
plugin and the image, and the fixture runs it first so the containers run this checkout's code (a
no-op when nothing changed). Without an engine the module is skipped, except under CI (CI=true),
where that is a failure. Each run uses its own compose project name and a free host port, talks to
the cluster only through 127.0.0.1:<published port> and the engine, and removes its containers,
network and volumes at the end.

The tests share one cluster and run in file order (tasks accumulate; each test checks its own).
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from coordinator.client import ApiClient, ApiError
from tests.harness import ROOT, free_port, wait_until

COMPOSE = ROOT / "docker-compose.yml"
IMAGE = os.environ.get("DTF_IMAGE", "dtf:latest")
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
TERMINAL = ("completed", "failed", "error", "timed_out", "cancelled")
HEARTBEAT_TIMEOUT = 5.0   # the coordinator's default --heartbeat-timeout (the compose file keeps it)
WORKERS = 3

pytestmark = pytest.mark.timeout(900)


def run(argv: list[str], timeout: float = 300, check: bool = True, env: dict[str, str] | None = None,
        **kw: Any) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def engine_missing() -> str | None:
    """Why the compose tests cannot run here, or None."""
    if shutil.which("docker") is None:
        return "no docker CLI"
    info = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=60, check=False)
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip()[-300:]}"
    return None


def build_image() -> str | None:
    """docker/build-image.sh (cached: seconds when nothing changed); why it failed, or None."""
    build = run(["bash", str(ROOT / "docker" / "build-image.sh")], timeout=1800, check=False,
                env={**os.environ, "DTF_IMAGE": IMAGE})
    if build.returncode != 0:
        return f"make image failed:\n{build.stderr[-3000:]}"
    if run(["docker", "compose", "version"], check=False).returncode != 0:
        return "`docker compose` (v2) is missing"
    return None


def unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"{reason}\n(under CI the compose tests must run: a missing engine is a failure)")
    pytest.skip(reason)


class Stack:
    """One compose project: `docker compose -p NAME -f docker-compose.yml ...` on a free port."""

    def __init__(self, project: str, port: int, env_file: Path | None = None) -> None:
        self.project = project
        self.port = port
        self.env_file = env_file
        self.submitted = 0
        self._client: ApiClient | None = None

    def env(self) -> dict[str, str]:
        # Nothing of the caller's dtf settings leaks in: no token given means generated ones.
        env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")}
        # Published on loopback only: nothing of the test listens on the machine's other addresses.
        env.update(DTF_PUBLISHED_PORT=f"127.0.0.1:{self.port}", DTF_IMAGE=IMAGE)
        return env

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        argv = ["docker", "compose", "-p", self.project, "-f", str(COMPOSE)]
        if self.env_file is not None:
            argv += ["--env-file", str(self.env_file)]
        return run([*argv, *args], timeout=timeout, check=check, env=self.env(), cwd=ROOT)

    def up(self, *services: str, workers: int = WORKERS) -> None:
        # Not --wait: it refuses services without a health check, as the workers are. `up -d` returns
        # once the coordinator is healthy (the workers depend on that) and the workers are started.
        self.compose("up", "-d", "--no-build", "--scale", f"worker={workers}", *services, timeout=240)
        wait_until(lambda: ApiClient(self.url).get("/health")["status"] == "ok", 60, interval=0.5,
                   message=f"the coordinator on 127.0.0.1:{self.port}")

    def down(self, volumes: bool = False) -> None:
        self.compose("down", "--remove-orphans", "-t", "20", *(["-v"] if volumes else []), timeout=180, check=False)

    def container(self, service: str, n: int = 1) -> str:
        return f"{self.project}-{service}-{n}"

    def exec(self, service: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.compose("exec", "-T", service, *argv, check=check, timeout=60)

    def token(self) -> str:
        return self.exec("coordinator", "dtf", "token").stdout.strip()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            self._client = ApiClient(self.url, self.token(), timeout_seconds=15)
        return self._client

    def logs(self, service: str = "coordinator") -> str:
        return self.compose("logs", "--no-color", service, check=False).stdout

    def submit(self, tasks: list[dict[str, Any]]) -> list[str]:
        ids = self.client.post("/api/v1/tasks", {"tasks": tasks})["task_ids"]
        self.submitted += len(ids)
        return ids

    def task(self, tid: str) -> dict[str, Any]:
        return self.client.get(f"/api/v1/tasks/{tid}")

    def workers(self) -> dict[str, dict[str, Any]]:
        return {w["worker_id"]: w for w in self.client.get("/api/v1/workers")["items"]}

    def connected(self) -> set[str]:
        return {wid for wid, w in self.workers().items() if w.get("connected")}

    def wait_all_terminal(self, timeout: float) -> dict[str, int]:
        def done() -> dict[str, int] | None:
            counts = self.client.get("/api/v1/status")["tasks"]
            return counts if sum(counts.get(s, 0) for s in TERMINAL) >= self.submitted else None
        return wait_until(done, timeout, interval=0.5, message=f"all {self.submitted} tasks to end")

    def metric(self, name: str) -> float:
        text = self.client.get("/metrics")
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name) and not line.startswith("#"))

    def container_state(self, name: str) -> dict[str, Any]:
        out = run(["docker", "inspect", "--format", "{{.State.Status}} {{.RestartCount}} {{.State.StartedAt}}",
                   name]).stdout.split()
        return {"status": out[0], "restarts": int(out[1]), "started_at": out[2]}


def worker_names(project: str, n: int = WORKERS) -> set[str]:
    return {f"{project}-worker-{i}" for i in range(1, n + 1)}


def busy_worker(stack: Stack) -> str:
    """A worker running tasks right now (whichever the scheduler chose: it may bench one)."""
    def find() -> str | None:
        running = {wid: w["running_tasks"] for wid, w in stack.workers().items() if w["connected"]}
        return next((wid for wid, tasks in sorted(running.items()) if tasks), None)
    return wait_until(find, 30, interval=0.2, message="a worker running tasks")


def sleep_tasks(n: int, seconds: float) -> list[dict[str, Any]]:
    return [{"type": "python", "config": {"callable": "time:sleep", "args": [seconds]}, "timeout_seconds": 120}
            for _ in range(n)]


def one_pass_each(stack: Stack, ids: list[str]) -> list[dict[str, Any]]:
    """Every task completed, with exactly one passed attempt (none lost, none recorded twice)."""
    tasks = [stack.task(t) for t in ids]
    for t in tasks:
        assert t["status"] == "completed", t
        passed = [a for a in t["attempts"] if a["outcome"] == "passed"]
        assert len(passed) == 1, t["attempts"]
        assert t["attempts"][-1]["outcome"] == "passed", t["attempts"]
    return tasks


@pytest.fixture(scope="module")
def stack():
    reason = engine_missing() or build_image()
    if reason:
        unavailable(reason)
    s = Stack(f"dtft{os.getpid()}{secrets.token_hex(3)}", free_port())
    try:
        s.up()
        yield s
    finally:
        s.down(volumes=True)
        leftovers = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={s.project}"],
                        check=False).stdout.split()
        assert not leftovers, f"containers left behind: {leftovers}"


# ---- up, tokens, ids, dashboard ------------------------------------------------------------------

def test_up_generates_tokens_and_names_each_worker_after_its_container(stack):
    wait_until(lambda: stack.connected() == worker_names(stack.project), 60, interval=0.5,
               message="3 workers named <project>-worker-<n> to connect")
    # The tokens were generated into the volumes, 0600, owned by the image's user (not root).
    for path in ("/data/api_token", "/worker-token/worker_token"):
        mode = stack.exec("coordinator", "stat", "-c", "%a %U", path).stdout.split()
        assert mode == ["600", "dtf"], (path, mode)
    assert len(stack.token()) >= 32
    assert stack.exec("coordinator", "id", "-u").stdout.strip() != "0", "the image runs as a non-root user"
    # Workers read the worker token from their read-only volume and never see the API token.
    worker = stack.container("worker", 1)
    assert run(["docker", "exec", worker, "test", "-r", "/worker-token/worker_token"], check=False).returncode == 0
    assert run(["docker", "exec", worker, "sh", "-c", "echo x > /worker-token/probe"], check=False).returncode != 0
    assert run(["docker", "exec", worker, "sh", "-c", "ls -A /data"]).stdout.strip() == "", "no API token there"
    env = run(["docker", "exec", worker, "env"]).stdout
    assert "DTF_API_TOKEN" not in env
    # Without the token the API refuses; the dashboard answers through the published port.
    with pytest.raises(ApiError, match="401"):
        ApiClient(stack.url).get("/api/v1/status")
    html = stack.client.get(f"/dashboard?token={stack.client.api_token}")
    assert isinstance(html, str) and "<html" in html.lower(), html[:300]
    assert stack.client.get("/health")["status"] == "ok"


def test_200_tasks_with_10_chaos_faults_end_as_expected_and_are_queryable(stack):
    # (config, task extras, final status, category). Faults armed for attempts 1 and 2: an
    # attempt can be given back unstarted, without a failure (a `reconnect` recovery action drops
    # the connection an assignment was travelling on), and the fault must still fire.
    chaos = [
        *[({"fault": "network", "on_attempts": [1, 2]}, {}, "completed", "network_connection_error")] * 3,
        ({"fault": "hang", "on_attempts": [1, 2]}, {"timeout_seconds": 1.5}, "completed", "network_timeout_error"),
        *[({"fault": "assertion"}, {}, "failed", "test_execution_error")] * 2,
        *[({"fault": "import"}, {"max_retries": 0}, "error", "test_dependency_error")] * 2,
        *[({"fault": "config"}, {}, "error", "test_configuration_error")] * 2,
    ]
    plain = [{"type": "python", "config": {"callable": "operator:add", "args": [i, 1]}} for i in range(190)]
    faults = [{"type": "chaos", "config": cfg, **extra} for cfg, extra, _, _ in chaos]
    t0 = time.monotonic()
    ids = stack.submit(plain + faults)
    assert len(ids) == 200
    stack.wait_all_terminal(180)
    elapsed = time.monotonic() - t0
    for i, tid in enumerate(ids[:190]):
        task = stack.task(tid)
        assert task["status"] == "completed" and task["result"] == i + 1, task
    chaos_ids = ids[190:]
    for tid, (_, _, final, category) in zip(chaos_ids, chaos):
        task = stack.task(tid)
        assert task["status"] == final, (task["status"], task["error"], task["attempts"])
        attempts = task["attempts"]
        fired = [a for a in attempts if a["error_category"] is not None]
        assert fired and {a["error_category"] for a in fired} == {category}, attempts
        # Every other attempt was given back unstarted, but the pass that completes a task.
        for a in attempts:
            if a["error_category"] is None:
                assert a["outcome"] == "lost" or (a is attempts[-1] and a["outcome"] == "passed"), attempts
        assert (attempts[-1]["outcome"] == "passed") == (final == "completed"), attempts
    # The error events and their patterns, from DuckDB through the API (written in batches).
    def events() -> dict[str, list[dict[str, Any]]] | None:
        by_task = {tid: stack.client.get(f"/api/v1/errors?task_id={tid}")["items"] for tid in chaos_ids}
        return by_task if all(by_task.values()) else None
    by_task = wait_until(events, 30, interval=1, message="an error event for each chaos task")
    for tid, (_, _, _, category) in zip(chaos_ids, chaos):
        assert category in {e["category"] for e in by_task[tid]}, (tid, by_task[tid])
        assert all(e["worker_id"] in worker_names(stack.project) for e in by_task[tid])
    patterns = stack.client.get("/api/v1/errors/patterns")["items"]
    known = {p["pattern_id"]: p for p in patterns}
    for tid, evs in by_task.items():
        assert any(e["pattern_id"] in known for e in evs), (tid, [e["pattern_id"] for e in evs])
    assert sum(p["count"] for p in patterns) >= len(chaos_ids)
    assert stack.client.get("/api/v1/errors/summary")["total"] >= len(chaos_ids)
    print(f"\n200 tasks (10 chaos) through 3 containers in {elapsed:.1f}s")


# ---- faults across containers ------------------------------------------------------------------

def test_killed_worker_container_loses_nothing_and_records_nothing_twice(stack):
    ids = stack.submit(sleep_tasks(12, 3))
    victim = busy_worker(stack)  # worker ids are the container names
    on_victim = set(stack.workers()[victim]["running_tasks"])
    run(["docker", "kill", victim])
    stack.wait_all_terminal(120)
    tasks = one_pass_each(stack, ids)
    moved = [t for t in tasks if t["task_id"] in on_victim]
    assert moved
    for t in moved:
        assert t["attempts"][0]["worker_id"] == victim and t["attempts"][0]["outcome"] != "passed", t["attempts"]
        assert t["attempts"][-1]["worker_id"] != victim
    # `docker kill` is a manual stop, which restart policies leave alone: `up -d` brings it back,
    # under the same worker id.
    assert stack.container_state(victim)["status"] == "exited"
    stack.up()
    wait_until(lambda: stack.connected() == worker_names(stack.project), 60, interval=0.5,
               message=f"{victim} to rejoin under its id")


def kill_main_process(container: str) -> None:
    """What a crash or the OOM killer does: the container's processes die, the engine did not stop
    it, so its restart policy applies (`docker kill` is a manual stop, which restart policies ignore
    on this engine: see the README)."""
    # The exec'd shell may go down with the container: its exit status says nothing.
    run(["docker", "exec", "-u", "0", container, "sh", "-c", "kill -9 -1"], check=False)


def test_killed_coordinator_comes_back_workers_reconnect_and_nothing_is_lost(stack):
    coordinator = stack.container("coordinator")
    before = stack.container_state(coordinator)
    ids = stack.submit(sleep_tasks(9, 2) + [{"type": "python", "config": {"callable": "operator:add", "args": [1, 1]}}
                                            for _ in range(20)])
    wait_until(lambda: stack.client.get("/api/v1/status")["tasks"].get("running", 0) > 0, 30, interval=0.2,
               message="tasks running")
    kill_main_process(coordinator)
    t0 = time.monotonic()
    wait_until(lambda: stack.container_state(coordinator)["restarts"] > before["restarts"], 60, interval=0.5,
               message="the restart policy to bring the coordinator back")
    stack._client = None  # same token: it lives in the volume
    wait_until(lambda: stack.client.get("/health")["status"] == "ok", 60, interval=0.5,
               message="the coordinator to answer again")
    wait_until(lambda: stack.connected() == worker_names(stack.project), 60, interval=0.5,
               message="every worker to reconnect")
    reconnected = time.monotonic() - t0
    stack.wait_all_terminal(120)
    one_pass_each(stack, ids)
    status = stack.client.get("/api/v1/status")["tasks"]
    assert sum(status.values()) == stack.submitted, status
    print(f"\ncoordinator killed: back with every worker in {reconnected:.1f}s")


def test_worker_cut_off_the_network_is_detected_and_its_late_results_fenced(stack):
    network = f"{stack.project}_default"
    fenced_before = stack.metric("dtf_stale_attempts_fenced_total") + stack.metric("dtf_results_rejected_total")
    ids = stack.submit(sleep_tasks(6, 4))
    victim = busy_worker(stack)
    on_victim = set(stack.workers()[victim]["running_tasks"])
    run(["docker", "network", "disconnect", network, victim])
    t0 = time.monotonic()
    try:
        wait_until(lambda: not stack.workers()[victim]["connected"], HEARTBEAT_TIMEOUT + 3, interval=0.2,
                   message=f"{victim} to be found silent within the heartbeat timeout")
        detected = time.monotonic() - t0
        assert stack.workers()[victim]["state"] in ("unavailable", "disconnected")
        # Its tasks finish on the others while it is cut off (and its own runs end unreported).
        stack.wait_all_terminal(120)
        time.sleep(1)
    finally:
        run(["docker", "network", "connect", network, victim])
    wait_until(lambda: victim in stack.connected(), 60, interval=0.5, message=f"{victim} to reconnect")
    # Back, it offers what it held: the coordinator refuses those attempts (given up, rerun elsewhere).
    wait_until(lambda: stack.metric("dtf_stale_attempts_fenced_total")
               + stack.metric("dtf_results_rejected_total") > fenced_before, 30, interval=0.5,
               message="the late results to be fenced")
    tasks = one_pass_each(stack, ids)
    for t in tasks:
        if t["task_id"] in on_victim:
            first = t["attempts"][0]
            assert first["worker_id"] == victim and first["outcome"] == "lost", t["attempts"]
            assert t["attempts"][-1]["worker_id"] != victim
    print(f"\nworker cut off: found silent in {detected:.1f}s (heartbeat timeout {HEARTBEAT_TIMEOUT}s)")


# ---- persistence ---------------------------------------------------------------------------------

def test_down_then_up_keeps_tasks_history_patterns_tokens_and_worker_ids(stack):
    token = stack.token()
    tasks = stack.client.get("/api/v1/tasks?limit=500")
    some = [t["task_id"] for t in tasks["items"][:20]]
    status = stack.client.get("/api/v1/status")["tasks"]
    patterns = {p["pattern_id"]: p["count"] for p in stack.client.get("/api/v1/errors/patterns")["items"]}
    errors = stack.client.get("/api/v1/errors/summary")["total"]
    def results_recorded() -> int | None:
        n = stack.client.get("/api/v1/results/summary")["tasks"]
        return n if n == stack.submitted else None
    wait_until(results_recorded, 30, interval=1, message=f"{stack.submitted} results in DuckDB, each once")
    assert patterns and errors
    stack.down()
    assert not run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"]).stdout.strip()
    stack.up()
    stack._client = None
    assert stack.token() == token, "the generated API token is kept in the volume"
    assert stack.client.get("/api/v1/status")["tasks"] == status
    for tid in some:
        assert stack.task(tid)["status"] in TERMINAL
    after = {p["pattern_id"]: p["count"] for p in stack.client.get("/api/v1/errors/patterns")["items"]}
    assert after == patterns
    assert stack.client.get("/api/v1/errors/summary")["total"] == errors
    assert stack.client.get("/api/v1/results/summary")["tasks"] == stack.submitted
    wait_until(lambda: stack.connected() == worker_names(stack.project), 60, interval=0.5,
               message="the same 3 worker ids to reconnect")
    ids = stack.submit([{"type": "python", "config": {"callable": "operator:add", "args": [40, 2]}}])
    stack.wait_all_terminal(60)
    assert stack.task(ids[0])["result"] == 42


# ---- given tokens win --------------------------------------------------------------------------

def test_tokens_given_in_an_env_file_win_over_generated_ones(tmp_path):
    if engine_missing() or run(["docker", "image", "inspect", IMAGE], check=False).returncode != 0:
        unavailable("no engine or no image (see the cluster tests above)")
    api, worker = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    port = free_port()
    env_file = tmp_path / ".env"
    env_file.write_text(f"DTF_API_TOKEN={api}\nDTF_WORKER_TOKEN={worker}\nDTF_PUBLISHED_PORT=127.0.0.1:{port}\n")
    s = Stack(f"dtfg{os.getpid()}{secrets.token_hex(3)}", port, env_file=env_file)
    try:
        s.up(workers=1)
        client = ApiClient(s.url, api, timeout_seconds=15)
        wait_until(lambda: {w["worker_id"] for w in client.get("/api/v1/workers")["items"] if w["connected"]}
                   == {s.container("worker", 1)}, 60, interval=0.5, message="the worker to connect with the given token")
        assert client.get("/api/v1/status")["workers"]
        # Nothing was generated: the given tokens are the only ones.
        assert s.exec("coordinator", "ls", "-A", "/data/api_token", check=False).returncode != 0
        assert s.exec("coordinator", "ls", "-A", "/worker-token/worker_token", check=False).returncode != 0
        with pytest.raises(ApiError, match="401"):
            ApiClient(s.url, secrets.token_urlsafe(32)).get("/api/v1/status")
    finally:
        s.down(volumes=True)
