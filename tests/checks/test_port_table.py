from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from poller.checks import port_table
from poller.checks.port_table import PortTable
from poller.checks.ports import PortState, carry_details, frozen_row, poll_ports
from poller.checks.results import PortRef

from .test_ports import T0, _measured, _observable, raw, stored


def _polled_twice(**kw):
    first = poll_ports(9, stored(), {1: raw(), 2: raw(ifDescr=b"Gi0/2", ifName=b"Gi0/2")}, polled=T0)
    return poll_ports(9, first.states, {1: raw(ifHCInOctets=9000, **kw), 2: raw()}, polled=T0 + 60)


def _memo(state):
    return (state.signature, state.memo_data)


def test_thawed_states_equal_the_frozen_ones_with_their_memo():
    out = _polled_twice()
    table = PortTable.freeze(out.states, out.metrics)
    thawed = table.states()
    assert table.frozen_size > 0
    assert thawed == out.states
    assert {k: _memo(s) for k, s in thawed.items()} == {k: _memo(s) for k, s in out.states.items()}


def test_a_port_not_inserted_yet_thaws_with_the_ref_the_writer_fills_in():
    first = poll_ports(9, {}, {1: raw()}, polled=T0)  # a new port: its id comes from the writer's insert
    table = PortTable.freeze(first.states, first.metrics)
    first.writes[0].ref.port_id = 555
    assert table.states()[1].ref is first.states[1].ref and table.states()[1].ref.port_id == 555


def test_a_port_id_filled_in_while_freezing_is_not_lost(monkeypatch):
    first = poll_ports(9, {}, {1: raw()}, polled=T0)
    ref = first.states[1].ref

    def filled_in_meanwhile(state):  # the writer thread inserts the port while the table is being frozen
        ref.port_id = 555
        return frozen_row(state)

    monkeypatch.setattr(port_table, "frozen_row", filled_in_meanwhile)
    table = PortTable.freeze(first.states, first.metrics)
    assert table.states()[1].ref.port_id == 555


def test_an_inserted_port_thaws_with_a_ref_of_the_same_values():
    out = _polled_twice()
    ref = PortTable.freeze(out.states, out.metrics).states()[1].ref
    assert (ref.device_id, ref.ifIndex, ref.port_id) == (9, 1, 101)


def test_thawed_metrics_equal_the_metrics_of_the_poll():
    out = _polled_twice()
    metrics = PortTable.freeze(out.states, out.metrics).metrics()
    assert list(metrics) == out.metrics
    assert [dict(m.rates) for m in metrics] == [dict(m.rates) for m in out.metrics]


def test_thawed_metrics_of_skipped_statistics_report_null_counters_as_absent():
    s = stored(
        ifOperStatus="down", ifOperStatus_prev="down", ifLastChange=4750, ifInOctets=1, poll_time=T0 - 60
    )
    out = poll_ports(9, s, {1: raw(ifOperStatus=2)}, polled=T0)
    (metrics,) = PortTable.freeze(out.states, out.metrics).metrics()
    assert metrics.counters == {"ifInOctets": 1} and metrics.rates == {}


def test_thawed_metrics_of_counters_that_do_not_pack_read_as_they_came():
    out = poll_ports(9, stored(), {1: raw(ifInErrors=-5)}, polled=T0)  # an agent's negative INTEGER
    (metrics,) = PortTable.freeze(out.states, out.metrics).metrics()
    assert metrics.counters["ifInErrors"] == -5 and metrics == out.metrics[0]


def test_a_poll_of_thawed_states_gives_the_outcome_of_a_poll_of_the_objects():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    sample = {1: raw(ifHCInOctets=9000, ifOperStatus=2)}
    thawed = PortTable.freeze(first.states, first.metrics).states()
    assert _observable(poll_ports(9, thawed, sample, polled=T0 + 60)) == _observable(
        poll_ports(9, first.states, sample, polled=T0 + 60)
    )


def test_details_carry_over_from_thawed_states():
    first = poll_ports(9, stored(), {1: raw()}, polled=T0)
    rows = {1: _measured()}
    assert carry_details(rows, PortTable.freeze(first.states).states())
    assert rows[1]["ifAlias"] == b"uplink"


def test_states_read_back_from_the_database_freeze_without_a_memo():
    table = PortTable.freeze(stored(ifAlias="uplink", ifInOctets=7))
    (state,) = table.states().values()
    assert state.memo is None and state.row["ifAlias"] == "uplink" and state.row["ifInOctets"] == 7


def test_a_value_marshal_cannot_encode_leaves_the_table_live():
    states = stored(ifMtu=Decimal(1500))  # not a type marshal encodes
    table = PortTable.freeze(states)
    assert table.frozen_size == 0
    assert table.states() == states and table.states()[1].row["ifMtu"] == Decimal(1500)


def test_a_raw_value_marshal_cannot_encode_leaves_the_table_live_with_its_memo():
    class Opaque:
        def __str__(self) -> str:
            return "opaque alias"

    out = poll_ports(9, stored(), {1: raw(ifAlias=Opaque())}, polled=T0)
    table = PortTable.freeze(out.states, out.metrics)
    assert table.frozen_size == 0 and table.states()[1].memo == out.states[1].memo
    assert table.metrics() == tuple(out.metrics)


def test_metrics_that_do_not_read_the_states_leave_the_table_live():
    out = _polled_twice()
    other = _polled_twice()
    table = PortTable.freeze(out.states, other.metrics)
    assert table.frozen_size == 0 and table.metrics() == tuple(other.metrics)


def test_a_table_reads_as_a_mapping_of_its_states():
    out = _polled_twice()
    table = PortTable.freeze(out.states, out.metrics)
    assert len(table) == 2 and bool(table) and sorted(table) == [1, 2] and table[2] == out.states[2]
    assert not PortTable.freeze({}) and PortTable.freeze({}).metrics() == ()


def test_an_uncompressed_table_thaws_the_same(monkeypatch):
    out = _polled_twice()
    compressed = PortTable.freeze(out.states, out.metrics)
    monkeypatch.setattr(port_table, "COMPRESSION", 0)
    plain = PortTable.freeze(out.states, out.metrics)
    assert plain.frozen_size > compressed.frozen_size
    assert plain.states() == compressed.states() and plain.metrics() == compressed.metrics()


def test_a_frozen_port_takes_a_fraction_of_its_objects():
    ports = 48
    rows = {i: raw(ifDescr=f"Gi0/{i}".encode(), ifName=f"Gi0/{i}".encode()) for i in range(1, ports + 1)}
    first = poll_ports(9, {}, rows, polled=T0)
    out = poll_ports(9, first.states, rows, polled=T0 + 60)
    assert PortTable.freeze(out.states, out.metrics).frozen_size / ports < 100  # ~700 B as objects


def test_the_ports_of_two_devices_leave_the_table_live():
    one, two = PortRef(9, 1, 101), PortRef(8, 2, 102)
    states = {1: PortState(one, {"ifIndex": 1}), 2: PortState(two, {"ifIndex": 2})}
    table = PortTable.freeze(states)
    assert table.frozen_size == 0 and table.states() == states


def test_tables_freeze_and_thaw_in_several_threads_at_once():
    out = _polled_twice()

    def round_trips(_: int) -> bool:
        for _ in range(200):
            table = PortTable.freeze(out.states, out.metrics)
            if table.states() != out.states or table.metrics() != tuple(out.metrics):
                return False
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(round_trips, range(4)))


def test_a_table_compressed_by_zstandard_thaws_the_same(monkeypatch):
    out = _polled_twice()
    held = PortTable.freeze(out.states, out.metrics)  # libzstd with the GIL held, where there is one
    monkeypatch.setattr(port_table, "_COMPRESS_HOLDING_GIL", None)
    released = PortTable.freeze(out.states, out.metrics)  # the zstandard package (without libzstd)
    assert released.frozen_size > 0
    assert released.states() == held.states() == out.states and released.metrics() == held.metrics()
