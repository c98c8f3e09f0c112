"""poller/loop_lag.py: the event loop's lateness, and the port walks' slots that tighten while it is late."""

from __future__ import annotations

import asyncio
import time

import pytest

from poller.loop_lag import Lateness, LoopLag, WalkSlots, next_bound

# ---------------------------------------------------------------- Lateness (pure)


def test_a_wake_up_on_time_leaves_the_loop_on_time():
    lateness = Lateness()
    assert lateness.observe(0.01, now=1.0) is False
    assert lateness.behind is False


def test_a_wake_up_late_by_the_threshold_puts_the_loop_behind():
    lateness = Lateness(late_after=0.25)
    assert lateness.observe(0.25, now=1.0) is True
    assert lateness.behind is True


def test_the_loop_stays_behind_until_calm_after_seconds_pass_without_a_late_wake_up():
    lateness = Lateness(late_after=0.25, calm_after=2.0)
    lateness.observe(0.5, now=10.0)
    assert lateness.observe(0.0, now=11.9) is False and lateness.behind
    assert lateness.observe(0.0, now=12.0) is True and not lateness.behind


def test_a_late_wake_up_while_behind_extends_the_calm_period():
    lateness = Lateness(late_after=0.25, calm_after=2.0)
    lateness.observe(0.5, now=10.0)
    lateness.observe(0.3, now=11.5)
    lateness.observe(0.0, now=13.0)
    assert lateness.behind


def test_time_behind_adds_up_between_observations():
    lateness = Lateness(late_after=0.25, calm_after=2.0)
    lateness.observe(0.0, now=0.0)
    lateness.observe(0.5, now=1.0)  # behind from here
    lateness.observe(0.0, now=2.0)
    lateness.observe(0.0, now=3.0)  # calm again: the second from 2.0 to 3.0 still counted as behind
    lateness.observe(0.0, now=4.0)
    assert lateness.behind_seconds == pytest.approx(2.0)


def test_recent_max_is_the_largest_lateness_of_the_recent_window():
    lateness = Lateness(recent=10.0)
    assert lateness.recent_max() == 0.0
    lateness.observe(0.8, now=1.0)
    lateness.observe(0.1, now=5.0)
    assert lateness.recent_max() == 0.8
    lateness.observe(0.2, now=11.5)  # the 0.8 is over 10 s old now
    assert lateness.recent_max() == 0.2


# ---------------------------------------------------------------- next_bound (pure)


def test_a_late_wake_up_halves_the_bound():
    assert next_bound(256, taken=300, late=True, floor=64) == 128


def test_the_bound_never_drops_below_its_floor():
    assert next_bound(100, taken=300, late=True, floor=64) == 64


def test_an_on_time_wake_up_raises_the_bound_by_half_the_floor():
    assert next_bound(64, taken=64, late=False, floor=64) == 96


def test_the_bound_grows_no_further_than_twice_the_walks_running_plus_the_floor():
    assert next_bound(500, taken=10, late=False, floor=64) == 84  # a loop that caught up is not handed 500


def test_a_floor_of_one_still_grows():
    assert next_bound(1, taken=1, late=False, floor=1) == 2


# ---------------------------------------------------------------- WalkSlots


async def run_walks(slots: WalkSlots, n: int) -> None:
    """Take slots up to n walks running, the bound raised by on-time wake-ups as the walks need it."""
    while slots.taken < n:
        if slots.taken >= slots.capacity():
            slots.adjust(late=False)
        await asyncio.wait_for(slots.acquire(), 1)


async def test_walks_past_the_bound_wait_for_a_slot():
    slots = WalkSlots(0, 2)
    await slots.acquire()
    await slots.acquire()
    third = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0.01)
    assert not third.done() and slots.waiting == 1
    slots.release()
    await asyncio.wait_for(third, 1)
    assert slots.taken == 2 and slots.waited == 1


async def test_an_on_time_wake_up_lets_waiting_walks_go_as_the_bound_grows():
    slots = WalkSlots(0, 2)
    await slots.acquire()
    await slots.acquire()
    waiting = [asyncio.ensure_future(slots.acquire()) for _ in range(3)]
    await asyncio.sleep(0.01)
    slots.adjust(late=False)  # 2 -> 3
    await asyncio.sleep(0.01)
    assert [w.done() for w in waiting] == [True, False, False]
    slots.adjust(late=False)  # 3 -> 4
    slots.adjust(late=False)  # 4 -> 5
    await asyncio.wait_for(asyncio.gather(*waiting), 1)
    assert slots.taken == 5


async def test_a_late_wake_up_holds_new_walks_back_while_running_ones_keep_their_slots():
    slots = WalkSlots(0, 2)
    await run_walks(slots, 6)
    slots.adjust(late=True)  # 6 -> 3: the six running go on, the next waits for three to end
    assert slots.bound == 3 and slots.taken == 6
    held = asyncio.ensure_future(slots.acquire())
    for _ in range(3):
        slots.release()
    await asyncio.sleep(0.01)
    assert not held.done()
    slots.release()
    await asyncio.wait_for(held, 1)


async def test_the_always_bound_holds_even_while_the_loop_is_on_time():
    slots = WalkSlots(1, 0)
    await slots.acquire()
    second = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0.01)
    assert not second.done()
    slots.release()
    await asyncio.wait_for(second, 1)


async def test_waiters_are_served_first_come_first_served():
    slots = WalkSlots(1, 0)
    await slots.acquire()
    order: list[int] = []

    async def walk(n: int) -> None:
        await slots.acquire()
        order.append(n)
        slots.release()

    tasks = [asyncio.ensure_future(walk(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    slots.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert order == [0, 1, 2]


async def test_a_cancelled_waiter_leaves_the_queue_and_takes_no_slot():
    slots = WalkSlots(1, 0)
    await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert slots.waiting == 0
    slots.release()
    assert slots.taken == 0
    await asyncio.wait_for(slots.acquire(), 1)  # the slot is free for the next walk


async def test_a_slot_granted_to_a_waiter_cancelled_at_that_moment_passes_to_the_next():
    slots = WalkSlots(1, 0)
    await slots.acquire()
    first = asyncio.ensure_future(slots.acquire())
    second = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0.01)
    slots.release()  # granted to the first waiter, which has not run yet ...
    first.cancel()  # ... and is cancelled before it does
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    assert slots.taken == 1


# ---------------------------------------------------------------- LoopLag (the probe)


async def until(condition) -> None:
    async with asyncio.timeout(2):
        while not condition():  # noqa: ASYNC110 (the lateness has no event to wait on)
            await asyncio.sleep(0.001)


def block_the_loop(seconds: float) -> None:
    """What a long stretch of CPU work on the event loop does: nothing else runs meanwhile."""
    time.sleep(seconds)


async def test_the_probe_sees_a_loop_held_up_by_a_blocking_call():
    probe = LoopLag(Lateness(late_after=0.1), every=0.01)
    task = asyncio.ensure_future(probe.run())
    await asyncio.sleep(0.03)
    block_the_loop(0.2)  # the probe's timer wakes ~0.2 s late
    await until(lambda: probe.lateness.behind)
    task.cancel()
    assert probe.lateness.recent_max() >= 0.15


async def test_the_probe_tightens_the_bound_at_a_late_wake_up_and_loosens_it_after():
    probe = LoopLag(Lateness(late_after=0.1), every=0.01)
    probe.slots = slots = WalkSlots(0, 2)
    await run_walks(slots, 6)  # the bound is 6
    task = asyncio.ensure_future(probe.run())
    await asyncio.sleep(0.03)
    block_the_loop(0.15)
    await until(lambda: slots.bound < 6)  # halved at the late wake-up
    held = asyncio.ensure_future(slots.acquire())
    await asyncio.wait_for(held, 2)  # nothing is released: on-time wake-ups raise the bound again
    task.cancel()
    assert slots.taken == 7
