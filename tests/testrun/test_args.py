"""What `dtf test` keeps for itself and what goes to pytest."""
from __future__ import annotations

from coordinator.testrun.command import max_failures, parse


def test_unknown_arguments_and_everything_after_dashes_go_to_pytest():
    opts, rest = parse(["-q", "--reruns", "2", "-k", "not slow", "tests/", "--timeout", "5", "--",
                        "--shards", "9"])
    assert opts.reruns == 2 and opts.shards == 0
    assert rest == ["-q", "-k", "not slow", "tests/", "--timeout", "5", "--shards", "9"]


def test_no_abbreviation_swallows_a_pytest_option():
    opts, rest = parse(["--re", "--sh", "--tr"])
    assert rest == ["--re", "--sh", "--tr"] and opts.reruns == 0 and opts.tree == "auto"


def test_max_failures_as_pytest_reads_them():
    assert max_failures(["-q"]) is None
    assert max_failures(["-x"]) == 1 and max_failures(["--exitfirst"]) == 1
    assert max_failures(["--maxfail=3"]) == 3 and max_failures(["--maxfail", "2"]) == 2
    assert max_failures(["-x", "--maxfail=4"]) == 4 and max_failures(["--maxfail=0"]) is None
