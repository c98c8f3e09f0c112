import marshal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poller.checks import ports as ports_module
from poller.checks.counters import CounterKind, counter_update
from poller.checks.ifmib import IF_COLUMNS, IF_X_COLUMNS
from poller.checks.ports import (
    DATA_COLUMNS,
    DETAIL_RAW,
    PortState,
    carry_details,
    parse_port_descr,
    poll_ports,
    port_values,
    rows_from_table,
    rows_from_walks,
)
from poller.checks.results import PortRef
from poller.snmp.pdu import RowBlock, Walked

T0 = 1_700_000_000


def raw(**kw):
    base = {
        "ifDescr": b"Gi0/1",
        "ifName": b"Gi0/1",
        "ifAlias": b"uplink",
        "ifType": 6,
        "ifAdminStatus": 1,
        "ifOperStatus": 1,
        "ifMtu": 1500,
        "ifHighSpeed": 1000,
        "ifPhysAddress": bytes.fromhex("001de58498c0"),
        "ifLastChange": 4750,
        "ifConnectorPresent": 1,
        "ifHCInOctets": 5000,
        "ifInOctets": 77,
    }
    base.update(kw)
    return base


def stored(**row):
    return {1: PortState(PortRef(9, 1, 101), {"ifIndex": 1, **row})}


def test_values_are_stored_as_librenms_names_and_formats():
    v = port_values(raw())
    assert v["ifSpeed"] == 1_000_000_000 and v["ifType"] == "ethernetCsmacd"
    assert v["ifPhysAddress"] == "001de58498c0" and v["ifConnectorPresent"] == "true"
    assert v["ifOperStatus"] == "up" and v["ifLastChange"] == 4750


def test_empty_ifalias_is_filled_with_ifdescr():
    assert port_values(raw(ifAlias=b""))["ifAlias"] == "Gi0/1"


def test_hc_counter_is_stored_under_the_plain_name_when_non_zero():
    out = poll_ports(9, stored(), {1: raw()}, polled=T0)
    assert out.writes[0].ports["ifInOctets"] == 5000
    out = poll_ports(9, stored(), {1: raw(ifHCInOctets=0)}, polled=T0)
    assert out.writes[0].ports["ifInOctets"] == 77


def test_second_poll_gives_delta_rate_and_poll_period():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, first.states, {1: raw(ifHCInOctets=8000)}, polled=T0 + 30)
    w = second.writes[0].ports
    assert (w["ifInOctets"], w["ifInOctets_prev"], w["ifInOctets_delta"], w["ifInOctets_rate"]) == (
        8000,
        5000,
        3000,
        100,
    )
    assert (w["poll_time"], w["poll_prev"], w["poll_period"]) == (T0 + 30, T0, 30)


def test_oper_status_change_is_eventlogged_with_prev():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, first.states, {1: raw(ifOperStatus=2)}, polled=T0 + 10)
    assert second.writes[0].ports["ifOperStatus_prev"] == "up"
    ev = [e for e in second.events if e.message.startswith("ifOperStatus")]
    assert ev and ev[0].message == "ifOperStatus: up -> down"
    assert (ev[0].type, ev[0].severity, ev[0].reference.port_id) == ("interface", 3, 101)


def test_unchanged_status_with_null_prev_sets_prev_to_current():
    out = poll_ports(9, stored(ifOperStatus="up"), {1: raw()}, polled=T0)
    assert out.writes[0].ports["ifOperStatus_prev"] == "up"


def test_down_and_still_down_with_same_lastchange_skips_statistics():
    s = stored(
        ifOperStatus="down", ifOperStatus_prev="down", ifLastChange=4750, ifInOctets=1, poll_time=T0 - 60
    )
    out = poll_ports(9, s, {1: raw(ifOperStatus=2)}, polled=T0)
    w = out.writes[0]
    assert not w.counters and "ifInOctets" not in w.ports and w.ports["poll_period"] == 60


def test_new_port_is_inserted_and_missing_port_marked_deleted():
    out = poll_ports(9, stored(), {2: raw(ifDescr=b"Gi0/2", ifName=b"Gi0/2")}, polled=T0)
    inserts = [w for w in out.writes if w.insert]
    deletes = [w for w in out.writes if w.ports.get("deleted") == 1]
    assert len(inserts) == 1 and inserts[0].ref.ifIndex == 2 and inserts[0].ports["ifDescr"] == "Gi0/2"
    assert len(deletes) == 1 and deletes[0].ref.port_id == 101


def test_deleted_port_seen_again_is_undeleted():
    out = poll_ports(9, stored(deleted=1), {1: raw()}, polled=T0)
    assert out.writes[0].ports["deleted"] == 0


def test_nameless_port_is_not_inserted():
    out = poll_ports(9, {}, {5: raw(ifDescr=b"", ifName=b"", ifAlias=b"")}, polled=T0)
    assert out.writes == []


def test_reboot_resets_counters_without_spike():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, first.states, {1: raw(ifHCInOctets=10)}, polled=T0 + 10, rebooted=True)
    assert second.writes[0].ports["ifInOctets_rate"] == 0


def test_port_description_parser():
    assert parse_port_descr("Cust: Example [10Mbit] {EX1} (T1 Telco)") == {
        "port_descr_type": "cust",
        "port_descr_descr": "Example",
        "port_descr_circuit": "EX1",
        "port_descr_speed": "10Mbit",
        "port_descr_notes": "T1 Telco",
    }
    assert parse_port_descr("plain")["port_descr_type"] is None


def test_rows_from_table_maps_columns_and_pvid():
    table = {
        IF_COLUMNS["ifDescr"]: {(3,): b"eth0"},
        IF_X_COLUMNS["ifName"]: {(3,): b"eth0"},
        "1.3.6.1.2.1.17.7.1.4.5.1.1": {(3,): 20},
    }
    assert rows_from_table(table) == {3: {"ifDescr": b"eth0", "ifName": b"eth0", "dot1qPvid": 20}}


PVID = "1.3.6.1.2.1.17.7.1.4.5.1.1"
# IF-MIB columns, dot1qPvid (attached last, to rows that exist) and a column rows do not hold
WALKED = (
    IF_X_COLUMNS["ifName"], IF_X_COLUMNS["ifHCInOctets"], IF_COLUMNS["ifOperStatus"], IF_COLUMNS["ifDescr"],
    PVID, "1.3.6.1.4.1.99.1.1",
)  # fmt: skip
cell_values = st.integers(0, 2**64 - 1) | st.binary(max_size=6)


@st.composite
def blocks_of(draw, group: tuple[str, ...]) -> RowBlock:
    """Whole rows of some of ``group``'s columns: one index a row (two numbers, at times), or not."""
    columns = tuple(draw(st.lists(st.sampled_from(group), min_size=1, max_size=len(group), unique=True)))
    shared_row_index = draw(st.booleans())
    width = draw(st.sampled_from([1, 1, 2]))
    keys, values = [], []
    for _ in range(draw(st.integers(1, 4))):
        first = draw(st.integers(1, 60))
        for _ in columns:
            if shared_row_index:
                keys.append((first,) * width)
            else:
                keys.append(draw(st.sampled_from([(first,), (first + 1,), (first, 2)])))
            values.append(draw(cell_values))
    return RowBlock(columns, keys, values)


@st.composite
def walks(draw) -> list[Walked]:
    """One or two walks of different columns (as poll_device makes them), each of blocks and of cells the
    plain loop took (a None among them, an index of two numbers; none a block has: a walk's indexes
    increase)."""
    columns = draw(st.permutations(WALKED))
    cut = draw(st.integers(0, len(columns)))
    out = []
    for group in (tuple(columns[:cut]), tuple(columns[cut:])):
        if not group:
            continue
        blocks = draw(st.lists(blocks_of(group), max_size=3))
        indexes = st.sampled_from([(101,), (102,), (105,), (105, 1)])  # a walk gives each cell once
        cells = st.dictionaries(indexes, st.none() | cell_values, max_size=3)
        out.append(Walked({c: draw(cells) for c in group}, blocks))
    return out


@given(walks())
def test_rows_from_walks_are_the_rows_of_their_cells_put_into_columns(walked):
    table = {oid: column for w in walked for oid, column in w.table().items()}
    assert rows_from_walks(walked) == rows_from_table(table)


def test_a_block_whose_rows_share_an_index_becomes_rows_without_its_cells_going_into_columns(monkeypatch):
    monkeypatch.setattr(ports_module, "put_blocks", lambda *a: pytest.fail("went cell by cell"))
    block = RowBlock((IF_X_COLUMNS["ifName"], PVID, IF_COLUMNS["ifOperStatus"]), [(3,)] * 3 + [(4,)] * 3,
                     [b"eth0", 20, 1, b"eth1", 30, 2])  # fmt: skip
    assert rows_from_walks([Walked({}, [block])]) == {
        3: {"ifName": b"eth0", "ifOperStatus": 1, "dot1qPvid": 20},
        4: {"ifName": b"eth1", "ifOperStatus": 2, "dot1qPvid": 30},
    }


# ---- the fast paths of poll_ports (inlined counter arithmetic, the unchanged-data memo)


@given(
    previous=st.none() | st.integers(0, 2**64 - 1),
    hc=st.none() | st.integers(0, 2**64 - 1),
    low=st.none() | st.integers(0, 2**32 - 1),
    period=st.integers(1, 3600),
    rebooted=st.booleans(),
)
def test_counter_columns_are_what_counter_update_computes(previous, hc, low, period, rebooted):
    r = raw(ifHCInOctets=hc, ifInOctets=low)
    s = stored(ifInOctets=previous, poll_time=T0 - period)
    out = poll_ports(9, s, {1: r}, polled=T0, rebooted=rebooted)
    current, bits = (hc, 64) if hc else (low, 32)
    want = counter_update(previous, current, period=period, bits=bits, rebooted=rebooted)
    w = out.writes[0].ports
    assert (w["ifInOctets"], w["ifInOctets_prev"], w["ifInOctets_delta"], w["ifInOctets_rate"]) == (
        want.value,
        want.prev,
        want.delta,
        want.rate,
    )
    rate = out.metrics[0].rates["ifInOctets"]
    assert rate == (None if want.kind is CounterKind.FIRST else want.rate_exact)


def _observable(out):
    return (
        [(w.ref.port_id, w.ports, w.statistics, w.insert, w.counters) for w in out.writes],
        [(e.message, e.severity) for e in out.events],
        out.metrics,
        {k: s.row for k, s in out.states.items()},
    )


def test_unchanged_data_gives_the_same_outcome_with_or_without_the_memo():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    bare = {k: PortState(s.ref, dict(s.row)) for k, s in first.states.items()}  # as loaded from the database
    sample = {1: raw(ifHCInOctets=9000)}
    with_memo = poll_ports(9, first.states, sample, polled=T0 + 60)
    without = poll_ports(9, bare, sample, polled=T0 + 60)
    assert first.states[1].memo is not None
    assert _observable(with_memo) == _observable(without)


def _read_back(states, **edits):
    """``states`` as the daemon reads them from the database at start, with ``edits`` to their rows."""
    return {k: PortState(s.ref, {**s.row, **edits}) for k, s in states.items()}


def test_a_row_read_back_from_the_database_is_left_as_it_is_when_the_agent_agrees(monkeypatch):
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    first = poll_ports(9, first.states, {1: raw()}, polled=T0 + 30)  # fills the NULL _prev columns
    # the values are equal and of the same types: no column-by-column comparison (a daemon's first poll)
    monkeypatch.setattr(ports_module, "_data_changes", lambda *a: pytest.fail("compared column by column"))
    second = poll_ports(9, _read_back(first.states), {1: raw(ifHCInOctets=9000)}, polled=T0 + 60)
    assert not second.events
    described = {*DATA_COLUMNS, "ifOperStatus_prev", "ifAdminStatus_prev", "ifSpeed_prev", "port_descr_type"}
    assert not described & set(second.writes[0].ports)  # counters, ifLastChange and poll times only
    assert second.states[1].memo is not None  # the next poll takes the memo's path


def test_a_row_read_back_with_a_null_prev_gets_it_filled():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, _read_back(first.states, ifSpeed_prev=None), {1: raw()}, polled=T0 + 60)
    assert second.writes[0].ports["ifSpeed_prev"] == 1_000_000_000 and not second.events


def test_a_row_read_back_with_other_port_descr_values_gets_the_aliass():
    first = poll_ports(9, stored(), {1: raw(ifAlias=b"Cust: Acme [1G]")}, polled=T0)
    back = _read_back(first.states, port_descr_type=None, port_descr_speed="10G")
    second = poll_ports(9, back, {1: raw(ifAlias=b"Cust: Acme [1G]")}, polled=T0 + 60)
    written = second.writes[0].ports
    assert (written["port_descr_type"], written["port_descr_speed"]) == ("cust", "1G")
    assert [e.message for e in second.events] == ["type:  -> cust", "speed: 10G -> 1G"]
    assert second.states[1].row["port_descr_speed"] == "1G"


def test_a_row_read_back_with_a_value_of_another_type_is_compared_loosely():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    as_memo = poll_ports(9, first.states, {1: raw()}, polled=T0 + 60)
    as_text = poll_ports(9, _read_back(first.states, ifMtu="1500"), {1: raw()}, polled=T0 + 60)
    assert "ifMtu" not in as_text.writes[0].ports and not as_text.events  # "1500" == 1500 in PHP
    assert as_text.writes[0].ports == as_memo.writes[0].ports


def test_a_row_edited_between_polls_is_compared_again():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    s = first.states[1]
    # the memo came with another row: it must not be trusted
    edited = {1: PortState(s.ref, {**s.row, "ifAlias": "edited elsewhere"}, s.memo)}
    second = poll_ports(9, edited, {1: raw()}, polled=T0 + 60)
    assert second.writes[0].ports["ifAlias"] == "uplink"
    assert [e.message for e in second.events] == ["ifAlias: edited elsewhere -> uplink"]


def test_changed_data_after_an_unchanged_poll_is_still_eventlogged():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, first.states, {1: raw()}, polled=T0 + 60)
    third = poll_ports(9, second.states, {1: raw(ifOperStatus=2)}, polled=T0 + 120)
    assert not second.events
    assert [e.message for e in third.events] == ["ifOperStatus: up -> down"]
    assert third.writes[0].ports["ifOperStatus_prev"] == "up"


def test_null_prev_is_filled_on_the_poll_after_a_change_from_null():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)  # ifOperStatus NULL -> up: _prev stays NULL
    assert first.writes[0].ports["ifOperStatus_prev"] is None
    second = poll_ports(9, first.states, {1: raw()}, polled=T0 + 60)
    assert second.writes[0].ports["ifOperStatus_prev"] == "up"


def _measured(**kw):
    """raw() as a poll between two details walks sees it: status and counters only."""
    return {k: v for k, v in raw(**kw).items() if k not in DETAIL_RAW}


def test_carried_details_give_the_same_outcome_as_walking_them():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    walked = poll_ports(9, first.states, {1: raw(ifHCInOctets=9000)}, polled=T0 + 60)
    rows = {1: _measured(ifHCInOctets=9000)}
    assert carry_details(rows, first.states)
    carried = poll_ports(9, first.states, rows, polled=T0 + 60)
    assert _observable(carried) == _observable(walked)


def test_a_status_change_between_details_walks_is_eventlogged_with_the_kept_details():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    rows = {1: _measured(ifOperStatus=2)}
    assert carry_details(rows, first.states)
    second = poll_ports(9, first.states, rows, polled=T0 + 60)
    assert [e.message for e in second.events] == ["ifOperStatus: up -> down"]
    assert second.states[1].row["ifAlias"] == "uplink"  # not "-> NULL"


def test_details_are_carried_over_several_polls():
    states = poll_ports(9, stored(), {1: raw()}, polled=T0).states
    for n in range(1, 4):
        rows = {1: _measured(ifHCInOctets=5000 + n)}
        assert carry_details(rows, states)
        out = poll_ports(9, states, rows, polled=T0 + 60 * n)
        assert not out.events
        states = out.states
    assert states[1].row["ifDescr"] == "Gi0/1" and states[1].row["ifType"] == "ethernetCsmacd"


def test_details_cannot_be_carried_for_a_port_read_back_from_the_database():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    bare = {k: PortState(s.ref, dict(s.row)) for k, s in first.states.items()}
    assert not carry_details({1: _measured()}, bare)


def test_details_cannot_be_carried_for_a_port_not_seen_before():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    assert not carry_details({1: _measured(), 2: _measured()}, first.states)


# ---- the memo's signature of the raw data values

_RAW_VALUE = st.none() | st.integers(-(2**63), 2**64) | st.binary(max_size=8) | st.sampled_from([b"Gi0/1", 1])
_MEMO_COLUMNS = (
    *("ifName", "ifDescr", "ifAlias", "ifAdminStatus", "ifOperStatus", "ifMtu", "ifHighSpeed", "ifSpeed"),
    *("ifType", "ifPhysAddress", "ifConnectorPresent", "dot3StatsDuplexStatus", "dot1qPvid"),
)


@given(
    column=st.sampled_from(_MEMO_COLUMNS),
    before=_RAW_VALUE,
    after=_RAW_VALUE,
)
def test_a_changed_raw_value_gives_the_outcome_of_a_full_comparison(column, before, after):
    first = poll_ports(9, stored(), {1: raw(**{column: before})}, polled=T0)
    bare = {k: PortState(s.ref, dict(s.row)) for k, s in first.states.items()}
    sample = {1: raw(**{column: after})}
    assert _observable(poll_ports(9, first.states, sample, polled=T0 + 60)) == _observable(
        poll_ports(9, bare, sample, polled=T0 + 60)
    )


def test_the_memo_keeps_the_raw_values_as_one_bytes_object():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    assert type(first.states[1].memo[0]) is bytes


def test_an_unchanged_poll_keeps_the_signature_it_was_given():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, first.states, {1: raw(ifHCInOctets=9000)}, polled=T0 + 60)
    assert second.states[1].memo[0] is first.states[1].memo[0]


def test_a_raw_value_marshal_cannot_encode_still_memoizes_and_carries_details():
    class Opaque:
        def __str__(self) -> str:
            return "opaque alias"

    first = poll_ports(9, stored(), {1: raw(ifAlias=Opaque())}, polled=T0)
    rows = {1: _measured()}
    assert carry_details(rows, first.states)
    assert isinstance(rows[1]["ifAlias"], Opaque)
    second = poll_ports(9, first.states, rows, polled=T0 + 60)
    assert not second.events and second.states[1].row["ifAlias"] == "opaque alias"


# ---- the counters a state keeps, packed


def test_the_state_keeps_its_counters_as_one_bytes_object_its_metrics_share():
    out = poll_ports(9, stored(), {1: raw()}, polled=T0)
    assert type(out.states[1].counters) is bytes
    assert out.metrics[0].counters_packed is out.states[1].counters
    assert out.states[1].row["ifInOctets"] == 5000 and out.metrics[0].counters["ifInOctets"] == 5000


def test_the_metrics_share_the_values_tuple_the_state_keeps():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, first.states, {1: raw(ifHCInOctets=9000)}, polled=T0 + 60)
    for out in (first, second):
        m, s = out.metrics[0], out.states[1]
        assert m.values is s  # the state's own values come first in it
        assert (m.ifIndex, m.ifName, m.ifAlias, m.ifType, m.speed) == (
            1,
            "Gi0/1",
            "uplink",
            "ethernetCsmacd",
            10**9,
        )
        assert (m.oper_status, m.admin_status, m.deleted) == ("up", "up", False)


def test_rates_are_kept_as_deltas_after_the_counters_and_read_back_as_the_rate_computed():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, first.states, {1: raw(ifHCInOctets=5000 + 7)}, polled=T0 + 60)
    # one bytes: the state reads its counters from it, the metrics their counters and rates
    assert second.metrics[0].rate_values is None
    assert second.metrics[0].counters_packed is second.states[1].counters
    assert second.states[1].row["ifInOctets"] == 5007 and second.metrics[0].counters["ifInOctets"] == 5007
    assert second.metrics[0].rates["ifInOctets"] == 7 / 60 and second.metrics[0].rates["ifInErrors"] == 0.0
    assert first.metrics[0].rates["ifInOctets"] is None  # no previous value: no rate yet


def test_a_statistics_skip_after_a_poll_with_rates_reports_the_counters_and_no_rates():
    s = stored(ifOperStatus="down", ifLastChange=4750, poll_time=T0 - 60)  # _prev NULL: filled, not skipped
    first = poll_ports(9, s, {1: raw(ifOperStatus=2)}, polled=T0)
    second = poll_ports(9, first.states, {1: raw(ifOperStatus=2)}, polled=T0 + 60)
    assert first.writes[0].counters and second.metrics[0].rates == {}
    assert second.metrics[0].counters["ifInOctets"] == 5000 and second.states[1].row["ifInOctets"] == 5000
    # the rates of the first poll are not kept past the poll that skips the statistics
    assert first.metrics[0].rate_values is None
    assert len(first.states[1].counters) > len(second.states[1].counters)
    assert second.metrics[0].counters_packed is second.states[1].counters


def test_a_delta_beyond_32_bits_keeps_its_rate_as_a_double():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    second = poll_ports(9, first.states, {1: raw(ifHCInOctets=5000 + 3 * 2**40)}, polled=T0 + 60)
    assert len(second.metrics[0].rate_values) == 8 * 15
    assert second.metrics[0].rates["ifInOctets"] == 3 * 2**40 / 60
    assert second.metrics[0].rates["ifInErrors"] == 0.0 and second.metrics[0].rates["ifOutOctets"] == 0.0


def test_a_counter_value_that_cannot_be_packed_is_kept_as_it_came():
    first = poll_ports(9, stored(), {1: raw(ifInErrors=-5)}, polled=T0)  # an agent's negative INTEGER
    assert first.metrics[0].counters["ifInErrors"] == -5
    second = poll_ports(9, first.states, {1: raw(ifInErrors=3)}, polled=T0 + 60)
    assert second.writes[0].ports["ifInErrors_prev"] == -5


def test_skipped_statistics_report_the_stored_counters_and_null_ones_as_absent():
    s = stored(
        ifOperStatus="down", ifOperStatus_prev="down", ifLastChange=4750, ifInOctets=1, poll_time=T0 - 60
    )
    out = poll_ports(9, s, {1: raw(ifOperStatus=2)}, polled=T0)
    assert out.metrics[0].counters == {"ifInOctets": 1}
    assert out.states[1].row["ifInOctets"] == 1 and out.states[1].row["ifOutOctets"] is None


def test_a_state_read_back_from_the_database_keeps_its_counters():
    row = {"ifIndex": 1, "ifInOctets": 2**64 - 1, "ifOutOctets": 0, "ifInErrors": None}
    s = PortState(PortRef(9, 1, 101), row)
    assert {c: s.row[c] for c in row} == row
    assert s == PortState(s.ref, dict(row))


# ---- the MAC address a state keeps


@pytest.mark.parametrize("mac", ["001de58498c0", "000000000000", "", "00:1D:E5:84:98:C0", "0x1de5", "abc"])
def test_a_stored_mac_address_reads_back_as_the_text_it_was(mac):
    s = PortState(PortRef(9, 1, 101), {"ifIndex": 1, "ifPhysAddress": mac})
    assert s.row["ifPhysAddress"] == mac and type(s.row["ifPhysAddress"]) is str


def test_a_polled_mac_address_is_kept_as_an_int_and_written_as_hex_text():
    first = poll_ports(9, stored(), {1: raw(ifPhysAddress=bytes.fromhex("0000e58498c0"))}, polled=T0)
    assert first.writes[0].ports["ifPhysAddress"] == "0000e58498c0"
    assert int("10000e58498c0", 16) in first.states[1].values
    assert first.states[1].row["ifPhysAddress"] == "0000e58498c0"


def test_a_changed_mac_address_is_eventlogged_with_both_texts():
    first = poll_ports(9, stored(ifPhysAddress="00:1D:E5:84:98:C0"), {1: raw()}, polled=T0)
    assert "ifPhysAddress: 00:1D:E5:84:98:C0 -> 001de58498c0" in [e.message for e in first.events]
    moved = {1: raw(ifPhysAddress=bytes.fromhex("0a1de58498c0"))}
    second = poll_ports(9, first.states, moved, polled=T0 + 60)
    assert [e.message for e in second.events] == ["ifPhysAddress: 001de58498c0 -> 0a1de58498c0"]
    assert second.writes[0].ports["ifPhysAddress"] == "0a1de58498c0"


# ---- values shared across ports


def test_equal_speeds_and_mtus_of_different_ports_are_one_object():
    a = {"ifMtu": int("9216"), "ifHighSpeed": int("100000")}
    b = {"ifMtu": int("9216"), "ifHighSpeed": int("100000")}
    out = poll_ports(9, {}, {1: raw(**a), 2: raw(ifName=b"Gi0/2", **b)}, polled=T0)
    one, two = out.states[1].row, out.states[2].row
    assert one["ifMtu"] == 9216 and one["ifSpeed"] == 100_000_000_000
    assert one["ifMtu"] is two["ifMtu"] and one["ifSpeed"] is two["ifSpeed"]


def test_equal_speeds_read_back_from_the_database_are_one_object():
    one = PortState(PortRef(9, 1, 101), {"ifIndex": 1, "ifSpeed": int("40000000000")})
    two = PortState(PortRef(9, 2, 102), {"ifIndex": 2, "ifSpeed": int("40000000000")})
    assert one.row["ifSpeed"] is two.row["ifSpeed"]


def test_a_boolean_raw_value_is_not_replaced_by_an_equal_shared_int():
    out = poll_ports(9, {}, {1: raw(ifMtu=1), 2: raw(ifName=b"Gi0/2", ifMtu=True)}, polled=T0)
    assert out.states[2].row["ifMtu"] is True


def test_sharing_stops_growing_at_its_bound(monkeypatch):
    from poller.checks import ports

    monkeypatch.setattr(ports, "_SHARED_MAX", len(ports._SHARED_INTS))
    before = len(ports._SHARED_INTS)
    out = poll_ports(9, {}, {1: raw(ifMtu=int("12345"), ifHighSpeed=int("12345"))}, polled=T0)
    assert out.states[1].row["ifMtu"] == 12345 and out.states[1].row["ifSpeed"] == 12_345_000_000
    assert len(ports._SHARED_INTS) == before


def test_ports_with_the_same_statuses_speed_and_type_share_one_profile_tuple():
    out = poll_ports(9, {}, {1: raw(), 2: raw(ifName=b"Gi0/2", ifPhysAddress=b"\x01")}, polled=T0)
    one, two = out.states[1].values, out.states[2].values
    assert one[-1] is two[-1] and one[-1] is not None and one[0] != two[0]
    assert out.states[2].row["ifPhysAddress"] == "01" and out.metrics[1].oper_status == "up"


def test_a_profile_with_a_boolean_is_not_swapped_for_an_equal_one():
    a = PortState(PortRef(9, 1, 101), {"ifIndex": 1, "deleted": 0, "ifMtu": 1})
    b = PortState(PortRef(9, 2, 102), {"ifIndex": 2, "deleted": False, "ifMtu": True})
    assert b.row["deleted"] is False and b.row["ifMtu"] is True and a.row["ifMtu"] == 1


def test_profile_sharing_stops_growing_at_its_bound(monkeypatch):
    from poller.checks import ports

    monkeypatch.setattr(ports, "_PROFILES_MAX", len(ports._PROFILES))
    before = len(ports._PROFILES)
    out = poll_ports(9, {}, {1: raw(ifMtu=int("54321"))}, polled=T0)
    assert out.states[1].row["ifMtu"] == 54321 and len(ports._PROFILES) == before


def test_equal_aliases_of_different_ports_are_one_object():
    out = poll_ports(
        9, {}, {1: raw(ifAlias=b"access port"), 2: raw(ifName=b"Gi0/2", ifAlias=b"access port")}, polled=T0
    )
    assert out.states[1].row["ifAlias"] == "access port"
    assert out.states[1].row["ifAlias"] is out.states[2].row["ifAlias"]


# ---- the values signatures share


def test_ports_with_the_same_statuses_speed_and_type_have_signatures_that_number_them():
    out = poll_ports(9, {}, {1: raw(), 2: raw(ifName=b"Gi0/2")}, polled=T0)
    one, two = (out.states[i].memo[0] for i in (1, 2))
    # (number, ifName, ifDescr, ifAlias, ifPhysAddress): the number stands for the same shared values
    assert marshal.loads(one)[1:] == (b"Gi0/1", b"Gi0/1", b"uplink", bytes.fromhex("001de58498c0"))
    assert len(marshal.loads(one)) == 5 and marshal.loads(one)[0] == marshal.loads(two)[0]


def test_values_not_numbered_past_the_bound_are_encoded_in_full_and_still_carried(monkeypatch):
    from poller.checks import ports

    monkeypatch.setattr(ports, "_SHARED_RAW_MAX", len(ports._SHARED_RAW))
    first = poll_ports(9, stored(), {1: raw(ifMtu=int("4321"))}, polled=T0)
    assert len(marshal.loads(first.states[1].memo[0])) == 13
    rows = {1: _measured(ifHCInOctets=9000)}
    assert carry_details(rows, first.states) and rows[1]["ifMtu"] == 4321
    walked = poll_ports(9, first.states, {1: raw(ifMtu=int("4321"), ifHCInOctets=9000)}, polled=T0 + 60)
    assert _observable(poll_ports(9, first.states, rows, polled=T0 + 60)) == _observable(walked)


# what the data-column comparison meets: NULLs, numbers, the texts they poll as, other texts
_COMPARED = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.integers().map(str),
    st.sampled_from(["", "0", " 1", "1.0", "1e3", "+5", "abc", "up", "down", "Gi0/1"]),
    st.text(max_size=8),
)


@given(_COMPARED, _COMPARED)
def test_the_comparisons_shortcut_agrees_with_php_loose_equality(old, new):
    assert ports_module._same(old, new) == ports_module._loose_equal(old, new)


@given(_COMPARED)
def test_a_value_compares_equal_to_itself_and_an_int_to_its_text(value):
    assert ports_module._same(value, value) == ports_module._loose_equal(value, value)
    if type(value) is int:
        assert ports_module._same(value, str(value)) and ports_module._loose_equal(value, str(value))
