"""Counter arithmetic: value, _prev, _delta and _rate for one counter column (pure, no I/O).

LibreNMS (includes/polling/ports.inc.php) does, per counter and poll::

    polled_period = max(polled - poll_time, 1)
    <oid>       = current ?? 0
    <oid>_prev  = stored ?? 0                  # so the first poll stores _prev = 0
    if stored is not NULL:
        diff = current - stored; rate = diff / polled_period
        if rate < 0: rate = 0; diff = 0        # wraps and resets alike
        <oid>_delta = diff; <oid>_rate = rate  # rate is a float written into BIGINT (MariaDB rounds)

Where fastpoll differs ON PURPOSE (the one place these differences are listed):

1. Counter32 wrap. A 32-bit counter that goes backwards while the device did not reboot has wrapped:
   fastpoll adds 2**32 to the delta and computes the true rate. LibreNMS writes delta 0 / rate 0.
2. Counter64 backwards, or any counter after a reboot (uptime dropped): a reset. The true delta is
   unknowable, so fastpoll writes delta 0 / rate 0 (as LibreNMS does) and never a spike.
   A "32-bit" value that goes backwards from a previous value above 2**32 (the stored value came from
   the 64-bit column) is also a reset, not a wrap.
3. Rates are rounded half-up to an integer before they are written (LibreNMS hands MariaDB a float
   string, which MariaDB rounds the same way), so the in-memory rate and the stored one agree.
4. The bulk ``poll_period`` LibreNMS writes for ports without updates is NULL whenever a previous poll
   time exists (an inverted condition); fastpoll writes the real period (see ports.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

COUNTER32_MODULUS = 2**32
COUNTER64_MODULUS = 2**64


class CounterKind(Enum):
    """How a sample relates to the previous one."""

    FIRST = "first"  # nothing stored before: no delta, no rate
    NORMAL = "normal"
    WRAP = "wrap"  # Counter32 rolled over 2**32
    RESET = "reset"  # went backwards: reboot, Counter64 reset, or a 64->32 bit source switch


@dataclass(frozen=True, slots=True)
class CounterResult:
    """What to store for one counter column on one poll."""

    value: int  # <oid>
    prev: int  # <oid>_prev (0 when nothing was stored, as LibreNMS)
    delta: int | None  # <oid>_delta (None = SQL NULL)
    rate: int | None  # <oid>_rate, per second, rounded half-up
    kind: CounterKind
    rate_exact: float | None = None  # the unrounded rate, for metrics


def polled_period(polled: int, previous_poll_time: int | None) -> int:
    """LibreNMS's ``max($polled - $port['poll_time'], 1)`` (a NULL poll_time counts as 0)."""
    return max(polled - (previous_poll_time or 0), 1)


def round_half_up(x: float) -> int:
    """Round a non-negative rate as MariaDB rounds a decimal string into an integer column."""
    return math.floor(x + 0.5)


def counter_update(
    previous: int | None,
    current: int | None,
    *,
    period: int,
    bits: int = 64,
    rebooted: bool = False,
) -> CounterResult:
    """Compute the stored values for one counter.

    ``previous`` is the stored <oid> (None = NULL), ``current`` the polled value (None = not returned,
    stored as 0 like LibreNMS's set_numeric), ``period`` the polled period in seconds (>= 1), ``bits`` the
    width of the counter the current value came from (32 or 64), ``rebooted`` whether the device's uptime
    dropped since the previous poll.
    """
    value = current if current is not None else 0
    if previous is None:
        return CounterResult(value, 0, None, None, CounterKind.FIRST)
    period = max(period, 1)
    diff = value - previous
    if rebooted:
        return CounterResult(value, previous, 0, 0, CounterKind.RESET, 0.0)
    if diff >= 0:
        kind = CounterKind.NORMAL
    elif bits == 32 and previous < COUNTER32_MODULUS:
        diff += COUNTER32_MODULUS
        kind = CounterKind.WRAP
    else:
        return CounterResult(value, previous, 0, 0, CounterKind.RESET, 0.0)
    exact = diff / period
    return CounterResult(value, previous, diff, round_half_up(exact), kind, exact)
