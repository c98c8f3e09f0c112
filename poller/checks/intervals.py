"""Per-check intervals: which of the fast-path checks of what LibreNMS discovered are due on a device poll.

A device is polled at its own interval (availability, uptime and ports every poll); each discovered-entity
check may run less often (``[polling] check_intervals``, e.g. ``{ bgp = 15, sensors = 30 }``):
it runs on a device poll when at least its interval has passed since it last ran on that device. A check
without an interval runs on every poll. Pure functions; the daemon keeps the last runs per device.
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


def due_checks(
    last_runs: Mapping[str, float],
    now: float,
    intervals: Mapping[str, float],
    checks: Iterable[str] = CHECKS,
    slack: float = 0.0,
) -> frozenset[str]:
    """The ``checks`` due at ``now`` on one device, given when each last ran there."""
    return frozenset(c for c in checks if due(last_runs.get(c), now, intervals.get(c), slack))
