"""The BER codec against pysnmp's codec as the reference, and against hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.proto import rfc1902

from poller.snmp import ber
from poller.snmp.errors import SnmpDecodeError
from poller.snmp.values import Tag

subids = st.integers(min_value=0, max_value=2**32 - 1)
oids = st.one_of(
    st.tuples(st.integers(0, 1), st.integers(0, 39)),
    st.tuples(st.just(2), st.integers(0, 2**32 - 1)),
).flatmap(lambda head: st.lists(subids, min_size=0, max_size=30).map(lambda tail: (*head, *tail)))

PYSNMP_TYPES = {
    Tag.INTEGER: rfc1902.Integer32,
    Tag.COUNTER32: rfc1902.Counter32,
    Tag.GAUGE32: rfc1902.Gauge32,
    Tag.TIMETICKS: rfc1902.TimeTicks,
    Tag.COUNTER64: rfc1902.Counter64,
}
RANGES = {
    Tag.INTEGER: (-(2**31), 2**31 - 1),
    Tag.COUNTER32: (0, 2**32 - 1),
    Tag.GAUGE32: (0, 2**32 - 1),
    Tag.TIMETICKS: (0, 2**32 - 1),
    Tag.COUNTER64: (0, 2**64 - 1),
}
typed_ints = st.sampled_from(list(RANGES)).flatmap(
    lambda tag: st.integers(*RANGES[tag]).map(lambda v: (tag, v))
)


@given(oids)
def test_oid_encoding_matches_pysnmp(oid):
    assert ber.tlv(Tag.OID, ber.oid_content_from_tuple(oid)) == pyasn1_encoder.encode(rfc1902.ObjectName(oid))


@given(oids)
def test_oid_decoding_matches_pysnmp(oid):
    wire = pyasn1_encoder.encode(rfc1902.ObjectName(oid))
    _, start, stop = ber.read_tl(wire, 0, len(wire))
    assert ber.decode_oid_content(wire, start, stop) == tuple(pyasn1_decoder.decode(wire)[0])


@given(typed_ints)
def test_integer_types_we_encode_decode_identically_in_pysnmp(typed):
    tag, value = typed
    decoded, rest = pyasn1_decoder.decode(ber.encode_value(tag, value), asn1Spec=PYSNMP_TYPES[tag]())
    assert int(decoded) == value and rest == b""


@given(typed_ints)
def test_integers_are_encoded_minimally(typed):
    tag, value = typed
    content = ber.encode_value(tag, value)[2:]
    assert len(content) == 1 or not (
        (content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
    )


@given(typed_ints)
def test_integer_types_decode_what_pysnmp_encodes(typed):
    tag, value = typed
    wire = pyasn1_encoder.encode(PYSNMP_TYPES[tag](value))
    t, start, stop = ber.read_tl(wire, 0, len(wire))
    assert t == tag
    assert ber.decode_value(t, wire, start, stop) == value


@given(st.binary(max_size=300))
def test_octet_strings_round_trip_through_pysnmp(data):
    wire = ber.encode_value(Tag.OCTET_STRING, data)
    assert wire == pyasn1_encoder.encode(rfc1902.OctetString(data))
    assert bytes(pyasn1_decoder.decode(wire, asn1Spec=rfc1902.OctetString())[0]) == data


def test_unsigned_values_with_the_high_bit_set_decode_unsigned_with_or_without_the_leading_zero():
    assert ber.decode_value(Tag.COUNTER32, b"\xff\xff\xff\xff", 0, 4) == 0xFFFFFFFF
    assert ber.decode_value(Tag.COUNTER32, b"\x00\xff\xff\xff\xff", 0, 5) == 0xFFFFFFFF
    assert ber.decode_value(Tag.COUNTER64, b"\x80" + b"\x00" * 7, 0, 8) == 2**63


def test_non_minimal_integers_are_accepted():
    # pysnmp sends -128 as ff 80
    assert ber.decode_value(Tag.INTEGER, b"\xff\x80", 0, 2) == -128
    assert ber.read_integer(b"\x02\x05\x00\x00\x00\x00\x07", 0, 7) == (7, 7)


def test_long_form_lengths_are_read():
    content = b"x" * 200
    wire = ber.tlv(Tag.OCTET_STRING, content)
    assert wire[:3] == b"\x04\x81\xc8"
    assert ber.read_tl(wire, 0, len(wire)) == (Tag.OCTET_STRING, 3, 203)


def test_large_subidentifiers_and_arc_two_encode_in_base_128():
    assert ber.oid_content("2.999.3") == bytes.fromhex("883703")
    assert ber.oid_content("1.3.6.1.4.1.16383.16384") == bytes.fromhex("2b06010401ff7f818000")


def test_null_decodes_as_none():
    assert ber.decode_value(Tag.NULL, b"", 0, 0) is None


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x04",
        b"\x04\x05abc",  # length runs past the end
        b"\x04\x85\x00\x00\x00\x00\x01a",  # 5-byte length
        b"\x04\x80",  # indefinite length
    ],
)
def test_truncated_or_oversized_lengths_raise_decode_error(wire):
    with pytest.raises(SnmpDecodeError):
        ber.read_tl(wire, 0, len(wire))


def test_an_oid_ending_inside_a_subidentifier_raises_decode_error():
    with pytest.raises(SnmpDecodeError):
        ber.decode_oid_content(b"\x2b\x86", 0, 2)


def test_an_unknown_value_tag_raises_decode_error():
    with pytest.raises(SnmpDecodeError):
        ber.decode_value(0x99, b"", 0, 0)


@settings(max_examples=300)
@given(st.binary(max_size=64), st.integers(0, 0xFF))
def test_any_value_bytes_decode_or_raise_decode_error(data, tag):
    try:
        ber.decode_value(tag, data, 0, len(data))
    except SnmpDecodeError:
        pass


def test_invalid_dotted_oids_are_refused():
    for bad in ("", "1", "3.1", "1.40", "1.3.x"):
        with pytest.raises(ValueError):
            ber.oid_content(bad)
