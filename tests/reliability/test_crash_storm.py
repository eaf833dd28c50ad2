"""Twenty kill -9s of the coordinator in a row, workers killed too, under a flow of short tasks."""
from __future__ import annotations

from tests.reliability.storm import run_storm


def test_twenty_coordinator_kills_lose_nothing_and_record_each_result_once(tmp_path):
    rep = run_storm(tmp_path, rounds=20, workers=3, initial=100, per_round=15, say=print)
    print(rep.summary())
    assert rep.coordinator_kills == 21 and rep.worker_kills >= 1
    assert rep.killed_with_work_in_flight >= 10, "most kills must land while tasks are in flight"
    assert not rep.problems, rep.problems
    assert sum(rep.final_counts.values()) == len(rep.submitted) == 400
    # Faults are all infrastructure faults here: each task must in the end have run to completion.
    assert rep.final_counts == {"completed": 400}, rep.final_counts
    assert rep.duckdb["tasks_passed_twice"] == 0 and rep.duckdb["duplicate_attempt_rows"] == 0
