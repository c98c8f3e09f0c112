"""collect_columns' fast paths (inline parsing, whole-row regex) give what the plain loop gives."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.snmp import ber, pdu
from poller.snmp.ber import decode_index, decode_value
from poller.snmp.errors import SnmpDecodeError, SnmpLoopError
from poller.snmp.values import Tag

COLUMNS = ("1.3.6.1.2.1.2.2.1.8", "1.3.6.1.2.1.2.2.1.14", "1.3.6.1.2.1.31.1.1.1.6")


def reference_collect(p: pdu.Pdu, columns: list[pdu.ColumnProgress]) -> int:
    """The plain loop collect_columns replaced: the specification of its semantics."""
    buf = p.buf
    n = len(columns)
    i = 0
    for os_, oe, tag, s, e in pdu.iter_varbinds(buf, p.vb_start, p.vb_end):
        col = columns[i % n]
        i += 1
        if col.done:
            continue
        plen = len(col.prefix)
        if tag == 0x82 or oe - os_ <= plen or not buf.startswith(col.prefix, os_):
            col.done = True
            if all(c.done for c in columns):  # the rest is past every column's end: not read
                return i
            continue
        index = decode_index(buf, os_ + plen, oe)
        if col.last_index is not None and index <= col.last_index:
            raise SnmpLoopError(f"agent returned non-increasing OIDs in column {col.oid}")
        col.last_index = index
        if col.typed:
            col.values[index] = (tag, decode_value(tag, buf, s, e))
        elif tag != 0x80 and tag != 0x81:
            col.values[index] = decode_value(tag, buf, s, e)
    return i


cells = st.tuples(
    st.sampled_from([0, 1, 2]),  # which column the cell claims to be in
    st.integers(0, 300),  # index (one or two bytes)
    st.sampled_from(
        [
            Tag.INTEGER,
            Tag.COUNTER32,
            Tag.COUNTER64,
            Tag.GAUGE32,
            Tag.OCTET_STRING,
            Tag.END_OF_MIB_VIEW,
            Tag.NO_SUCH_INSTANCE,
        ]
    ),
    st.integers(0, 2**32 - 1),
)


def text(n: int) -> bytes:
    """An OCTET STRING of n % 140 octets: empty, short, and past the longest short-form varbind."""
    return bytes((n + k) % 256 for k in range(n % 140))


def response(rows) -> bytes:
    body = b""
    for column, index, tag, value in rows:
        oid = f"{COLUMNS[column]}.{index}"
        if tag == Tag.INTEGER:
            value %= 2**31
        elif tag == Tag.OCTET_STRING:
            value = text(value)
        body += ber.tlv(0x30, ber.encode_oid(oid) + ber.encode_value(tag, value))
    return pdu.encode_community_message(
        "2c", b"c", pdu.encode_pdu(pdu.RESPONSE, 1, ber.tlv(0x30, body), 0, 0)
    )


def outcome(fn, wire: bytes, typed: bool):
    cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}, typed=typed) for c in COLUMNS]
    try:
        consumed = fn(pdu.parse_community_message(wire).pdu, cols)
    except (SnmpDecodeError, SnmpLoopError) as exc:
        return type(exc).__name__, str(exc)
    return consumed, [(c.values, c.last_index, c.done) for c in cols]


@settings(max_examples=400, deadline=None)
@given(st.lists(cells, max_size=40), st.booleans())
def test_generated_responses_collect_exactly_as_the_plain_loop(rows, typed):
    wire = response(rows)
    assert outcome(pdu.collect_columns, wire, typed) == outcome(reference_collect, copy.copy(wire), typed)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60))
def test_well_formed_integer_rows_take_the_same_values_as_the_plain_loop(rows_count):
    rows = [
        (c, i, Tag.COUNTER64 if c == 2 else Tag.INTEGER, i * 1000 + c)
        for i in range(1, rows_count + 1)
        for c in range(3)
    ]
    wire = response(rows)
    assert outcome(pdu.collect_columns, wire, False) == outcome(reference_collect, wire, False)


@settings(max_examples=300, deadline=None)
@given(st.lists(cells, min_size=3, max_size=20), st.integers(0, 400), st.integers(0, 255))
def test_mutated_responses_fail_or_succeed_exactly_as_the_plain_loop(rows, pos, byte):
    wire = bytearray(response(rows))
    wire[pos % len(wire)] = byte
    try:
        pdu.parse_community_message(bytes(wire))
    except SnmpDecodeError:
        return
    assert outcome(pdu.collect_columns, bytes(wire), False) == outcome(reference_collect, bytes(wire), False)


def wide_value(tag: Tag, value: int) -> int:
    """Any value the tag can carry: negative INTEGERs, 32-bit values with the high bit set, 64-bit."""
    if tag == Tag.INTEGER:
        return value % 2**32 - 2**31
    if tag == Tag.COUNTER64:
        return value
    return value % 2**32


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.lists(st.integers(0, 200), min_size=1, max_size=40))
def test_rows_of_strings_and_numbers_take_the_same_values_as_the_plain_loop(rows_count, lengths):
    rows = [
        (c, i, Tag.OCTET_STRING if c == 1 else Tag.GAUGE32, lengths[(i + c) % len(lengths)])
        for i in range(1, rows_count + 1)
        for c in range(3)
    ]
    wire = response(rows)
    assert outcome(pdu.collect_columns, wire, False) == outcome(reference_collect, wire, False)


def test_whole_rows_of_strings_and_numbers_are_matched_by_the_row_regex():
    # ifDescr-like text of every short length, beside numbers: no cell left to the plain loop
    rows = [(c, i, Tag.OCTET_STRING if c == 1 else Tag.COUNTER64, i) for i in range(1, 100) for c in range(3)]
    p = pdu.parse_community_message(response(rows)).pdu
    cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}) for c in COLUMNS]
    plan = pdu._row_plan(tuple(c.prefix for c in cols))
    matched = pdu._match_rows(p.buf, p.vb_start, p.vb_end, cols, plan)
    assert matched is not None
    assert len(matched[0]) == 99
    assert matched[3][1::3] == [text(i) for i in range(1, 100)]


def test_varbinds_past_every_columns_end_are_not_read():
    ended = [(c, 1, Tag.INTEGER, 7) for c in range(3)] + [(c, 1, Tag.END_OF_MIB_VIEW, 0) for c in range(3)]
    body = b"".join(
        ber.tlv(0x30, ber.encode_oid(f"{COLUMNS[c]}.{i}") + ber.encode_value(tag, v))
        for c, i, tag, v in ended
    )
    garbage = ber.tlv(0x30, ber.tlv(0x04, b"not an OID") + ber.encode_value(Tag.NULL, None))
    wire = pdu.encode_community_message(
        "2c", b"c", pdu.encode_pdu(pdu.RESPONSE, 1, ber.tlv(0x30, body + garbage))
    )
    cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}) for c in COLUMNS]
    assert pdu.collect_columns(pdu.parse_community_message(wire).pdu, cols) == 6
    assert [c.values for c in cols] == [{(1,): 7}] * 3
    assert all(c.done for c in cols)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=3, max_size=45))
def test_negative_integers_and_high_bit_counters_take_the_same_values_as_the_plain_loop(values):
    tags = (Tag.INTEGER, Tag.COUNTER32, Tag.COUNTER64)
    rows = [(i % 3, i // 3 + 1, tags[i % 3], wide_value(tags[i % 3], v)) for i, v in enumerate(values)]
    body = b"".join(
        ber.tlv(0x30, ber.encode_oid(f"{COLUMNS[c]}.{index}") + ber.encode_value(tag, value))
        for c, index, tag, value in rows
    )
    wire = pdu.encode_community_message("2c", b"c", pdu.encode_pdu(pdu.RESPONSE, 1, ber.tlv(0x30, body)))
    assert outcome(pdu.collect_columns, wire, False) == outcome(reference_collect, wire, False)


@settings(max_examples=100, deadline=None)
@given(st.lists(cells, min_size=1, max_size=40))
def test_each_column_continues_from_the_oid_of_its_last_cell(rows):
    cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}) for c in COLUMNS]
    try:
        pdu.collect_columns(pdu.parse_community_message(response(rows)).pdu, cols)
    except SnmpLoopError:
        return
    for col in cols:
        if col.last_index is None:
            assert pdu.continue_oid(col) == ber.encode_oid(col.oid)
        else:
            assert pdu.continue_oid(col) == ber.encode_oid(col.oid + "." + ".".join(map(str, col.last_index)))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 16383), st.lists(st.integers(1, 300), min_size=1, max_size=30))
def test_rows_with_one_and_two_byte_indexes_take_the_same_values_as_the_plain_loop(first, steps):
    indexes = [first]
    for step in steps:
        indexes.append(indexes[-1] + step)  # crosses 127/128 and 16383/16384 (three bytes) on the way
    rows = [(c, i, Tag.COUNTER64 if c == 2 else Tag.INTEGER, i * 7 + c) for i in indexes for c in range(3)]
    wire = response(rows)
    assert outcome(pdu.collect_columns, wire, False) == outcome(reference_collect, wire, False)


def test_a_two_byte_index_that_repeats_the_last_one_is_a_loop():
    cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}) for c in COLUMNS]
    first = response([(c, i, Tag.INTEGER, 1) for i in (600, 601) for c in range(3)])
    again = response([(c, i, Tag.INTEGER, 1) for i in (601, 602) for c in range(3)])
    pdu.collect_columns(pdu.parse_community_message(first).pdu, cols)
    assert [c.last_index for c in cols] == [(601,)] * 3
    with pytest.raises(SnmpLoopError):
        pdu.collect_columns(pdu.parse_community_message(again).pdu, cols)


# ---------------------------------------------------------------------------------------- RowBlocks


def outcome_in_blocks(wire: bytes, typed: bool):
    """``outcome`` of collect_columns keeping its whole rows as RowBlocks, the columns as Walked.table()
    gives them (each column's cells in order, as a list)."""
    cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}, typed=typed) for c in COLUMNS]
    blocks: list[pdu.RowBlock] = []
    try:
        consumed = pdu.collect_columns(pdu.parse_community_message(wire).pdu, cols, None, blocks)
    except (SnmpDecodeError, SnmpLoopError) as exc:
        return type(exc).__name__, str(exc)
    table = pdu.Walked({c.oid: c.values for c in cols}, blocks).table()
    return consumed, [(list(table[c.oid].items()), c.last_index, c.done) for c in cols]


def in_order(result):
    """An ``outcome`` with each column's cells as a list: the order is part of what is compared."""
    if isinstance(result[0], str):
        return result
    return result[0], [(list(values.items()), *rest) for values, *rest in result[1]]


@settings(max_examples=400, deadline=None)
@given(st.lists(cells, max_size=40), st.booleans())
def test_whole_rows_kept_as_blocks_give_the_columns_of_the_plain_loop_in_its_order(rows, typed):
    wire = response(rows)
    assert outcome_in_blocks(wire, typed) == in_order(outcome(reference_collect, wire, typed))


def test_whole_rows_kept_as_blocks_leave_the_columns_dicts_empty():
    rows = [(c, i, Tag.OCTET_STRING if c == 1 else Tag.COUNTER64, i) for i in range(1, 5) for c in range(3)]
    cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}) for c in COLUMNS]
    blocks: list[pdu.RowBlock] = []
    assert pdu.collect_columns(pdu.parse_community_message(response(rows)).pdu, cols, None, blocks) == 12
    assert [c.values for c in cols] == [{}, {}, {}]
    (block,) = blocks
    assert block.columns == COLUMNS
    assert block.keys == [(i,) for i in range(1, 5) for _ in range(3)]
    assert block.values[1::3] == [text(i) for i in range(1, 5)]
    assert [c.last_index for c in cols] == [(4,)] * 3  # the walk goes on from the block's last row


def test_a_response_that_does_not_decode_after_whole_rows_leaves_no_block_behind():
    rows = [(c, i, Tag.INTEGER, i) for i in range(1, 4) for c in range(3)]
    body = b"".join(
        ber.tlv(0x30, ber.encode_oid(f"{COLUMNS[c]}.{i}") + ber.encode_value(tag, v)) for c, i, tag, v in rows
    )
    garbage = ber.tlv(0x30, ber.tlv(0x04, b"not an OID") + ber.encode_value(Tag.NULL, None))
    wire = pdu.encode_community_message(
        "2c", b"c", pdu.encode_pdu(pdu.RESPONSE, 1, ber.tlv(0x30, body + garbage))
    )
    cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}) for c in COLUMNS]
    blocks: list[pdu.RowBlock] = [pdu.RowBlock(COLUMNS, [(0,)] * 3, [0] * 3)]  # an earlier answer's
    with pytest.raises(SnmpDecodeError):
        pdu.collect_columns(pdu.parse_community_message(wire).pdu, cols, None, blocks)
    assert len(blocks) == 1 and blocks[0].keys == [(0,)] * 3  # the same request can be asked again
    assert [(c.values, c.last_index, c.done) for c in cols] == [({}, None, False)] * 3


# Whole rows (each column in turn, one index a row, indexes increasing), then cells of any kind: what a
# walk's answers hold, the fast path taking the rows and the plain loop the rest.
whole_rows = st.builds(
    lambda start, count, tags, tail: (
        [(c, start + r, tags[(r + c) % len(tags)], r * 3 + c) for r in range(count) for c in range(3)] + tail
    ),
    st.integers(1, 200),
    st.integers(1, 6),
    st.lists(st.sampled_from([Tag.INTEGER, Tag.COUNTER64, Tag.GAUGE32, Tag.OCTET_STRING]), min_size=1),
    st.lists(cells, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(whole_rows | st.lists(cells, max_size=20), min_size=1, max_size=4))
def test_a_walks_answers_kept_as_blocks_give_the_columns_of_the_plain_loop(answers):
    # answer after answer into the same columns: blocks and the plain loop's cells interleave
    def walk(blocks: list[pdu.RowBlock] | None):
        cols = [pdu.ColumnProgress(c, ber.oid_content(c), {}) for c in COLUMNS]
        for rows in answers:
            active = [c for c in cols if not c.done]
            if not active:
                break
            wire = response([r for r in rows if not cols[r[0]].done])
            try:
                if blocks is None:
                    reference_collect(pdu.parse_community_message(wire).pdu, active)
                else:
                    pdu.collect_columns(pdu.parse_community_message(wire).pdu, active, None, blocks)
            except SnmpLoopError:
                return "loop"
        table = pdu.Walked({c.oid: c.values for c in cols}, blocks or []).table()
        return [list(table[c.oid].items()) for c in cols]

    assert walk([]) == walk(None)
