"""Sensors: poll the OIDs LibreNMS's discovery stored in ``sensors.sensor_oid`` and update them as it does.

Pure logic of LibreNMS's ``poll_sensor``/``record_sensor_data`` (includes/polling/functions.inc.php, the
version the shared test data came from):

- value = the GET answer with quotes stripped and trimmed (absent -> ""); a ``state`` sensor whose value is
  not numeric is translated through its state translations (``state_descr`` LIKE value -> state_value);
- ``Number::extract``; -32768 or NaN -> 0; ``/ sensor_divisor`` when the divisor is non-zero and the value
  is not the integer 0; ``* sensor_multiplier`` when non-zero;
- eventlog (severity 4, type = sensor_class, reference = sensor_id) when the value falls under
  ``sensor_limit_low`` from above it, else when it rises over ``sensor_limit`` from under it (only when
  ``sensor_alert`` = 1): "<Class> under threshold: <v> <unit> (< <limit> <unit>)" / "... above threshold:
  <v> <unit> (> <limit> <unit>)";
- a ``state`` sensor whose value changed: eventlog severity 3, type = "State", "<Class> sensor <descr> has
  changed from <old descr> (<old>) to <new descr> (<new>)";
- only when the value changed (PHP ``!=``): ``sensor_current`` = value, ``sensor_prev`` = old current,
  ``lastupdate`` = NOW().

Not carried: per-OS polling includes (includes/polling/sensors/<class>/<os>.inc.php), ``user_func`` and
non-SNMP poller types (agent, ipmi) -- such sensors are left alone (``skipped``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from poller.checks.librenms_number import extract, is_numeric, php_gt, php_lt, php_ne, php_str
from poller.checks.results import EventRow

# LibreNMS's $supported_sensors: class -> unit used in the eventlog text.
UNITS: dict[str, str] = {
    "airflow": "cfm",
    "ber": "",
    "bitrate": "bps",
    "charge": "%",
    "chromatic_dispersion": "ps/nm",
    "cooling": "W",
    "count": "",
    "current": "A",
    "delay": "s",
    "dbm": "dBm",
    "eer": "eer",
    "fanspeed": "rpm",
    "frequency": "Hz",
    "humidity": "%",
    "load": "%",
    "loss": "%",
    "percent": "%",
    "power": "W",
    "power_consumed": "kWh",
    "power_factor": "",
    "pressure": "kPa",
    "quality_factor": "dB",
    "runtime": "Min",
    "signal": "dBm",
    "snr": "SNR",
    "state": "#",
    "temperature": "C",
    "tv_signal": "dBmV",
    "voltage": "V",
    "waterflow": "l/m",
}


@dataclass(frozen=True, slots=True)
class SensorRow:
    """The stored ``sensors`` columns the poll reads (plus the sensor's state translations)."""

    sensor_id: int
    device_id: int
    sensor_class: str
    sensor_oid: str
    sensor_descr: str | None = None
    poller_type: str = "snmp"
    sensor_divisor: int = 1
    sensor_multiplier: int = 1
    sensor_current: float | None = None
    sensor_limit: float | None = None
    sensor_limit_warn: float | None = None
    sensor_limit_low: float | None = None
    sensor_limit_low_warn: float | None = None
    sensor_alert: int = 1
    user_func: str | None = None
    states: Mapping[int, str] = field(default_factory=dict)  # state_value -> state_descr
    # The answer text ``sensor_current`` was last computed from: the same text again gives the same value,
    # so no update and no event, and poll_sensors skips the parsing (most sensors hold still between polls).
    answer: str | None = field(default=None, compare=False)

    @property
    def pollable(self) -> bool:
        return self.poller_type == "snmp" and not self.user_func


@dataclass(frozen=True, slots=True)
class SensorUpdate:
    """``UPDATE sensors SET sensor_current, sensor_prev, lastupdate=<polled> WHERE sensor_id``."""

    sensor_id: int
    sensor_current: float
    sensor_prev: float | None
    lastupdate: int  # epoch second


def raw_value(row: SensorRow, text: str | None) -> Any:
    """The value before scaling: quotes stripped, trimmed, state names translated."""
    value = (text or "").replace('"', "").strip()
    if row.sensor_class == "state" and not is_numeric(value):
        for state_value, descr in row.states.items():
            # MySQL LIKE without wildcards = case-insensitive equality under LibreNMS's collation
            if descr.lower() == value.lower():
                return state_value
    return value


def sensor_value(row: SensorRow, text: str | None) -> float | int:
    """The scaled value LibreNMS stores in ``sensor_current``."""
    value: float | int = extract(raw_value(row, text))
    if value == -32768 or value != value:
        value = 0
    if row.sensor_divisor and not (isinstance(value, int) and value == 0):
        value = value / row.sensor_divisor
    if row.sensor_multiplier:
        value = value * row.sensor_multiplier
    return value


def _events(row: SensorRow, value: float | int, polled: int) -> list[EventRow]:
    prev = row.sensor_current
    cls = row.sensor_class
    title = cls[:1].upper() + cls[1:]
    unit = UNITS.get(cls, "")
    out: list[EventRow] = []
    low, high = row.sensor_limit_low, row.sensor_limit
    if low is not None and php_gt(prev, low) and value < low and row.sensor_alert == 1:
        message = f"{title} under threshold: {php_str(value)} {unit} (< {php_str(low)} {unit})"
        out.append(EventRow(row.device_id, polled, message, cls, 4, row.sensor_id))
    elif high is not None and php_lt(prev, high) and value > high and row.sensor_alert == 1:
        message = f"{title} above threshold: {php_str(value)} {unit} (> {php_str(high)} {unit})"
        out.append(EventRow(row.device_id, polled, message, cls, 4, row.sensor_id))
    if cls == "state" and php_ne(prev, value):
        old = row.states.get(int(prev), "") if prev is not None and prev == int(prev) else ""
        new = row.states.get(int(value), "") if value == int(value) else ""
        message = (
            f"{title} sensor {row.sensor_descr or ''} has changed from {old} ({php_str(prev)}) "
            f"to {new} ({php_str(value)})"
        )
        out.append(EventRow(row.device_id, polled, message, title, 3, row.sensor_id))
    return out


def poll_sensors(
    rows: list[SensorRow], values: Mapping[str, str | None], polled: int
) -> tuple[list[SensorRow], list[SensorUpdate], list[EventRow]]:
    """Apply one poll: ``values`` maps sensor_oid -> answer text (None/absent = no answer).

    Returns the rows as they now are (sensor_current updated), the column updates and the eventlog rows.
    """
    new_rows: list[SensorRow] = []
    updates: list[SensorUpdate] = []
    events: list[EventRow] = []
    for row in rows:
        if not row.pollable:
            new_rows.append(row)
            continue
        text = values.get(row.sensor_oid)
        if text is not None and text == row.answer:
            new_rows.append(row)
            continue
        value = sensor_value(row, text)
        events.extend(_events(row, value, polled))
        if php_ne(value, row.sensor_current):
            updates.append(SensorUpdate(row.sensor_id, value, row.sensor_current, polled))
            row = replace(row, sensor_current=value, answer=text)
        elif text != row.answer:
            row = replace(row, answer=text)
        new_rows.append(row)
    return new_rows, updates, events
