import gc
import math
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poller.checks.results import (
    COUNTER_COLUMNS,
    MISSING,
    PORT_VALUES_SIZE,
    PROFILE_SIZE,
    CounterMap,
    PortMetrics,
    RateMap,
    pack_counters,
    pack_counters_and_rates,
    pack_rate_deltas,
    unpack_counters,
)


def metrics(counters, rates):
    return PortMetrics(1, "ge-0/0/1", None, None, "ethernetCsmacd", "up", "up", 10**9, counters, rates)


def test_a_counter_map_reads_like_the_dict_it_was_made_from():
    m = CounterMap.of({"ifInOctets": 5, "ifOutErrors": 0})
    assert m == {"ifInOctets": 5, "ifOutErrors": 0}
    assert m["ifInOctets"] == 5 and m.get("ifOutErrors") == 0
    assert list(m) == ["ifInOctets", "ifOutErrors"] and len(m) == 2


def test_a_column_not_given_is_absent():
    m = CounterMap.of({"ifInOctets": 5})
    assert "ifOutOctets" not in m and m.get("ifOutOctets", -1) == -1
    with pytest.raises(KeyError):
        m["ifOutOctets"]


def test_none_is_a_value_not_an_absence():
    m = CounterMap.of({"ifInOctets": None})
    assert "ifInOctets" in m and m["ifInOctets"] is None and dict(m) == {"ifInOctets": None}


def test_an_empty_map_has_no_columns():
    assert CounterMap.of({}) == {} and not CounterMap() and CounterMap().get("ifInOctets") is None


def test_a_name_that_is_not_a_counter_column_is_refused():
    with pytest.raises(KeyError):
        CounterMap.of({"ifInOctetz": 1})


def test_packed_values_follow_the_counter_column_order():
    m = CounterMap(tuple(range(len(COUNTER_COLUMNS))))
    assert dict(m) == {c: i for i, c in enumerate(COUNTER_COLUMNS)}


def test_port_metrics_keep_the_counters_and_rates_given_as_dicts():
    p = metrics({"ifInOctets": 7}, {"ifInOctets": 1.5, "ifOutOctets": None})
    assert isinstance(p.counters, CounterMap) and isinstance(p.rates, RateMap)
    assert p.counters == {"ifInOctets": 7}
    assert p.rates["ifInOctets"] == 1.5 and p.rates["ifOutOctets"] is None
    assert p == metrics({"ifInOctets": 7}, {"ifOutOctets": None, "ifInOctets": 1.5})


def test_a_rate_not_given_reads_as_no_rate_yet():
    assert metrics({}, {"ifInOctets": 1.5}).rates.get("ifInErrors", -1) is None


def test_port_metrics_without_rates_have_none():
    assert metrics({}, {}).rates == {}


def test_port_metrics_take_packed_values_as_the_ports_check_hands_them():
    counters = tuple(range(len(COUNTER_COLUMNS)))
    rates = array("d", [math.nan, *range(1, len(COUNTER_COLUMNS))]).tobytes()
    p = metrics(counters, rates)
    assert p.counter_values is counters and p.rate_values is rates
    assert p.counters["ifInOctets"] == 0 and p.rates["ifInOctets"] is None and p.rates["ifOutOctets"] == 1.0


def test_port_metrics_hold_nothing_else_the_garbage_collector_must_track():
    # FleetState keeps one per port of the fleet: a tuple of numbers and a bytes are not tracked
    p = metrics(tuple(range(len(COUNTER_COLUMNS))), array("d", range(len(COUNTER_COLUMNS))).tobytes())
    gc.collect()
    assert not gc.is_tracked(p.counter_values) and not gc.is_tracked(p.rate_values)


def test_a_name_that_is_not_a_counter_column_is_refused_for_rates_too():
    with pytest.raises(KeyError, match="ifInOctetz"):
        metrics({}, {"ifInOctetz": 1.0})


def test_a_rate_map_has_every_column_and_nan_reads_as_no_rate_yet():
    rates = RateMap(array("d", [math.nan, *range(1, len(COUNTER_COLUMNS))]))
    assert rates["ifInOctets"] is None and rates.get("ifOutOctets") == 1.0
    assert dict(rates) == {c: (None if i == 0 else float(i)) for i, c in enumerate(COUNTER_COLUMNS)}


def test_an_empty_rate_map_has_no_rates():
    assert RateMap() == {} and "ifInOctets" not in RateMap() and RateMap().get("ifInOctets") is None


def test_entries_after_the_counter_columns_are_not_part_of_the_map():
    m = CounterMap((*range(len(COUNTER_COLUMNS)), "ifName", "up"))
    assert len(m) == len(COUNTER_COLUMNS) and list(m) == list(COUNTER_COLUMNS)
    assert m == {c: i for i, c in enumerate(COUNTER_COLUMNS)}


_COUNTER = st.none() | st.integers(0, 2**64 - 1)


@given(st.lists(_COUNTER, min_size=len(COUNTER_COLUMNS), max_size=len(COUNTER_COLUMNS)))
def test_packed_counters_read_back_as_they_were_packed(values):
    packed = pack_counters(values)
    assert packed is not None and unpack_counters(packed) == tuple(values)


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, "7"])
def test_a_counter_that_is_not_an_unsigned_64_bit_integer_is_not_packed(bad):
    assert pack_counters([bad, *[0] * (len(COUNTER_COLUMNS) - 1)]) is None


def test_port_metrics_read_packed_counters_with_absent_ones_missing():
    packed = pack_counters([7, None, *[0] * (len(COUNTER_COLUMNS) - 2)])
    p = metrics(packed, b"")
    assert p.counters_packed is packed
    assert p.counter_values[:2] == (7, MISSING) and p.counters["ifInOctets"] == 7
    assert "ifOutOctets" not in p.counters and p == metrics(
        {c: 0 for c in COUNTER_COLUMNS[2:]} | {"ifInOctets": 7}, {}
    )


def test_port_metrics_made_from_a_state_tuple_read_their_fields_from_it():
    profile = tuple(f"p{i}" for i in range(PROFILE_SIZE))
    values = (*(f"v{i}" for i in range(PORT_VALUES_SIZE - 1)), profile)
    p = PortMetrics.from_state_values(values, (), b"")
    assert p.values is values
    assert (p.ifIndex, p.ifName, p.ifAlias, p.ifDescr) == ("v10", "v0", "v2", "v1")
    assert (p.ifType, p.oper_status, p.admin_status, p.speed) == ("p4", "p1", "p0", "p3")


def test_port_metrics_from_a_state_tuple_equal_those_given_field_by_field():
    given = metrics({"ifInOctets": 7}, {})
    profile = ("up", "up", None, 10**9, "ethernetCsmacd", *[None] * (PROFILE_SIZE - 6), 0)
    values = ("ge-0/0/1", None, None, *[None] * 7, 1, profile)
    shared = PortMetrics.from_state_values(values, given.counters_packed, b"")
    assert shared == given and shared.deleted is False


def test_a_deleted_port_metrics_reads_deleted():
    p = PortMetrics(1, "x", None, None, None, None, None, None, {}, {}, deleted=True)
    assert p.deleted is True


@given(
    period=st.integers(1, 2**32 - 1),
    deltas=st.lists(st.integers(0, 2**32 - 1), min_size=len(COUNTER_COLUMNS), max_size=len(COUNTER_COLUMNS)),
    no_rate=st.integers(0, 2 ** len(COUNTER_COLUMNS) - 1),
)
def test_rates_packed_as_deltas_read_back_as_each_delta_divided_by_the_period(period, deltas, no_rate):
    deltas = [0 if no_rate >> i & 1 else d for i, d in enumerate(deltas)]
    packed = pack_rate_deltas(period, no_rate, deltas)
    assert packed is not None and len(packed) < 8 * len(COUNTER_COLUMNS)
    rates = metrics({}, packed).rates
    assert dict(rates) == {
        c: None if no_rate >> i & 1 else deltas[i] / period for i, c in enumerate(COUNTER_COLUMNS)
    }


@pytest.mark.parametrize(("period", "delta"), [(60, 2**32), (2**32, 1), (60, -1)])
def test_a_delta_or_period_beyond_32_bits_is_not_packed(period, delta):
    assert pack_rate_deltas(period, 0, [delta, *[0] * (len(COUNTER_COLUMNS) - 1)]) is None


def test_rates_packed_as_deltas_equal_the_same_rates_given_as_doubles():
    deltas = [120, *[0] * (len(COUNTER_COLUMNS) - 1)]
    packed = pack_rate_deltas(60, 1 << 1, deltas)
    assert metrics({}, packed) == metrics({}, {"ifInOctets": 2.0} | {c: 0.0 for c in COUNTER_COLUMNS[2:]})


@given(
    st.lists(_COUNTER, min_size=len(COUNTER_COLUMNS), max_size=len(COUNTER_COLUMNS)),
    st.integers(0, 2 ** len(COUNTER_COLUMNS) - 1),
)
def test_packed_counters_read_back_whatever_wide_mask_the_caller_gives(values, wide):
    packed = pack_counters(values, wide)
    assert packed is not None and unpack_counters(packed) == tuple(values)


def test_counters_below_2_to_the_32_take_4_bytes_each():
    n = len(COUNTER_COLUMNS)
    narrow = pack_counters([2**32 - 1] * n)
    one_wide = pack_counters([2**32, *[0] * (n - 1)])
    assert narrow is not None and one_wide is not None
    assert len(one_wide) - len(narrow) == 4 and len(narrow) == 4 + 4 * n


def test_the_counter_layouts_kept_stop_growing_at_their_bound(monkeypatch):
    from poller.checks import results

    alternating = 0b101010101010101
    monkeypatch.setattr(results, "_LAYOUTS", {})
    monkeypatch.setattr(results, "_LAYOUTS_MAX", 0)
    values = [2**40 if alternating >> i & 1 else 1 for i in range(len(COUNTER_COLUMNS))]
    for wide in (None, alternating):
        packed = pack_counters(values, wide)
        assert packed is not None and unpack_counters(packed) == tuple(values)
    assert set(results._LAYOUTS) <= {2 ** len(COUNTER_COLUMNS) - 1}  # only the all-64-bit one


@given(
    st.lists(st.integers(0, 2**64 - 1), min_size=len(COUNTER_COLUMNS), max_size=len(COUNTER_COLUMNS)),
    st.integers(1, 3600),
    st.lists(st.integers(0, 2**32 - 1), min_size=len(COUNTER_COLUMNS), max_size=len(COUNTER_COLUMNS)),
)
def test_counters_and_rates_packed_together_read_back_as_packed_apart(values, period, deltas):
    wide = sum(1 << i for i, v in enumerate(values) if v >= 2**32)
    both = pack_counters_and_rates(values, wide, period, 1, deltas)
    assert both is not None and unpack_counters(both) == tuple(values)
    together = PortMetrics.from_state_values(metrics({}, {}).values, both, None)
    apart = metrics(pack_counters(values), pack_rate_deltas(period, 1, deltas))
    assert together == apart and together.rates["ifInOctets"] is None


def test_counters_and_rates_that_do_not_pack_together_are_not_packed():
    n = len(COUNTER_COLUMNS)
    assert pack_counters_and_rates([None, *[0] * (n - 1)], 0, 60, 0, [0] * n) is None
    assert pack_counters_and_rates([2**32, *[0] * (n - 1)], 0, 60, 0, [0] * n) is None
    assert pack_counters_and_rates([0] * n, 0, 60, 0, [2**32, *[0] * (n - 1)]) is None
