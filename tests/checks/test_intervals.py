"""Per-check intervals: a check runs on a device poll once at least its interval passed since it last ran."""

from __future__ import annotations

from poller.checks.intervals import CHECKS, due, due_checks


def test_a_check_that_never_ran_is_due():
    assert due(None, 100.0, 60.0)


def test_a_check_without_an_interval_runs_every_poll():
    assert due(99.0, 100.0, None)


def test_a_check_is_not_due_before_its_interval_passed():
    assert not due(100.0, 159.0, 60.0)


def test_a_check_is_due_once_its_interval_passed():
    assert due(100.0, 160.0, 60.0)


def test_slack_forgives_a_poll_that_starts_a_little_early():
    assert not due(100.0, 159.5, 60.0)
    assert due(100.0, 159.5, 60.0, slack=1.0)


def test_due_checks_picks_the_checks_whose_interval_passed():
    last = {"bgp": 100.0, "sensors": 100.0, "processors": 100.0}
    intervals = {"bgp": 15.0, "sensors": 30.0, "processors": 60.0}
    # mempools has no interval: every poll
    assert due_checks(last, 130.0, intervals) == {"bgp", "sensors", "mempools"}


def test_with_no_intervals_every_check_runs_every_poll():
    assert due_checks({c: 100.0 for c in CHECKS}, 100.5, {}) == set(CHECKS)


def test_a_30s_check_on_a_10s_device_runs_every_third_poll():
    last: dict[str, float] = {}
    ran = []
    for poll in range(7):
        now = poll * 10.0
        if due_checks(last, now, {"bgp": 30.0}, checks=("bgp",)):
            last["bgp"] = now
            ran.append(poll)
    assert ran == [0, 3, 6]
