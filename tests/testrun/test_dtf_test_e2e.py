"""``dtf test`` on real coordinator and worker processes, over small generated suites: outcomes,
merged JUnit XML, exit codes, history-sized shards, work stealing, reruns on another worker,
hardware markers, the shipped tree, and per-test results that are never silently empty."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.harness import ROOT, Cluster, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """w1: cpu, fails tests that look for SUITE_FAIL_HERE, relative --work-dir.
    w2: cpu and cuda (declared)."""
    tmp = tmp_path_factory.mktemp("dtftest")
    c = Cluster(tmp, coordinator_args=["--result-aggregator"])
    try:
        c.start_coordinator()
        base_env = c.env
        c.env = {**base_env, "SUITE_FAIL_HERE": "1"}
        c.start_worker("w1", concurrency=1, extra=["--work-dir", "relative/w1"])  # resolved at start
        c.env = base_env
        c.start_worker("w2", concurrency=1, extra=["--hardware", "cpu,cuda"])
        yield c
    finally:
        c.stop()


def write_suite(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    cuda: needs a CUDA device\n")
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
    return root


def dtf_test(cluster: Cluster, suite: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")} | {
        "PYTHONPATH": str(ROOT), "DTF_API_TOKEN": cluster.api_token}
    return subprocess.run([sys.executable, "-m", "coordinator.cli", "test", "--url", cluster.api.base_url,
                           "--data-dir", str(suite / ".dtf"), *argv],
                          cwd=suite, capture_output=True, text=True, timeout=timeout, env=env)


def run_tasks(cluster: Cluster, run_output: str) -> list[dict]:
    """The shard tasks of the newest run (tags.run), oldest first."""
    items = cluster.api.get("/api/v1/tasks?limit=1000")["items"]
    runs = [t["tags"].get("run") for t in items if t["type"] == "pytest" and t["tags"].get("run")]
    assert runs, run_output
    return [t for t in items if t["tags"].get("run") == runs[-1] and not t["tags"].get("warmup")]


def warmup_tasks(cluster: Cluster, run: str) -> list[dict]:
    items = cluster.api.get("/api/v1/tasks?limit=1000")["items"]
    return [t for t in items if t["tags"].get("run") == run and t["tags"].get("warmup")]


def junit_cases(path: Path) -> dict[str, ET.Element]:
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        cls, file, name = case.get("classname"), case.get("file"), case.get("name")
        module = file[:-3].replace("/", ".")
        inner = cls[len(module) + 1:]
        out["::".join(p for p in (file, *inner.split("."), name) if p)] = case
    return out


MIXED = {
    "test_mixed.py": """
        import pytest

        def test_ok():
            assert 1 + 1 == 2

        def test_bad():
            assert 1 + 1 == 3, "arithmetic is broken"

        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass

        class TestGroup:
            @pytest.mark.parametrize("n", [1, 2, 3])
            def test_param(self, n):
                assert n > 0
    """,
    "pkg/__init__.py": "",
    "pkg/test_in_package.py": """
        from . import helper  # passes only in package context (not when the file is named alone)

        def test_relative_import():
            assert helper.VALUE == 7
    """,
    "pkg/helper.py": "VALUE = 7\n",
}


def test_outcomes_merged_junit_and_exit_code_1_equal_plain_pytest(cluster, tmp_path):
    suite = write_suite(tmp_path / "mixed", MIXED)
    plain = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
                            "junit_family=xunit1", f"--junitxml={tmp_path}/plain.xml"],
                           cwd=suite, capture_output=True, text=True)
    proc = dtf_test(cluster, suite, "--junitxml", str(tmp_path / "dtf.xml"), "--shards", "3")
    assert proc.returncode == plain.returncode == 1, proc.stdout + proc.stderr
    ours, theirs = junit_cases(tmp_path / "dtf.xml"), junit_cases(tmp_path / "plain.xml")
    assert set(ours) == set(theirs) and len(ours) == 7

    def verdict(case: ET.Element) -> str:
        return next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
    assert {n: verdict(c) for n, c in ours.items()} == {n: verdict(c) for n, c in theirs.items()}
    bad = ours["test_mixed.py::test_bad"].find("failure")
    assert "arithmetic is broken" in bad.get("message") and "assert (1 + 1) == 3" in (bad.text or "")
    workers = {p.get("value") for c in ours.values() for p in c.iter("property") if p.get("name") == "dtf_worker"}
    assert workers <= {"w1", "w2"} and workers
    assert "FAILED test_mixed.py::test_bad" in proc.stdout
    assert "1 failed, 5 passed, 1 skipped" in proc.stdout
    tasks = run_tasks(cluster, proc.stdout)
    # workers on this host, running this interpreter: the checkout where it is, no interpreter named
    assert all(t["config"]["cwd"] == str(suite) and "python" not in t["config"] for t in tasks)
    assert all(len(t["attempts"]) == 1 for t in tasks)  # a failing shard is not rerun whole
    # every case is stored and queryable, with its worker and failure text
    run = tasks[0]["tags"]["run"]
    cases = wait_until(lambda: cluster.api.get(f"/api/v1/results/cases?run={run}")["items"], 30,
                       message="stored cases")
    assert len(cases) == 7
    # collected here for the first time: meanwhile each worker warmed its fork server for the suite,
    # running no test (the warm-ups store no case)
    warmups = warmup_tasks(cluster, run)
    assert sorted(t["attempts"][-1]["worker_id"] for t in warmups) == ["w1", "w2"]
    assert all(t["status"] == "completed" and t["result"] == {"warmup": True, "warmed": True} for t in warmups)
    assert all(t["config"]["warmup"] and t["config"]["cwd"] == str(suite) for t in warmups)
    again = dtf_test(cluster, suite, "--shards", "3")
    assert again.returncode == 1 and "(cached: tree unchanged)" in again.stdout
    # collection cached: no wait to fill, no warm-up
    assert not warmup_tasks(cluster, run_tasks(cluster, again.stdout)[0]["tags"]["run"])
    stored = {c["test_name"]: c for c in cases}
    assert stored["test_mixed.py::test_bad"]["outcome"] == "failed"
    assert "assert (1 + 1) == 3" in stored["test_mixed.py::test_bad"]["text"]
    assert stored["test_mixed.py::test_ok"]["worker_id"] in ("w1", "w2")


def test_exit_codes_follow_pytest(cluster, tmp_path):
    ok = write_suite(tmp_path / "ok", {"test_a.py": "def test_a():\n    pass\n"})
    assert dtf_test(cluster, ok).returncode == 0
    broken = write_suite(tmp_path / "broken", {"test_a.py": "import no_such_module_here\n\ndef test_a():\n    pass\n"})
    proc = dtf_test(cluster, broken)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # collection error: interrupted, as pytest
    assert "no_such_module_here" in proc.stderr
    assert dtf_test(cluster, ok, "--no-such-pytest-option").returncode == 4
    empty = write_suite(tmp_path / "empty", {"test_a.py": "X = 1\n"})
    assert dtf_test(cluster, empty).returncode == 5


def test_hardware_markers_send_tests_to_workers_that_have_it(cluster, tmp_path):
    suite = write_suite(tmp_path / "hw", {
        "test_gpu.py": "import pytest\n\n@pytest.mark.cuda\ndef test_on_gpu():\n    pass\n",
        "test_cpu.py": "def test_anywhere():\n    pass\n"})
    for _ in range(3):  # whichever worker is free first, the cuda test never lands on w1
        proc = dtf_test(cluster, suite)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        tasks = run_tasks(cluster, proc.stdout)
        gpu = [t for t in tasks if "test_gpu.py::test_on_gpu" in t["config"]["select"]]
        assert len(gpu) == 1 and gpu[0]["requirements"]["hardware"] == ["cuda"]
        assert gpu[0]["attempts"][-1]["worker_id"] == "w2"
        assert all(not t["requirements"]["hardware"] for t in tasks if t is not gpu[0])


def test_a_marker_for_hardware_no_worker_has_is_an_error_at_once_not_a_hang(cluster, tmp_path):
    suite = write_suite(tmp_path / "rocm", {
        "test_rocm.py": "import pytest\n\n@pytest.mark.rocm\ndef test_on_rocm():\n    pass\n",
        "test_cpu.py": "def test_anywhere():\n    pass\n"})
    (suite / "pytest.ini").write_text("[pytest]\nmarkers =\n    rocm: needs ROCm\n")
    proc = dtf_test(cluster, suite, "--junitxml", str(tmp_path / "rocm.xml"), timeout=60)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("ERROR test_rocm.py::test_on_rocm"))
    assert "no connected worker offers rocm" in line, proc.stdout
    assert "1 passed, 1 error" in proc.stdout
    assert junit_cases(tmp_path / "rocm.xml")["test_rocm.py::test_on_rocm"].find("error") is not None


def test_failed_tests_rerun_on_a_different_worker_and_flaky_is_told(cluster, tmp_path):
    suite = write_suite(tmp_path / "flaky", {
        "test_env.py": """
            import os

            def test_breaks_on_one_worker():
                assert "SUITE_FAIL_HERE" not in os.environ, "this worker's environment breaks me"
        """,
        "test_fine.py": "def test_fine():\n    pass\n"})
    # Which worker is free first is not ours to choose: run until the test lands on w1.
    for _ in range(6):
        proc = dtf_test(cluster, suite, "--reruns", "2", "--junitxml", str(tmp_path / "r.xml"), "--shards", "1")
        tasks = run_tasks(cluster, proc.stdout)
        first = [t for t in tasks if t["tags"]["rerun"] == 0][0]
        if first["attempts"][-1]["worker_id"] == "w1":
            break
    else:
        pytest.fail("the suite never ran on w1 in 6 runs")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # passed on the rerun: flaky, not failed
    rerun = [t for t in tasks if t["tags"]["rerun"] == 1]
    assert len(rerun) == 1 and rerun[0]["config"]["select"] == ["test_env.py::test_breaks_on_one_worker"]
    assert rerun[0]["requirements"]["avoid_workers"] == ["w1"]
    assert rerun[0]["attempts"][-1]["worker_id"] == "w2"
    assert "FLAKY test_env.py::test_breaks_on_one_worker" in proc.stdout
    assert "failed on w1, passed on w2" in proc.stdout
    assert "1 flaky" in proc.stdout
    case = junit_cases(tmp_path / "r.xml")["test_env.py::test_breaks_on_one_worker"]
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["dtf_flaky"] == "true" and props["dtf_runs"] == "failed@w1,passed@w2"


def test_history_sizes_shards_and_idle_workers_steal_the_rest(cluster, tmp_path):
    files = {"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(2.5)\n"}
    for i in range(6):
        files[f"test_quick_{i}.py"] = "import time\n\ndef test_q():\n    time.sleep(0.2)\n"
    suite = write_suite(tmp_path / "hist", files)
    first = dtf_test(cluster, suite, "--shards", "4", "--suite", f"hist-{tmp_path.name}")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "durations known for 0/7" in first.stdout
    second = dtf_test(cluster, suite, "--shards", "4", "--suite", f"hist-{tmp_path.name}")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "durations known for 7/7" in second.stdout
    tasks = run_tasks(cluster, second.stdout)
    # by history the slow test is a shard of its own, submitted first (lowest priority value)
    slow = [t for t in tasks if "test_slow.py::test_slow" in t["config"]["select"]]
    assert slow[0]["config"]["select"] == ["test_slow.py::test_slow"] and slow[0]["priority"] == 0
    # the other 3 shards were not bound to a worker: the one not busy with the slow shard took them
    slow_worker = slow[0]["attempts"][-1]["worker_id"]
    others = [t["attempts"][-1]["worker_id"] for t in tasks if t is not slow[0]]
    assert others.count(slow_worker) <= 1, (slow_worker, others)
    assert "makespan" in second.stdout and "ideal" in second.stdout


def test_shipped_tree_is_fetched_once_per_worker_and_cached(cluster, tmp_path):
    suite = write_suite(tmp_path / "ship", {
        "test_data.py": """
            from pathlib import Path

            def test_reads_a_data_file_beside_it():
                assert (Path(__file__).parent / "data.txt").read_text() == "shipped"
        """,
        "data.txt": "shipped"})
    proc = dtf_test(cluster, suite, "--tree", "ship", "--shards", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "uploaded" in proc.stdout
    tasks = run_tasks(cluster, proc.stdout)
    digest = tasks[0]["config"]["tree"]
    assert "python" not in tasks[0]["config"] and tasks[0]["config"]["cwd"] == "."
    assert not str(suite) in json.dumps(tasks[0]["config"])  # nothing points at this checkout
    again = dtf_test(cluster, suite, "--tree", "ship", "--shards", "2")
    assert again.returncode == 0 and "already stored" in again.stdout, again.stdout
    copies = [p for p in cluster.tmp.rglob(f"trees/{digest}") if p.is_dir()]
    ran_on = {t["attempts"][-1]["worker_id"] for t in tasks + run_tasks(cluster, again.stdout)}
    assert len(copies) == len(ran_on)  # one unpacked copy per worker that ran a shard, reused
    assert all((c / "data.txt").read_text() == "shipped" for c in copies)


def test_a_pytest_task_without_a_junit_report_is_an_error_not_zero_tests(cluster, tmp_path):
    # The relative --work-dir of w1 once made every pytest task report zero cases: resolved now.
    suite = write_suite(tmp_path / "junit", {"test_a.py": "def test_a():\n    pass\n"})
    [tid] = cluster.submit([{"type": "pytest", "config": {"args": ["-q"], "cwd": str(suite)}, "max_retries": 0,
                             "requirements": {"avoid_workers": ["w2"]}}])  # w1: the relative --work-dir
    task = wait_until(lambda: (t := cluster.task(tid))["status"] in ("completed", "failed", "error") and t,
                      60, message="pytest task")
    assert task["attempts"][-1]["worker_id"] == "w1"
    assert task["status"] == "completed" and task["details"]["summary"]["passed"] == 1, task
    # A conftest that removes the report after pytest wrote it: pytest exits 0, the cases are gone.
    (suite / "conftest.py").write_text(textwrap.dedent("""
        import os

        def pytest_unconfigure(config):
            path = getattr(config.option, "xmlpath", None)
            if path and os.path.exists(path):
                os.remove(path)
    """))
    tid = cluster.submit([{"type": "pytest", "config": {"args": ["-q"], "cwd": str(suite)}, "max_retries": 0}])[0]
    task = wait_until(lambda: (t := cluster.task(tid))["status"] in ("completed", "failed", "error") and t,
                      60, message="pytest task")
    assert task["status"] == "error", task
    assert task["error"]["type"] == "JUnitReportMissing"
    assert "junit.xml missing" in task["error"]["message"]
    # and through dtf test, each of its tests is an error with the reason, exit code not 0
    proc = dtf_test(cluster, suite)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "ERROR test_a.py::test_a" in proc.stdout and "JUnitReportMissing" in proc.stdout


def test_shards_fork_from_a_warm_pytest_process_unless_cold(cluster, tmp_path):
    parent = tmp_path / "parent.txt"
    suite = write_suite(tmp_path / "warm", {"test_parent.py": f"""
        import os
        from pathlib import Path

        def test_who_started_me():
            cmdline = Path(f"/proc/{{os.getppid()}}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
            Path({str(parent)!r}).write_text(cmdline)
    """})
    proc = dtf_test(cluster, suite, "--shards", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dtf_forkserver.py" in parent.read_text()
    proc = dtf_test(cluster, suite, "--shards", "1", "--cold")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dtf_forkserver.py" not in parent.read_text() and "worker" in parent.read_text()


def test_a_hung_warm_shard_times_out_and_its_tests_are_errors(cluster, tmp_path):
    pids = tmp_path / "grandchildren"
    suite = write_suite(tmp_path / "hang", {"test_hang.py": f"""
        import subprocess, sys, time

        def test_hangs():
            # a grandchild that would outlive the shard if only the shard's process were killed
            subprocess.Popen([sys.executable, "-c", "import os, time; "
                              "open({str(pids)!r}, 'a').write(str(os.getpid()) + chr(10)); time.sleep(120)"])
            time.sleep(120)
    """})
    proc = dtf_test(cluster, suite, "--shard-timeout", "2", "--shards", "1")
    assert proc.returncode == 3, proc.stdout + proc.stderr  # could not run, as pytest's 2+
    assert "ERROR test_hang.py::test_hangs" in proc.stdout and "timed_out" in proc.stdout
    task = run_tasks(cluster, proc.stdout)[0]
    assert task["status"] == "timed_out" and task["config"]["warm"] is True
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == len(task["attempts"])  # one per attempt (timeouts retry with more time)

    def gone(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        except OSError:
            return True
    wait_until(lambda: all(gone(p) for p in started), 10, message="every attempt's process group killed")


def test_ctrl_c_cancels_the_unfinished_shards_and_exits_2(cluster, tmp_path):
    suite = write_suite(tmp_path / "interrupt", {"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(60)\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")} | {
        "PYTHONPATH": str(ROOT), "DTF_API_TOKEN": cluster.api_token}
    proc = subprocess.Popen([sys.executable, "-m", "coordinator.cli", "test", "--url", cluster.api.base_url,
                             "--data-dir", str(suite / ".dtf"), "--shards", "1"], cwd=suite, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        task = wait_until(lambda: next((t for t in cluster.api.get("/api/v1/tasks?status=running")["items"]
                                        if t["type"] == "pytest" and not t["tags"].get("warmup")), None), 60,
                          message="the shard running")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out + err
    assert "cancelled 1 unfinished shards" in err
    wait_until(lambda: cluster.task(task["task_id"])["status"] == "cancelled", 30, message="shard cancelled")


def test_exitfirst_stops_the_run_at_the_first_failure_as_pytest_does(cluster, tmp_path):
    files = {"test_0_fails.py": "def test_fails():\n    assert False\n\ndef test_after():\n    pass\n"}
    for i in range(1, 5):
        files[f"test_{i}_slow.py"] = "import time\n\ndef test_slow():\n    time.sleep(3)\n"
    suite = write_suite(tmp_path / "x", files)
    proc = dtf_test(cluster, suite, "-x", "--shards", "5")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # failed, not "could not run"
    assert "FAILED test_0_fails.py::test_fails" in proc.stdout
    assert "tests not run: stopped early" in proc.stdout and "error" not in proc.stdout.splitlines()[-1]
    statuses = [t["status"] for t in run_tasks(cluster, proc.stdout)]
    assert statuses.count("cancelled") >= 2, statuses  # the slow shards behind it were not all run
