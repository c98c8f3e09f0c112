"""Per-check intervals: which of the fast-path checks of what LibreNMS discovered are due on a device poll.

A device is polled at its own interval (availability, uptime and ports every poll); each discovered-entity
check may run less often (``[polling] check_intervals``, e.g. ``{ bgp = 15, sensors = 30 }``):
it runs on a device poll when at least its interval has passed since it last ran on that device. A check
without an interval runs on every poll. Pure functions; the daemon keeps the last runs per device.

A first run is recorded as having run a little earlier than it did (``recorded_run``): a fleet started at
once runs every check on each device's first poll, and recorded as they ran, a check with an interval of
five poll intervals would then run on every device in the same cycle, one cycle in five, which costs far
more than the others. Recorded earlier by a per-device share of the interval, the fleet's next runs fall in
different cycles and stay spread, each still at most an interval after the one before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# The checks that can have their own interval (the discovered entities polled on the fast path).
CHECKS: tuple[str, ...] = ("sensors", "processors", "mempools", "bgp")


def due(last_run: float | None, now: float, interval: float | None, slack: float = 0.0) -> bool:
    """Whether a check that last ran at ``last_run`` (None = never) runs at ``now``.

    ``slack`` seconds are forgiven so that a poll started a little early (scheduler jitter) does not push
    the check a whole device interval later.
    """
    if last_run is None or interval is None:
        return True
    return now - last_run >= interval - slack


_GOLDEN_64 = 0x9E3779B97F4A7C15  # 2**64 / the golden ratio, odd


def first_run_offset(device_id: int, interval: float) -> float:
    """How much earlier than it ran a check's first run on the device is recorded: a share of ``interval``
    in [0, interval), fixed per device (Fibonacci hashing of its id, so consecutive ids spread evenly, a
    restart keeps the spread and a test can name it)."""
    return (device_id * _GOLDEN_64 % 2**64) / 2**64 * interval


def recorded_run(previous: float | None, now: float, interval: float | None, device_id: int) -> float:
    """When a check that ran at ``now`` on the device is recorded as last run: ``now``, or for its first run
    there (``previous`` None) with an interval, ``first_run_offset`` earlier."""
    if previous is not None or not interval:
        return now
    return now - first_run_offset(device_id, interval)


def due_checks(
    last_runs: Mapping[str, float],
    now: float,
    intervals: Mapping[str, float],
    checks: Iterable[str] = CHECKS,
    slack: float = 0.0,
) -> frozenset[str]:
    """The ``checks`` due at ``now`` on one device, given when each last ran there."""
    return frozenset(c for c in checks if due(last_runs.get(c), now, intervals.get(c), slack))
