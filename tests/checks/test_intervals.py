"""Per-check intervals: a check runs on a device poll once at least its interval passed since it last ran."""

from __future__ import annotations

from poller.checks.intervals import CHECKS, due, due_checks, first_run_offset, recorded_run


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


def test_a_first_runs_offset_is_a_share_of_the_interval_fixed_per_device():
    offsets = [first_run_offset(device_id, 300.0) for device_id in range(1, 1001)]
    assert all(0.0 <= o < 300.0 for o in offsets)
    assert offsets == [first_run_offset(device_id, 300.0) for device_id in range(1, 1001)]
    assert len(set(offsets)) == 1000


def test_a_first_run_is_recorded_its_devices_offset_earlier():
    assert recorded_run(None, 1000.0, 300.0, 7) == 1000.0 - first_run_offset(7, 300.0)


def test_later_runs_and_checks_without_an_interval_are_recorded_as_they_ran():
    assert recorded_run(900.0, 1000.0, 300.0, 7) == 1000.0
    assert recorded_run(None, 1000.0, None, 7) == 1000.0


def test_a_check_runs_again_at_most_one_interval_after_its_first_run():
    for device_id in range(1, 1001):
        assert due(recorded_run(None, 0.0, 300.0, device_id), 300.0, 300.0)


def test_a_fleet_started_at_once_spreads_a_five_cycle_check_over_the_cycles():
    # 10,000 devices polled every 60 s, all started together, a check every 300 s: recorded as they ran,
    # every device's second run would fall in cycle 5; each cycle now takes about a fifth of them
    last = {device_id: recorded_run(None, 0.0, 300.0, device_id) for device_id in range(1, 10_001)}
    per_cycle = []
    for cycle in range(1, 6):
        now = cycle * 60.0
        ran = [d for d, t in last.items() if due(t, now, 300.0, slack=5.0)]
        last.update(dict.fromkeys(ran, now))
        per_cycle.append(len(ran))
    assert sum(per_cycle) == 10_000
    assert all(1_800 <= n <= 2_200 for n in per_cycle), per_cycle
