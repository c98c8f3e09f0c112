"""One shared UDP endpoint per address family, carrying every request in flight.

Replies are matched to requests by the message's demultiplexing id (request-id for v1/v2c,
msgID for v3) AND by the address the request went to: a datagram from anywhere else, or for an
id nobody is waiting for, is dropped and counted (spoofing and late replies look alike here).
Timeouts are loop timers, one per attempt, cancelled on the reply: no task per request. The socket
is read with loop.add_reader (drained until EAGAIN per wake-up) rather than an asyncio transport.
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
        if pending.timer is not None:
            pending.timer.cancel()
        if not pending.future.done():
            pending.future.set_result(data)

    def _fail_all(self, exc: Exception) -> None:
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_exception(exc)
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
        sock = self._sock
        if sock is None:
            self._forget(msg_id)
            future.set_exception(SnmpError("SNMP socket closed"))
            return future
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
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()
        self._fail_all(SnmpError("SNMP socket closed"))
