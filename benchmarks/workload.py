"""The benchmark workload ("device-poll", issue 2) and the load loop every system runs under.

A device-poll = GET sysUpTime.0, sysObjectID.0, sysName.0, then a walk of 8 IF-MIB columns with
max-repetitions 25. Each device is polled once per interval at its own phase (device i at
i * interval / N), for `duration` seconds; a device whose previous poll is still running when
its slot comes is skipped (an overrun, as the scheduler does), never polled twice at once.

`run_load` is that loop, the same for every system. `run_scheduled` drives the fastpoll pipeline by the
daemon's own scheduler instead (poller.scheduler.Scheduler: phases by a hash of the device id, its cap on
polls in flight), with the same figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

SCALARS = ("1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0")
COLUMNS = (
    "1.3.6.1.2.1.2.2.1.8",  # ifOperStatus
    "1.3.6.1.2.1.2.2.1.7",  # ifAdminStatus
    "1.3.6.1.2.1.31.1.1.1.6",  # ifHCInOctets
    "1.3.6.1.2.1.31.1.1.1.10",  # ifHCOutOctets
    "1.3.6.1.2.1.2.2.1.14",  # ifInErrors
    "1.3.6.1.2.1.2.2.1.20",  # ifOutErrors
    "1.3.6.1.2.1.2.2.1.13",  # ifInDiscards
    "1.3.6.1.2.1.31.1.1.1.15",  # ifHighSpeed
)
COLUMN_NAMES = (
    "ifOperStatus", "ifAdminStatus", "ifHCInOctets", "ifHCOutOctets",
    "ifInErrors", "ifOutErrors", "ifInDiscards", "ifHighSpeed",
)  # fmt: skip
SCALAR_NAMES = ("sysUpTime", "sysObjectID", "sysName")
MAX_REPETITIONS = 25
# Seconds the running poll started after its slot (set in the poll's task before `poll` is called).
SCHEDULE_LAG: ContextVar[float] = ContextVar("fastpoll_bench_schedule_lag")


@dataclass(frozen=True, slots=True)
class DeviceRef:
    host: str
    port: int
    community: str


@dataclass
class LoadStats:
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # overruns
    scheduled: int = 0  # slots that came due (ok + failed + skipped once the polls in flight finish)
    waited: int = 0  # starts that waited for the cap on polls in flight (run_scheduled)
    varbinds: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # schedule lag: start of the poll - its slot

    @property
    def missed(self) -> int:
        """Slots without a successful poll (failed or skipped)."""
        return self.scheduled - self.ok

    def percentile(self, q: float, values: list[float] | None = None) -> float | None:
        data = self.latencies if values is None else values
        if not data:
            return None
        if len(data) == 1:
            return data[0]
        return statistics.quantiles(data, n=1000, method="inclusive")[int(q * 1000) - 1]


PollFn = Callable[[DeviceRef], Awaitable[int]]  # returns the varbinds received; raises on failure


async def _counted(
    poll: PollFn, ref: DeviceRef, stats: LoadStats, error_kind: Callable[[BaseException], str]
) -> None:
    """One poll, into ``stats``: its varbinds and latency, or its failure by kind."""
    t0 = time.perf_counter()
    try:
        received = await poll(ref)  # not `stats.varbinds += await ...`: that loses concurrent updates
        stats.varbinds += received
        stats.ok += 1
        stats.latencies.append(time.perf_counter() - t0)
    except Exception as exc:
        stats.failed += 1
        stats.errors[error_kind(exc)] += 1


async def run_load(
    poll: PollFn,
    devices: list[DeviceRef],
    *,
    interval: float,
    duration: float,
    concurrency: int,
    on_progress: Callable[[LoadStats], None] | None = None,
    error_kind: Callable[[BaseException], str] = lambda e: type(e).__name__,
) -> LoadStats:
    """Poll every device once per interval for `duration` s; wait for the polls in flight."""
    stats = LoadStats()
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    busy: set[int] = set()
    tasks: set[asyncio.Task[None]] = set()
    n = len(devices)
    start = loop.time()

    async def one(k: int, due: float) -> None:
        try:
            async with gate:
                lag = max(0.0, loop.time() - due)
                stats.lags.append(lag)
                SCHEDULE_LAG.set(lag)  # this task's context only
                await _counted(poll, devices[k], stats, error_kind)
        finally:
            busy.discard(k)

    last_report = start
    slot = 0
    while True:
        cycle, k = divmod(slot, n)
        due = start + cycle * interval + k * interval / n
        if due - start >= duration:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        stats.scheduled += 1
        if k in busy:
            stats.skipped += 1
        else:
            busy.add(k)
            task = loop.create_task(one(k, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        slot += 1
        if on_progress is not None and loop.time() - last_report > 0.5:
            on_progress(stats)
            last_report = loop.time()
    if tasks:
        await asyncio.gather(*tasks)
    if on_progress is not None:
        on_progress(stats)
    return stats


async def run_scheduled(
    poll: PollFn,
    devices: list[DeviceRef],
    *,
    interval: float,
    duration: float,
    max_in_flight: int,
    device_ids: list[int] | None = None,
    uncapped: Callable[[int], bool] = lambda _device_id: False,
    start: float | None = None,
    on_progress: Callable[[LoadStats], None] | None = None,
    error_kind: Callable[[BaseException], str] = lambda e: type(e).__name__,
) -> LoadStats:
    """Poll the devices by the daemon's scheduler for ``duration`` s; wait for the polls in flight.

    ``device_ids`` (default 1..N): the devices' ids in the database, which set their phases as in the
    daemon. ``uncapped(device_id)``: its poll is not held to ``max_in_flight`` (the daemon's: its last poll
    failed). ``start`` (default now): the window's first instant on the wall clock, for a caller that
    places the devices' slots itself (benchmarks.soak). A slot counts as scheduled when it started, was
    skipped (an overrun, or still waiting for ``max_in_flight`` when the next came), was missed by a
    blocked loop, or still waited at the end.
    """
    from poller.model import Device, Target
    from poller.scheduler import Scheduler, WallClock

    stats = LoadStats()
    ids = device_ids or list(range(1, len(devices) + 1))
    refs = dict(zip(ids, devices, strict=True))

    def started(_device: Device, lag: float) -> None:
        stats.lags.append(lag)
        # read by the poll's task: Scheduler._launch makes it right after this, copying this context
        SCHEDULE_LAG.set(lag)

    async def one(device: Device) -> None:
        await _counted(poll, refs[device.device_id], stats, error_kind)

    scheduler = Scheduler(
        WallClock(),
        one,
        lambda _d: interval,
        on_start=started,
        max_in_flight=lambda: max_in_flight,
        uncapped=lambda d: uncapped(d.device_id),
    )
    fleet = [
        Device(device_id=i, hostname=f"{r.host}:{r.port}", target=Target(r.host, port=r.port))
        for i, r in refs.items()
    ]
    # The window is [start, end) on the scheduler's clock, each device's first start placed after its
    # start: placing 10,000 takes tens of milliseconds, and a window measured from after that would give
    # the devices due in them one start more.
    start = time.time() if start is None else start
    scheduler.update_inventory(fleet, now=start)
    # run(until=) deals with exactly the start instants before the end, however late the loop runs
    runner = asyncio.create_task(scheduler.run(until=start + duration), name="bench-scheduler")
    try:
        while not runner.done():
            await asyncio.wait({runner}, timeout=0.5)
            s = scheduler.stats
            stats.skipped = s.skipped_overrun
            stats.scheduled = s.started + s.skipped_overrun + s.missed + scheduler.waiting
            if on_progress is not None:
                on_progress(stats)
        s = scheduler.stats
        left_waiting = scheduler.waiting
        await scheduler.stop(grace=max(interval, 60.0))
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    stats.skipped = s.skipped_overrun + left_waiting
    stats.waited = s.waited
    stats.scheduled = s.started + s.skipped_overrun + s.missed + left_waiting
    if on_progress is not None:
        on_progress(stats)
    return stats
