"""A user-space UDP fault injector: the kernel here has no netem, so faults live in a proxy.

    async with UdpFaultProxy([("127.0.0.1", agent_port)], Faults(loss=0.3), seed=7) as proxy:
        host, port = proxy.address(0)      # poll this address instead of the agent's
        proxy.set_faults(Faults(blackhole=True))

Each route listens on its own loopback address (an ephemeral port, or a given one) and forwards to one
agent; replies come back from the listening address, so the client sees "the agent" there. Per datagram
and direction (`Faults.direction`): seeded random loss, a fixed delay plus uniform jitter (datagrams then
overtake each other), duplication, corruption (bytes flipped, optionally only within the first
`corrupt_span` bytes, the envelope SNMP can notice), a black hole, or one for datagrams above a size
(a path-MTU black hole: big answers vanish, small ones pass). What happens to a datagram is
decided by the pure `plan_datagram` (tested without sockets); the proxy only carries it out.

Bounded: the proxy closes itself after `lifetime` seconds, holds at most `max_delayed` datagrams in
flight (more are dropped and counted as overflow) and `max_clients` client sockets per route.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["both", "request", "reply"]
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Faults:
    loss: float = 0.0  # probability a datagram is dropped
    delay: float = 0.0  # seconds added to every datagram
    jitter: float = 0.0  # plus uniform [0, jitter) seconds
    duplicate: float = 0.0  # probability a datagram is sent twice (the copy gets its own delay)
    corrupt: float = 0.0  # probability a datagram has `corrupt_bytes` bytes flipped
    corrupt_bytes: int = 1
    corrupt_span: int | None = None  # flip only within the first N bytes (None: anywhere)
    blackhole: bool = False  # drop everything
    max_size: int | None = None  # drop datagrams longer than this (a path-MTU black hole)
    direction: Direction = "both"  # which way these faults apply: to the agent, to the client, or both

    def applies(self, to_agent: bool) -> bool:
        return self.direction == "both" or (self.direction == "request") == to_agent


CLEAN = Faults()


def corrupt(data: bytes, rng: random.Random, count: int = 1, span: int | None = None) -> bytes:
    """`data` with `count` bytes (within the first `span`) XORed with a random non-zero mask."""
    if not data:
        return data
    out = bytearray(data)
    limit = len(out) if span is None else max(1, min(span, len(out)))
    for _ in range(count):
        out[rng.randrange(limit)] ^= rng.randrange(1, 256)
    return bytes(out)


def plan_datagram(
    data: bytes, faults: Faults, rng: random.Random, *, to_agent: bool
) -> list[tuple[float, bytes]]:
    """What to send for one datagram: (delay in seconds, payload) per copy; empty when it is lost."""
    if not faults.applies(to_agent):
        return [(0.0, data)]
    if faults.blackhole or (faults.max_size is not None and len(data) > faults.max_size):
        return []
    if faults.loss and rng.random() < faults.loss:
        return []
    copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
    out = []
    for _ in range(copies):
        payload = data
        if faults.corrupt and rng.random() < faults.corrupt:
            payload = corrupt(data, rng, faults.corrupt_bytes, faults.corrupt_span)
        delay = faults.delay + (rng.uniform(0.0, faults.jitter) if faults.jitter else 0.0)
        out.append((delay, payload))
    return out


@dataclass(slots=True)
class ProxyStats:
    requests: int = 0  # datagrams received from clients
    replies: int = 0  # datagrams received from agents
    forwarded: int = 0  # datagrams sent on (copies included)
    dropped: int = 0  # lost or black-holed
    duplicated: int = 0
    corrupted: int = 0
    delayed: int = 0
    overflow: int = 0  # dropped because max_delayed datagrams were already waiting
    send_errors: int = 0


@dataclass
class _Route:
    listen: socket.socket
    upstream: Address
    faults: Faults
    clients: dict[Address, socket.socket] = field(default_factory=dict)


class UdpFaultProxy:
    """Forwards datagrams to agents through `Faults`; see the module docstring."""

    def __init__(
        self,
        upstreams: Sequence[Address],
        faults: Faults = CLEAN,
        *,
        listen: Sequence[Address] | None = None,
        seed: int = 0,
        lifetime: float = 120.0,
        max_delayed: int = 10_000,
        max_clients: int = 16,
    ) -> None:
        if listen is not None and len(listen) != len(upstreams):
            raise ValueError("one listening address per upstream")
        self._wanted = list(listen or [("127.0.0.1", 0)] * len(upstreams))
        self._upstreams = list(upstreams)
        self._initial = faults
        self.rng = random.Random(seed)
        self.lifetime = lifetime
        self.max_delayed = max_delayed
        self.max_clients = max_clients
        self.stats = ProxyStats()
        self.closed = asyncio.Event()
        self._routes: list[_Route] = []
        self._waiting = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._timers: set[asyncio.TimerHandle] = set()

    async def start(self) -> UdpFaultProxy:
        self._loop = asyncio.get_running_loop()
        try:
            for addr, upstream in zip(self._wanted, self._upstreams, strict=True):
                sock = _udp_socket(addr)
                route = _Route(sock, upstream, self._initial)
                self._routes.append(route)
                self._loop.add_reader(sock.fileno(), self._from_client, route)
        except BaseException:
            self.close()
            raise
        self._expiry = self._loop.call_later(self.lifetime, self.close)
        return self

    async def __aenter__(self) -> UdpFaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def address(self, route: int = 0) -> Address:
        host, port = self._routes[route].listen.getsockname()[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address(0)[1]

    def set_faults(self, faults: Faults, routes: Sequence[int] | None = None) -> None:
        """Apply `faults` from now on to these routes (all when None); delayed datagrams keep theirs."""
        for i in range(len(self._routes)) if routes is None else routes:
            self._routes[i].faults = faults

    def faults(self, route: int = 0) -> Faults:
        return self._routes[route].faults

    def close(self) -> None:
        loop = self._loop
        for timer in (self._expiry, *self._timers):
            if timer is not None:
                timer.cancel()
        self._timers.clear()
        self._waiting = 0
        for route in self._routes:
            for sock in (route.listen, *route.clients.values()):
                if loop is not None and not loop.is_closed() and sock.fileno() >= 0:
                    loop.remove_reader(sock.fileno())
                sock.close()
            route.clients.clear()
        self._routes.clear()
        self.closed.set()

    # ------------------------------------------------------------------ datagrams

    def _from_client(self, route: _Route) -> None:
        while True:
            try:
                data, addr = route.listen.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.stats.requests += 1
            client = (str(addr[0]), int(addr[1]))
            sock = route.clients.get(client)
            if sock is None:
                if len(route.clients) >= self.max_clients:
                    self.stats.dropped += 1
                    continue
                sock = _udp_socket(("127.0.0.1", 0))
                route.clients[client] = sock
                assert self._loop is not None
                self._loop.add_reader(sock.fileno(), self._from_agent, route, client, sock)
            self._carry(data, route.faults, sock, route.upstream, to_agent=True)

    def _from_agent(self, route: _Route, client: Address, sock: socket.socket) -> None:
        while True:
            try:
                data, _ = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP unreachable from a vanished agent, reported on a read
                return
            self.stats.replies += 1
            self._carry(data, route.faults, route.listen, client, to_agent=False)

    def _carry(
        self, data: bytes, faults: Faults, sock: socket.socket, dest: Address, *, to_agent: bool
    ) -> None:
        copies = plan_datagram(data, faults, self.rng, to_agent=to_agent)
        stats = self.stats
        if not copies:
            stats.dropped += 1
            return
        if len(copies) > 1:
            stats.duplicated += 1
        for delay, payload in copies:
            if payload is not data:
                stats.corrupted += 1
            if delay <= 0:
                self._send(sock, payload, dest)
            elif self._waiting >= self.max_delayed:
                stats.overflow += 1
            else:
                stats.delayed += 1
                self._waiting += 1
                assert self._loop is not None
                holder: list[asyncio.TimerHandle] = []
                timer = self._loop.call_later(delay, self._send_later, sock, payload, dest, holder)
                holder.append(timer)
                self._timers.add(timer)

    def _send_later(self, sock: socket.socket, payload: bytes, dest: Address, holder: list) -> None:
        self._waiting -= 1
        self._timers.discard(holder[0])
        self._send(sock, payload, dest)

    def _send(self, sock: socket.socket, payload: bytes, dest: Address) -> None:
        if sock.fileno() < 0:
            return
        try:
            sock.sendto(payload, dest)
            self.stats.forwarded += 1
        except OSError:
            self.stats.send_errors += 1


def _udp_socket(addr: Address) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind(addr)
    except BaseException:
        sock.close()
        raise
    return sock


__all__ = ["CLEAN", "Faults", "ProxyStats", "UdpFaultProxy", "corrupt", "plan_datagram"]
