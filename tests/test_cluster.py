"""Scale-out: rendezvous ownership (pure) and the Redis membership against the real Redis at 127.0.0.1:6379.

Each Redis test uses its own random key prefix and deletes its keys afterwards. Membership time comes from a
VirtualClock moved by hand (only heartbeats and claims touch Redis), so expiry is exact and nothing sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from poller.cluster import LocalMembership, membership, owner_of, serves
from poller.cluster_redis import CLAIM_REPORT_EVERY, RedisMembership
from poller.model import Device, Target
from poller.scheduler import VirtualClock, WallClock, next_start
from tests.support.net import free_tcp_port

REDIS_URL = "redis://127.0.0.1:6379/0"
TTL = 10.0
INTERVAL = 30.0  # the configuration requires 4/3 TTL <= the shortest interval


def device(device_id: int, group: int = 0) -> Device:
    return Device(
        device_id=device_id, hostname=f"d{device_id}", target=Target("127.0.0.1"), poller_group=group
    )


DEVICES = [device(i, group=i % 3) for i in range(1, 601)]

# ------------------------------------------------------------------------------------------ pure


@given(
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=6),
        st.none() | st.frozensets(st.integers(0, 3), max_size=3),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 10**9),
    st.integers(0, 3),
)
def test_a_device_is_owned_by_exactly_one_instance_serving_its_group(
    live: dict, device_id: int, group: int
) -> None:
    dev = device(device_id, group)
    owner = owner_of(dev, live)
    serving = [name for name, groups in live.items() if serves(groups, dev)]
    if serving:
        assert owner in serving
    else:
        assert owner is None


def test_devices_are_split_about_evenly() -> None:
    live = {"a": None, "b": None, "c": None}
    shares = Counter(owner_of(device(i), live) for i in range(1, 3001))
    assert all(850 <= n <= 1150 for n in shares.values()), shares


def test_when_an_instance_goes_only_its_devices_move() -> None:
    before = {"a": None, "b": None, "c": None}
    after = {"a": None, "b": None}
    for dev in DEVICES:
        if owner_of(dev, before) != "c":
            assert owner_of(dev, after) == owner_of(dev, before)


def test_a_single_instance_without_redis_polls_every_device_of_its_groups() -> None:
    local = LocalMembership(frozenset({1, 2}))
    assert {d.poller_group for d in local.select(DEVICES)} == {1, 2}
    assert len(LocalMembership(None).select(DEVICES)) == len(DEVICES)


def test_without_a_redis_url_the_membership_is_local() -> None:
    assert isinstance(membership(None, [0]), LocalMembership)


def test_a_daemon_without_a_redis_url_never_imports_the_redis_client() -> None:
    code = (
        "import sys; import poller.daemon; from poller.cluster import membership; membership(None, None); "
        "print('redis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_key_prefix_in_librenms_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="librenms"):
        RedisMembership(aioredis.Redis(), "a", None, TTL, prefix="librenms.lock")


# ------------------------------------------------------------------------------------------ Redis


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisConnectionError, OSError):
        await client.aclose()
        if os.environ.get("CI"):
            pytest.fail("Redis at 127.0.0.1:6379 is required in CI")
        pytest.skip("Redis at 127.0.0.1:6379 not available")
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: aioredis.Redis) -> AsyncIterator[str]:
    name = f"fastpoll-test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = [key async for key in redis.scan_iter(match=f"{name}:*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make(redis: aioredis.Redis, prefix: str, clock: VirtualClock) -> Callable[..., RedisMembership]:
    def make_member(name: str, groups: frozenset[int] | None = None) -> RedisMembership:
        return RedisMembership(redis, name, groups, TTL, prefix=prefix, clock=clock)

    return make_member


async def heartbeat_round(clock: VirtualClock, *members: RedisMembership) -> None:
    for member in members:
        await member.heartbeat()
    await clock.advance(TTL / 3)


def owners(*members: RedisMembership) -> Counter[int]:
    """How many instances believe they own each device."""
    return Counter(d.device_id for m in members for d in m.select(DEVICES))


async def test_three_instances_share_the_devices_without_double_ownership(
    make: Callable[..., RedisMembership], clock: VirtualClock
) -> None:
    members = [make(name) for name in ("a", "b", "c")]
    for _ in range(3):
        await heartbeat_round(clock, *members)
    assert all(m.active for m in members)
    assert set(members[0].live) == {"a", "b", "c"}
    counts = owners(*members)
    assert set(counts) == {d.device_id for d in DEVICES}
    assert set(counts.values()) == {1}
    assert all(len(m.select(DEVICES)) > 100 for m in members)


async def test_a_joining_instance_owns_nothing_until_its_peers_have_seen_it(
    make: Callable[..., RedisMembership], clock: VirtualClock
) -> None:
    a, b, c = make("a"), make("b"), make("c")
    for _ in range(3):
        await heartbeat_round(clock, a, b)
    for _ in range(4):  # c joins; a and b go on heartbeating on their own schedule
        await c.heartbeat()
        assert max(owners(a, b, c).values()) == 1
        await a.heartbeat()
        assert max(owners(a, b, c).values()) == 1
        await b.heartbeat()
        assert max(owners(a, b, c).values()) == 1
        await clock.advance(TTL / 3)
    assert c.active
    assert len(c.select(DEVICES)) > 100
    assert len(owners(a, b, c)) == len(DEVICES)


async def test_a_dead_instances_devices_are_taken_over_within_one_interval(
    make: Callable[..., RedisMembership], clock: VirtualClock
) -> None:
    a, b, c = make("a"), make("b"), make("c")
    for _ in range(3):
        await heartbeat_round(clock, a, b, c)
    orphans = {d.device_id for d in c.select(DEVICES)}
    died_at = clock.now()  # c stops heartbeating: killed
    while len(owners(a, b)) < len(DEVICES):
        assert clock.now() - died_at <= INTERVAL, "not taken over within one interval"
        await heartbeat_round(clock, a, b)
        assert max(owners(a, b).values()) == 1
    assert orphans <= set(owners(a, b))
    assert clock.now() - died_at <= TTL * 4 / 3 + TTL / 3
    assert set(a.live) == {"a", "b"}


async def test_a_cleanly_leaving_instances_devices_move_at_the_next_heartbeat(
    make: Callable[..., RedisMembership], clock: VirtualClock
) -> None:
    a, b = make("a"), make("b")
    for _ in range(3):
        await heartbeat_round(clock, a, b)
    await b.leave()
    assert b.select(DEVICES) == []
    await a.heartbeat()
    assert len(a.select(DEVICES)) == len(DEVICES)


async def test_each_instance_serves_only_its_poller_groups(
    make: Callable[..., RedisMembership], clock: VirtualClock
) -> None:
    only_one, only_two, every = make("one", frozenset({1})), make("two", frozenset({2})), make("all")
    for _ in range(3):
        await heartbeat_round(clock, only_one, only_two, every)
    assert {d.poller_group for d in only_one.select(DEVICES)} == {1}
    assert {d.poller_group for d in only_two.select(DEVICES)} == {2}
    assert {d.poller_group for d in every.select(DEVICES)} == {0, 1, 2}
    counts = owners(only_one, only_two, every)
    assert set(counts) == {d.device_id for d in DEVICES}
    assert set(counts.values()) == {1}


async def test_only_the_first_claim_of_a_start_slot_wins(
    make: Callable[..., RedisMembership], clock: VirtualClock
) -> None:
    a, b = make("a"), make("b")
    dev = DEVICES[0]
    await clock.advance(next_start(dev.device_id, INTERVAL, clock.now()) - clock.now())
    assert await a.claim(dev, INTERVAL)
    await clock.advance(2)  # b starts late for the same instant (e.g. its view was stale)
    assert not await b.claim(dev, INTERVAL)
    assert not await a.claim(dev, INTERVAL)
    await clock.advance(INTERVAL - 2)  # the next instant
    assert await b.claim(dev, INTERVAL)
    assert (a.stats.claims_won, b.stats.claims_lost, b.stats.claims_won) == (1, 1, 1)


async def test_a_poll_that_starts_late_claims_the_slot_it_was_due_in(
    make: Callable[..., RedisMembership], clock: VirtualClock
) -> None:
    a, b = make("a"), make("b")
    dev = DEVICES[0]
    due = next_start(dev.device_id, INTERVAL, clock.now())
    await clock.advance(due - clock.now() + 0.7 * INTERVAL)  # started late: nearer the next instant
    assert await a.claim(dev, INTERVAL, due)
    assert not await b.claim(dev, INTERVAL, due)  # still one poll per slot
    await clock.advance(0.3 * INTERVAL)  # the next instant, on time
    assert await a.claim(dev, INTERVAL, due + INTERVAL)  # not taken by the late poll
    assert (a.stats.claims_won, a.stats.claims_lost) == (2, 0)


async def test_redis_gone_longer_than_the_lease_means_owning_nothing(
    make: Callable[..., RedisMembership], clock: VirtualClock
) -> None:
    a = make("a")
    for _ in range(3):
        await heartbeat_round(clock, a)
    assert a.select(DEVICES)
    a.redis = aioredis.from_url(f"redis://127.0.0.1:{free_tcp_port()}/0", socket_connect_timeout=1)
    assert not await a.heartbeat()  # a short outage: keep polling
    assert a.select(DEVICES)
    await clock.advance(TTL + 1)
    assert await a.heartbeat()  # ownership changed: to nothing
    assert a.select(DEVICES) == []
    assert not await a.claim(DEVICES[0], INTERVAL)
    assert a.stats.heartbeat_failures == 2
    await a.redis.aclose()


async def test_librenms_keys_are_left_alone(
    redis: aioredis.Redis, make: Callable[..., RedisMembership], clock: VirtualClock, prefix: str
) -> None:
    planted = {
        f"librenms.lock:poller.device.{uuid.uuid4().int % 10**9}": "node-1-uuid-thread",
        f"librenms.queue:poller:{uuid.uuid4().int % 10**9}": "queued",
    }
    for key, value in planted.items():
        await redis.set(key, value, ex=600)
    try:
        a, b = make("a"), make("b")
        for _ in range(3):
            await heartbeat_round(clock, a, b)
        for dev in DEVICES[:20]:
            await a.claim(dev, INTERVAL)
        await b.leave()
        for key, value in planted.items():
            assert await redis.get(key) == value.encode()
        ours = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        assert {k.decode().split(":")[1] for k in ours} == {"instances", "instance-groups", "lease"}
    finally:
        await redis.delete(*planted)


async def test_run_heartbeats_and_reports_ownership_changes(redis: aioredis.Redis, prefix: str) -> None:
    # Real time here (a short lease) since the loop itself is under test; waits are bounded, not measured.
    owns_all = asyncio.Event()
    a = RedisMembership(redis, "a", None, 0.3, prefix=prefix, clock=WallClock())

    def on_change() -> None:
        if len(a.select(DEVICES)) == len(DEVICES):
            owns_all.set()

    task = asyncio.create_task(a.run(on_change))
    try:
        async with asyncio.timeout(10):
            await owns_all.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert a.stats.heartbeats >= 2


def test_membership_from_settings_uses_the_instance_name(prefix: str) -> None:
    member = membership(REDIS_URL, [1], instance_name="poller-a", lease_ttl=6, prefix=prefix)
    assert isinstance(member, RedisMembership)
    assert (member.name, member.groups, member.heartbeat_every) == ("poller-a", frozenset({1}), 2)


class _TimingOut:
    """A Redis client whose every command times out (a Redis, or an event loop, too slow to answer)."""

    async def set(self, *args: object, **kwargs: object) -> bool:
        raise RedisTimeoutError("Timeout reading from socket")


def _cluster_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "poller.cluster" and r.levelno >= logging.WARNING
    ]


async def test_a_run_of_failed_claims_logs_its_first_and_then_a_count_every_half_minute(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    a = RedisMembership(
        cast(aioredis.Redis, _TimingOut()), "a", None, TTL, prefix="fastpoll-test", clock=clock
    )
    caplog.set_level(logging.WARNING, logger="poller.cluster")
    for dev in DEVICES[:5]:
        assert not await a.claim(dev, INTERVAL)
    (first,) = _cluster_warnings(caplog)
    assert f"cannot claim device {DEVICES[0].device_id}" in first and "event loop is behind" in first
    await clock.advance(CLAIM_REPORT_EVERY)
    assert not await a.claim(DEVICES[5], INTERVAL)
    assert _cluster_warnings(caplog)[1].startswith("5 more claims failed in 30 s")
    assert a.stats.claims_failed == 6


async def test_a_claim_that_succeeds_again_ends_the_run_of_failures_in_the_log(
    redis: aioredis.Redis, prefix: str, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    a = RedisMembership(cast(aioredis.Redis, _TimingOut()), "a", None, TTL, prefix=prefix, clock=clock)
    caplog.set_level(logging.WARNING, logger="poller.cluster")
    assert not await a.claim(DEVICES[0], INTERVAL)
    assert not await a.claim(DEVICES[1], INTERVAL)
    a.redis = redis
    await clock.advance(12)
    assert await a.claim(DEVICES[2], INTERVAL)
    assert await a.claim(DEVICES[3], INTERVAL)
    assert _cluster_warnings(caplog)[1:] == [
        "claims in Redis succeed again after 12 s (1 failed since the last report)"
    ]
    assert not await a.claim(DEVICES[2], INTERVAL)  # lost to itself: a lost claim is no failure
    assert len(_cluster_warnings(caplog)) == 2
