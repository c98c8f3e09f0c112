"""RedisMembership: one fastpoll instance of a cluster coordinated through Redis (see ``poller.cluster``).

A module of its own so that a daemon without ``cluster.redis_url`` never imports the Redis client (~7 MB of
RSS): ``poller.cluster.membership`` imports it only for a Redis URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from poller.cluster import Groups, owner_of, serves, slot_of
from poller.model import Device
from poller.scheduler import Clock, WallClock

log = logging.getLogger("poller.cluster")  # the name its messages always had
CLAIM_REPORT_EVERY = 30.0  # seconds between counts of failed claims while they go on


@dataclass
class ClusterStats:
    heartbeats: int = 0
    heartbeat_failures: int = 0
    claims_won: int = 0
    claims_lost: int = 0  # another instance had the slot already
    claims_failed: int = 0  # Redis unreachable: poll not started


class RedisMembership:
    """One instance of a fastpoll cluster coordinated through Redis (see ``poller.cluster``)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        name: str,
        groups: Groups,
        lease_ttl: float,
        *,
        prefix: str = "fastpoll",
        clock: Clock | None = None,
    ) -> None:
        if prefix.lower().startswith("librenms"):
            raise ValueError("the key prefix must not start with 'librenms' (LibreNMS's own keys)")
        self.redis = redis
        self.name = name
        self.groups = groups
        self.lease_ttl = lease_ttl
        self.heartbeat_every = lease_ttl / 3
        self.clock: Clock = clock or WallClock()
        self.stats = ClusterStats()
        self._instances_key = f"{prefix}:instances"
        self._groups_key = f"{prefix}:instance-groups"
        self._lease_prefix = f"{prefix}:lease:"
        self._live: dict[str, Groups] = {}
        self._last_ok: float | None = None
        self._active_from: float | None = None
        self._active = False
        self._failing_since: float | None = None  # the first of the claims failing now (see _claim_failed)
        self._reported_at = 0.0
        self._failed_unreported = 0

    # ------------------------------------------------------------------ ownership (pure, on the last view)

    @property
    def live(self) -> Mapping[str, Groups]:
        """The live instances (name -> groups served) as of the last heartbeat."""
        return dict(self._live)

    @property
    def active(self) -> bool:
        """Past the join delay and in touch with Redis: owns its share."""
        return self._active

    def owns(self, device: Device) -> bool:
        return self._active and serves(self.groups, device) and owner_of(device, self._live) == self.name

    def select(self, devices: Iterable[Device]) -> list[Device]:
        return [d for d in devices if self.owns(d)]

    # ------------------------------------------------------------------ Redis

    async def heartbeat(self) -> bool:
        """Renew this instance's entry and re-read the live set; True if ownership may have changed."""
        now = self.clock.now()
        groups = None if self.groups is None else sorted(self.groups)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(self._instances_key, {self.name: now + self.lease_ttl})
                pipe.hset(self._groups_key, self.name, json.dumps(groups))
                pipe.zremrangebyscore(self._instances_key, "-inf", now)
                pipe.zrange(self._instances_key, 0, -1)
                pipe.hgetall(self._groups_key)
                *_, names, all_groups = await pipe.execute()
        except (RedisError, OSError) as exc:
            return self._heartbeat_failed(now, exc)
        self.stats.heartbeats += 1
        if self._last_ok is not None and now - self._last_ok > self.lease_ttl:
            log.warning("back in touch with Redis after %.1f s; rejoining the cluster", now - self._last_ok)
            self._active_from = None
        self._last_ok = now
        if self._active_from is None:
            self._active_from = now + self.lease_ttl / 2
        live = {_text(n): _groups(all_groups.get(n, b"null")) for n in names}
        stale = set(all_groups) - set(names)
        if stale:  # entries of expired instances: tidy, not needed for correctness
            try:
                await self.redis.hdel(self._groups_key, *stale)
            except (RedisError, OSError):
                pass
        active = now >= self._active_from
        changed = live != self._live or active != self._active
        self._live, self._active = live, active
        return changed

    def _heartbeat_failed(self, now: float, exc: Exception) -> bool:
        self.stats.heartbeat_failures += 1
        log.warning("Redis heartbeat failed: %s", exc.__class__.__name__)
        if self._active and (self._last_ok is None or now - self._last_ok > self.lease_ttl):
            log.error(
                "no Redis for more than %.0f s: giving up this instance's devices to its peers",
                self.lease_ttl,
            )
            self._live, self._active = {}, False
            return True
        return False

    async def claim(self, device: Device, interval: float, due: float | None = None) -> bool:
        """Whether this instance may poll ``device`` now: the first claimant of a start slot gets it.

        ``due``: the instant the poll was due at (poller.scheduler.DUE), else now. A poll that starts more
        than half an interval late (a loop behind, a wait for max_polls_in_flight) would otherwise claim the
        next slot, and the device's next poll, on time, would find it taken by this instance and be skipped.
        """
        slot = slot_of(device.device_id, interval, self.clock.now() if due is None else due)
        key = f"{self._lease_prefix}{device.device_id}:{slot}"
        try:
            won = await self.redis.set(key, self.name, nx=True, px=max(1000, int(interval * 2000)))
        except (RedisError, OSError) as exc:
            self.stats.claims_failed += 1
            self._claim_failed(device, exc)
            return False
        if self._failing_since is not None:
            self._claims_back()
        if won:
            self.stats.claims_won += 1
            return True
        self.stats.claims_lost += 1
        return False

    def _claim_failed(self, device: Device, exc: Exception) -> None:
        """Log the first failed claim of a run of them, then a count every CLAIM_REPORT_EVERY s: at 10,000
        devices a minute, a line per failed claim would be 167 a second."""
        now = self.clock.now()
        cause = type(exc).__name__
        if isinstance(exc, (RedisTimeoutError, TimeoutError)):  # Redis answered late, or was read late
            cause += ": no answer within the client's timeout; Redis is slow or this event loop is behind"
        if self._failing_since is None:
            self._failing_since = self._reported_at = now
            self._failed_unreported = 0
            log.warning(
                "cannot claim device %s in Redis (%s); poll skipped, as are the polls of claims that fail "
                "until one succeeds (counted here every %.0f s)",
                device.device_id, cause, CLAIM_REPORT_EVERY,
            )  # fmt: skip
            return
        self._failed_unreported += 1
        if now - self._reported_at >= CLAIM_REPORT_EVERY:
            log.warning(
                "%d more claims failed in %.0f s (the last: %s); their polls were skipped",
                self._failed_unreported, now - self._reported_at, cause,
            )  # fmt: skip
            self._reported_at, self._failed_unreported = now, 0

    def _claims_back(self) -> None:
        assert self._failing_since is not None
        log.warning(
            "claims in Redis succeed again after %.0f s (%d failed since the last report)",
            self.clock.now() - self._failing_since, self._failed_unreported,
        )  # fmt: skip
        self._failing_since = None

    async def leave(self) -> None:
        """Leave at once (clean shutdown): peers take this instance's devices at their next heartbeat."""
        self._live, self._active = {}, False
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(self._instances_key, self.name)
                pipe.hdel(self._groups_key, self.name)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not leave the cluster cleanly (%s); peers wait for the lease to expire", exc)

    async def run(self, on_change: Callable[[], None]) -> None:
        """Heartbeat every ``lease_ttl / 3`` until cancelled; ``on_change()`` when ownership may differ."""
        while True:
            if await self.heartbeat():
                on_change()
            await self.clock.sleep_until(self.clock.now() + self.heartbeat_every)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _groups(raw: bytes | str) -> Groups:
    parsed = json.loads(raw)
    return None if parsed is None else frozenset(int(g) for g in parsed)
