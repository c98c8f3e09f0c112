"""When each device is polled: one timer heap, a fixed phase per device, never two polls of a device at once.

Every device gets a phase in [0, 1) from a stable hash of its id; its polls start at the instants ``k *
interval + phase * interval`` of the clock (wall-clock seconds in production). So the starts of many devices
are spread evenly over the interval, a restart (or another instance taking the device over) keeps the same
instants, and two instances that disagree for a moment about who owns a device would pick the same instant,
which ``poller.cluster`` uses to let only one of them poll.

A start that comes while the device's previous poll is still running is skipped and counted
(``skipped_overrun``): polls never pile up. ``max_in_flight`` caps the polls running at once (``[polling]
max_polls_in_flight``): a start due while the cap is reached waits, first come first served, for a poll to
end, and its lag counts the wait; a device whose start is still waiting when its next falls due skips that
one as if it were running. Polls the caller calls ``uncapped`` (the daemon: of devices whose last poll
failed) neither count against the cap nor wait for it: they mostly wait on timeouts, not on the CPU, and
they are the polls that show devices coming back; a capped poll leaves the cap when it calls
:func:`release_cap` (the daemon: at its first timeout), so devices that go dark all at once do not fill it.
Inventory changes (added, removed, disabled devices, new intervals) take effect at once, without a restart.
Time comes from a :class:`Clock`; tests use :class:`VirtualClock`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import heapq
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from poller.model import Device

log = logging.getLogger(__name__)

PollFn = Callable[[Device], Awaitable[object]]
IntervalFn = Callable[[Device], float]
# The start instant (clock seconds) the running poll was due at, set in its task: a poll that started late
# (a loop behind, a wait for max_in_flight) still belongs to that instant's slot (poller.cluster.slot_of).
DUE: ContextVar[float] = ContextVar("fastpoll_poll_due")
# In a capped poll's task: gives its place under max_in_flight back (see release_cap)
_RELEASE: ContextVar[Callable[[], None]] = ContextVar("fastpoll_release_cap")


def release_cap() -> None:
    """Take the running poll off the cap on polls in flight: it waits on the network now (an attempt timed
    out: the daemon's SnmpEngine.on_timeout), not on the CPU, and the cap is for polls that hold the CPU's
    work. A no-op outside a capped poll's task, and after the first call."""
    release = _RELEASE.get(None)
    if release is not None:
        release()


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Where the scheduler gets the time and how it waits."""

    def now(self) -> float:
        """Seconds; only differences and the phase grid matter."""
        ...

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` (from the event loop) once ``now() >= deadline``."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline`` (at once if it already is)."""
        ...


class WallClock:
    """Production clock: wall-clock seconds, so phases hold across restarts and hosts (NTP assumed)."""

    def now(self) -> float:
        return time.time()

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, deadline - time.time()), callback)

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.time()))


class _VirtualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that only moves when told: ``await clock.advance(seconds)`` runs everything due in that span.

    Timers fire in deadline order and each sees ``now()`` equal to its own deadline, so tests are exact
    and take no wall time. Nothing else may block on real I/O while the clock advances.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _VirtualTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Timer:
        timer = _VirtualTimer(callback)
        heapq.heappush(self._timers, (deadline, next(self._seq), timer))
        return timer

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_at(deadline, lambda: future.done() or future.set_result(None))
        try:
            await future
        finally:
            timer.cancel()

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    async def jump(self, seconds: float) -> None:
        """Time passes with the event loop blocked: timers due meanwhile fire late, all at the new time."""
        self._now += seconds
        await self.advance(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer due on the way, in order."""
        end = self._now + seconds
        while True:
            await _settle()
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            if not self._timers or self._timers[0][0] > end:
                break
            deadline, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, deadline)
            timer.callback()
        self._now = end
        await _settle()


async def _settle() -> None:
    """Yield until every task that can run without time passing has run.

    asyncio has no public "idle" query; CPython's loop keeps its runnable callbacks in ``_ready``. Where
    that is missing (another loop implementation) a generous fixed number of yields stands in.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    for _ in range(10_000 if ready is not None else 200):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            return


def phase_of(device_id: int) -> float:
    """The device's fixed place in its interval, in [0, 1): a stable hash (not Python's salted ``hash``)."""
    digest = hashlib.blake2b(str(device_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def next_start(device_id: int, interval: float, after: float) -> float:
    """The first start instant of the device that is >= ``after``."""
    offset = phase_of(device_id) * interval
    return offset + math.ceil((after - offset) / interval) * interval


ANSWERING_POLL = 1.5  # s an answering device's poll may average before the default cap delays polls
MIN_CAP = 100


def default_max_in_flight(devices: Iterable[Device], interval_of: IntervalFn) -> int:
    """``max_polls_in_flight``'s default: the polls in flight if every device answered and each poll took
    ``ANSWERING_POLL`` seconds (polls per second x 1.5 s: 250 at 10,000 devices every 60 s), at least
    ``MIN_CAP``.

    Polls of devices that answer here take 10-50 ms, a 48-port poll is a handful of round trips, so this
    holds a fleet whose round trips average up to ~250 ms; past it, starts wait (fastpoll_scheduler_polls_
    waited) and a loop on time says the cap, not the CPU, holds them. It is low enough that a loop short of
    CPU keeps its extra starts waiting, a dict entry each, instead of in flight holding their walks
    (README, "Polls in flight"). Dark devices' polls never fill it: uncapped, or released at their first
    timeout.
    """
    held = sum(ANSWERING_POLL / interval_of(d) for d in devices)
    return max(MIN_CAP, math.ceil(round(held, 6)))  # not one more for a float sum's last bit


@dataclass
class SchedulerStats:
    """Counters for the metrics endpoint. ``lag_samples`` holds the most recent start lags (seconds)."""

    started: int = 0
    finished: int = 0
    failed: int = 0
    skipped_overrun: int = 0
    waited: int = 0  # starts that waited for a poll to end (max_in_flight)
    missed: int = 0  # start instants that passed while the scheduler itself could not run
    lag_samples: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


@dataclass
class _Entry:
    device: Device
    interval: float
    due: float
    version: int  # heap items carrying an older version are stale and ignored


class Scheduler:
    """Starts ``run_poll(device)`` for every device of the inventory at its instants.

    ``interval_of(device)`` gives a device's interval (e.g. ``config.polling.interval_for``).
    ``on_start(device, lag)`` is called at each start (e.g. to observe a histogram); lags are also kept
    in ``stats.lag_samples``. ``max_in_flight()``: the most polls running at once, 0 = no cap; read at each
    start, so a configuration reload applies from the next. ``uncapped(device)``, read at each start: the
    poll neither counts against the cap nor waits for it.
    Devices that are not ``pollable`` are not scheduled.
    """

    def __init__(
        self,
        clock: Clock,
        run_poll: PollFn,
        interval_of: IntervalFn,
        *,
        on_start: Callable[[Device, float], None] | None = None,
        max_in_flight: Callable[[], int] = lambda: 0,
        uncapped: Callable[[Device], bool] = lambda _device: False,
    ) -> None:
        self._clock = clock
        self._run_poll = run_poll
        self._interval_of = interval_of
        self._on_start = on_start
        self._max_in_flight = max_in_flight
        self._uncapped = uncapped
        self._entries: dict[int, _Entry] = {}
        self._heap: list[tuple[float, int, int]] = []  # (due, device_id, version)
        self._versions = itertools.count()
        self._running: dict[int, asyncio.Task[None]] = {}  # device_id -> its poll in flight
        self._capped: set[int] = set()  # of those, the ones counted against max_in_flight
        # starts waiting for a poll to end (max_in_flight), oldest first: device_id -> due instant
        self._waiting: dict[int, float] = {}
        self._wake: asyncio.Future[None] | None = None
        self._stopping = False
        self.stats = SchedulerStats()

    # ------------------------------------------------------------------ inventory

    def update_inventory(self, devices: Iterable[Device], *, now: float | None = None) -> None:
        """Replace the set of devices to poll. Takes effect now; polls in flight are left to finish.

        ``now`` (default the clock's): the instant new devices' first starts are placed after, for a caller
        that counts the starts of a window from a known instant (benchmarks.workload.run_scheduled).
        """
        now = self._clock.now() if now is None else now
        wanted = {d.device_id: d for d in devices if d.pollable}
        for device_id in self._entries.keys() - wanted.keys():
            del self._entries[device_id]  # its heap items go stale
        for device_id, device in wanted.items():
            interval = self._interval_of(device)
            if interval <= 0:
                raise ValueError(f"interval of device {device_id} must be positive, not {interval}")
            entry = self._entries.get(device_id)
            if entry is not None and entry.interval == interval:
                entry.device = device  # new credentials etc. are used from the next start on
                continue
            self._entries[device_id] = entry = _Entry(
                device, interval, next_start(device_id, interval, now), 0
            )
            self._push(entry)
        self._poke()

    @property
    def devices(self) -> int:
        return len(self._entries)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def max_in_flight(self) -> int:
        """The cap on polls at once in force now (0: none)."""
        return self._max_in_flight()

    @property
    def capped(self) -> int:
        """Polls running now that count against the cap (the rest are ``uncapped`` or released)."""
        return len(self._capped)

    @property
    def waiting(self) -> int:
        """Starts due that wait for a poll to end (``max_in_flight``)."""
        return len(self._waiting)

    # ------------------------------------------------------------------ running

    async def run(self, until: float | None = None) -> None:
        """Start polls as they fall due until :meth:`stop`, or (``until``) until every start instant before
        that one has been dealt with (started, skipped or left waiting): a window of exactly those starts,
        however late the loop runs (benchmarks.workload.run_scheduled). Polls in flight keep running."""
        while not self._stopping:
            due = self._start_due_polls(until)
            if until is not None and (due is None or due >= until):
                return
            await self._wait(due)

    async def stop(self, grace: float) -> None:
        """Start no more polls; wait up to ``grace`` seconds for those in flight, then cancel the rest."""
        self._stopping = True
        self._waiting.clear()  # never started: nothing to wait for
        self._poke()
        pending = set(self._running.values())
        if pending:
            timer = asyncio.ensure_future(self._clock.sleep_until(self._clock.now() + grace))
            try:
                while pending and not timer.done():
                    await asyncio.wait({*pending, timer}, return_when=asyncio.FIRST_COMPLETED)
                    pending = {t for t in pending if not t.done()}
            finally:
                timer.cancel()
            for task in pending:
                log.warning("poll of device %s still running at shutdown; cancelled", self._device_of(task))
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _start_due_polls(self, until: float | None = None) -> float | None:
        """Start everything due (before ``until``); return when the next start is due (None: nothing
        scheduled)."""
        now = self._clock.now()
        while self._heap:
            due, device_id, version = self._heap[0]
            entry = self._entries.get(device_id)
            if entry is None or entry.version != version:
                heapq.heappop(self._heap)
                continue
            if due > now or (until is not None and due >= until):
                return due
            heapq.heappop(self._heap)
            self._start(entry, now)
            entry.due += entry.interval
            if (
                entry.due <= now
            ):  # the loop was blocked for a whole interval: resume on the grid, do not burst
                later = next_start(device_id, entry.interval, now)
                if later <= now:
                    later += entry.interval
                self.stats.missed += round((later - entry.due) / entry.interval)
                entry.due = later
            self._push(entry)
        return None

    def _start(self, entry: _Entry, now: float) -> None:
        device = entry.device
        if device.device_id in self._running or device.device_id in self._waiting:
            self.stats.skipped_overrun += 1
            log.debug("device %s: previous poll still running; start skipped", device.device_id)
            return
        if self._uncapped(device):
            self._launch(device, entry.due, now, capped=False)
            return
        cap = self._max_in_flight()
        if self._waiting and (not cap or len(self._capped) < cap):
            self._start_waiting()  # a reload raised or removed the cap: the oldest go first
        if self._waiting or (cap and len(self._capped) >= cap):
            self._waiting[device.device_id] = entry.due
            self.stats.waited += 1
            return
        self._launch(device, entry.due, now, capped=True)

    def _start_waiting(self) -> None:
        """Start the oldest waiting starts while the cap allows (a dict keeps the order they came in)."""
        cap = self._max_in_flight()
        while self._waiting and (not cap or len(self._capped) < cap) and not self._stopping:
            device_id = next(iter(self._waiting))
            due = self._waiting.pop(device_id)
            entry = self._entries.get(device_id)
            if entry is not None:  # else removed from the inventory meanwhile
                self._launch(entry.device, due, self._clock.now(), capped=True)

    def _launch(self, device: Device, due: float, now: float, *, capped: bool) -> None:
        lag = now - due
        self.stats.started += 1
        self.stats.lag_samples.append(lag)
        if self._on_start is not None:
            self._on_start(device, lag)
        if capped:
            self._capped.add(device.device_id)
        task = asyncio.create_task(self._poll(device, due, capped), name=f"poll-{device.device_id}")
        self._running[device.device_id] = task

    def _release(self, device_id: int) -> None:
        if device_id in self._capped:
            self._capped.discard(device_id)
            if self._waiting:
                self._start_waiting()

    async def _poll(self, device: Device, due: float, capped: bool) -> None:
        DUE.set(due)  # this task's context only
        if capped:
            _RELEASE.set(functools.partial(self._release, device.device_id))
        try:
            await self._run_poll(device)
        except asyncio.CancelledError:
            raise
        except Exception:
            # run_poll is meant to handle its own errors; one that escapes must not stop the scheduler.
            self.stats.failed += 1
            log.exception("poll of device %s (%s) failed", device.device_id, device.hostname)
        finally:
            self.stats.finished += 1
            del self._running[device.device_id]
            self._release(device.device_id)

    def _push(self, entry: _Entry) -> None:
        entry.version = next(self._versions)
        heapq.heappush(self._heap, (entry.due, entry.device.device_id, entry.version))

    async def _wait(self, deadline: float | None) -> None:
        """Sleep until ``deadline`` (None: indefinitely), a change of inventory, or stop()."""
        if self._stopping:
            return
        # One future and one timer per wake-up; no task, so 10,000 devices cost little (benchmarks/).
        self._wake = asyncio.get_running_loop().create_future()
        timer = self._clock.call_at(deadline, self._poke) if deadline is not None else None
        try:
            await self._wake
        finally:
            if timer is not None:
                timer.cancel()
            self._wake = None

    def _poke(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _device_of(self, task: asyncio.Task[None]) -> int | None:
        return next((device_id for device_id, t in self._running.items() if t is task), None)
