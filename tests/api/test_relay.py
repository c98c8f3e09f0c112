"""poller/api/relay.py: alert bodies validated strictly, and the crisis-event change each state asks for."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poller.api.relay import LIBRENMS_ALERT, AlertBodyError, parse_alert, transition

RECEIVED = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def body(**fields: object) -> bytes:
    alert = {
        "alert_id": 5,
        "device_id": 9,
        "hostname": "r9",
        "state": 1,
        "severity": "warning",
        "title": "Disk",
    }
    return json.dumps({**alert, **fields}).encode()


def test_the_documented_template_filled_by_librenms_parses():
    doc = (Path(__file__).parents[2] / "docs" / "alert-relay.md").read_text(encoding="utf-8")
    filled = doc.split("```json\n")[1].split("```")[0]
    values = {"alert_id": "42", "device_id": "7", "hostname": "r7.example.net", "state": "1"}
    values |= {"severity": "critical", "title": "Port down", "name": "Port status"}
    values |= {"timestamp": "2026-11-25 05:00:00"}
    for var, value in values.items():
        filled = filled.replace("{{ $" + var + " }}", value)
    alert = parse_alert(filled.encode())
    assert (alert.alert_id, alert.device_id, alert.state, alert.rule) == (42, 7, 1, "Port status")


def test_state_1_opens_an_event_keyed_by_device_and_alert_id():
    t = transition(parse_alert(body()), RECEIVED)
    assert t is not None
    assert (t.kind, t.type, t.dedup_key, t.severity, t.reason) == (
        "open",
        LIBRENMS_ALERT,
        "librenms_alert:9:alert-5",
        "warning",
        "Disk",
    )


def test_state_0_resolves_the_same_key():
    t = transition(parse_alert(body(state=0)), RECEIVED)
    assert t is not None and (t.kind, t.dedup_key) == ("resolve", "librenms_alert:9:alert-5")


@pytest.mark.parametrize("state", [3, 4, 5])
def test_worse_better_and_changed_keep_the_event_open(state: int):
    t = transition(parse_alert(body(state=state)), RECEIVED)
    assert t is not None and t.kind == "open"


def test_an_acknowledgement_sends_nothing():
    assert transition(parse_alert(body(state=2)), RECEIVED) is None


def test_a_timestamp_without_zone_is_utc_and_none_means_received():
    with_ts = transition(parse_alert(body(timestamp="2026-11-25 05:48:19")), RECEIVED)
    without = transition(parse_alert(body()), RECEIVED)
    assert with_ts is not None and with_ts.at == datetime(2026, 11, 25, 5, 48, 19, tzinfo=UTC)
    assert without is not None and without.at == RECEIVED


def test_ok_severity_becomes_info():
    t = transition(parse_alert(body(severity="ok")), RECEIVED)
    assert t is not None and t.severity == "info"


def test_every_bad_field_is_named():
    with pytest.raises(AlertBodyError) as err:
        parse_alert(body(state="1", hostname="", extra=True))
    assert {f for f, _ in err.value.fields} == {"state", "hostname", "extra"}
