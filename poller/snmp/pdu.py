"""SNMP messages and PDUs: building requests and taking responses apart.

Requests are built from cached OID TLVs (only the request-id and start OIDs change between the
GETBULKs of a walk). Responses are decoded lazily: `parse_response` reads the header and finds
the varbind list; callers then either decode every varbind (`decode_varbinds`, for get/walk) or
match raw OID bytes against column prefixes (`collect_columns`, the table-walk hot path) so
that no OID string is ever built for a table cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat
from operator import add, attrgetter, call, getitem, itemgetter, le, lt

from .ber import (
    SEQUENCE,
    decode_index,
    decode_oid_content,
    decode_value,
    encode_integer,
    encode_length,
    encode_oid,
    encode_subids,
    expect,
    oid_to_str,
    read_integer,
    read_tl,
    tlv,
)
from .errors import SnmpDecodeError, SnmpLoopError
from .values import Tag, Value, VarBind

GET = 0xA0
GETNEXT = 0xA1
RESPONSE = 0xA2
SET = 0xA3
GETBULK = 0xA5
REPORT = 0xA8
PDU_TAGS = frozenset((GET, GETNEXT, RESPONSE, SET, GETBULK, 0xA4, 0xA6, 0xA7, REPORT))

VERSION_CODES = {"1": 0, "2c": 1, "3": 3}
_NULL = b"\x05\x00"


def varbind_list(oids: list[str] | tuple[str, ...]) -> bytes:
    """A varbind list of OIDs with NULL values (request form)."""
    body = b"".join(tlv(SEQUENCE, encode_oid(o) + _NULL) for o in oids)
    return tlv(SEQUENCE, body)


def varbind_list_raw(oid_tlvs: list[bytes]) -> bytes:
    """Like varbind_list, from OID TLVs already encoded (e.g. taken from a response)."""
    # varbind headers from a table: an OID TLV of up to 125 bytes gives a short-form varbind length
    heads = _VARBIND_HEADS
    try:
        body = _NULL.join([heads[len(o)] + o for o in oid_tlvs]) + _NULL if oid_tlvs else b""
    except IndexError:
        return tlv(SEQUENCE, b"".join(tlv(SEQUENCE, o + _NULL) for o in oid_tlvs))
    return tlv(SEQUENCE, body)


_VARBIND_HEADS = tuple(b"\x30" + bytes((n + 2,)) for n in range(126))


_SMALL_INTEGERS = tuple(bytes((0x02, 1, i)) for i in range(128))  # non-repeaters, max-repetitions, ...


def encode_pdu(tag: int, request_id: int, varbinds: bytes, a: int = 0, b: int = 0) -> bytes:
    """A PDU. For GETBULK a/b are non-repeaters/max-repetitions, else error-status/index."""
    small = _SMALL_INTEGERS
    ab = small[a] + small[b] if 0 <= a < 128 and 0 <= b < 128 else encode_integer(a) + encode_integer(b)
    return tlv(tag, encode_integer(request_id) + ab + varbinds)


def community_message_head(version: str, community: bytes) -> bytes:
    """What precedes the PDU in every message of one version and community."""
    return encode_integer(VERSION_CODES[version]) + tlv(0x04, community)


def encode_community_message(version: str, community: bytes, pdu: bytes) -> bytes:
    return tlv(SEQUENCE, community_message_head(version, community) + pdu)


def encode_community_request(
    head: bytes, tag: int, request_id: int, varbinds: bytes, a: int, b: int
) -> bytes:
    """encode_community_message(encode_pdu(...)) in one join: the lengths are added up rather
    than each layer copied into the next (this runs for every request a walk sends)."""
    rid = encode_integer(request_id)
    small = _SMALL_INTEGERS
    ab = small[a] + small[b] if 0 <= a < 128 and 0 <= b < 128 else encode_integer(a) + encode_integer(b)
    n = len(rid) + len(ab) + len(varbinds)
    pdu_head = bytes((tag, n)) if n < 0x80 else bytes((tag,)) + encode_length(n)
    total = len(head) + len(pdu_head) + n
    msg_head = bytes((SEQUENCE, total)) if total < 0x80 else b"\x30" + encode_length(total)
    return b"".join((msg_head, head, pdu_head, rid, ab, varbinds))


@dataclass(slots=True)
class Pdu:
    """A decoded PDU header; the varbinds stay encoded in buf[vb_start:vb_end]."""

    tag: int
    request_id: int
    error_status: int  # non-repeaters for a GETBULK
    error_index: int  # max-repetitions for a GETBULK
    buf: bytes
    vb_start: int
    vb_end: int


def read_pdu(buf: bytes, pos: int, end: int) -> Pdu:
    """parse_pdu, with the usual shape (one-octet error-status and error-index, lengths in short
    form or 0x81/0x82) read in one pass; anything else goes to parse_pdu, which judges it."""
    try:
        tag = buf[pos]
        p, n = content_at(buf, pos)
        stop = p + n
        if tag not in PDU_TAGS or stop > end or buf[p] != 0x02:
            raise IndexError
        n = buf[p + 1]
        q = p + 2 + n
        if not 0 < n <= 8 or q + 8 > stop:
            raise IndexError
        if buf[q : q + 2] != b"\x02\x01" or buf[q + 3 : q + 5] != b"\x02\x01" or buf[q + 6] != SEQUENCE:
            raise IndexError
        status = buf[q + 2]
        index = buf[q + 5]
        vb_start, n = content_at(buf, q + 6)
        if status > 0x7F or index > 0x7F or vb_start + n > stop:
            raise IndexError
        request_id = int.from_bytes(buf[p + 2 : q], "big", signed=True)
        return Pdu(tag, request_id, status, index, buf, vb_start, vb_start + n)
    except IndexError:
        return parse_pdu(buf, pos, end)


def parse_pdu(buf: bytes, pos: int, end: int) -> Pdu:
    tag, start, stop = read_tl(buf, pos, end)
    if tag not in PDU_TAGS:
        raise SnmpDecodeError(f"not an SNMP PDU (tag 0x{tag:02x})")
    request_id, p = read_integer(buf, start, stop)
    error_status, p = read_integer(buf, p, stop)
    error_index, p = read_integer(buf, p, stop)
    vb_start, vb_end = expect(buf, p, stop, SEQUENCE)
    return Pdu(tag, request_id, error_status, error_index, buf, vb_start, vb_end)


@dataclass(slots=True)
class CommunityMessage:
    version: int
    community: bytes
    pdu: Pdu


def content_at(buf: bytes, p: int) -> tuple[int, int]:
    """(content start, content length) of the TLV at p, for the length forms SNMP agents use."""
    n = buf[p + 1]
    if n < 0x80:
        return p + 2, n
    if n == 0x82:
        return p + 4, buf[p + 2] << 8 | buf[p + 3]
    if n == 0x81:
        return p + 3, buf[p + 2]
    raise IndexError  # other long forms: the reference parser judges them


def _parse_community_fast(buf: bytes) -> CommunityMessage:
    """parse_community_message for the usual shape: one octet version, lengths in short form or
    0x81/0x82, the PDU read by read_pdu (which hands unusual or malformed PDUs to parse_pdu, as the
    reference does). Raises IndexError for any other message header: the reference decides."""
    end = len(buf)
    if buf[0] != SEQUENCE:
        raise IndexError
    p, n = content_at(buf, 0)
    stop = p + n
    if stop > end or buf[p] != 0x02 or buf[p + 1] != 1 or buf[p + 2] > 0x7F or buf[p + 3] != 0x04:
        raise IndexError
    version = buf[p + 2]
    cs = p + 5
    ce = cs + buf[p + 4]
    if buf[p + 4] > 0x7F or ce > stop:
        raise IndexError
    return CommunityMessage(version, bytes(buf[cs:ce]), read_pdu(buf, ce, stop))


def parse_community_message(buf: bytes) -> CommunityMessage:
    """Decode a v1/v2c message (the PDU's varbinds stay encoded)."""
    try:
        return _parse_community_fast(buf)
    except IndexError:
        return parse_community_reference(buf)


def parse_community_reference(buf: bytes) -> CommunityMessage:
    """parse_community_message step by step: any shape, and the precise error when malformed."""
    end = len(buf)
    start, stop = expect(buf, 0, end, SEQUENCE)
    version, p = read_integer(buf, start, stop)
    cs, ce = expect(buf, p, stop, 0x04)
    return CommunityMessage(version, bytes(buf[cs:ce]), parse_pdu(buf, ce, stop))


def peek_message_id(buf: bytes) -> int | None:
    """The demultiplexing id of a datagram: request-id for v1/v2c, msgID for v3; None if unreadable.

    Cheap on purpose: it runs for every datagram before anything else is decoded. The usual v1/v2c
    and v3 shapes are read inline (the same answer as peek_message_reference, which takes the rest).
    """
    try:
        end = len(buf)
        p, n = content_at(buf, 0)
        stop = p + n
        if buf[0] == SEQUENCE and stop <= end and buf[p : p + 2] == b"\x02\x01":
            if buf[p + 2] != 3:
                q = p + 5 + buf[p + 4]  # after the community
                if buf[p + 3] == 0x04 and buf[p + 4] < 0x80 and q <= stop:
                    r, n = content_at(buf, q)  # inside the PDU
                    k = buf[r + 1]
                    if r + n <= stop and buf[r] == 0x02 and 0 < k <= 8 and r + 2 + k <= r + n:
                        return int.from_bytes(buf[r + 2 : r + 2 + k], "big", signed=True)
            elif buf[p + 3] == SEQUENCE:  # v3: msgID opens the header
                r, n = content_at(buf, p + 3)
                k = buf[r + 1]
                if r + n <= stop and buf[r] == 0x02 and 0 < k <= 8 and r + 2 + k <= r + n:
                    return int.from_bytes(buf[r + 2 : r + 2 + k], "big", signed=True)
    except IndexError:
        pass
    return peek_message_reference(buf)


def peek_message_reference(buf: bytes) -> int | None:
    """peek_message_id step by step, for any shape (v3 included)."""
    try:
        end = len(buf)
        start, stop = expect(buf, 0, end, SEQUENCE)
        version, p = read_integer(buf, start, stop)
        if version == 3:
            gs, ge = expect(buf, p, stop, SEQUENCE)
            msg_id, _ = read_integer(buf, gs, ge)
            return msg_id
        _, ce = expect(buf, p, stop, 0x04)
        _, ps, pe = read_tl(buf, ce, stop)
        rid, _ = read_integer(buf, ps, pe)
        return rid
    except SnmpDecodeError:
        return None


def iter_varbinds(buf: bytes, start: int, end: int):
    """Yield (oid_start, oid_end, tag, value_start, value_end) for each varbind (raw positions)."""
    pos = start
    while pos < end:
        vs, ve = expect(buf, pos, end, SEQUENCE)
        ot, os_, oe = read_tl(buf, vs, ve)
        if ot != Tag.OID:
            raise SnmpDecodeError("varbind without an OID")
        tag, s, e = read_tl(buf, oe, ve)
        yield os_, oe, tag, s, e
        pos = ve


_TAGS = {int(t): t for t in Tag}
# OID strings by their content octets: a poll GETs the same few scalars of every device, so
# each is decoded once, not once per reply. Bounded: past the cap, OIDs are decoded each time.
_OID_STRINGS: dict[bytes, str] = {}
_OID_STRINGS_MAX = 4096


def decode_varbinds(pdu: Pdu) -> list[VarBind]:
    """Every varbind of a response, typed. The usual shape (short-form lengths) is read inline;
    anything else goes through iter_varbinds, which judges it."""
    buf = pdu.buf
    try:
        return _decode_varbinds_short(buf, pdu.vb_start, pdu.vb_end)
    except IndexError:
        pass
    out = []
    for os_, oe, tag, s, e in iter_varbinds(buf, pdu.vb_start, pdu.vb_end):
        t = _tag(tag)
        out.append(VarBind(_oid_string(buf, os_, oe), t, decode_value(tag, buf, s, e)))
    return out


def _decode_varbinds_short(buf: bytes, pos: int, end: int) -> list[VarBind]:
    """decode_varbinds for varbinds, OIDs and values with short-form lengths, each ending where
    its varbind does; IndexError for anything else (including every malformed list)."""
    out = []
    while pos < end:
        vend = pos + 2 + buf[pos + 1]
        os_ = pos + 4
        oe = os_ + buf[pos + 3]
        tag = buf[oe]
        s = oe + 2
        e = s + buf[oe + 1]
        if (
            buf[pos] != SEQUENCE
            or buf[pos + 2] != 0x06
            or e != vend
            or vend > end
            or (buf[pos + 1] | buf[pos + 3] | buf[oe + 1]) & 0x80
        ):
            raise IndexError
        t = _tag(tag)  # before the OID, as iter_varbinds' callers judge them
        out.append(VarBind(_oid_string(buf, os_, oe), t, decode_value(tag, buf, s, e)))
        pos = vend
    return out


def _tag(tag: int) -> Tag:
    t = _TAGS.get(tag)
    if t is None:
        raise SnmpDecodeError(f"unknown value tag 0x{tag:02x}")
    return t


def _oid_string(buf: bytes, start: int, stop: int) -> str:
    raw = bytes(buf[start:stop])
    oid = _OID_STRINGS.get(raw)
    if oid is None:
        oid = oid_to_str(decode_oid_content(buf, start, stop))
        if len(_OID_STRINGS) < _OID_STRINGS_MAX:
            _OID_STRINGS[raw] = oid
    return oid


def raw_varbinds(pdu: Pdu) -> list[tuple[bytes, int, Value]]:
    """(OID content bytes, tag, value) for each varbind: for walks that compare OIDs as bytes."""
    buf = pdu.buf
    return [
        (bytes(buf[os_:oe]), tag, decode_value(tag, buf, s, e))
        for os_, oe, tag, s, e in iter_varbinds(buf, pdu.vb_start, pdu.vb_end)
    ]


# Small indexes recur in every table (ifIndex 1..48 and so on): one shared tuple each.
_SMALL_INDEX = tuple((i,) for i in range(128))
_UNSIGNED32 = frozenset((0x41, 0x42, 0x43))
_groups = re.Match.groups
_value_content = itemgetter(slice(2, None))
_first_octet = itemgetter(0)
_values = attrgetter("values")
_oid = attrgetter("oid")
# A matched cell's value from its content octets, by its tag: an OCTET STRING's content is its value,
# any other cell the regex matches reads as an unsigned number (see _cell_pattern).
_CONVERT = tuple(bytes if tag == 0x04 else int.from_bytes for tag in range(256))


@lru_cache(maxsize=64)
def column_slices(n: int) -> tuple[slice, ...]:
    """Column k's cells among a row-major list of n-column rows: its slice(k, None, n)."""
    return tuple(slice(k, None, n) for k in range(n))


class _IndexTuples(dict[bytes, tuple[int, ...]]):
    """Index tuples by their one- or two-byte encodings, filled on first use (16,384 at most):
    looked up from C (map over __getitem__), so a table's indexes cost no Python step each."""

    def __missing__(self, raw: bytes) -> tuple[int, ...]:
        index = self[raw] = decode_index(raw, 0, len(raw))
        return index


_INDEX_TUPLES = _IndexTuples({bytes((i,)): t for i, t in enumerate(_SMALL_INDEX)})


def _cell_pattern(prefix: bytes) -> bytes | None:
    """Regex source for one varbind of a column: a one- or two-byte index and a number or a string.

    Two groups per cell: the index octets, then the value's tag, length and content. Every
    length byte is a literal and a look-ahead per index width ties the varbind's length to the
    value's, so a match is a well-formed varbind with short-form lengths and nothing else; None
    when the prefix is too long for short-form lengths (the plain loop handles those). Indexes
    are minimal base-128 (a two-byte one starts at 0x81): their octets then sort as the numbers
    do. Only values whose content octets read as an unsigned number give the right value match:
    an INTEGER below 0x80 in its first octet (not negative), a Counter32/Gauge32/TimeTicks of at
    most 32 bits, a Counter64; and an OCTET STRING (ifDescr, ifAlias, ifPhysAddress), its content
    the value. The string lengths make the regex large: a plan of the 29 columns of a details walk
    compiles in ~0.12 s (0.02 s with numbers only), once per set of columns per process.
    """
    plen = len(prefix)
    if plen + 15 >= 0x80:
        return None

    def lengths(sizes, first=b"."):
        return b"|".join(re.escape(bytes((v,))) + first + b".{%d}" % (v - 1) for v in sizes)

    def head(width: int, index: bytes) -> bytes:
        # varbind length, then (after the OID tag and length, prefix, index, value tag) the
        # value's length: both literals, alternatives by value length (a number's 1-9 octets
        # first, then a string's other lengths up to the longest short-form varbind)
        skip = b".{%d}" % (plen + 3 + width)
        framing = b"|".join(
            re.escape(bytes((plen + 4 + width + v,))) + skip + re.escape(bytes((v,)))
            for v in (*range(1, 10), 0, *range(10, 0x80 - plen - 4 - width))
        )
        oid = b"\\x06" + re.escape(bytes((plen + width,))) + re.escape(prefix)
        return b"(?=" + framing + b")." + oid + b"(?=" + index + b")"

    value = (
        rb"\x02(?:" + lengths(range(1, 10), rb"[\x00-\x7f]") + b")"
        + rb"|[\x41\x42\x43](?:" + lengths(range(1, 5)) + rb"|\x05\x00.{4})"
        + rb"|\x46(?:" + lengths(range(1, 10)) + b")"
        + rb"|\x04(?:\x00|" + lengths(range(1, 0x80 - plen - 5)) + b")"
    )  # fmt: skip
    one, two = rb"[\x00-\x7f]", rb"[\x81-\xff][\x00-\x7f]"
    return (
        b"\\x30(?:" + head(1, one) + b"|" + head(2, two) + b")"
        + b"(" + one + b"|" + two + b")(" + value + b")"
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _RowPlan:
    rx: re.Pattern[bytes]
    oid_heads: tuple[tuple[bytes, bytes, bytes], ...]  # per column, by index width: OID TLV head


@lru_cache(maxsize=1024)
def _row_plan(prefixes: tuple[bytes, ...]) -> _RowPlan | None:
    """A regex matching one whole GETBULK row (one cell per column, in order), or None."""
    parts = [_cell_pattern(p) for p in prefixes]
    if not parts or any(p is None for p in parts):
        return None
    heads = tuple((b"", bytes((0x06, len(p) + 1)) + p, bytes((0x06, len(p) + 2)) + p) for p in prefixes)
    return _RowPlan(re.compile(b"".join(parts), re.DOTALL), heads)  # type: ignore[arg-type]


@dataclass(slots=True)
class ColumnProgress:
    """One column of a table walk: its prefix, what was collected, where to continue."""

    oid: str
    prefix: bytes  # OID content octets of the column
    values: dict[tuple[int, ...], Value]
    last_index: tuple[int, ...] | None = None
    done: bool = False
    typed: bool = False  # store (tag, value) instead of value (generic walks)
    next_oid: bytes | None = None  # the OID TLV of the last cell taken, as the agent sent it


def _match_rows(
    buf: bytes, pos: int, end: int, columns: list[ColumnProgress], plan: _RowPlan
) -> tuple[list[re.Match[bytes]], list[bytes], list[tuple[int, ...]], list[int | bytes]] | None:
    """The fast path of collect_columns: whole rows of number and string cells with one- or two-byte
    indexes, from pos on (nothing is changed yet: see _take_rows).

    The rows are framed by one regex (C code), and the cells' indexes and values are taken with
    C-level iteration (map/zip over the match groups): no Python step runs per cell. All or
    nothing: an index that does not increase leaves every row to the plain loop, which raises
    at the right cell. Returns (rows, index octets, index tuples, values), cell by cell.
    """
    # scanner().match goes on where the previous match ended: the consecutive rows from pos on.
    rows = list(iter(plan.rx.scanner(buf, pos, end).match, None))
    if not rows:
        return None
    cells = list(chain.from_iterable(map(_groups, rows)))  # row by row: index, value per cell
    raw = cells[0::2]
    n = len(columns)
    # A column's indexes increase from row to row (a cell and the one n places later; minimal
    # one- and two-byte encodings sort as their numbers) and from its last index on.
    if not all(map(lt, raw, raw[n:])):
        return None
    keys = list(map(_INDEX_TUPLES.__getitem__, raw))
    if any(map(le, keys, [c.last_index or () for c in columns])):  # () sorts before any index
        return None
    tlvs = cells[1::2]
    contents = map(_value_content, tlvs)
    tags = bytes(map(_first_octet, tlvs))
    if 0x04 in tags:  # each cell converted by its tag, still from C: map over operator.call
        values = list(map(call, map(_CONVERT.__getitem__, tags), contents))
    else:
        values = list(map(int.from_bytes, contents))  # unsigned, as the regex allows
    return rows, raw, keys, values


@dataclass(frozen=True, slots=True)
class RowBlock:
    """Whole rows of one answer as the fast path took them, kept as they came rather than put into
    each column's dict: ``columns`` (their OIDs, in request order), then the cells row by row, n =
    len(columns) to a row (a cell's index and value at the same place in ``keys`` and ``values``).

    A walk that keeps its blocks (SnmpEngine.walk_columns) hands them on as they are: the ports
    check makes its rows straight from them (one dict per row, from C), and no column's dict is
    built on the way (see rows_from_walks for what that saves). ``put_blocks`` puts them into the
    columns' dicts for every other caller."""

    columns: tuple[str, ...]
    keys: list[tuple[int, ...]]
    values: list[int | bytes]  # what the fast path takes: numbers and OCTET STRINGs


def put_blocks(blocks: list[RowBlock], columns: dict[str, dict[tuple[int, ...], Value]]) -> None:
    """Each block's cells into its column's dict in ``columns`` (by OID; every column present)."""
    for block in blocks:
        _put_block(block, map(columns.__getitem__, block.columns))


def _put_block(block: RowBlock, dicts: Iterable[dict[tuple[int, ...], Value]]) -> None:
    # Column by column, but with no Python step per column (map over C functions): a wide walk's answers
    # hold few rows, and a loop's per-column statements cost more than its cells did.
    strides = column_slices(len(block.columns))
    keys, values = block.keys, block.values
    any(map(dict.update, dicts, map(zip, map(keys.__getitem__, strides), map(values.__getitem__, strides))))


@dataclass(slots=True)
class Walked:
    """What a table walk took (SnmpEngine.walk_columns): its whole rows as RowBlocks, and per column
    (by OID) the cells the plain loop took. ``table()`` gives every cell as walk_table does."""

    columns: dict[str, dict[tuple[int, ...], Value]]
    blocks: list[RowBlock]

    def __len__(self) -> int:
        """The cells walked."""
        return sum(map(len, self.columns.values())) + sum(len(b.keys) for b in self.blocks)

    def table(self) -> dict[str, dict[tuple[int, ...], Value]]:
        """{column: {index: value}}, each column's cells in index order (a walk's order)."""
        if not self.blocks:
            return self.columns
        table: dict[str, dict[tuple[int, ...], Value]] = {oid: {} for oid in self.columns}
        put_blocks(self.blocks, table)
        for oid, rest in self.columns.items():
            if not rest:
                continue
            column = table[oid]
            if column:  # the plain loop's cells come after or between the blocks' rows
                column.update(rest)
                table[oid] = dict(sorted(column.items()))
            else:
                table[oid] = rest
        return table


def _take_rows(
    columns: list[ColumnProgress],
    plan: _RowPlan,
    raw: list[bytes],
    keys: list[tuple[int, ...]],
    values: list[int | bytes],
    blocks: list[RowBlock] | None,
) -> None:
    n = len(columns)
    last_raw = raw[-n:]
    block = RowBlock(tuple(map(_oid, columns)), keys, values)
    if blocks is not None:
        blocks.append(block)
    else:
        _put_block(block, map(_values, columns))
    any(map(setattr, columns, repeat("last_index"), keys[-n:]))
    next_oids = map(add, map(getitem, plan.oid_heads, map(len, last_raw)), last_raw)
    any(map(setattr, columns, repeat("next_oid"), next_oids))


def collect_columns(
    pdu: Pdu,
    columns: list[ColumnProgress],
    prefixes: tuple[bytes, ...] | None = None,
    blocks: list[RowBlock] | None = None,
) -> int:
    """Put a GETBULK/GETNEXT response's values into their columns; return varbinds consumed.

    The i-th varbind answers the (i mod n)-th requested column. A column ends at endOfMibView,
    at an OID outside its prefix, or at the prefix itself. An index that does not increase is a
    loop (agents that repeat themselves) and raises SnmpLoopError. Raw OID bytes are compared
    with the pre-encoded prefix without slicing: no OID string is built for a table cell. Each
    column keeps the OID bytes of its last cell, for the next request to continue from.
    `prefixes`, if given, is the columns' prefixes as a tuple (a caller asking again and again
    for the same columns keeps it rather than have it built per response). `blocks`, if given,
    gets the whole rows the fast path takes as a RowBlock instead of the columns' dicts (the
    cells the plain loop takes still go into the dicts).

    This is the engine's hot loop (about 800 values per device-poll): whole rows of number and
    string cells go through _match_rows; the rest is parsed inline with a fast path for
    short-form lengths (read_tl handles the long forms) and the common value types decoded in
    place; decode_value stays the reference for the rest. Once every column has ended, the rest
    of the response is not read (a walk's last answer is mostly cells past the table's end).

    A response that does not decode (SnmpDecodeError) leaves the columns as they were, so the
    same request can be asked again; a loop leaves them as far as it got.
    """
    buf = pdu.buf
    pos = pdu.vb_start
    end = pdu.vb_end
    n = len(columns)
    fast = None
    if n and not any(map(_done, columns)) and not any(map(_typed, columns)):
        plan = _row_plan(prefixes if prefixes is not None else tuple(c.prefix for c in columns))
        if plan is not None:
            fast = _match_rows(buf, pos, end, columns, plan)
            if fast is not None and fast[0][-1].end() == end:
                _take_rows(columns, plan, *fast[1:], blocks)  # the whole response: nothing left to fail
                return len(fast[0]) * n
    saved = [(c.last_index, c.done, c.next_oid, len(c.values)) for c in columns]
    saved_blocks = len(blocks) if blocks is not None else 0
    try:
        i = 0
        if fast is not None:
            _take_rows(columns, plan, *fast[1:], blocks)  # type: ignore[possibly-undefined]
            i = len(fast[0]) * n
            pos = fast[0][-1].end()
        return _collect(buf, pos, end, columns, i)
    except SnmpDecodeError:
        for col, (last_index, done, next_oid, size) in zip(columns, saved, strict=True):
            col.last_index, col.done, col.next_oid = last_index, done, next_oid
            for index in list(col.values)[size:]:  # indexes only increase: these are all new
                del col.values[index]
        if blocks is not None:
            del blocks[saved_blocks:]
        raise


_done = attrgetter("done")
_typed = attrgetter("typed")


def _collect(buf: bytes, pos: int, end: int, columns: list[ColumnProgress], i: int) -> int:
    """collect_columns' plain loop, from varbind i at pos on."""
    n = len(columns)
    small = _SMALL_INDEX
    while pos < end:
        # varbind SEQUENCE
        if pos + 2 > end:
            raise SnmpDecodeError("truncated TLV header")
        ln = buf[pos + 1]
        if ln < 0x80:
            p = pos + 2
            ve = p + ln
            if ve > end:
                raise SnmpDecodeError("BER length runs past the datagram")
        else:
            _, p, ve = read_tl(buf, pos, end)
        if buf[pos] != 0x30:
            raise SnmpDecodeError(f"expected tag 0x30, got 0x{buf[pos]:02x}")
        # OID
        if p + 2 > ve:
            raise SnmpDecodeError("truncated TLV header")
        ln = buf[p + 1]
        if ln < 0x80:
            os_ = p + 2
            oe = os_ + ln
            if oe > ve:
                raise SnmpDecodeError("BER length runs past the datagram")
        else:
            _, os_, oe = read_tl(buf, p, ve)
        if buf[p] != 0x06:
            raise SnmpDecodeError("varbind without an OID")
        # value
        if oe + 2 > ve:
            raise SnmpDecodeError("truncated TLV header")
        tag = buf[oe]
        ln = buf[oe + 1]
        if ln < 0x80:
            s = oe + 2
            e = s + ln
            if e > ve:
                raise SnmpDecodeError("BER length runs past the datagram")
        else:
            tag, s, e = read_tl(buf, oe, ve)
        pos = ve

        col = columns[i % n]
        i += 1
        if col.done:
            continue
        prefix = col.prefix
        plen = len(prefix)
        if tag == 0x82 or oe - os_ <= plen or not buf.startswith(prefix, os_):
            col.done = True
            if all(map(_done, columns)):  # what follows is past every column's end: not read
                return i
            continue
        start = os_ + plen
        index = small[buf[start]] if oe - start == 1 and buf[start] < 0x80 else decode_index(buf, start, oe)
        last = col.last_index
        if last is not None and index <= last:
            raise SnmpLoopError(f"agent returned non-increasing OIDs in column {col.oid}")
        col.last_index = index
        col.next_oid = buf[p:oe]
        if col.typed:
            col.values[index] = (tag, decode_value(tag, buf, s, e))
        elif tag == 0x02:
            if e == s or e - s > 9:
                raise SnmpDecodeError("bad INTEGER length")
            col.values[index] = int.from_bytes(buf[s:e], "big", signed=True)
        elif tag in _UNSIGNED32:
            if e == s or e - s > 9:
                raise SnmpDecodeError("bad unsigned integer length")
            col.values[index] = int.from_bytes(buf[s:e], "big") & 0xFFFFFFFF
        elif tag == 0x46:
            if e == s or e - s > 9:
                raise SnmpDecodeError("bad unsigned integer length")
            col.values[index] = int.from_bytes(buf[s:e], "big")
        elif tag != 0x80 and tag != 0x81:
            col.values[index] = decode_value(tag, buf, s, e)
    return i


def continue_oid(col: ColumnProgress) -> bytes:
    """The OID TLV a walk of this column continues from: its last cell's OID as the agent sent
    it (no re-encoding of the index), or the column itself before any cell."""
    if col.next_oid is not None:
        return col.next_oid
    if col.last_index is None:
        return tlv(Tag.OID, col.prefix)
    return tlv(Tag.OID, col.prefix + encode_subids(col.last_index))
