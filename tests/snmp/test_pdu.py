"""Messages and PDUs: requests against pysnmp's decoder, responses into columns, hostile datagrams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.proto import api

from poller.snmp import ber, pdu
from poller.snmp.errors import SnmpDecodeError, SnmpLoopError
from poller.snmp.values import Tag

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"


def pysnmp_response(request_id: int, varbinds, community: str = "public", error_status: int = 0) -> bytes:
    msg = V2C.Message()
    resp = V2C.ResponsePDU()
    V2C.apiPDU.set_defaults(resp)
    V2C.apiPDU.set_request_id(resp, request_id)
    V2C.apiPDU.set_error_status(resp, error_status)
    V2C.apiPDU.set_varbinds(resp, varbinds)
    V2C.apiMessage.set_defaults(msg)
    V2C.apiMessage.set_community(msg, community)
    V2C.apiMessage.set_pdu(msg, resp)
    return pyasn1_encoder.encode(msg)


def test_a_getbulk_request_decodes_in_pysnmp_with_every_field():
    wire = pdu.encode_community_message(
        "2c", b"secret", pdu.encode_pdu(pdu.GETBULK, 123456, pdu.varbind_list([IF_DESCR, IF_OPER]), 0, 25)
    )
    msg, _ = pyasn1_decoder.decode(wire, asn1Spec=V2C.Message())
    req = V2C.apiMessage.get_pdu(msg)
    assert str(V2C.apiMessage.get_community(msg)) == "secret"
    assert int(V2C.apiBulkPDU.get_request_id(req)) == 123456
    assert int(V2C.apiBulkPDU.get_max_repetitions(req)) == 25
    assert [str(oid) for oid, _ in V2C.apiBulkPDU.get_varbinds(req)] == [IF_DESCR, IF_OPER]


def test_a_pysnmp_response_decodes_into_typed_varbinds():
    wire = pysnmp_response(
        7,
        [
            ((1, 3, 6, 1, 2, 1, 1, 3, 0), V2C.TimeTicks(4242)),
            ((1, 3, 6, 1, 2, 1, 1, 5, 0), V2C.OctetString(b"edge-1")),
            ((1, 3, 6, 1, 2, 1, 1, 9, 0), V2C.NoSuchObject()),
            ((1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 10, 0, 0, 1), V2C.IpAddress("10.0.0.1")),
        ],
    )
    msg = pdu.parse_community_message(wire)
    got = [(vb.oid, vb.tag, vb.value) for vb in pdu.decode_varbinds(msg.pdu)]
    assert got == [
        ("1.3.6.1.2.1.1.3.0", Tag.TIMETICKS, 4242),
        ("1.3.6.1.2.1.1.5.0", Tag.OCTET_STRING, b"edge-1"),
        ("1.3.6.1.2.1.1.9.0", Tag.NO_SUCH_OBJECT, None),
        ("1.3.6.1.2.1.4.20.1.1.10.0.0.1", Tag.IP_ADDRESS, "10.0.0.1"),
    ]
    assert pdu.peek_message_id(wire) == 7


def test_varbinds_decode_to_their_own_oids_past_the_oid_string_cache(monkeypatch):
    monkeypatch.setattr(pdu, "_OID_STRINGS", {})
    monkeypatch.setattr(pdu, "_OID_STRINGS_MAX", 2)
    for n in range(5):  # two remembered, the rest decoded each time
        oids = [f"1.3.6.1.2.1.1.{n}.0", f"1.3.6.1.4.1.{n}.{130 + n}"]
        wire = pdu.encode_community_message(
            "2c",
            b"c",
            pdu.encode_pdu(pdu.RESPONSE, 1, pdu.varbind_list(oids + oids[:1])),
        )
        got = [vb.oid for vb in pdu.decode_varbinds(pdu.parse_community_message(wire).pdu)]
        assert got == oids + oids[:1]
    assert len(pdu._OID_STRINGS) == 2


def _columns(*oids):
    return [pdu.ColumnProgress(o, ber.oid_content(o), {}) for o in oids]


def _oid(text):
    return tuple(int(x) for x in text.split("."))


def test_bulk_rows_go_to_their_columns_by_position_and_columns_end_outside_their_prefix():
    wire = pysnmp_response(
        1,
        [
            (_oid(IF_DESCR + ".1"), V2C.OctetString(b"eth0")),
            (_oid(IF_OPER + ".1"), V2C.Integer(1)),
            (_oid(IF_DESCR + ".2"), V2C.OctetString(b"eth1")),
            (_oid(IF_OPER + ".2"), V2C.Integer(2)),
            (_oid(IF_OPER[:-1] + "3.1"), V2C.Integer(3)),  # ifDescr's walk ran into ifType: done
            (_oid("1.3.6.1.2.1.2.2.1.9.1"), V2C.TimeTicks(0)),  # ifOperStatus ran into ifLastChange
        ],
    )
    cols = _columns(IF_DESCR, IF_OPER)
    consumed = pdu.collect_columns(pdu.parse_community_message(wire).pdu, cols)
    assert consumed == 6
    assert cols[0].values == {(1,): b"eth0", (2,): b"eth1"} and cols[0].done
    assert cols[1].values == {(1,): 1, (2,): 2} and cols[1].done


def test_end_of_mib_view_ends_a_column():
    wire = pysnmp_response(
        1, [(_oid(IF_DESCR + ".1"), V2C.OctetString(b"a")), ((1, 3, 7), V2C.EndOfMibView())]
    )
    cols = _columns(IF_DESCR)
    pdu.collect_columns(pdu.parse_community_message(wire).pdu, cols)
    assert cols[0].values == {(1,): b"a"}
    assert cols[0].done


def test_a_column_continues_from_its_last_index_with_multi_byte_subidentifiers():
    wire = pysnmp_response(1, [(_oid(IF_DESCR + ".16383.5"), V2C.OctetString(b"a"))])
    cols = _columns(IF_DESCR)
    pdu.collect_columns(pdu.parse_community_message(wire).pdu, cols)
    assert pdu.continue_oid(cols[0]) == ber.encode_oid(IF_DESCR + ".16383.5")


def test_indices_compare_as_numbers_not_as_bytes_so_16384_after_16383_is_no_loop():
    wire = pysnmp_response(
        1,
        [
            (_oid(IF_DESCR + ".16383"), V2C.OctetString(b"a")),
            (_oid(IF_DESCR + ".16384"), V2C.OctetString(b"b")),
        ],
    )
    cols = _columns(IF_DESCR)
    pdu.collect_columns(pdu.parse_community_message(wire).pdu, cols)
    assert list(cols[0].values) == [(16383,), (16384,)]


def test_a_repeated_index_is_a_loop():
    wire = pysnmp_response(
        1, [(_oid(IF_DESCR + ".5"), V2C.OctetString(b"a")), (_oid(IF_DESCR + ".5"), V2C.OctetString(b"a"))]
    )
    with pytest.raises(SnmpLoopError):
        pdu.collect_columns(pdu.parse_community_message(wire).pdu, _columns(IF_DESCR))


def test_no_such_instance_cells_are_skipped_but_the_column_goes_on():
    wire = pysnmp_response(
        1, [(_oid(IF_DESCR + ".1"), V2C.NoSuchInstance()), (_oid(IF_DESCR + ".2"), V2C.OctetString(b"b"))]
    )
    cols = _columns(IF_DESCR)
    pdu.collect_columns(pdu.parse_community_message(wire).pdu, cols)
    assert cols[0].values == {(2,): b"b"} and not cols[0].done


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x30\x03\x02\x01\x01",
        bytes.fromhex("302602010104067075626c6963a019020105020100020100300e300c06082b0601020101030005"),
        bytes.fromhex("3006020101040000"),
        bytes.fromhex("300b0201010400a404020100"),
    ],
)
def test_malformed_messages_raise_decode_error(wire):
    with pytest.raises(SnmpDecodeError):
        m = pdu.parse_community_message(wire)
        pdu.decode_varbinds(m.pdu)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_datagrams_never_escape_as_anything_but_decode_error(data):
    assert pdu.peek_message_id(data) is None or isinstance(pdu.peek_message_id(data), int)
    try:
        m = pdu.parse_community_message(data)
        pdu.decode_varbinds(m.pdu)
        pdu.collect_columns(m.pdu, _columns(IF_DESCR, IF_OPER))
    except (SnmpDecodeError, SnmpLoopError):
        pass


VALID = pysnmp_response(
    99, [(_oid(IF_DESCR + ".1"), V2C.OctetString(b"eth0")), (_oid(IF_OPER + ".1"), V2C.Counter64(2**64 - 1))]
)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.integers(1, len(VALID)))
def test_mutated_and_truncated_responses_never_escape_as_anything_but_decode_error(pos, byte, cut):
    mutated = bytearray(VALID)
    mutated[pos] = byte
    for data in (bytes(mutated), VALID[:cut]):
        try:
            m = pdu.parse_community_message(data)
            pdu.decode_varbinds(m.pdu)
            pdu.collect_columns(m.pdu, _columns(IF_DESCR, IF_OPER))
        except (SnmpDecodeError, SnmpLoopError):
            pass


def _parsed(parse, data: bytes):
    try:
        m = parse(data)
    except SnmpDecodeError as exc:
        return "error", str(exc)
    p = m.pdu
    return m.version, m.community, (p.tag, p.request_id, p.error_status, p.error_index, p.vb_start, p.vb_end)


BIG = pysnmp_response(
    2**31 - 1, [(_oid(f"{IF_DESCR}.{i}"), V2C.OctetString(b"x" * 40)) for i in range(1, 10)], error_status=1
)


def _as_sent_altered_and_cut(wire: bytes, pos: int, byte: int, cut: int) -> tuple[bytes, bytes, bytes]:
    """The datagram as sent, with one byte changed, and cut short."""
    mutated = bytearray(wire)
    mutated[pos % len(wire)] = byte
    return wire, bytes(mutated), wire[: cut % len(wire) + 1]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from([VALID, BIG]), st.integers(0, 2000), st.integers(0, 255), st.integers(1, 2000))
def test_the_one_pass_header_parser_agrees_with_the_step_by_step_one(wire, pos, byte, cut):
    for data in _as_sent_altered_and_cut(wire, pos, byte, cut):
        want = _parsed(pdu.parse_community_reference, data)
        assert _parsed(pdu.parse_community_message, data) == want
        if want[0] != "error":
            assert pdu.peek_message_id(data) == want[2][1]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from([VALID, BIG]), st.integers(0, 2000), st.integers(0, 255), st.integers(1, 2000))
def test_the_inline_message_id_peek_agrees_with_the_step_by_step_one(wire, pos, byte, cut):
    for data in _as_sent_altered_and_cut(wire, pos, byte, cut):
        assert pdu.peek_message_id(data) == pdu.peek_message_reference(data)


def reference_decode_varbinds(p: pdu.Pdu):
    """decode_varbinds step by step (the specification of its inline fast path)."""
    out = []
    for os_, oe, tag, s, e in pdu.iter_varbinds(p.buf, p.vb_start, p.vb_end):
        try:
            t = Tag(tag)
        except ValueError:
            raise SnmpDecodeError(f"unknown value tag 0x{tag:02x}") from None
        oid = ber.oid_to_str(ber.decode_oid_content(p.buf, os_, oe))
        out.append(pdu.VarBind(oid, t, ber.decode_value(tag, p.buf, s, e)))
    return out


def _varbinds_or_error(fn, p: pdu.Pdu):
    try:
        return fn(p)
    except SnmpDecodeError as exc:
        return str(exc)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.integers(1, len(VALID)))
def test_mutated_responses_decode_exactly_as_step_by_step(pos, byte, cut):
    mutated = bytearray(VALID)
    mutated[pos] = byte
    for data in (bytes(mutated), VALID[:cut]):
        try:
            m = pdu.parse_community_message(data)
        except SnmpDecodeError:
            continue
        assert _varbinds_or_error(pdu.decode_varbinds, m.pdu) == _varbinds_or_error(
            reference_decode_varbinds, m.pdu
        )


def _pdu_or_error(parse, data: bytes, pos: int, end: int):
    try:
        p = parse(data, pos, end)
    except SnmpDecodeError as exc:
        return "error", str(exc)
    return p.tag, p.request_id, p.error_status, p.error_index, p.vb_start, p.vb_end


@settings(max_examples=600, deadline=None)
@given(st.sampled_from([VALID, BIG]), st.integers(0, 2000), st.integers(0, 255), st.integers(1, 2000))
def test_the_one_pass_pdu_reader_agrees_with_the_step_by_step_one(wire, pos, byte, cut):
    s, e = ber.expect(wire, 0, len(wire), ber.SEQUENCE)
    _, p = ber.read_integer(wire, s, e)
    _, start = ber.expect(wire, p, e, 0x04)  # the PDU follows the community
    for data in _as_sent_altered_and_cut(wire, pos, byte, cut):
        end = min(e, len(data))
        assert _pdu_or_error(pdu.read_pdu, data, start, end) == _pdu_or_error(pdu.parse_pdu, data, start, end)
