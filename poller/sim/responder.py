"""A lean asyncio SNMP agent (v1/v2c) for the demo, the benchmarks and the engine's tests.

snmpsim serves about 7 device-polls/s per core (../shared/perf/SNMP-ENGINE-FACTS.md): fine for
variety, useless for throughput. This agent answers from a sorted OID table per dataset in which
every OID TLV, and every static varbind, is encoded once at load; answering is a dict lookup (or
a bisect), list slicing and one ``b"".join``. Values that move (sysUpTime, counters, snmpsim
``numeric`` lines) are computed at request time from the seconds since the agent's epoch.

Semantics follow RFC 3416: GET answers noSuchObject/noSuchInstance for absent OIDs (v2c) or
noSuchName (v1); GETNEXT/GETBULK answer endOfMibView past the end; GETBULK is capped at
``max_varbinds`` (snmpd's maxGetbulkResponses, default 64: whole rows, like snmpd) and at the
message size; a GET/GETNEXT whose answer does not fit gets tooBig. SNMPv1 never sees a Counter64
(RFC 2576 section 4.2.2: GETNEXT skips it, GET gets noSuchName). A wrong community gets no answer.

Devices are told apart by address (each one its own 127.x.y.z; 127.0.0.0/8 is loopback on
Linux: one socket per address) and/or by community. Faults per device: never answer, answer
late, answer garbage, or go silent for a window every cycle (and come back rebooted).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import resource
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..snmp.ber import decode_oid_content, encode_integer, encode_value, oid_content_from_tuple, tlv
from ..snmp.errors import SnmpDecodeError
from ..snmp.pdu import GET, GETBULK, GETNEXT, SET, iter_varbinds, parse_community_message
from ..snmp.values import Tag, Value
from .snmprec import NumericSpec, read_snmprec

RESPONSE = 0xA2
TOO_BIG = 1
NO_SUCH_NAME = 2
NOT_WRITABLE = 17
MAX_UDP_PAYLOAD = 65507
ENVELOPE_BOUND = 40  # message + PDU headers around the varbind list, community excluded
DRAIN_BATCH = 64  # datagrams read per readiness callback (fairness between sockets)
SOCKET_BUFFER = 4 * 1024 * 1024

Oid = tuple[int, ...]


# ---------------------------------------------------------------------------------------- values


class DeviceState:
    """What a device's moving values are computed from (per device, shared cells read it)."""

    __slots__ = ("fault", "in0", "in_rate", "out0", "out_rate", "uptime0")

    def __init__(
        self,
        uptime0: int = 0,
        in0: Sequence[int] = (),
        in_rate: Sequence[float] = (),
        out0: Sequence[int] = (),
        out_rate: Sequence[float] = (),
        fault: Fault | None = None,
    ) -> None:
        self.uptime0 = uptime0
        self.in0 = in0
        self.in_rate = in_rate
        self.out0 = out0
        self.out_rate = out_rate
        self.fault = fault

    def seconds_since_boot(self, t: float) -> float:
        fault = self.fault
        if fault is not None and fault.kind == "flap":
            return fault.seconds_since_boot(t)
        return t


class Cell(Protocol):
    """A value computed at request time. Cells are shared between devices; `state` is per device."""

    tag: int

    def value_at(self, state: DeviceState, t: float) -> int: ...


class Uptime:
    """sysUpTime: the device's initial ticks plus hundredths of a second since (re)boot."""

    __slots__ = ("tag",)

    def __init__(self) -> None:
        self.tag = Tag.TIMETICKS

    def value_at(self, state: DeviceState, t: float) -> int:
        since = state.seconds_since_boot(t)
        base = state.uptime0 if since == t else 0  # a reboot starts from zero
        return (base + int(since * 100)) & 0xFFFFFFFF


class EngineTime:
    """snmpEngineTime: seconds since (re)boot, INTEGER."""

    __slots__ = ("tag",)

    def __init__(self) -> None:
        self.tag = Tag.INTEGER

    def value_at(self, state: DeviceState, t: float) -> int:
        since = state.seconds_since_boot(t)
        base = state.uptime0 // 100 if since == t else 0
        return (base + int(since)) & 0x7FFFFFFF


class PortCounter:
    """An interface counter: (initial + rate * t) * factor of the port's in or out direction.

    Counter64 wraps at 2^64, Counter32 at 2^32 (a true 32-bit counter, unlike snmpsim's
    ``numeric`` which wraps modulo 0xFFFFFFFF). One cell per (port slot, direction, factor, bits)
    is shared by every device; the rates live in DeviceState.
    """

    __slots__ = ("factor", "inbound", "mask", "slot", "tag")

    def __init__(self, slot: int, inbound: bool, factor: float, bits: Literal[32, 64]) -> None:
        self.slot = slot
        self.inbound = inbound
        self.factor = factor
        self.mask = (1 << bits) - 1
        self.tag = Tag.COUNTER64 if bits == 64 else Tag.COUNTER32

    def value_at(self, state: DeviceState, t: float) -> int:
        if self.inbound:
            v = state.in0[self.slot] + state.in_rate[self.slot] * t
        else:
            v = state.out0[self.slot] + state.out_rate[self.slot] * t
        return int(v * self.factor) & self.mask


class NumericCell:
    """An snmpsim ``numeric`` variation line (see NumericSpec)."""

    __slots__ = ("spec", "tag")

    def __init__(self, tag: int, spec: NumericSpec) -> None:
        self.tag = tag
        self.spec = spec

    def value_at(self, state: DeviceState, t: float) -> int:
        return self.spec.value_at(t)


class RecordedUptime:
    """A recording's sysUpTime.0, advancing from the recorded value (snmpsim keeps it still)."""

    __slots__ = ("initial", "tag")

    def __init__(self, initial: int) -> None:
        self.initial = initial
        self.tag = Tag.TIMETICKS

    def value_at(self, state: DeviceState, t: float) -> int:
        return (self.initial + int(t * 100)) & 0xFFFFFFFF


def encode_cell(cell: Cell, state: DeviceState, t: float) -> bytes:
    return _encode_number(cell.tag, cell.value_at(state, t))


def _encode_number(tag: int, v: int) -> bytes:
    if tag == Tag.INTEGER:
        return encode_integer(v)
    return tlv(tag, v.to_bytes(v.bit_length() // 8 + 1, "big"))


def cell_varbind(layout: Layout, i: int, cell: Cell, state: DeviceState, t: float) -> bytes:
    """The varbind of ``cell`` at ``t`` at the layout's position ``i``: ``tlv(0x30, oid_tlv +
    encode_cell(...))``. An unsigned value is its position's header for that many octets (Layout.heads)
    and the octets: the walk's hot path (~60 varbinds per GETBULK, most of them counters)."""
    v = cell.value_at(state, t)
    tag = cell.tag
    if tag != Tag.INTEGER:
        entry = layout.heads[i]
        if entry is None or entry[0] != tag:
            entry = layout.cell_heads(i, tag)
        heads = entry[1]
        n = v.bit_length() // 8 + 1  # a leading 00 when the high bit is set
        if n < len(heads):
            return heads[n] + v.to_bytes(n, "big")
    return tlv(0x30, layout.oid_tlvs[i] + _encode_number(tag, v))


# ---------------------------------------------------------------------------------------- faults


FaultKind = Literal["timeout", "slow", "garbage", "flap"]
GARBAGE = b"\x30\x82\xff\xff\x02\x01"  # a SEQUENCE header promising 65535 octets, then nothing


@dataclass(frozen=True, slots=True)
class Fault:
    """How a device misbehaves.

    timeout: never answers. slow: answers after `delay` s. garbage: answers a malformed datagram.
    flap: silent for `down` s at the start of every `period` s cycle (offset by `phase`), then
    answers again with sysUpTime restarted (it "rebooted").
    """

    kind: FaultKind
    delay: float = 0.0
    period: float = 300.0
    down: float = 60.0
    phase: float = 0.0

    def silent_at(self, t: float) -> bool:
        if self.kind == "timeout":
            return True
        if self.kind == "flap":
            return (t - self.phase) % self.period < self.down
        return False

    def seconds_since_boot(self, t: float) -> float:
        """For flap: seconds since the end of the last down window (t itself before the first)."""
        if t < self.phase + self.down:
            return t
        return (t - self.phase) % self.period - self.down if not self.silent_at(t) else 0.0


# ---------------------------------------------------------------------------------------- tables

Row = tuple[Oid, int, "Value | Cell"]


class Layout:
    """The OID side of a table: sorted OIDs, their encodings and positions. Shared by devices
    whose OID sets are equal (every generated access switch with the same ifIndex list)."""

    __slots__ = ("contents", "heads", "oid_tlvs", "oids", "position")

    def __init__(self, oids: list[Oid]) -> None:
        self.oids = oids
        self.contents = [oid_content_from_tuple(o) for o in oids]
        self.oid_tlvs = [tlv(Tag.OID, c) for c in self.contents]
        self.position = {c: i for i, c in enumerate(self.contents)}
        # by position: (tag, the octets before an unsigned value of n octets by n), made on first use
        self.heads: list[tuple[int, tuple[bytes, ...]] | None] = [None] * len(oids)

    def cell_heads(self, i: int, tag: int) -> tuple[int, tuple[bytes, ...]]:
        """``heads[i]`` for a value of type ``tag``: SEQUENCE header, OID, the value's tag and length (short
        form only: a shorter tuple when a longer value would not fit one octet of length)."""
        oid_tlv = self.oid_tlvs[i]
        heads = tuple(
            bytes((0x30, len(oid_tlv) + 2 + n)) + oid_tlv + bytes((tag, n))
            for n in range(10)  # an unsigned 64-bit value takes at most 9 octets
            if len(oid_tlv) + 2 + n < 0x80
        )
        entry = self.heads[i] = (tag, heads)
        return entry

    def next_position(self, buf: bytes, start: int, stop: int) -> int:
        """Position of the first OID after the one at buf[start:stop] (len(oids) past the end)."""
        i = self.position.get(buf[start:stop])
        if i is not None:
            return i + 1
        return bisect.bisect_right(self.oids, decode_oid_content(buf, start, stop))

    def exact_position(self, buf: bytes, start: int, stop: int) -> int | None:
        return self.position.get(buf[start:stop])

    def object_exists(self, buf: bytes, start: int, stop: int) -> bool:
        """Whether the OID's parent is a known object (noSuchInstance) or not (noSuchObject)."""
        oid = decode_oid_content(buf, start, stop)
        parent = oid[:-1]
        i = bisect.bisect_right(self.oids, parent)
        if i >= len(self.oids):
            return False
        after = self.oids[i]
        return len(after) > len(parent) and after[: len(parent)] == parent


class MibTable:
    """One dataset: a layout plus, per position, a pre-encoded varbind TLV or a Cell."""

    __slots__ = ("_counter64", "items", "layout", "state")

    def __init__(self, layout: Layout, items: list[bytes | Cell], state: DeviceState | None = None) -> None:
        self.layout = layout
        self.items = items
        self.state = state or DeviceState()
        self._counter64: frozenset[int] | None = None

    @property
    def counter64(self) -> frozenset[int]:
        """Positions of Counter64 values (hidden from SNMPv1); computed on first v1 request."""
        if self._counter64 is None:
            layout, items = self.layout, self.items
            self._counter64 = frozenset(
                i for i, it in enumerate(items) if _item_tag(layout, i, it) == Tag.COUNTER64
            )
        return self._counter64

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Row],
        state: DeviceState | None = None,
        *,
        layouts: dict | None = None,
        interned: dict | None = None,
    ) -> MibTable:
        """Build from (oid, tag, value-or-cell) rows in any order; a duplicate OID is an error.

        `layouts` and `interned` let many devices share their OID layout (and the sort order of
        their rows) and equal value/varbind encodings: building a generated device's table is
        then mostly dict lookups.
        """
        key = tuple(r[0] for r in rows)
        cached = layouts.get(key) if layouts is not None else None
        if cached is None:
            order = sorted(range(len(rows)), key=lambda k: rows[k][0])
            oids = [rows[k][0] for k in order]
            for a, b in itertools.pairwise(oids):
                if a == b:
                    raise ValueError(f"duplicate OID {'.'.join(map(str, a))}")
            cached = (Layout(oids), order)
            if layouts is not None:
                layouts[key] = cached
        layout, order = cached
        cache = interned.setdefault(id(layout), {}) if interned is not None else {}
        oid_tlvs = layout.oid_tlvs
        items: list[bytes | Cell] = []
        append = items.append
        for i, k in enumerate(order):
            _, tag, value = rows[k]
            if isinstance(value, (bytes, str, int)) or value is None:
                vkey = (i, tag, value)  # the same value at the same place: one shared varbind
                vb = cache.get(vkey)
                if vb is None:
                    vb = cache[vkey] = tlv(0x30, oid_tlvs[i] + _encode_static(tag, value))
                append(vb)
            else:
                append(value)
        return cls(layout, items, state)

    @classmethod
    def from_snmprec(cls, path: Path, *, advance_uptime: bool = True) -> MibTable:
        """A recording; `numeric` lines become counters, sysUpTime.0 advances unless told not to."""
        rows: list[Row] = []
        for rec in read_snmprec(path):
            if rec.variation is not None:
                if rec.variation != "numeric":
                    raise ValueError(f"{path}: variation module {rec.variation!r} is not supported")
                rows.append((rec.oid, rec.tag, NumericCell(rec.tag, NumericSpec.parse(rec.params, rec.tag))))
            elif advance_uptime and rec.oid == SYS_UPTIME and rec.tag == Tag.TIMETICKS:
                rows.append((rec.oid, rec.tag, RecordedUptime(int(rec.value))))  # type: ignore[arg-type]
            else:
                rows.append((rec.oid, rec.tag, rec.value))
        return cls.from_rows(rows)

    def __len__(self) -> int:
        return len(self.items)

    def varbind(self, i: int, t: float) -> bytes:
        it = self.items[i]
        if type(it) is bytes:
            return it
        return cell_varbind(self.layout, i, it, self.state, t)  # type: ignore[arg-type]

    def value(self, i: int, t: float) -> tuple[int, Value]:
        """(tag, value) at position i, for tests and tools (decodes what would be sent)."""
        from ..snmp.pdu import Pdu, decode_varbinds

        vb = self.varbind(i, t)
        (decoded,) = decode_varbinds(Pdu(0, 0, 0, 0, vb, 0, len(vb)))
        return decoded.tag, decoded.value


SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)


def _encode_static(tag: int, value: Value) -> bytes:
    if tag == Tag.OID and isinstance(value, str) and value.isdigit():
        # A one-arc OID ("0", seen in recordings) has no BER form; send it as 0.0 / N.0 (content
        # octet 00 for "0"). snmpsim cannot encode it at all and never answers such a request.
        value = f"{value}.0"
    return encode_value(Tag(tag), value)


def _item_tag(layout: Layout, i: int, item: bytes | Cell) -> int:
    if type(item) is bytes:
        n = len(layout.oid_tlvs[i])
        hdr = 2 if item[1] < 0x80 else 2 + (item[1] & 0x7F)
        return item[hdr + n]
    return item.tag  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------- answering


@dataclass(frozen=True, slots=True)
class Limits:
    max_varbinds: int = 64  # snmpd's maxGetbulkResponses
    max_message_size: int = MAX_UDP_PAYLOAD


_VERSION_TLV = {0: encode_integer(0), 1: encode_integer(1)}
_ZERO = encode_integer(0)


def _end(oid_tlv: bytes, tag: int) -> bytes:
    return tlv(0x30, oid_tlv + bytes((tag, 0)))


def _response(version: int, community: bytes, request_id: int, status: int, index: int, vbs: bytes) -> bytes:
    body = encode_integer(request_id)
    body += _ZERO if status == 0 else encode_integer(status)
    body += _ZERO if index == 0 else encode_integer(index)
    pdu = tlv(RESPONSE, body + tlv(0x30, vbs))
    return tlv(0x30, _VERSION_TLV[version] + tlv(0x04, community) + pdu)


def answer(
    data: bytes, tables: Callable[[bytes], MibTable | None], t: float, limits: Limits = Limits()
) -> bytes | None:
    """The response datagram to a request datagram, or None when an agent would stay silent
    (undecodable, not v1/v2c, unknown community, a PDU type an agent does not answer)."""
    try:
        msg = parse_community_message(data)
    except SnmpDecodeError:
        return None
    version = msg.version
    if version not in (0, 1):
        return None
    table = tables(msg.community)
    if table is None:
        return None
    pdu = msg.pdu
    try:
        requested = _requested(pdu.buf, pdu.vb_start, pdu.vb_end)
        if pdu.tag == GET:
            return _get(version, msg.community, pdu.request_id, pdu.buf, requested, table, t, limits)
        if pdu.tag == GETNEXT:
            return _getnext(version, msg.community, pdu.request_id, pdu.buf, requested, table, t, limits)
        if pdu.tag == GETBULK and version == 1:
            return _getbulk(msg.community, pdu, requested, table, t, limits)
        if pdu.tag == SET:
            vbs = pdu.buf[pdu.vb_start : pdu.vb_end]
            status = NO_SUCH_NAME if version == 0 else NOT_WRITABLE
            return _response(version, msg.community, pdu.request_id, status, 1 if requested else 0, vbs)
    except SnmpDecodeError:
        return None
    return None


def _requested(buf: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each requested OID's content. A request's varbinds are ``30 LL 06 LL <oid> 05 00``
    with short-form lengths (every manager sends NULL values): read inline; anything else goes through
    iter_varbinds, which judges it (a tenth of the agent's time went there)."""
    out = []
    pos = start
    while pos < end:
        size, oid_size = (buf[pos + 1], buf[pos + 3]) if end - pos >= 6 else (0x80, 0x80)
        oid_end, stop = pos + 4 + oid_size, pos + 2 + size
        if (
            size >= 0x80
            or oid_size >= 0x80
            or stop > end
            or stop != oid_end + 2
            or buf[pos] != 0x30
            or buf[pos + 2] != 0x06
            or buf[oid_end:stop] != b"\x05\x00"
        ):
            return [(os_, oe) for os_, oe, _tag, _s, _e in iter_varbinds(buf, start, end)]
        out.append((pos + 4, oid_end))
        pos = stop
    return out


def _request_tlv(buf: bytes, start: int, stop: int) -> bytes:
    return tlv(Tag.OID, buf[start:stop])


def _budget(community: bytes, limits: Limits) -> int:
    return limits.max_message_size - ENVELOPE_BOUND - len(community)


def _get(version, community, rid, buf, requested, table: MibTable, t, limits) -> bytes:
    layout = table.layout
    out: list[bytes] = []
    for n, (s, e) in enumerate(requested, 1):
        i = layout.exact_position(buf, s, e)
        if i is not None and not (version == 0 and i in table.counter64):
            out.append(table.varbind(i, t))
            continue
        if version == 0:
            return _error(version, community, rid, NO_SUCH_NAME, n, buf, requested)
        tag = Tag.NO_SUCH_INSTANCE if layout.object_exists(buf, s, e) else Tag.NO_SUCH_OBJECT
        out.append(_end(_request_tlv(buf, s, e), tag))
    return _finish(version, community, rid, out, buf, requested, limits)


def _getnext(version, community, rid, buf, requested, table: MibTable, t, limits) -> bytes:
    layout = table.layout
    n_items = len(table.items)
    out: list[bytes] = []
    for n, (s, e) in enumerate(requested, 1):
        i = layout.next_position(buf, s, e)
        if version == 0:
            while i < n_items and i in table.counter64:
                i += 1
        if i < n_items:
            out.append(table.varbind(i, t))
        elif version == 0:
            return _error(version, community, rid, NO_SUCH_NAME, n, buf, requested)
        else:
            out.append(_end(_request_tlv(buf, s, e), Tag.END_OF_MIB_VIEW))
    return _finish(version, community, rid, out, buf, requested, limits)


def _error(version, community, rid, status, index, buf, requested) -> bytes:
    vbs = b"".join(tlv(0x30, _request_tlv(buf, s, e) + b"\x05\x00") for s, e in requested)
    return _response(version, community, rid, status, index, vbs)


def _finish(version, community, rid, out, buf, requested, limits) -> bytes:
    body = b"".join(out)
    if len(body) > _budget(community, limits):
        return _response(version, community, rid, TOO_BIG, 0, b"")
    return _response(version, community, rid, 0, 0, body)


def _getbulk(community, pdu, requested, table: MibTable, t, limits) -> bytes:
    buf = pdu.buf
    layout = table.layout
    n_items = len(table.items)
    budget = _budget(community, limits)
    cap = limits.max_varbinds
    non_rep = min(max(pdu.error_status, 0), len(requested))
    max_rep = max(pdu.error_index, 0)
    out: list[bytes] = []
    size = 0
    for s, e in requested[:non_rep]:
        i = layout.next_position(buf, s, e)
        vb = table.varbind(i, t) if i < n_items else _end(_request_tlv(buf, s, e), Tag.END_OF_MIB_VIEW)
        size += len(vb)
        if size > budget or len(out) >= cap:
            return _bulk_done(community, pdu.request_id, out)
        out.append(vb)
    repeaters = requested[non_rep:]
    if repeaters and max_rep:
        width = len(repeaters)
        rows = min(max_rep, max(1, (cap - len(out)) // width))  # whole rows, like snmpd
        positions = [layout.next_position(buf, s, e) for s, e in repeaters]
        if max(positions) + rows <= n_items and len(out) + rows * width <= cap:
            # the usual case, a walk in the middle of its columns: every row within the table and the cap
            bulk = _rows(table, positions, rows, t)
            if size + sum(map(len, bulk)) <= budget:
                return _bulk_done(community, pdu.request_id, out + bulk)
        last_tlv: list[bytes | None] = [None] * width
        varbind = table.varbind
        oid_tlvs = layout.oid_tlvs
        for _ in range(rows):
            ended = 0
            for j in range(width):
                i = positions[j]
                if i < n_items:
                    vb = varbind(i, t)
                    positions[j] = i + 1
                    last_tlv[j] = oid_tlvs[i]
                else:
                    ended += 1
                    prev = last_tlv[j]
                    if prev is None:
                        s, e = repeaters[j]
                        prev = last_tlv[j] = _request_tlv(buf, s, e)
                    vb = _end(prev, Tag.END_OF_MIB_VIEW)
                size += len(vb)
                if size > budget or len(out) >= cap:
                    return _bulk_done(community, pdu.request_id, out)
                out.append(vb)
            if ended == width:
                break  # RFC 3416 4.2.3: no need to repeat endOfMibView rows
    return _bulk_done(community, pdu.request_id, out)


def _rows(table: MibTable, positions: list[int], rows: int, t: float) -> list[bytes]:
    """The varbinds of ``rows`` rows from ``positions`` on, when all of them lie within the table."""
    items, state, layout = table.items, table.state, table.layout
    out = []
    for r in range(rows):
        for p in positions:
            i = p + r
            it = items[i]
            out.append(it if type(it) is bytes else cell_varbind(layout, i, it, state, t))  # type: ignore[arg-type]
    return out


def _bulk_done(community, rid, out) -> bytes:
    # A GETBULK never answers tooBig for size: it answers fewer varbinds (RFC 3416 4.2.3).
    return _response(1, community, rid, 0, 0, b"".join(out))


# ---------------------------------------------------------------------------------------- agents


@dataclass(slots=True)
class SimAgent:
    """One simulated device: where it listens, its datasets by community, how it misbehaves.

    `table` may be a factory: it is then built on the first request (lazy, so a 10,000-device
    fleet starts at once and memory grows only with the devices actually polled).
    """

    host: str
    port: int
    tables: dict[bytes, MibTable | Callable[[], MibTable]]
    fault: Fault | None = None

    def table(self, community: bytes) -> MibTable | None:
        entry = self.tables.get(community)
        if entry is None or isinstance(entry, MibTable):
            return entry
        built = entry()
        self.tables[community] = built
        return built


@dataclass(slots=True)
class ResponderStats:
    received: int = 0
    answered: int = 0
    silent: int = 0  # unknown community, undecodable, fault "timeout"/"flap"
    delayed: int = 0
    garbage: int = 0
    send_errors: int = 0


def recordings_agent(data_dir: Path, host: str, port: int, *, advance_uptime: bool = True) -> SimAgent:
    """All .snmprec files of a directory on one address, community = file stem (like snmpsim)."""
    tables: dict[bytes, MibTable | Callable[[], MibTable]] = {}
    for path in sorted(Path(data_dir).glob("*.snmprec")):
        tables[path.stem.encode()] = MibTable.from_snmprec(path, advance_uptime=advance_uptime)
    if not tables:
        raise ValueError(f"no .snmprec files in {data_dir}")
    return SimAgent(host, port, tables)


class Responder:
    """Serves SimAgents: one non-blocking UDP socket per (address, port), read with add_reader.

    With reuse_port, several processes can bind the same addresses (SO_REUSEPORT: the kernel
    spreads clients over them), so the simulator is not the benchmark's bottleneck.
    """

    def __init__(
        self,
        agents: Iterable[SimAgent],
        *,
        limits: Limits = Limits(),
        epoch: float | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.limits = limits
        self.epoch = time.monotonic() if epoch is None else epoch  # CLOCK_MONOTONIC is system-wide
        self.reuse_port = reuse_port
        self.stats = ResponderStats()
        self._by_endpoint: dict[tuple[str, int], dict[bytes, SimAgent]] = {}
        for agent in agents:
            communities = self._by_endpoint.setdefault((agent.host, agent.port), {})
            for community in agent.tables:
                if community in communities:
                    raise ValueError(f"two agents share {agent.host}:{agent.port} and a community")
                communities[community] = agent
        self._sockets: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        if self._sockets:
            return [s.getsockname()[:2] for s in self._sockets]
        return list(self._by_endpoint)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            for (host, port), communities in list(self._by_endpoint.items()):
                sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
                self._sockets.append(sock)
                if self.reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
                    except OSError:
                        pass
                sock.bind((host, port))
                sock.setblocking(False)
                if port == 0:  # an ephemeral port: re-key so agents know where they are
                    actual = sock.getsockname()[1]
                    for agent in communities.values():
                        agent.port = actual
                self._loop.add_reader(sock.fileno(), self._readable, sock, communities)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for sock in self._sockets:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()

    async def __aenter__(self) -> Responder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def cpu_seconds(self) -> float:
        """User + system CPU of this process (the responder is meant to run alone in it)."""
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    def _readable(self, sock: socket.socket, communities: dict[bytes, SimAgent]) -> None:
        stats = self.stats
        limits = self.limits
        for _ in range(DRAIN_BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            stats.received += 1
            t = time.monotonic() - self.epoch
            found: list[SimAgent] = []

            def lookup(community: bytes, _found: list[SimAgent] = found) -> MibTable | None:
                agent = communities.get(community)
                if agent is None:
                    return None
                _found.append(agent)
                return agent.table(community)

            reply = answer(data, lookup, t, limits)
            if reply is None:
                stats.silent += 1
                continue
            fault = found[0].fault
            if fault is not None:
                if fault.silent_at(t):
                    stats.silent += 1
                    continue
                if fault.kind == "garbage":
                    stats.garbage += 1
                    reply = GARBAGE
                elif fault.kind == "slow":
                    stats.delayed += 1
                    assert self._loop is not None
                    self._loop.call_later(fault.delay, self._send, sock, reply, addr)
                    continue
            self._send(sock, reply, addr)

    def _send(self, sock: socket.socket, reply: bytes, addr: tuple) -> None:
        try:
            sock.sendto(reply, addr)
            self.stats.answered += 1
        except OSError:  # closed, or the send buffer is full: UDP may drop, so do we
            self.stats.send_errors += 1


__all__ = [
    "DeviceState",
    "EngineTime",
    "Fault",
    "Layout",
    "Limits",
    "MibTable",
    "NumericCell",
    "PortCounter",
    "Responder",
    "SimAgent",
    "Uptime",
    "answer",
    "recordings_agent",
]
