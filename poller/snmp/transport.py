"""One shared UDP endpoint per address family, carrying every request in flight.

Replies are matched to requests by the message's demultiplexing id (request-id for v1/v2c,
msgID for v3) AND by the address the request went to: a datagram from anywhere else, or for an
id nobody is waiting for, is dropped and counted (spoofing and late replies look alike here).
Timeouts are loop timers, one per attempt, cancelled on the reply: no task per request.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field

from .errors import SnmpError, SnmpTimeout
from .pdu import peek_message_id

log = logging.getLogger(__name__)

RECV_BUFFER = 8 * 1024 * 1024


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
    future: asyncio.Future[bytes]
    addr: tuple[str, int]
    timer: asyncio.TimerHandle | None = None


@dataclass
class UdpEndpoint(asyncio.DatagramProtocol):
    family: int
    stats: TransportStats = field(default_factory=TransportStats)
    _pending: dict[int, _Pending] = field(default_factory=dict)
    _transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, family: int, stats: TransportStats) -> UdpEndpoint:
        loop = asyncio.get_running_loop()
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        except OSError:
            pass
        sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
        sock.setblocking(False)
        endpoint = cls(family, stats)
        await loop.create_datagram_endpoint(lambda: endpoint, sock=sock)
        return endpoint

    # -- asyncio.DatagramProtocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

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
        if pending.timer is not None:
            pending.timer.cancel()
        if not pending.future.done():
            pending.future.set_result(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.
        self.stats.send_errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(SnmpError("SNMP socket closed"))
        self._pending.clear()

    # -- requests
    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def send(self, data: bytes, addr: tuple[str, int], msg_id: int, timeout: float) -> asyncio.Future[bytes]:
        """Send one datagram; the future gets the matching reply or SnmpTimeout after `timeout` s."""
        loop = asyncio.get_running_loop()
        old = self._pending.pop(msg_id, None)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        future: asyncio.Future[bytes] = loop.create_future()
        pending = _Pending(future, addr)
        pending.timer = loop.call_later(timeout, self._expire, msg_id, future)
        self._pending[msg_id] = pending
        assert self._transport is not None
        try:
            self._transport.sendto(data, addr)
        except OSError as exc:
            self.stats.send_errors += 1
            self._forget(msg_id)
            future.set_exception(SnmpError(f"cannot send to {addr[0]}:{addr[1]}: {exc.strerror}"))
        else:
            self.stats.sent += 1
        return future

    def _expire(self, msg_id: int, future: asyncio.Future[bytes]) -> None:
        pending = self._pending.get(msg_id)
        if pending is not None and pending.future is future:
            del self._pending[msg_id]
        if not future.done():
            future.set_exception(SnmpTimeout("no response"))

    def _forget(self, msg_id: int) -> None:
        pending = self._pending.pop(msg_id, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()

    def cancel(self, msg_id: int) -> None:
        """Stop waiting for msg_id (a caller gave up); a late reply is then dropped and counted."""
        self._forget(msg_id)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
