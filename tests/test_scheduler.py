"""The scheduler on a virtual clock: no test sleeps, every instant is exact."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poller.model import Device, Target
from poller.scheduler import (
    DUE,
    MIN_CAP,
    Scheduler,
    VirtualClock,
    default_max_in_flight,
    next_start,
    phase_of,
    release_cap,
)


def device(device_id: int, **changes: object) -> Device:
    return replace(
        Device(device_id=device_id, hostname=f"d{device_id}", target=Target("127.0.0.1")), **changes
    )


class Recorder:
    """A run_poll that records (device_id, start, end) and takes ``duration`` virtual seconds."""

    def __init__(self, clock: VirtualClock, duration: float | Callable[[Device], float] = 0.0) -> None:
        self.clock = clock
        self.duration = duration
        self.starts: dict[int, list[float]] = defaultdict(list)
        self.active: Counter[int] = Counter()
        self.most_at_once: Counter[int] = Counter()
        self.finished: list[int] = []
        self.cancelled: list[int] = []

    async def __call__(self, dev: Device) -> None:
        self.starts[dev.device_id].append(self.clock.now())
        self.active[dev.device_id] += 1
        self.most_at_once[dev.device_id] = max(self.most_at_once[dev.device_id], self.active[dev.device_id])
        try:
            duration = self.duration(dev) if callable(self.duration) else self.duration
            if duration:
                await self.clock.sleep(duration)
            self.finished.append(dev.device_id)
        except asyncio.CancelledError:
            self.cancelled.append(dev.device_id)
            raise
        finally:
            self.active[dev.device_id] -= 1


@asynccontextmanager
async def running(scheduler: Scheduler, clock: VirtualClock) -> AsyncIterator[None]:
    task = asyncio.create_task(scheduler.run())
    await clock.advance(0)
    try:
        yield
    finally:
        await scheduler.stop(grace=0)
        await task


def fixed(seconds: float) -> Callable[[Device], float]:
    return lambda _device: seconds


async def test_starts_of_many_devices_are_spread_evenly_over_the_interval() -> None:
    clock = VirtualClock(start=0.0)
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(60))
    scheduler.update_inventory(device(i) for i in range(1, 3001))
    async with running(scheduler, clock):
        await clock.advance(60)
    per_ten_seconds = Counter(int(starts[0] // 10) for starts in recorder.starts.values())
    assert sorted(per_ten_seconds) == [0, 1, 2, 3, 4, 5]
    assert all(400 <= n <= 600 for n in per_ten_seconds.values()), per_ten_seconds  # 500 each when flat


async def test_every_device_starts_once_per_interval_at_the_same_offset() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(30))
    scheduler.update_inventory(device(i) for i in range(1, 51))
    async with running(scheduler, clock):
        await clock.advance(30 * 4)
    for starts in recorder.starts.values():
        assert len(starts) == 4
        assert {round(b - a, 9) for a, b in itertools.pairwise(starts)} == {30}
    assert scheduler.stats.started == 200


async def test_a_restarted_scheduler_keeps_each_devices_start_instants() -> None:
    clock = VirtualClock()
    first, second = Recorder(clock), Recorder(clock)
    for recorder in (first, second):
        scheduler = Scheduler(clock, recorder, fixed(60))
        scheduler.update_inventory(device(i) for i in range(1, 21))
        async with running(scheduler, clock):
            await clock.advance(60)
    for device_id, starts in first.starts.items():
        assert second.starts[device_id][0] - starts[0] == pytest.approx(60)


@given(st.integers(min_value=0, max_value=2**40))
def test_phase_is_a_stable_fraction_of_the_interval(device_id: int) -> None:
    assert 0 <= phase_of(device_id) < 1
    start = next_start(device_id, 60, after=1_000_000.5)
    assert 1_000_000.5 <= start < 1_000_060.5
    assert (start / 60 - phase_of(device_id)) == pytest.approx(round(start / 60 - phase_of(device_id)))


async def test_an_inventory_given_an_instant_places_first_starts_after_it() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(60))
    earlier = clock.now() - 30
    scheduler.update_inventory([device(i) for i in range(1, 11)], now=earlier)
    async with running(scheduler, clock):
        await clock.advance(30)  # the starts of [earlier, now + 30): each device once, late or not
    assert sorted(recorder.starts) == list(range(1, 11))
    assert all(len(starts) == 1 for starts in recorder.starts.values())


async def test_a_device_is_never_polled_twice_at_once() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=45)  # 1.5 intervals
    scheduler = Scheduler(clock, recorder, fixed(30))
    scheduler.update_inventory([device(1), device(2)])
    async with running(scheduler, clock):
        await clock.advance(300)
    assert max(recorder.most_at_once.values()) == 1


async def test_a_poll_that_overruns_skips_the_next_start_and_is_counted() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=70)
    scheduler = Scheduler(clock, recorder, fixed(60))
    scheduler.update_inventory([device(7)])
    async with running(scheduler, clock):
        await clock.advance(60 * 6 - 1)  # six start instants
    starts = recorder.starts[7]
    assert [round(b - a) for a, b in itertools.pairwise(starts)] == [120, 120]
    assert scheduler.stats.skipped_overrun == 3
    assert scheduler.stats.started == 3


def test_the_default_cap_holds_each_devices_polls_per_second_for_a_second_and_a_half() -> None:
    intervals = {1: 10.0, 2: 30.0}
    many = [device(i + 10 * k) for k in range(1000) for i in (1, 2)]
    assert default_max_in_flight(many, lambda d: intervals[d.device_id % 10]) == 1000 * (1.5 / 10 + 1.5 / 30)


def test_a_small_fleet_still_gets_the_least_cap() -> None:
    assert default_max_in_flight([device(1)], fixed(60)) == MIN_CAP
    assert default_max_in_flight([], fixed(60)) == MIN_CAP


async def test_starts_beyond_the_cap_wait_for_a_poll_to_end() -> None:
    clock = VirtualClock()
    running_now, most = [0], [0]

    async def poll(dev: Device) -> None:
        running_now[0] += 1
        most[0] = max(most[0], running_now[0])
        try:
            await clock.sleep(30)  # half the interval: uncapped, several would overlap
        finally:
            running_now[0] -= 1

    scheduler = Scheduler(clock, poll, fixed(60), max_in_flight=lambda: 2)
    scheduler.update_inventory([device(i) for i in range(1, 9)])
    async with running(scheduler, clock):
        await clock.advance(300)
    assert most[0] == 2
    assert scheduler.stats.waited > 0


async def test_waiting_starts_begin_in_the_order_they_fell_due() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=100)
    ids = list(range(1, 9))
    scheduler = Scheduler(clock, recorder, fixed(60), max_in_flight=lambda: 1)
    scheduler.update_inventory([device(i) for i in ids])
    due = {i: next_start(i, 60, clock.now()) for i in ids}
    async with running(scheduler, clock):
        await clock.advance(60 + 100 * len(ids))
    first_starts = sorted(recorder.starts, key=lambda i: recorder.starts[i][0])
    assert first_starts == sorted(ids, key=due.__getitem__)
    assert scheduler.stats.waited >= len(ids) - 1


# Devices 3 and 8 fall due 6 s apart in a 300 s interval (phase_of: 185.3 s and 191.3 s); at 60 s,
# device 2 falls due at 6.6 s and device 5 at 32.7 s.


async def test_a_wait_for_the_cap_counts_in_the_start_lag() -> None:
    clock = VirtualClock()
    lags: dict[int, float] = {}
    scheduler = Scheduler(
        clock,
        Recorder(clock, duration=100),
        fixed(300),
        on_start=lambda d, lag: lags.setdefault(d.device_id, lag),
        max_in_flight=lambda: 1,
    )
    scheduler.update_inventory([device(3), device(8)])
    async with running(scheduler, clock):
        await clock.advance(next_start(8, 300, clock.now()) - clock.now() + 100)  # one cycle
    assert lags[3] == 0
    assert lags[8] == pytest.approx(100 - 6, abs=0.1)
    assert scheduler.stats.waited == 1


async def test_a_device_still_waiting_when_its_next_start_falls_due_skips_it() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=1000)
    scheduler = Scheduler(clock, recorder, fixed(60), max_in_flight=lambda: 1)
    scheduler.update_inventory([device(2), device(5)])
    async with running(scheduler, clock):
        await clock.advance(60 * 5)
        assert scheduler.waiting == 1
    assert list(recorder.starts) == [2]
    assert scheduler.stats.skipped_overrun == 8  # four later starts each of the running and the waiting one


async def test_a_waiting_start_of_a_removed_device_never_begins() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=100)
    scheduler = Scheduler(clock, recorder, fixed(300), max_in_flight=lambda: 1)
    scheduler.update_inventory([device(3), device(8)])
    async with running(scheduler, clock):
        await clock.advance(next_start(8, 300, clock.now()) - clock.now())
        assert scheduler.waiting == 1
        scheduler.update_inventory([device(3)])
        await clock.advance(200)
    assert list(recorder.starts) == [3]
    assert scheduler.waiting == 0


async def test_a_raised_cap_applies_from_the_next_start() -> None:
    clock = VirtualClock()
    cap = [1]
    recorder = Recorder(clock, duration=30)
    scheduler = Scheduler(clock, recorder, fixed(60), max_in_flight=lambda: cap[0])
    scheduler.update_inventory([device(i) for i in range(1, 11)])
    async with running(scheduler, clock):
        await clock.advance(60)
        before = sum(map(len, recorder.starts.values()))
        cap[0] = 0  # no cap
        await clock.advance(120)
        assert scheduler.waiting == 0
    assert before < 10
    assert all(len(recorder.starts[i]) >= 2 for i in range(1, 11))


async def test_a_start_after_the_cap_was_raised_goes_behind_those_already_waiting() -> None:
    clock = VirtualClock()
    cap = [1]
    recorder = Recorder(clock, duration=1000)
    scheduler = Scheduler(clock, recorder, fixed(60), max_in_flight=lambda: cap[0])
    scheduler.update_inventory([device(6), device(2), device(4)])  # due at 6.4, 6.6 and 26.5 s
    async with running(scheduler, clock):
        await clock.advance(next_start(2, 60, clock.now()) - clock.now())
        assert list(recorder.starts) == [6] and scheduler.waiting == 1
        cap[0] = 2  # a reload; no poll ends meanwhile
        await clock.advance(next_start(4, 60, clock.now()) - clock.now())
        assert list(recorder.starts) == [6, 2] and scheduler.waiting == 1


async def test_an_uncapped_poll_starts_on_time_while_the_cap_is_reached() -> None:
    clock = VirtualClock()
    lags: dict[int, float] = {}
    scheduler = Scheduler(
        clock,
        Recorder(clock, duration=1000),
        fixed(300),
        on_start=lambda d, lag: lags.setdefault(d.device_id, lag),
        max_in_flight=lambda: 1,
        uncapped=lambda d: d.device_id == 8,
    )
    scheduler.update_inventory([device(3), device(8)])  # due at 185.3 and 191.3 s
    async with running(scheduler, clock):
        await clock.advance(next_start(8, 300, clock.now()) - clock.now())
        assert (scheduler.in_flight, scheduler.capped, scheduler.waiting) == (2, 1, 0)
    assert lags == {3: 0, 8: 0}
    assert scheduler.stats.waited == 0


async def test_an_uncapped_poll_leaves_the_cap_to_the_others() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=1000)
    scheduler = Scheduler(
        clock, recorder, fixed(300), max_in_flight=lambda: 1, uncapped=lambda d: d.device_id == 3
    )
    scheduler.update_inventory([device(3), device(8)])
    async with running(scheduler, clock):
        await clock.advance(next_start(8, 300, clock.now()) - clock.now())
        assert list(recorder.starts) == [3, 8]
    assert scheduler.stats.waited == 0


async def test_a_poll_that_released_the_cap_leaves_its_place_to_the_next_start() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)

    async def poll(dev: Device) -> None:
        await recorder(dev)
        if dev.device_id == 3:
            await clock.sleep(2)
            release_cap()  # e.g. its first request timed out
            release_cap()  # the second time is a no-op
        await clock.sleep(1000)

    scheduler = Scheduler(clock, poll, fixed(300), max_in_flight=lambda: 1)
    scheduler.update_inventory([device(3), device(8)])  # due 6 s apart
    async with running(scheduler, clock):
        await clock.advance(next_start(8, 300, clock.now()) - clock.now())
        assert list(recorder.starts) == [3, 8]
        assert (scheduler.in_flight, scheduler.capped) == (2, 1)
    assert scheduler.stats.waited == 0


async def test_a_poll_held_to_the_cap_takes_another_place_when_released() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)

    async def poll(dev: Device) -> None:
        await recorder(dev)
        await clock.sleep(10)
        release_cap()
        await clock.sleep(1000)

    scheduler = Scheduler(clock, poll, fixed(300), max_in_flight=lambda: 1)
    scheduler.update_inventory([device(3), device(8)])  # 8 due 6 s after 3: waits 4 s for the release
    async with running(scheduler, clock):
        await clock.advance(next_start(8, 300, clock.now()) - clock.now() + 5)
        assert list(recorder.starts) == [3, 8]
        assert recorder.starts[8][0] - recorder.starts[3][0] == pytest.approx(10)
    assert scheduler.stats.waited == 1


def test_releasing_the_cap_outside_a_poll_does_nothing() -> None:
    release_cap()


async def test_stop_drops_the_starts_still_waiting() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=1000)
    scheduler = Scheduler(clock, recorder, fixed(60), max_in_flight=lambda: 1)
    scheduler.update_inventory([device(i) for i in range(1, 5)])
    task = asyncio.create_task(scheduler.run())
    await clock.advance(60)
    assert scheduler.waiting == 3
    await scheduler.stop(grace=0)
    await task
    await clock.advance(2000)
    assert scheduler.waiting == 0
    assert sum(map(len, recorder.starts.values())) == 1


async def test_an_interval_change_takes_effect_without_restart() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    intervals = {1: 60.0}
    scheduler = Scheduler(clock, recorder, lambda d: intervals[d.device_id])
    scheduler.update_inventory([device(1)])
    async with running(scheduler, clock):
        await clock.advance(120)
        intervals[1] = 10.0
        scheduler.update_inventory([device(1)])
        changed_at = clock.now()
        await clock.advance(60)
    later = [t for t in recorder.starts[1] if t >= changed_at]
    assert len(later) == 6
    assert {round(b - a, 9) for a, b in itertools.pairwise(later)} == {10}


async def test_an_added_device_is_polled_within_one_interval() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(60))
    scheduler.update_inventory([device(1)])
    async with running(scheduler, clock):
        await clock.advance(90)
        added_at = clock.now()
        scheduler.update_inventory([device(1), device(2)])
        await clock.advance(60)
    assert len(recorder.starts[2]) == 1
    assert added_at <= recorder.starts[2][0] < added_at + 60


async def test_a_removed_device_is_no_longer_polled() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(60))
    scheduler.update_inventory([device(1), device(2)])
    async with running(scheduler, clock):
        await clock.advance(60)
        scheduler.update_inventory([device(1)])
        removed_at = clock.now()
        await clock.advance(300)
    assert all(t < removed_at for t in recorder.starts[2])
    assert len(recorder.starts[1]) == 6
    assert scheduler.devices == 1


async def test_a_disabled_device_is_no_longer_polled() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(60))
    scheduler.update_inventory([device(1), device(2, snmp_disable=True)])
    async with running(scheduler, clock):
        await clock.advance(60)
        scheduler.update_inventory([device(1, disabled=True)])
        disabled_at = clock.now()
        await clock.advance(180)
    assert 2 not in recorder.starts
    assert all(t < disabled_at for t in recorder.starts[1])


async def test_a_device_removed_and_added_back_mid_poll_does_not_get_a_second_poll() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=50)
    intervals = {1: 60.0}
    scheduler = Scheduler(clock, recorder, lambda d: intervals[d.device_id])
    scheduler.update_inventory([device(1)])
    async with running(scheduler, clock):
        await clock.advance(61)  # the first poll is running
        scheduler.update_inventory([])
        intervals[1] = 5.0
        scheduler.update_inventory([device(1)])
        await clock.advance(120)
    assert recorder.most_at_once[1] == 1
    assert scheduler.stats.skipped_overrun > 0


async def test_new_device_details_are_used_from_the_next_start() -> None:
    clock = VirtualClock()
    seen: list[str] = []

    async def poll(dev: Device) -> None:
        seen.append(dev.hostname)

    scheduler = Scheduler(clock, poll, fixed(60))
    scheduler.update_inventory([device(1)])
    async with running(scheduler, clock):
        await clock.advance(60)
        scheduler.update_inventory([device(1, hostname="renamed")])
        await clock.advance(60)
    assert seen == ["d1", "renamed"]


async def test_start_lag_is_recorded_for_every_start() -> None:
    clock = VirtualClock()
    observed: list[tuple[int, float]] = []
    scheduler = Scheduler(
        clock, Recorder(clock), fixed(60), on_start=lambda d, lag: observed.append((d.device_id, lag))
    )
    scheduler.update_inventory([device(1)])
    async with running(scheduler, clock):
        await clock.advance(next_start(1, 60, clock.now()) - clock.now() - 1)
        await clock.jump(3)  # the event loop was blocked for 3 s across the start instant
        await clock.advance(60)
    assert [round(lag, 9) for _, lag in observed] == [2, 0]
    assert [round(lag, 9) for lag in scheduler.stats.lag_samples] == [2, 0]


async def test_a_poll_knows_the_instant_it_was_due_at_even_when_it_starts_late() -> None:
    clock = VirtualClock()
    seen: list[tuple[float, float]] = []

    async def poll(dev: Device) -> None:
        seen.append((DUE.get(), clock.now()))

    scheduler = Scheduler(clock, poll, fixed(60))
    scheduler.update_inventory([device(1)])
    due = next_start(1, 60, clock.now())
    async with running(scheduler, clock):
        await clock.advance(due - clock.now() - 1)
        await clock.jump(40)  # the loop blocked across the start instant
        await clock.advance(0)
    assert seen == [(due, due + 39)]


async def test_run_until_an_instant_deals_with_exactly_the_starts_before_it_however_late() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(10))
    scheduler.update_inventory([device(i) for i in range(1, 21)])
    until = clock.now() + 30  # three start instants of each device
    task = asyncio.create_task(scheduler.run(until=until))
    await clock.advance(25)
    await clock.jump(20)  # the loop blocked across the end: instants after it fall due meanwhile
    await task  # returned by itself
    assert all(len(recorder.starts[i]) == 3 for i in range(1, 21))
    assert scheduler.stats.started == 60


async def test_a_stalled_loop_resumes_on_the_grid_instead_of_bursting() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(10))
    scheduler.update_inventory([device(1)])
    began = clock.now()
    async with running(scheduler, clock):
        await clock.advance(10)
        await clock.jump(35)  # three and a half intervals with the loop blocked
        await clock.advance(20)
        ended = clock.now()
    starts = recorder.starts[1]
    assert len(starts) == 4  # before the stall, once late, then on the grid twice
    instants = round((ended - next_start(1, 10, began)) // 10) + 1
    assert scheduler.stats.started + scheduler.stats.missed == instants
    assert all(next_start(1, 10, t) == pytest.approx(t) for t in starts[2:])


async def test_a_failing_poll_is_counted_and_the_scheduler_carries_on() -> None:
    clock = VirtualClock()

    async def poll(dev: Device) -> None:
        raise RuntimeError("boom")

    scheduler = Scheduler(clock, poll, fixed(30))
    scheduler.update_inventory([device(1)])
    async with running(scheduler, clock):
        await clock.advance(90)
    assert scheduler.stats.failed == 3
    assert scheduler.stats.started == 3


async def test_stop_lets_polls_in_flight_finish_within_the_grace_period() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=5)
    scheduler = Scheduler(clock, recorder, fixed(60))
    scheduler.update_inventory([device(1)])
    task = asyncio.create_task(scheduler.run())
    await clock.advance(next_start(1, 60, clock.now()) - clock.now() + 1)  # the poll is 1 s in
    stopping = asyncio.create_task(scheduler.stop(grace=10))
    await clock.advance(4)
    assert stopping.done()
    await task
    assert recorder.finished == [1]
    assert recorder.cancelled == []


async def test_stop_cancels_polls_still_running_after_the_grace_period() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock, duration=100)
    scheduler = Scheduler(clock, recorder, fixed(60))
    scheduler.update_inventory([device(1)])
    task = asyncio.create_task(scheduler.run())
    await clock.advance(60)
    stopping = asyncio.create_task(scheduler.stop(grace=10))
    await clock.advance(9)
    assert not stopping.done()
    await clock.advance(1)
    await stopping
    await task
    assert recorder.cancelled == [1]
    assert scheduler.in_flight == 0


async def test_no_poll_starts_after_stop() -> None:
    clock = VirtualClock()
    recorder = Recorder(clock)
    scheduler = Scheduler(clock, recorder, fixed(10))
    scheduler.update_inventory([device(1)])
    async with running(scheduler, clock):
        await clock.advance(30)
    started = scheduler.stats.started
    await clock.advance(100)
    assert scheduler.stats.started == started
