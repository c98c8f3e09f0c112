"""The asyncio SNMP client: get, walk and table walks over shared UDP endpoints.

    async with SnmpEngine(max_rate=5000) as engine:
        varbinds = await engine.get(target, ["1.3.6.1.2.1.1.3.0"])
        table = await engine.walk_table(target, ["1.3.6.1.2.1.2.2.1.8", "1.3.6.1.2.1.31.1.1.1.6"])

Per target (a `Session`, cached): the resolved address, the security model, at most
`target.max_in_flight` requests at once, and what was learnt about the agent (GETBULK broken,
max-repetitions that fit). Every operation takes an optional absolute `deadline` (loop time) for
the whole device; each attempt waits min(timeout, time left).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from asyncio_throttle import Throttler

from ..model import Target
from .ber import oid_content
from .errors import (
    SnmpConfigError,
    SnmpDecodeError,
    SnmpError,
    SnmpErrorStatus,
    SnmpProtocolError,
    SnmpTimeout,
)
from .pdu import (
    GET,
    GETBULK,
    GETNEXT,
    ColumnProgress,
    Pdu,
    RowBlock,
    Walked,
    collect_columns,
    continue_oid,
    decode_varbinds,
    encode_pdu,
    varbind_list,
    varbind_list_raw,
)
from .security import CommunitySecurity, NeedsResync, SecurityModel
from .transport import DONE, TransportStats, UdpEndpoint
from .values import Tag, Value, VarBind

TOO_BIG = 1
NO_SUCH_NAME = 2
GEN_ERR = 5
MAX_OIDS_PER_GET = 32  # split bigger GETs over several PDUs (and further on tooBig)
MAX_REPETITIONS = 50  # the most a session asks for in one GETBULK, before it learns the agent's limit
REPS_REPROBE_AFTER = 20  # walks without tooBig or silence before a learnt limit is doubled again
DNS_TTL = 300.0


@dataclass(slots=True)
class DeviceStats:
    requests: int = 0
    retries: int = 0
    timeouts: int = 0


class Slots:
    """At most `limit` requests of one device in flight; the ones that wait go first come, first
    served. Taking a free slot is a plain call, not a coroutine: it is on every request's path."""

    __slots__ = ("_waiters", "busy", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        if self.busy < self.limit and not self._waiters:
            self.busy += 1
            return True
        return False

    async def wait(self) -> None:
        """Wait for a slot that a release hands over (busy stays counted for it)."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just before the cancellation: pass it on
            else:
                self._waiters.remove(future)
            raise

    def release(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.busy -= 1


@dataclass
class Session:
    target: Target
    security: SecurityModel
    slots: Slots
    addr: tuple[str, int] | None = None
    addr_expires: float = 0.0
    prepared: bool = False
    bulk_ok: bool = True
    max_repetitions: int = MAX_REPETITIONS
    clean_walks: int = 0  # walks since max_repetitions was last lowered
    answered: bool = False  # the agent has answered at least once
    stats: DeviceStats = field(default_factory=DeviceStats)


def make_security(target: Target) -> SecurityModel:
    cred = target.credentials
    if cred.version in ("1", "2c"):
        return CommunitySecurity(cred.version, cred.community)
    if cred.version == "3":
        from .usm import UsmSecurity  # v3 only pays for its imports when used

        return UsmSecurity(cred)
    raise SnmpConfigError(f"unsupported SNMP version {cred.version!r}")


class SnmpEngine:
    def __init__(self, *, max_rate: float | None = None, rng: random.Random | None = None) -> None:
        self.stats = TransportStats()
        self._endpoints: dict[int, UdpEndpoint] = {}
        self._sessions: dict[Target, Session] = {}
        self._throttler = Throttler(rate_limit=int(max_rate), period=1.0) if max_rate else None
        self.throttle_wait_seconds = 0.0
        self._rng = rng or random.Random()
        self._next_id = self._rng.randrange(1, 1 << 30)
        self._open_lock = asyncio.Lock()
        # Called in the requesting task each time an attempt times out: the daemon's scheduler takes the
        # poll off its cap on polls in flight then (poller.scheduler.release_cap), as it waits on the network.
        self.on_timeout: Callable[[], None] | None = None

    async def __aenter__(self) -> SnmpEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for ep in self._endpoints.values():
            ep.close()
        self._endpoints.clear()

    @property
    def in_flight(self) -> int:
        return sum(ep.in_flight for ep in self._endpoints.values())

    def device_stats(self, target: Target) -> DeviceStats | None:
        session = self._sessions.get(target)
        return session.stats if session else None

    def forget(self, target: Target) -> None:
        """Drop what is cached for a target (credentials changed, device removed)."""
        self._sessions.pop(target, None)

    # ------------------------------------------------------------------ public operations

    async def get(
        self, target: Target, oids: Sequence[str], *, deadline: float | None = None
    ) -> list[VarBind]:
        """GET: one VarBind per OID, in order; absent ones carry NO_SUCH_OBJECT/NO_SUCH_INSTANCE."""
        session = self._session(target)
        out: list[VarBind] = []
        pending = list(oids)
        chunk = MAX_OIDS_PER_GET
        while pending:
            part = pending[:chunk]
            try:
                out.extend(await self._get_chunk(session, part, deadline))
            except SnmpErrorStatus as err:
                if err.status == TOO_BIG and len(part) > 1:
                    chunk = max(1, len(part) // 2)
                    continue
                raise
            del pending[: len(part)]
        return out

    async def _get_chunk(self, session: Session, oids: list[str], deadline: float | None) -> list[VarBind]:
        result: list[VarBind | None] = [None] * len(oids)
        todo = list(range(len(oids)))
        rejected = 0
        while todo:
            pdu = await self._request(session, GET, varbind_list([oids[i] for i in todo]), 0, 0, deadline)
            if pdu.error_status == NO_SUCH_NAME and 0 < pdu.error_index <= len(todo):
                # SNMPv1: one missing OID fails the whole PDU; mark it and ask again for the rest.
                missing = todo.pop(pdu.error_index - 1)
                result[missing] = VarBind(oids[missing], Tag.NO_SUCH_OBJECT, None)
                continue
            _raise_for_status(pdu)
            try:
                varbinds = decode_varbinds(pdu)
            except SnmpDecodeError as exc:
                rejected = _drop_malformed(self.stats, session, rejected, exc)
                continue
            if len(varbinds) != len(todo):
                raise SnmpProtocolError(f"agent answered {len(varbinds)} varbinds for {len(todo)} requested")
            for i, vb in zip(todo, varbinds, strict=True):
                if vb.oid != oids[i] and vb.oid != oids[i].lstrip("."):
                    # A GET is answered with the OIDs asked, in order; anything else is a broken agent or
                    # a datagram altered on the way (v1/v2c carry no integrity check): never a value.
                    raise SnmpProtocolError(f"agent answered {vb.oid} where {oids[i].lstrip('.')} was asked")
                result[i] = vb
            todo = []
        return [vb for vb in result if vb is not None]

    async def walk_table(
        self,
        target: Target,
        columns: Sequence[str],
        *,
        max_repetitions: int = 25,
        deadline: float | None = None,
    ) -> dict[str, dict[tuple[int, ...], Value]]:
        """Walk several table columns in one stream of GETBULKs: {column: {index: value}}."""
        walked = await self.walk_columns(target, columns, max_repetitions=max_repetitions, deadline=deadline)
        return walked.table()

    async def walk_columns(
        self,
        target: Target,
        columns: Sequence[str],
        *,
        max_repetitions: int = 25,
        deadline: float | None = None,
    ) -> Walked:
        """``walk_table``'s walk, its cells as taken (whole rows as RowBlocks, the rest per column):
        for a caller that makes rows of them (the ports check's ``rows_from_walks``)."""
        cols = [ColumnProgress(c.lstrip("."), oid_content(c), {}) for c in columns]
        blocks: list[RowBlock] = []
        await self._walk(self._session(target), cols, max_repetitions, deadline, blocks)
        return Walked({c.oid: c.values for c in cols}, blocks)

    async def walk(
        self,
        target: Target,
        roots: Sequence[str],
        *,
        max_repetitions: int = 25,
        deadline: float | None = None,
    ) -> list[VarBind]:
        """Every varbind under each root, root by root, in OID order (for the CLI and discovery)."""
        session = self._session(target)
        out: list[VarBind] = []
        for root in roots:
            root = root.lstrip(".")
            col = ColumnProgress(root, oid_content(root), {}, typed=True)
            await self._walk(session, [col], max_repetitions, deadline)
            for index, (tag, value) in col.values.items():  # type: ignore[misc]
                suffix = ".".join(map(str, index))
                out.append(VarBind(f"{root}.{suffix}", Tag(tag), value))
        return out

    # ------------------------------------------------------------------ the walk loop

    async def _walk(
        self,
        session: Session,
        cols: list[ColumnProgress],
        max_repetitions: int,
        deadline: float | None,
        blocks: list[RowBlock] | None = None,
    ) -> None:
        walk = _Walk(
            session,
            cols,
            deadline,
            self.stats,
            reps=max(1, min(max_repetitions, session.max_repetitions)),
            use_bulk=session.bulk_ok and session.target.credentials.version != "1",
            blocks=blocks,
        )
        # Walks go on from the reply callbacks (see _chainer), v3's too: a reply the callback does
        # not take (a report asking for a resync, an error) goes to this coroutine, which decodes
        # it again and handles it as always. A throttled engine must wait between requests: not
        # those.
        chained = self._throttler is None
        while walk.next_request():
            try:
                pdu = await self._request(
                    session, walk.tag, walk.vbl, 0, walk.max_reps, deadline, walk if chained else None
                )
            except SnmpTimeout:
                # An agent that answered before and goes silent on a GETBULK has usually dropped
                # a response too big for it (or for the path): ask for fewer rows. Time that ran
                # out teaches nothing, and the smaller size is learnt only once it is answered
                # (a device that went away altogether does not shrink its later walks).
                out_of_time = deadline is not None and asyncio.get_running_loop().time() >= deadline
                if not walk.use_bulk or not session.answered or walk.reps == 1 or out_of_time:
                    raise
                walk.reps = max(1, walk.reps // 4)
                walk.after_silence = walk.lowered = True
                continue
            if pdu is None:  # the reply callbacks took the walk to its end
                return
            walk.take(pdu)

    def _chainer(self, session: Session, walk: _Walk) -> Callable[[bytes], object]:
        """The reply callback of a walk's requests: it takes a plain answer (no error-status, a
        message the security model accepts) and sends the next request at once, from the datagram
        callback, so a walk costs no task wake-up per request. Anything else goes to the waiting
        coroutine untouched (None), which handles it as always."""
        loop = asyncio.get_running_loop()
        target = session.target
        security = session.security
        stats = session.stats

        def on_reply(data: bytes) -> object:
            now = loop.time()
            deadline = walk.deadline
            if deadline is None:
                deadline = now + target.timeout * (target.retries + 1) + 0.05
            if deadline <= now or session.addr_expires < time.monotonic():
                return None
            try:
                pdu = security.decode(data)
            except (SnmpError, NeedsResync):
                return None
            if pdu.error_status:
                return None
            session.answered = True
            walk.take(pdu)  # may raise: the walk's coroutine gets the exception
            if not walk.next_request():
                return DONE
            walk.msg_id = self._allocate_id()
            walk.message = walk.encode(walk.msg_id)
            walk.steps += 1
            walk.request_deadline = deadline
            stats.requests += 1
            return walk.message, walk.msg_id, min(target.timeout, deadline - now)

        return on_reply

    # ------------------------------------------------------------------ one request

    async def _request(
        self,
        session: Session,
        tag: int,
        varbinds: bytes,
        a: int,
        b: int,
        deadline: float | None,
        walk: _Walk | None = None,
    ) -> Pdu | None:
        """One request with its retries. With `walk`, the reply callbacks may carry the walk on
        (the request in hand is then the walk's latest, and None means the walk is done)."""
        slots = session.slots
        if not slots.take():
            await slots.wait()
        try:
            if session.addr is None or session.addr_expires < time.monotonic():
                await self._resolve(session)
            if not session.prepared:
                await session.security.prepare(self._exchanger(session), _deadline(session, deadline))
                session.prepared = True

            def build(msg_id: int) -> bytes:
                return _encode_request(session.security, tag, msg_id, varbinds, a, b)

            resyncs = 0
            rejected = 0
            while True:
                data = await self._exchange(
                    session, walk.encode if walk is not None else build, _deadline(session, deadline), walk
                )
                if data is None:
                    return None
                try:
                    reply = session.security.decode(data)
                except NeedsResync:
                    resyncs += 1
                    if resyncs > 3:  # notInTimeWindow re-syncs, bounded
                        raise SnmpProtocolError("agent keeps reporting notInTimeWindow") from None
                    await session.security.prepare(self._exchanger(session), _deadline(session, deadline))
                    continue
                except SnmpDecodeError:
                    # A datagram carrying our request-id that is not a valid answer (corrupted on the
                    # way, or not for us): dropped and counted like any malformed datagram, and the
                    # request is asked again, at most `retries` times, rather than failing the poll.
                    self.stats.dropped_malformed += 1
                    rejected += 1
                    if rejected > session.target.retries:
                        raise
                    continue
                session.answered = True
                return reply
        finally:
            slots.release()

    def _exchanger(self, session: Session):
        async def exchange(build: Callable[[int], bytes], deadline: float) -> bytes:
            return await self._exchange(session, build, deadline)

        return exchange

    async def _exchange(
        self, session: Session, build: Callable[[int], bytes], deadline: float, walk: _Walk | None = None
    ) -> bytes | None:
        """Send with retries until a reply, the retries run out, or the deadline passes.

        With `walk`, the reply callbacks may send the walk's next requests themselves (the reply
        is then the latest one's, or None when the walk is done); a timeout resends the request
        in flight, which gets its own retries and deadline."""
        target = session.target
        addr = session.addr
        assert addr is not None
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        endpoint = self._endpoints.get(family) or await self._endpoint(addr)
        msg_id = self._allocate_id()
        message = build(msg_id)
        loop = asyncio.get_running_loop()
        stats = session.stats
        on_reply = None
        if walk is not None:
            walk.msg_id, walk.message, walk.request_deadline = msg_id, message, deadline
            steps = walk.steps
            on_reply = self._chainer(session, walk)
        attempt = 0
        while attempt <= target.retries:
            if walk is not None:  # the callbacks may have moved on to a later request
                msg_id, message, deadline = walk.msg_id, walk.message, walk.request_deadline
            left = deadline - loop.time()
            if left <= 0:
                break
            if self._throttler is not None:
                t0 = loop.time()
                async with self._throttler:
                    pass
                self.throttle_wait_seconds += loop.time() - t0
            stats.requests += 1
            if attempt:
                stats.retries += 1
            try:
                return await endpoint.send(message, addr, msg_id, min(target.timeout, left), on_reply)
            except SnmpTimeout:
                if self.on_timeout is not None:
                    self.on_timeout()
                if walk is not None and walk.steps != steps:
                    steps = walk.steps  # what timed out is a later request: its first attempt
                    attempt = 1
                else:
                    attempt += 1
                continue
            except asyncio.CancelledError:
                endpoint.cancel(walk.msg_id if walk is not None else msg_id)
                raise
        stats.timeouts += 1
        raise SnmpTimeout(f"no response from {target} after {target.retries + 1} attempts")

    def _allocate_id(self) -> int:
        self._next_id = self._next_id + 1 if self._next_id < 0x7FFFFFFF else 1
        return self._next_id

    async def _endpoint(self, addr: tuple[str, int]) -> UdpEndpoint:
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        endpoint = self._endpoints.get(family)
        if endpoint is None:
            async with self._open_lock:
                endpoint = self._endpoints.get(family)
                if endpoint is None:
                    endpoint = await UdpEndpoint.open(family, self.stats)
                    self._endpoints[family] = endpoint
        return endpoint

    def _session(self, target: Target) -> Session:
        session = self._sessions.get(target)
        if session is None:
            session = Session(target, make_security(target), Slots(max(1, target.max_in_flight)))
            self._sessions[target] = session
        return session

    async def _resolve(self, session: Session) -> None:
        """Resolve the host without blocking the loop; cache the answer for DNS_TTL."""
        target = session.target
        host = target.host.strip("[]")
        try:
            ip = ipaddress.ip_address(host)
            session.addr = (str(ip), target.port)
            session.addr_expires = float("inf")
            return
        except ValueError:
            pass
        family = socket.AF_INET6 if target.transport == "udp6" else socket.AF_INET
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, target.port, family=family, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise SnmpConfigError(f"cannot resolve {host!r}: {exc.strerror}") from None
        if not infos:
            raise SnmpConfigError(f"cannot resolve {host!r}")
        sockaddr = infos[0][4]
        session.addr = (str(sockaddr[0]), int(sockaddr[1]))
        session.addr_expires = time.monotonic() + DNS_TTL


@dataclass(slots=True)
class _Walk:
    """A walk in progress: the request in hand and what the answers taught. Driven by
    SnmpEngine._walk, and by the reply callbacks (_chainer) for plain answers."""

    session: Session
    cols: list[ColumnProgress]
    deadline: float | None
    engine_stats: TransportStats
    reps: int = 1
    use_bulk: bool = True
    after_silence: bool = False  # the GETBULK in hand was shrunk because a bigger one went unanswered
    lowered: bool = False
    rejected: int = 0  # answers to the request in hand whose varbinds did not decode
    active: list[ColumnProgress] = field(default_factory=list)
    prefixes: tuple[bytes, ...] = ()  # of the active columns, for collect_columns
    vbl: bytes = b""
    # the request in flight once the callbacks took over: _exchange resends (and cancels) it
    msg_id: int = 0
    message: bytes = b""
    steps: int = 0  # requests the callbacks sent
    request_deadline: float = 0.0
    blocks: list[RowBlock] | None = None  # the fast path's whole rows (walk_columns), else into the columns

    @property
    def tag(self) -> int:
        return GETBULK if self.use_bulk else GETNEXT

    @property
    def max_reps(self) -> int:
        return self.reps if self.use_bulk else 0

    def next_request(self) -> bool:
        """Set up the next request; False once every column is done."""
        active = [c for c in self.cols if not c.done]
        if not active:
            if not self.lowered:
                _walked_without_lowering(self.session)
            return False
        if len(active) != len(self.active):
            self.prefixes = tuple(c.prefix for c in active)
        self.active = active
        self.vbl = varbind_list_raw(
            [c.next_oid if c.next_oid is not None else continue_oid(c) for c in active]
        )
        return True

    def encode(self, msg_id: int) -> bytes:
        """The request in hand as a message."""
        return _encode_request(self.session.security, self.tag, msg_id, self.vbl, 0, self.max_reps)

    def take(self, pdu: Pdu) -> None:
        """Take the answer to the request in hand; raises when the walk cannot go on."""
        session = self.session
        if self.after_silence:
            session.max_repetitions = min(session.max_repetitions, self.reps)
            session.clean_walks = 0
            self.after_silence = False
        status = pdu.error_status
        active = self.active
        if status:
            if status == TOO_BIG and self.use_bulk and self.reps > 1:
                self.reps = session.max_repetitions = max(1, self.reps // 2)
                session.clean_walks = 0
                self.lowered = True
                return
            if status == NO_SUCH_NAME and not self.use_bulk and 0 < pdu.error_index <= len(active):
                active[pdu.error_index - 1].done = True  # v1's way of saying endOfMibView
                return
            if self.use_bulk and status in (GEN_ERR, TOO_BIG):
                session.bulk_ok = self.use_bulk = False  # agent mishandles GETBULK: GETNEXT from now on
                return
            _raise_for_status(pdu)
        try:
            consumed = collect_columns(pdu, active, self.prefixes, self.blocks)
        except SnmpDecodeError as exc:  # the columns are as they were: ask the same again
            self.rejected = _drop_malformed(self.engine_stats, session, self.rejected, exc)
            return
        self.rejected = 0
        if consumed == 0:
            for c in active:  # an empty answer ends the walk rather than asking forever
                c.done = True
        elif self.use_bulk and consumed < self.reps * len(active) and not any(c.done for c in active):
            self.reps = max(1, consumed // len(active))  # the agent truncated: ask for what it gives


def _encode_request(security: SecurityModel, tag: int, msg_id: int, varbinds: bytes, a: int, b: int) -> bytes:
    if type(security) is CommunitySecurity:
        return security.encode_request(tag, msg_id, varbinds, a, b)  # one join, not a copy per layer
    return security.encode(encode_pdu(tag, msg_id, varbinds, a, b), msg_id)


def _drop_malformed(stats: TransportStats, session: Session, rejected: int, exc: SnmpDecodeError) -> int:
    """A reply with our request-id whose varbinds do not decode (corrupted on the way: v1/v2c
    carry no integrity check): dropped and counted like any malformed datagram, and asked
    again, at most `retries` times; then the decode error stands (an agent that always
    answers so is broken). Returns the count of such replies to the request so far."""
    stats.dropped_malformed += 1
    if rejected >= session.target.retries:
        raise exc
    return rejected + 1


def _walked_without_lowering(session: Session) -> None:
    """A learnt max-repetitions is probed upwards again now and then: silence that taught it may
    have been passing loss, and an agent that really drops big answers teaches it again at the cost
    of one timeout every REPS_REPROBE_AFTER walks."""
    if session.max_repetitions >= MAX_REPETITIONS:
        return
    session.clean_walks += 1
    if session.clean_walks >= REPS_REPROBE_AFTER:
        session.max_repetitions = min(MAX_REPETITIONS, session.max_repetitions * 2)
        session.clean_walks = 0


def _deadline(session: Session, deadline: float | None) -> float:
    if deadline is not None:
        return deadline
    t = session.target
    return asyncio.get_running_loop().time() + t.timeout * (t.retries + 1) + 0.05


def _raise_for_status(pdu: Pdu) -> None:
    if pdu.error_status:
        raise SnmpErrorStatus(pdu.error_status, pdu.error_index)


__all__ = ["SnmpEngine"]
