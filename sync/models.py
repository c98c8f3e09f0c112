"""Plain data of the sync: a LibreNMS device as read, and the Payload documents we write.

The pydantic models validate every payload before it is sent, because Payload coerces wrong types silently
(``"librenmsId": "abc"`` is stored as null with a 201) and drops unknown fields without an error. Numbers,
booleans and strings are strict; dates must carry a time zone and are sent the way Payload stores them
(UTC, milliseconds, ``Z``), so what comes back compares equal to what was sent.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
)

NETWORK_DEVICES = "network-devices"
CRISIS_EVENTS = "crisis-events"

DeviceStatus = Literal["up", "down", "unknown"]
Severity = Literal["info", "warning", "critical"]


def to_payload_time(value: datetime) -> datetime:
    """UTC, truncated to the millisecond: the precision Payload keeps."""
    if value.tzinfo is None:
        raise ValueError("datetime must carry a time zone")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def format_payload_time(value: datetime) -> str:
    value = to_payload_time(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_payload_time(value: str) -> datetime:
    return to_payload_time(datetime.fromisoformat(value))


def _check_ip(value: str) -> str:
    return str(ipaddress.ip_address(value))


PayloadTime = Annotated[
    AwareDatetime, AfterValidator(to_payload_time), PlainSerializer(format_payload_time, when_used="json")
]
Text = StrictStr
Hostname = Annotated[StrictStr, Field(min_length=1, max_length=128)]
IpText = Annotated[StrictStr, AfterValidator(_check_ip)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
DocId = Annotated[StrictInt, Field(ge=1)]


class _Write(BaseModel):
    """A body we send: unknown fields are refused here, since Payload would drop them without a word."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def body(self) -> dict[str, object]:
        """The JSON body: only the fields that were given (an explicit None clears the field)."""
        return self.model_dump(mode="json", exclude_unset=True)


class NetworkDevicePatch(_Write):
    """Any subset of a ``network-devices`` document (PATCH body)."""

    hostname: Hostname | None = None
    ip: IpText | None = None
    librenmsId: DocId | None = None
    status: DeviceStatus | None = None
    statusReason: Text | None = None
    uptime: NonNegativeInt | None = None
    os: Text | None = None
    hardware: Text | None = None
    version: Text | None = None
    serial: Text | None = None
    location: Text | None = None
    sysName: Text | None = None
    lastPolled: PayloadTime | None = None
    pollerGroup: StrictInt | None = None
    disabled: StrictBool | None = None
    ignore: StrictBool | None = None
    lastSyncedAt: PayloadTime | None = None
    removedFromLibrenms: StrictBool | None = None


class NetworkDeviceCreate(NetworkDevicePatch):
    """A new ``network-devices`` document (POST body): hostname is required."""

    hostname: Hostname


class CrisisEventCreate(_Write):
    device: DocId | None = None
    type: Annotated[StrictStr, Field(min_length=1)]
    severity: Severity
    message: Text | None = None
    startedAt: PayloadTime
    resolvedAt: PayloadTime | None = None
    librenmsId: DocId | None = None
    hostname: Text | None = None
    subject: Text | None = None
    source: Text = "fastpoll"
    dedupKey: Annotated[StrictStr, Field(min_length=1)]
    openKey: Text | None = None


class CrisisEventResolve(_Write):
    resolvedAt: PayloadTime
    openKey: None = None

    def body(self) -> dict[str, object]:
        # openKey is always sent, as null: clearing it lets the same condition open a new event later.
        return {**super().body(), "openKey": None}


@dataclass(frozen=True, slots=True)
class LibreDevice:
    """One row of LibreNMS's ``devices`` (location joined from ``locations``), as sync needs it."""

    device_id: int
    hostname: str
    ip: str | None = None
    sys_name: str | None = None
    os: str | None = None
    hardware: str | None = None
    version: str | None = None
    serial: str | None = None
    location: str | None = None
    status: bool = False
    status_reason: str = ""
    uptime: int | None = None
    last_polled: datetime | None = None  # aware, UTC
    poller_group: int = 0
    disabled: bool = False
    ignore: bool = False
