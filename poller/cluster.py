"""Scale-out: which of the devices this instance polls when several fastpoll instances share the work.

An instance serves a set of LibreNMS poller groups (``polling.poller_groups``; None = every group). Without
Redis (:class:`LocalMembership`) it polls every device of those groups. With Redis
(:class:`~poller.cluster_redis.RedisMembership`, in a module of its own so that only a cluster imports the
Redis client) the instances serving a group split its devices by rendezvous hashing over the live instances:

* every instance heartbeats into the sorted set ``<prefix>:instances`` (member = instance name, score = the
  time its entry expires, now + ``lease_ttl``) every ``lease_ttl / 3`` and reads the others from it (the
  groups each serves are in the hash ``<prefix>:instance-groups``);
* a device belongs to the live instance serving its group with the highest ``hash(instance, device_id)``, so
  when an instance joins or dies only its share moves; a dead instance's entry expires after ``lease_ttl`` and
  its devices are taken over at the survivors' next heartbeat, within 4/3 ``lease_ttl``, which the
  configuration keeps below the shortest polling interval;
* a joining instance owns nothing for ``lease_ttl / 2`` (longer than one heartbeat), so the others have given
  up its share before it starts: views of ownership do not overlap in normal operation;
* the hard guarantee against double polls is :meth:`RedisMembership.claim`: before each poll the instance sets
  ``<prefix>:lease:<device_id>:<slot>`` with NX, where ``slot`` is the index of the start instant on the
  device's phase grid (the same on every instance, see ``poller.scheduler``); only the first claimant of a
  slot polls.

If Redis cannot be reached for longer than ``lease_ttl`` the instance owns nothing (its peers, if they can
reach Redis, have taken its devices over): fastpoll prefers a gap to a device polled twice.

LibreNMS's own keys (``librenms.lock:*``, ``librenms.queue:*``) are never read or written.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from poller.model import Device
from poller.scheduler import phase_of

if TYPE_CHECKING:
    from poller.cluster_redis import RedisMembership

Groups = frozenset[int] | None  # None = every poller group


def serves(groups: Groups, device: Device) -> bool:
    """Whether an instance serving ``groups`` polls devices of ``device.poller_group`` at all."""
    return groups is None or device.poller_group in groups


def owner_of(device: Device, live: Mapping[str, Groups]) -> str | None:
    """The instance that polls ``device``: rendezvous (highest random weight) hashing among the instances
    serving its group."""
    candidates = [name for name, groups in live.items() if serves(groups, device)]
    return max(candidates, key=lambda name: (_weight(name, device.device_id), name), default=None)


def _weight(name: str, device_id: int) -> int:
    digest = hashlib.blake2b(f"{name}\0{device_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def slot_of(device_id: int, interval: float, when: float) -> int:
    """Index of the start instant of the device nearest to ``when`` on its phase grid."""
    return round((when - phase_of(device_id) * interval) / interval)


class Membership(Protocol):
    """What the daemon needs: which devices are ours, and permission for each poll."""

    def select(self, devices: Iterable[Device]) -> list[Device]: ...

    async def claim(self, device: Device, interval: float, due: float | None = None) -> bool:
        """Whether this instance may make the poll due at ``due`` (None: now) on the device's phase grid."""
        ...

    async def run(self, on_change: Callable[[], None]) -> None: ...

    async def leave(self) -> None: ...


class LocalMembership:
    """A single instance: every device of the served groups is ours, every poll allowed."""

    def __init__(self, groups: Groups) -> None:
        self.groups = groups

    def owns(self, device: Device) -> bool:
        return serves(self.groups, device)

    def select(self, devices: Iterable[Device]) -> list[Device]:
        return [d for d in devices if self.owns(d)]

    async def claim(self, device: Device, interval: float, due: float | None = None) -> bool:
        return True

    async def run(self, on_change: Callable[[], None]) -> None:
        return None

    async def leave(self) -> None:
        return None


def membership(
    redis_url: str | None,
    groups: Collection[int] | None,
    *,
    instance_name: str | None = None,
    lease_ttl: float = 10.0,
    prefix: str = "fastpoll",
) -> LocalMembership | RedisMembership:
    """The membership for the configuration: local without a Redis URL, else a Redis cluster member."""
    served: Groups = None if groups is None else frozenset(groups)
    if redis_url is None:
        return LocalMembership(served)
    from poller.cluster_redis import RedisMembership, aioredis  # only now: see cluster_redis.py

    client = aioredis.from_url(redis_url, socket_timeout=max(1.0, lease_ttl / 3), socket_connect_timeout=2.0)
    return RedisMembership(client, instance_name or socket.gethostname(), served, lease_ttl, prefix=prefix)
