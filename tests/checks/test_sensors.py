"""Sensors: LibreNMS's record_sensor_data rules on stored rows + GET answers."""

from __future__ import annotations

from poller.checks.sensors import SensorRow, SensorUpdate, poll_sensors, sensor_value


def row(**kw: object) -> SensorRow:
    base: dict[str, object] = dict(
        sensor_id=7, device_id=1, sensor_class="temperature", sensor_oid=".1.3.6.1.4.1.9.9.13.1.3.1.3.1"
    )
    base.update(kw)
    return SensorRow(**base)  # type: ignore[arg-type]


def test_value_is_divided_by_the_divisor_then_multiplied():
    assert sensor_value(row(sensor_divisor=10, sensor_multiplier=2), "235") == 47.0


def test_divisor_zero_leaves_the_value_undivided():
    assert sensor_value(row(sensor_divisor=0), "235") == 235


def test_multiplier_zero_is_ignored():
    assert sensor_value(row(sensor_multiplier=0), "12") == 12


def test_first_number_in_a_string_answer_is_used():
    assert sensor_value(row(), '"23.5 C"') == 23.5


def test_minus_32768_means_invalid_and_reads_zero():
    assert sensor_value(row(sensor_divisor=10), "-32768") == 0


def test_absent_answer_reads_zero():
    assert sensor_value(row(sensor_divisor=10), None) == 0


def test_state_name_is_translated_to_its_value():
    r = row(sensor_class="state", states={1: "ok", 2: "failed"})
    assert sensor_value(r, "FAILED") == 2


def test_changed_value_updates_current_prev_and_lastupdate():
    rows, updates, _ = poll_sensors([row(sensor_current=40.0)], {row().sensor_oid: "41"}, 1000)
    assert updates == [SensorUpdate(7, 41, 40.0, 1000)]
    assert rows[0].sensor_current == 41


def test_unchanged_value_writes_nothing():
    _, updates, events = poll_sensors([row(sensor_current=41.0)], {row().sensor_oid: "41"}, 1000)
    assert updates == [] and events == []


def test_an_answer_repeated_from_the_last_poll_keeps_the_row_as_it_is():
    oid = row().sensor_oid
    first, _, _ = poll_sensors([row(sensor_current=40.0)], {oid: "41"}, 1000)
    again, updates, events = poll_sensors(first, {oid: "41"}, 1060)
    assert again[0] is first[0] and updates == [] and events == []


def test_a_new_answer_after_a_repeated_one_is_compared_again():
    oid = row().sensor_oid
    rows, _, _ = poll_sensors([row(sensor_current=40.0)], {oid: "41"}, 1000)
    rows, _, _ = poll_sensors(rows, {oid: "41"}, 1060)
    _, updates, _ = poll_sensors(rows, {oid: "42"}, 1120)
    assert updates == [SensorUpdate(7, 42, 41, 1120)]


def test_zero_after_null_is_not_a_change_as_in_php():
    _, updates, _ = poll_sensors([row(sensor_current=None)], {row().sensor_oid: "0"}, 1000)
    assert updates == []


def test_rising_over_the_high_limit_logs_librenms_message():
    r = row(sensor_current=40.0, sensor_limit=50.0)
    _, _, events = poll_sensors([r], {r.sensor_oid: "55"}, 1000)
    assert [(e.message, e.type, e.severity, e.reference) for e in events] == [
        ("Temperature above threshold: 55 C (> 50 C)", "temperature", 4, 7)
    ]


def test_falling_under_the_low_limit_logs_librenms_message():
    r = row(sensor_class="dbm", sensor_current=-5.0, sensor_limit_low=-20.0, sensor_divisor=10)
    _, _, events = poll_sensors([r], {r.sensor_oid: "-215"}, 1000)
    assert [e.message for e in events] == ["Dbm under threshold: -21.5 dBm (< -20 dBm)"]


def test_staying_over_the_limit_logs_once():
    r = row(sensor_current=55.0, sensor_limit=50.0)
    _, _, events = poll_sensors([r], {r.sensor_oid: "56"}, 1000)
    assert events == []


def test_no_threshold_event_when_alerting_is_off():
    r = row(sensor_current=40.0, sensor_limit=50.0, sensor_alert=0)
    _, _, events = poll_sensors([r], {r.sensor_oid: "55"}, 1000)
    assert events == []


def test_state_change_logs_old_and_new_state_names():
    r = row(sensor_class="state", sensor_descr="PSU 1", sensor_current=1.0, states={1: "ok", 2: "failed"})
    _, _, events = poll_sensors([r], {r.sensor_oid: "2"}, 1000)
    assert [(e.message, e.type, e.severity) for e in events] == [
        ("State sensor PSU 1 has changed from ok (1) to failed (2)", "State", 3)
    ]


def test_agent_sensors_are_left_alone():
    r = row(poller_type="agent", sensor_current=1.0)
    rows, updates, _ = poll_sensors([r], {r.sensor_oid: "5"}, 1000)
    assert updates == [] and rows == [r]
