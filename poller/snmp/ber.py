"""A lean BER codec for the few ASN.1 shapes SNMP uses.

Written by hand because pysnmp/pyasn1 build an object per value and resolve OIDs through the
MIB view: ~60% of pysnmp's poll cost (../shared/perf/SNMP-ENGINE-FACTS.md). pysnmp stays the
reference: tests/snmp/test_ber.py checks this codec against it with hypothesis.

Decoding is liberal (non-minimal integers and lengths, long-form lengths, integers up to 9 bytes
for the unsigned types); encoding is minimal. Every decode function raises SnmpDecodeError on
malformed input, never IndexError or ValueError.
"""

from __future__ import annotations

from functools import lru_cache

from .errors import SnmpDecodeError
from .values import Tag, Value

SEQUENCE = 0x30
MAX_OID_SUBIDS = 128  # RFC 2578
_UNSIGNED_MAX = {Tag.COUNTER32: 0xFFFFFFFF, Tag.GAUGE32: 0xFFFFFFFF, Tag.TIMETICKS: 0xFFFFFFFF}


# ---------------------------------------------------------------------------------------- encoding


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag,)) + encode_length(n) + content


def encode_signed(n: int) -> bytes:
    """Minimal two's complement content octets."""
    return n.to_bytes((n + (n < 0)).bit_length() // 8 + 1, "big", signed=True)


def encode_unsigned(n: int) -> bytes:
    """Minimal content octets of a non-negative value (leading 00 when the high bit is set)."""
    if n < 0:
        raise ValueError("unsigned SNMP value must be >= 0")
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


def encode_integer(n: int) -> bytes:
    content = n.to_bytes((n + (n < 0)).bit_length() // 8 + 1, "big", signed=True)  # encode_signed
    return bytes((0x02, len(content))) + content


@lru_cache(maxsize=65536)
def oid_content(oid: str) -> bytes:
    """Content octets of a dotted OID ('1.3.6.1.2.1.1.3.0'; a leading dot is accepted)."""
    return oid_content_from_tuple(parse_oid(oid))


def parse_oid(oid: str) -> tuple[int, ...]:
    text = oid[1:] if oid.startswith(".") else oid
    try:
        parts = tuple(int(p) for p in text.split("."))
    except ValueError:
        raise ValueError(f"not a numeric OID: {oid!r}") from None
    if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] > 39) or min(parts) < 0:
        raise ValueError(f"not a valid OID: {oid!r}")
    return parts


def oid_content_from_tuple(parts: tuple[int, ...]) -> bytes:
    return encode_subids((parts[0] * 40 + parts[1], *parts[2:]))


def encode_subids(subids: tuple[int, ...]) -> bytes:
    """Base-128 encoding of sub-identifiers (no first-pair rule: for index suffixes)."""
    out = bytearray()
    for sub in subids:
        if sub < 0x80:
            out.append(sub)
            continue
        chunk = bytearray()
        while sub:
            chunk.append((sub & 0x7F) | 0x80)
            sub >>= 7
        chunk[0] &= 0x7F
        chunk.reverse()
        out += chunk
    return bytes(out)


@lru_cache(maxsize=65536)
def encode_oid(oid: str) -> bytes:
    return tlv(Tag.OID, oid_content(oid))


def encode_value(tag: Tag, value: Value) -> bytes:
    """One value TLV (used by requests with values, the responder and tests)."""
    if tag == Tag.INTEGER:
        return tlv(tag, encode_signed(int(value)))  # type: ignore[arg-type]
    if tag in (Tag.COUNTER32, Tag.GAUGE32, Tag.TIMETICKS, Tag.COUNTER64):
        return tlv(tag, encode_unsigned(int(value)))  # type: ignore[arg-type]
    if tag in (Tag.OCTET_STRING, Tag.OPAQUE):
        return tlv(tag, bytes(value))  # type: ignore[arg-type]
    if tag == Tag.OID:
        return tlv(tag, oid_content(str(value)))
    if tag == Tag.IP_ADDRESS:
        if isinstance(value, bytes):
            return tlv(tag, value)
        return tlv(tag, bytes(int(x) for x in str(value).split(".")))
    return bytes((tag, 0))  # NULL and the exception values


# ---------------------------------------------------------------------------------------- decoding


def read_tl(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read a tag and length at pos; return (tag, content_start, content_end)."""
    if pos + 2 > end:
        raise SnmpDecodeError("truncated TLV header")
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > end:
            raise SnmpDecodeError("bad BER length")
        n = int.from_bytes(buf[pos : pos + k], "big")
        pos += k
    if pos + n > end:
        raise SnmpDecodeError("BER length runs past the datagram")
    return tag, pos, pos + n


def expect(buf: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    t, start, stop = read_tl(buf, pos, end)
    if t != tag:
        raise SnmpDecodeError(f"expected tag 0x{tag:02x}, got 0x{t:02x}")
    return start, stop


def read_integer(buf: bytes, pos: int, end: int, limit: int = 8) -> tuple[int, int]:
    """Read an INTEGER TLV at pos; return (value, next_pos). Non-minimal encodings are accepted."""
    start, stop = expect(buf, pos, end, Tag.INTEGER)
    if stop == start or stop - start > limit:
        raise SnmpDecodeError("bad INTEGER length")
    return int.from_bytes(buf[start:stop], "big", signed=True), stop


def decode_oid_content(buf: bytes, start: int, stop: int) -> tuple[int, ...]:
    if stop <= start:
        raise SnmpDecodeError("empty OID")
    subs = decode_index(buf, start, stop)
    if len(subs) > MAX_OID_SUBIDS:
        raise SnmpDecodeError("OID too long")
    first = subs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return head + subs[1:]


def decode_index(buf: bytes, start: int, stop: int) -> tuple[int, ...]:
    """Sub-identifiers of an OID suffix (no first-pair rule)."""
    if stop - start == 1:
        b = buf[start]
        if b < 0x80:
            return (b,)
    subs: list[int] = []
    acc = 0
    for i in range(start, stop):
        b = buf[i]
        acc = (acc << 7) | (b & 0x7F)
        if not b & 0x80:
            subs.append(acc)
            acc = 0
    if stop > start and buf[stop - 1] & 0x80:
        raise SnmpDecodeError("OID ends inside a sub-identifier")
    return tuple(subs)


def oid_to_str(parts: tuple[int, ...]) -> str:
    return ".".join(map(str, parts))


def decode_value(tag: int, buf: bytes, start: int, stop: int) -> Value:
    """Decode one value's content octets by tag."""
    if tag == 0x04:
        return bytes(buf[start:stop])
    if tag in (0x41, 0x42, 0x43, 0x46):
        if stop - start > 9 or stop == start:
            raise SnmpDecodeError("bad unsigned integer length")
        v = int.from_bytes(buf[start:stop], "big")
        return v if tag == 0x46 else v & 0xFFFFFFFF
    if tag == 0x02:
        if stop - start > 9 or stop == start:
            raise SnmpDecodeError("bad INTEGER length")
        return int.from_bytes(buf[start:stop], "big", signed=True)
    if tag == 0x06:
        return oid_to_str(decode_oid_content(buf, start, stop))
    if tag == 0x40:
        if stop - start != 4:
            raise SnmpDecodeError("IpAddress must be 4 octets")
        return ".".join(str(b) for b in buf[start:stop])
    if tag == 0x44:
        return bytes(buf[start:stop])
    if tag in (0x05, 0x80, 0x81, 0x82):
        return None
    raise SnmpDecodeError(f"unknown value tag 0x{tag:02x}")


KNOWN_TAGS = frozenset(int(t) for t in Tag)
