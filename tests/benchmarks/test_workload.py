"""The load loops: run_scheduled drives a poll function by the daemon's scheduler (wall clock, short runs)."""

from __future__ import annotations

import asyncio
import time

from benchmarks.workload import SCHEDULE_LAG, DeviceRef, run_scheduled
from poller.scheduler import next_start

REFS = [DeviceRef("127.0.0.1", 10_000 + i, "public") for i in range(6)]


async def test_run_scheduled_polls_each_device_once_an_interval_and_counts_every_slot() -> None:
    polled: list[DeviceRef] = []

    async def poll(ref: DeviceRef) -> int:
        polled.append(ref)
        return 7

    stats = await run_scheduled(poll, REFS, interval=0.5, duration=1.0, max_in_flight=0)
    assert [polled.count(r) for r in REFS] == [2] * len(REFS)
    assert (stats.ok, stats.failed, stats.skipped, stats.scheduled) == (12, 0, 0, 12)
    assert stats.varbinds == 84 and len(stats.latencies) == 12 and len(stats.lags) == 12


async def test_run_scheduled_gives_every_device_of_a_large_fleet_the_same_number_of_slots() -> None:
    fleet = [DeviceRef("127.0.0.1", 1024 + i, "public") for i in range(5000)]  # placing them takes a while

    async def poll(ref: DeviceRef) -> int:
        return 0

    stats = await run_scheduled(poll, fleet, interval=0.5, duration=1.0, max_in_flight=0)
    assert stats.ok == stats.scheduled == 2 * len(fleet)


async def test_run_scheduled_places_devices_by_their_database_ids() -> None:
    due: dict[int, float] = {}

    async def poll(ref: DeviceRef) -> int:
        due.setdefault(REFS.index(ref), time.time() - SCHEDULE_LAG.get())
        return 0

    ids = [101, 202, 303, 404, 505, 606]
    began = time.time()
    await run_scheduled(poll, REFS, interval=1.0, duration=1.0, max_in_flight=0, device_ids=ids)
    for k, device_id in enumerate(ids):  # each started at its own phase instant, as in the daemon
        assert abs(due[k] - next_start(device_id, 1.0, began)) < 0.1


async def test_run_scheduled_caps_the_polls_at_once_and_reports_the_wait_as_lag() -> None:
    at_once, most = [0], [0]

    async def poll(ref: DeviceRef) -> int:
        at_once[0] += 1
        most[0] = max(most[0], at_once[0])
        try:
            await asyncio.sleep(0.2)
        finally:
            at_once[0] -= 1
        return 1

    stats = await run_scheduled(poll, REFS, interval=1.0, duration=1.0, max_in_flight=1)
    assert most[0] == 1
    assert stats.ok + stats.skipped == stats.scheduled == 6
    assert max(stats.lags) > 0.15  # six polls of 0.2 s one at a time: some waited for a slot


async def test_run_scheduled_counts_failures_by_kind() -> None:
    async def poll(ref: DeviceRef) -> int:
        raise TimeoutError("no answer")

    stats = await run_scheduled(poll, REFS[:2], interval=0.5, duration=0.5, max_in_flight=0)
    assert (stats.ok, stats.failed) == (0, 2)
    assert stats.errors == {"TimeoutError": 2}


async def test_run_scheduled_holds_no_uncapped_poll_to_the_cap() -> None:
    at_once, most, seen = [0], [0], []

    async def poll(ref: DeviceRef) -> int:
        at_once[0] += 1
        most[0] = max(most[0], at_once[0])
        try:
            await asyncio.sleep(0.5)  # six devices' 0.5 s in each 1 s: some overlap
        finally:
            at_once[0] -= 1
        return 1

    def uncapped(device_id: int) -> bool:
        seen.append(device_id)
        return True

    stats = await run_scheduled(poll, REFS, interval=1.0, duration=1.0, max_in_flight=1, uncapped=uncapped)
    assert most[0] >= 2
    assert sorted(seen) == list(range(1, len(REFS) + 1))
    assert stats.ok == stats.scheduled == 6
