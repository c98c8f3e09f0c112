from hypothesis import given
from hypothesis import strategies as st

from poller.checks.counters import CounterKind, counter_update, polled_period


def test_first_poll_stores_prev_zero_and_no_rate_like_librenms():
    r = counter_update(None, 1234, period=300)
    assert (r.value, r.prev, r.delta, r.rate, r.kind) == (1234, 0, None, None, CounterKind.FIRST)


def test_missing_current_value_is_stored_as_zero():
    assert counter_update(None, None, period=10).value == 0


def test_normal_increase_gives_delta_and_rounded_rate():
    r = counter_update(1000, 1125, period=10)
    assert (r.delta, r.rate, r.rate_exact) == (125, 13, 12.5)


def test_counter32_wrap_gives_the_true_delta():
    r = counter_update(2**32 - 100, 400, period=10, bits=32)
    assert (r.kind, r.delta, r.rate) == (CounterKind.WRAP, 500, 50)


def test_counter64_going_backwards_is_a_reset_without_spike():
    r = counter_update(10**12, 5, period=10, bits=64)
    assert (r.kind, r.delta, r.rate) == (CounterKind.RESET, 0, 0)


def test_any_counter_after_a_reboot_is_a_reset():
    r = counter_update(1000, 900, period=10, bits=32, rebooted=True)
    assert (r.kind, r.delta, r.rate) == (CounterKind.RESET, 0, 0)
    assert counter_update(1000, 5000, period=10, rebooted=True).rate == 0


def test_32bit_value_below_a_previous_64bit_value_is_a_reset_not_a_wrap():
    r = counter_update(2**40, 100, period=10, bits=32)
    assert r.kind is CounterKind.RESET


def test_polled_period_is_at_least_one_second_and_null_poll_time_counts_as_zero():
    assert polled_period(100, 100) == 1
    assert polled_period(100, None) == 100
    assert polled_period(160, 100) == 60


@given(prev=st.integers(0, 2**32 - 1), step=st.integers(0, 2**32 - 1), period=st.integers(1, 3600))
def test_counter32_delta_is_the_modular_difference(prev, step, period):
    cur = (prev + step) % 2**32
    r = counter_update(prev, cur, period=period, bits=32)
    assert r.delta == step
    assert r.rate is not None and r.rate >= 0
