"""One shared UDP endpoint per address family, carrying every request in flight.

Replies are matched to requests by the message's demultiplexing id (request-id for v1/v2c,
msgID for v3) AND by the address the request went to: a datagram from anywhere else, or for an
id nobody is waiting for, is dropped and counted (spoofing and late replies look alike here).
Timeouts: each request's expiry goes into one heap per endpoint, swept by a single loop timer set
for the earliest expiry still waiting; a reply only removes its request from the pending map (the
heap entry is skipped when its time comes). No timer, task or handle per request. The socket is
read with loop.add_reader (drained until EAGAIN per wake-up) rather than an asyncio transport.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import SnmpError, SnmpTimeout
from .pdu import peek_message_id

log = logging.getLogger(__name__)

RECV_BUFFER = 8 * 1024 * 1024
DONE = object()  # an on_reply callback's answer: the reply was taken and nothing follows it

# on_reply(reply) -> None: hand the reply to the future as it is; DONE: the future gets None;
# (message, msg_id, timeout): send that next, the same future waiting for its reply.
OnReply = Callable[[bytes], object]


@dataclass(slots=True)
class TransportStats:
    sent: int = 0
    received: int = 0
    dropped_unknown_id: int = 0
    dropped_wrong_source: int = 0
    dropped_malformed: int = 0
    send_errors: int = 0


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[bytes] | None  # None once answered, timed out or forgotten
    addr: tuple[str, int]
    msg_id: int
    on_reply: OnReply | None = None


@dataclass
class UdpEndpoint:
    """A non-blocking UDP socket read with loop.add_reader (no asyncio transport in between).

    Each wake-up drains the socket until EAGAIN, so a burst of replies costs one trip through the
    event loop, and sendto goes straight to the socket: this is the engine's per-request path.
    """

    family: int
    stats: TransportStats = field(default_factory=TransportStats)
    _pending: dict[int, _Pending] = field(default_factory=dict)
    _sock: socket.socket | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    # (expires, seq, pending) for every request sent; finished ones are skipped when met
    _expiries: list[tuple[float, int, _Pending]] = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)
    _sweep: asyncio.TimerHandle | None = None
    _sweep_at: float = float("inf")

    @classmethod
    async def open(cls, family: int, stats: TransportStats) -> UdpEndpoint:
        loop = asyncio.get_running_loop()
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
            except OSError:
                pass
            sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        endpoint = cls(family, stats, _sock=sock, _loop=loop)
        loop.add_reader(sock.fileno(), endpoint._read_ready)
        return endpoint

    def _read_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recvfrom = sock.recvfrom
        received = self.datagram_received
        while True:
            try:
                data, addr = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP port unreachable and the like, reported on a later read
                self.stats.send_errors += 1
                return  # level-triggered: the loop calls again if datagrams are waiting
            received(data, addr)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        stats = self.stats
        stats.received += 1
        msg_id = peek_message_id(data)
        if msg_id is None:
            stats.dropped_malformed += 1
            return
        pending = self._pending.get(msg_id)
        if pending is None:
            stats.dropped_unknown_id += 1
            return
        if addr[0] != pending.addr[0] or addr[1] != pending.addr[1]:
            stats.dropped_wrong_source += 1
            return
        del self._pending[msg_id]
        future = pending.future
        pending.future = None  # the heap entry no longer holds the future (nor the reply in it)
        if future is None or future.done():
            return
        if pending.on_reply is not None:
            try:
                step = pending.on_reply(data)
            except Exception as exc:
                future.set_exception(exc)
                return
            if step is DONE:
                future.set_result(None)  # type: ignore[arg-type]
                return
            if step is not None:
                message, next_id, timeout = step  # type: ignore[misc]
                self._send(future, message, pending.addr, next_id, timeout, pending.on_reply)
                return
        future.set_result(data)

    def _fail_all(self, exc: Exception) -> None:
        for pending in self._pending.values():
            future = pending.future
            pending.future = None
            if future is not None and not future.done():
                future.set_exception(exc)
        self._pending.clear()
        self._expiries.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    # -- requests
    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def send(
        self,
        data: bytes,
        addr: tuple[str, int],
        msg_id: int,
        timeout: float,
        on_reply: OnReply | None = None,
    ) -> asyncio.Future[bytes]:
        """Send one datagram; the future gets the matching reply or SnmpTimeout after `timeout` s.

        on_reply, if given, sees the reply first, in the datagram callback, and may send the next
        request itself (see OnReply): one future for a whole chain of requests."""
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._send(future, data, addr, msg_id, timeout, on_reply)
        return future

    def _send(
        self,
        future: asyncio.Future[bytes],
        data: bytes,
        addr: tuple[str, int],
        msg_id: int,
        timeout: float,
        on_reply: OnReply | None,
    ) -> None:
        loop = self._loop or asyncio.get_running_loop()
        pending = _Pending(future, addr, msg_id, on_reply)
        self._pending[msg_id] = pending  # replaces an earlier attempt
        expires = loop.time() + timeout
        heapq.heappush(self._expiries, (expires, next(self._seq), pending))
        if expires < self._sweep_at:
            self._schedule_sweep(loop, expires)
        sock = self._sock
        if sock is None:
            self._forget(msg_id)
            future.set_exception(SnmpError("SNMP socket closed"))
            return
        try:
            sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            # Send buffer full: asyncio's transport would have queued the datagram; here it is
            # treated as lost on the wire, so the attempt's timeout and the retries deal with it.
            self.stats.send_errors += 1
        except OSError as exc:
            self.stats.send_errors += 1
            self._forget(msg_id)
            future.set_exception(SnmpError(f"cannot send to {addr[0]}:{addr[1]}: {exc.strerror}"))
        else:
            self.stats.sent += 1

    def _schedule_sweep(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep = loop.call_at(when, self._expire_due)
        self._sweep_at = when

    def _expire_due(self) -> None:
        """Time out every request whose expiry has come; set the timer for the next one waiting."""
        self._sweep = None
        self._sweep_at = float("inf")
        loop = self._loop
        assert loop is not None
        expiries = self._expiries
        pending_map = self._pending
        now = loop.time() + 0.001  # asyncio runs a timer up to its clock resolution early
        while expiries:
            expires, _, pending = expiries[0]
            future = pending.future
            if expires > now and future is not None:
                self._schedule_sweep(loop, expires)
                return
            heapq.heappop(expiries)  # due, or finished (its entry is dropped on the way)
            if future is None:
                continue
            pending.future = None
            if pending_map.get(pending.msg_id) is pending:
                del pending_map[pending.msg_id]
            if not future.done():
                future.set_exception(SnmpTimeout("no response"))

    def _forget(self, msg_id: int) -> None:
        pending = self._pending.pop(msg_id, None)
        if pending is not None:
            pending.future = None

    def cancel(self, msg_id: int) -> None:
        """Stop waiting for msg_id (a caller gave up); a late reply is then dropped and counted."""
        self._forget(msg_id)

    def close(self) -> None:
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()
        self._fail_all(SnmpError("SNMP socket closed"))
