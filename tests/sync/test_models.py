"""sync/models.py: bodies are validated strictly before they reach Payload, which would coerce silently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from sync.models import CrisisEventResolve, NetworkDeviceCreate, NetworkDevicePatch


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("librenmsId", "abc"),
        ("librenmsId", "7"),
        ("librenmsId", 0),
        ("uptime", -1),
        ("uptime", 1.5),
        ("disabled", "yes"),
        ("status", "sideways"),
        ("ip", "not-an-ip"),
        ("lastPolled", "not-a-date"),
        ("lastPolled", datetime(2026, 1, 1)),  # no time zone
        ("os", 5),
    ],
)
def test_a_wrong_value_is_refused_before_sending(field, value):
    with pytest.raises(ValidationError):
        NetworkDevicePatch.model_validate({field: value})


def test_an_unknown_field_is_refused_since_payload_would_drop_it():
    with pytest.raises(ValidationError):
        NetworkDevicePatch.model_validate({"hostnmae": "r1"})


def test_a_create_needs_a_hostname():
    with pytest.raises(ValidationError):
        NetworkDeviceCreate.model_validate({"os": "ios"})


def test_dates_are_sent_in_utc_with_milliseconds_as_payload_stores_them():
    paris = timezone(timedelta(hours=1))
    body = NetworkDevicePatch(lastPolled=datetime(2026, 3, 1, 13, 0, 0, 123456, tzinfo=paris)).body()
    assert body == {"lastPolled": "2026-03-01T12:00:00.123Z"}


def test_only_given_fields_are_sent_and_an_explicit_none_clears():
    assert NetworkDevicePatch(os=None, version="1").body() == {"os": None, "version": "1"}


def test_resolving_an_event_clears_its_open_key():
    body = CrisisEventResolve(resolvedAt=datetime(2026, 3, 1, tzinfo=UTC)).body()
    assert body == {"resolvedAt": "2026-03-01T00:00:00.000Z", "openKey": None}
