"""The daemon's garbage-collector policy: the young generation as CPython runs it, the others on a timer."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import weakref

import pytest

from poller.gc_policy import ARENAS, MMAP_THRESHOLD, NEVER, GcPolicy


@pytest.fixture
def policy():
    saved = gc.get_threshold()
    p = GcPolicy(full_every=0.05)
    yield p
    p.restore()
    assert gc.get_threshold() == saved


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_apply_stops_automatic_middle_and_full_collections_and_keeps_the_young_threshold(policy):
    young = gc.get_threshold()[0]
    policy.apply()
    assert gc.get_threshold() == (young, NEVER, NEVER)


def test_a_cycle_that_outlives_a_young_collection_waits_for_the_timed_full_one(policy):
    policy.apply()
    cycle = Cycle()
    alive = weakref.ref(cycle)
    gc.collect(0)  # in use at a young collection: moved to the middle generation
    del cycle
    junk = [[] for _ in range(100 * gc.get_threshold()[0])]  # ~100 automatic young collections
    del junk
    assert alive() is not None
    policy.collect_full()
    assert alive() is None


def test_apply_freezes_what_exists_so_full_collections_skip_it(policy):
    policy.apply()
    assert gc.get_freeze_count() > 0


def test_restore_gives_back_the_interpreters_settings_and_unfreezes(policy):
    before = gc.get_threshold()
    policy.apply()
    policy.restore()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_full_collection_frees_a_cycle_made_after_apply(policy):
    policy.apply()
    gc.disable()  # no young collection may take the cycle first
    try:
        alive = weakref.ref(Cycle())
        assert alive() is not None  # only the collector can free it
        done = policy.collect_full()
    finally:
        gc.enable()
    assert alive() is None and done.collected >= 1
    assert policy.last == done and policy.full_collections == 1


async def test_run_collects_every_full_every_seconds_until_cancelled(policy):
    task = asyncio.create_task(policy.run())
    async with asyncio.timeout(30):  # a full collection of a big test process takes a while
        while policy.full_collections < 2:  # noqa: ASYNC110 (the policy has no event to wait on)
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    done = policy.full_collections
    await asyncio.sleep(0.15)
    assert policy.full_collections == done  # cancelled: no more collections


async def test_run_trims_every_trim_every_seconds_between_full_collections():
    trims: list[int] = []
    policy = GcPolicy(full_every=3600, trim_every=0.02, trim=lambda: trims.append(1) or True)
    task = asyncio.create_task(policy.run())
    async with asyncio.timeout(30):
        while policy.trims < 2:  # noqa: ASYNC110 (the policy has no event to wait on)
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(trims) >= 2 and policy.full_collections == 0


def test_a_trim_period_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="trim_every"):
        GcPolicy(trim_every=0)


def test_a_period_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="full_every"):
        GcPolicy(full_every=0)


def test_each_full_collection_asks_the_allocator_to_give_free_pages_back():
    calls: list[str] = []

    def trim() -> bool:
        calls.append("trim")
        return True

    policy = GcPolicy(trim=trim)
    policy.collect_full()
    policy.collect_full()
    assert len(calls) == policy.trims == 2
    assert policy.last is not None and policy.last.trim_seconds >= 0


def test_trims_count_their_time_and_the_longest():
    pauses = iter([0.02, 0.05, 0.01])
    policy = GcPolicy(trim=lambda: time.sleep(next(pauses)) or True)
    took = [policy.collect_full().trim_seconds for _ in range(3)]
    assert policy.trims == 3 and took[1] >= 0.05
    assert 0.08 <= policy.trim_seconds < 1.0
    assert 0.05 <= policy.trim_longest < policy.trim_seconds


def test_no_trim_when_switched_off():
    policy = GcPolicy(trim=False)
    assert policy.trim is None
    policy.collect_full()
    assert policy.trims == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_on_glibc_the_default_trim_is_malloc_trim_and_it_runs():
    policy = GcPolicy()
    assert policy.trim is not None
    policy.collect_full()
    assert policy.trims == 1


def test_apply_caps_the_allocators_heaps():
    caps: list[int] = []
    policy = GcPolicy(arena_max=lambda n: caps.append(n) or True)
    try:
        policy.apply()
    finally:
        policy.restore()
    assert caps == [ARENAS]


def test_apply_fixes_the_allocators_mapping_threshold():
    thresholds: list[int] = []
    policy = GcPolicy(arena_max=False, mmap_threshold=lambda n: thresholds.append(n) or True)
    try:
        policy.apply()
    finally:
        policy.restore()
    assert thresholds == [MMAP_THRESHOLD]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_on_glibc_the_allocator_takes_the_mapping_threshold():
    policy = GcPolicy()
    assert policy.mmap_threshold is not None and policy.mmap_threshold(MMAP_THRESHOLD)


def test_the_heap_cap_can_be_left_alone():
    policy = GcPolicy(arena_max=False)
    assert policy.arena_max is None
