"""How late the event loop runs, and the port walks' slots that tighten while it runs late.

Every poll, answer and scrape shares one event loop. When the polls that are due cost more CPU than the
process gets (the first cycle after a start walks and compares every port column; a slow day; a scrape's
rendering), the loop falls behind: every callback runs late, and polls keep starting while earlier ones
wait for the CPU, so the walks in flight climb into the hundreds. They finish no sooner for it (the loop
is the bottleneck) but each holds its answers, rows and thawed ports meanwhile, and CPython's small-object
arenas grow to hold them all and never shrink (docs/benchmarks.md, "2026-12-06 (evening)").

:class:`LoopLag` measures the loop's lateness the direct way, by how late a timer of its own wakes.
:class:`WalkSlots` bounds the port walks at once with a bound that follows that lateness (:func:`next_bound`):
halved at each late wake-up, down to ``polling.max_port_walks_when_late``, and raised while the loop is on
time to what the walks running need (and ``polling.max_port_walks`` always, when set). The signal is the
loop's own lateness, not the polls' schedule lag: walks that wait on slow devices or a far network leave
the loop on time, so the bound grows to whatever they need; a loop short of CPU runs a few dozen walks at
once. A bound on the schedule lag would hold itself down (polls held back start late). The bound grows by
steps rather than letting go at once: a loop handed every walk it held back falls behind again at once.

The bound is off by default (``max_port_walks_when_late = 0``) and experimental: it keeps the first cycle's
memory down, but in the runs where it engaged the loop stayed behind where the same run without it caught
up (docs/benchmarks.md, "2026-12-07 03:28"). The probe and its metrics run either way.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field

PROBE_EVERY = 0.1  # seconds between the probe's wake-ups
LATE_AFTER = 0.1  # a wake-up this late halves the port walks' bound and says the loop is behind ...
CALM_AFTER = 2.0  # ... which it is until no wake-up has been that late for this long
RECENT = 10.0  # seconds the largest lateness is reported over (fastpoll_event_loop_lag_seconds)


@dataclass(slots=True)
class Lateness:
    """The loop's lateness as the probe saw it (pure: the probe feeds it, tests feed it by hand).

    ``behind`` turns on at a wake-up at least ``late_after`` late and off once ``calm_after`` seconds have
    passed without one, so a loop that is late every few wake-ups counts as behind throughout."""

    late_after: float = LATE_AFTER
    calm_after: float = CALM_AFTER
    recent: float = RECENT
    behind: bool = False
    last_late: float = -math.inf
    behind_seconds: float = 0.0  # time spent behind, up to the last observation
    _since: float | None = None  # when the last observation was made
    _window: deque[tuple[float, float]] = field(default_factory=deque)  # (when, lateness), the last RECENT s

    def observe(self, lateness: float, now: float) -> bool:
        """One wake-up ``lateness`` seconds late at ``now``; True when that turns ``behind`` on or off."""
        if self.behind and self._since is not None:
            self.behind_seconds += now - self._since
        self._since = now
        window = self._window
        window.append((now, lateness))
        while window[0][0] <= now - self.recent:
            window.popleft()
        if lateness >= self.late_after:
            self.last_late = now
        was = self.behind
        self.behind = now - self.last_late < self.calm_after
        return self.behind != was

    def recent_max(self) -> float:
        """The largest lateness of the last ``recent`` seconds' wake-ups (0 before any)."""
        # list() copies the deque in one C call: a scrape's thread reads while the loop appends
        return max((late for _, late in list(self._window)), default=0.0)


def next_bound(bound: int, taken: int, late: bool, floor: int) -> int:
    """The port walks allowed at once after one probe wake-up (additive increase, multiplicative decrease).

    A late wake-up halves the bound, down to ``floor``; an on-time one raises it by half the floor, but to no
    more than twice the walks running plus the floor, so the bound follows what the fleet needs and a loop
    that catches up is not handed every walk held back at once (it would fall behind again at once)."""
    if late:
        return max(floor, bound // 2)
    return max(floor, min(bound + max(1, floor // 2), 2 * taken + floor))


class WalkSlots:
    """Slots for port walks, taken with ``acquire()`` and given back with ``release()`` (as an
    asyncio.Semaphore, which poll.poll_device's gate can also be).

    ``limit`` (``polling.max_port_walks``, 0 = none) bounds the walks at once always. ``when_late``
    (``polling.max_port_walks_when_late``, 0 = none) is the floor of a bound that follows the loop's lateness
    (:func:`next_bound`, fed by the probe's wake-ups through :meth:`adjust`): it halves at each late wake-up
    and grows while the loop is on time, so a loop short of CPU runs a few dozen walks at once and a
    fleet waiting on its network runs as many as it needs. Waiters are served first come, first served;
    walks already running keep their slots when the bound drops."""

    def __init__(self, limit: int, when_late: int) -> None:
        self.limit = limit
        self.when_late = when_late
        self.bound = when_late  # the lateness-following bound (unused when when_late is 0)
        self.taken = 0
        self.waited = 0  # walks that waited for a slot (the count only grows)
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Walks waiting for a slot now."""
        return sum(1 for w in list(self._waiters) if not w.done())

    def capacity(self) -> float:
        """How many walks may run at once now."""
        cap = float(self.limit) if self.limit else math.inf
        if self.when_late:
            cap = min(cap, self.bound)
        return cap

    def adjust(self, late: bool) -> None:
        """One probe wake-up, late or not: the bound follows it, and walks waiting get what it frees."""
        if self.when_late:
            self.bound = next_bound(self.bound, self.taken, late, self.when_late)
            self.wake()

    async def acquire(self) -> bool:
        if not self._waiters and self.taken < self.capacity():
            self.taken += 1
            return True
        self.waited += 1
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # wake() counted the slot as taken when it set the result
        except asyncio.CancelledError:
            if waiter.cancelled():  # still queued: leave the queue
                self._waiters.remove(waiter)
            else:  # granted as the wait was cancelled: hand the slot on
                self.release()
            raise
        return True

    def release(self) -> None:
        self.taken -= 1
        self.wake()

    def wake(self) -> None:
        """Free slots to the waiters, first come first: on a release, and when the loop catches up."""
        waiters = self._waiters
        cap = self.capacity()
        while waiters and self.taken < cap:
            waiter = waiters.popleft()
            if not waiter.done():
                self.taken += 1
                waiter.set_result(None)


class LoopLag:
    """A task's worth of probe: wakes every ``every`` seconds, feeds ``lateness`` how late it woke, and
    ``slots`` whether that was ``lateness.late_after`` or more."""

    def __init__(self, lateness: Lateness, every: float = PROBE_EVERY) -> None:
        self.lateness = lateness
        self.every = every
        self.slots: WalkSlots | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.every
            await asyncio.sleep(self.every)
            now = loop.time()
            late = max(0.0, now - due)
            self.lateness.observe(late, now)
            if self.slots is not None:
                self.slots.adjust(late >= self.lateness.late_after)
