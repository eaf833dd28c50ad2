"""What `dtf test` keeps for itself and what goes to pytest."""
from __future__ import annotations

from coordinator.testrun.command import parse


def test_unknown_arguments_and_everything_after_dashes_go_to_pytest():
    opts, rest = parse(["-q", "--reruns", "2", "-k", "not slow", "tests/", "--timeout", "5", "--",
                        "--shards", "9"])
    assert opts.reruns == 2 and opts.shards == 0
    assert rest == ["-q", "-k", "not slow", "tests/", "--timeout", "5", "--shards", "9"]


def test_no_abbreviation_swallows_a_pytest_option():
    opts, rest = parse(["--re", "--sh", "--tr"])
    assert rest == ["--re", "--sh", "--tr"] and opts.reruns == 0 and opts.tree == "auto"
