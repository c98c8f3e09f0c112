"""PollResult: everything one device poll produced, handed from the checks to the consumers.

Consumers: the store writer (poller/store/librenms.py) turns it into SQL; a metrics collector and the
Payload sync read the ``metrics`` part. Plain dataclasses only: no I/O, no callbacks. Times are epoch
seconds (int) unless a field says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False, slots=True)
class PortRef:
    """Identity of a port across polls. ``port_id`` is None until the writer has inserted a new port;
    the writer fills it in (the same object is shared with the poll state, so later updates find it)."""

    device_id: int
    ifIndex: int
    port_id: int | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One ``eventlog`` row. ``datetime`` is the epoch second the event happened (written as UTC)."""

    device_id: int
    datetime: int
    message: str
    type: str
    severity: int
    reference: str | int | PortRef | None = None  # a PortRef is resolved to its port_id by the writer
    username: str = ""


@dataclass(frozen=True, slots=True)
class OutageOpen:
    """Insert ``device_outages(device_id, going_down)`` unless an outage is already open."""

    device_id: int
    going_down: int


@dataclass(frozen=True, slots=True)
class OutageClose:
    """Set ``up_again`` on every open outage of the device."""

    device_id: int
    up_again: int


@dataclass(slots=True)
class PortWrite:
    """Column values for one port: ``ports`` columns and ``ports_statistics`` columns.

    ``insert`` = the port is new: INSERT both rows (with these values) instead of UPDATE.
    ``counters`` = True when the counter columns are part of this write (False for the statistics-skip
    rule and for the ``status`` write set): such writes may be coalesced to the newest per port.
    """

    ref: PortRef
    ports: dict[str, Any]
    statistics: dict[str, Any]
    insert: bool = False
    counters: bool = True


@dataclass(frozen=True, slots=True)
class PortMetrics:
    """Latest per-port values for metrics (rates are per second, unrounded; None = no rate yet)."""

    ifIndex: int
    ifName: str | None
    ifAlias: str | None
    ifDescr: str | None
    ifType: str | None
    oper_status: str | None
    admin_status: str | None
    speed: int | None  # bits per second
    counters: dict[str, int]  # column name (ifInOctets, ...) -> raw value
    rates: dict[str, float | None]  # column name -> per-second rate
    deleted: bool = False


@dataclass(slots=True)
class DeviceMetrics:
    """Latest device-level values for metrics."""

    up: bool
    reachable: bool  # this poll's SNMP outcome (may differ from ``up`` below the down threshold)
    uptime: int | None  # seconds
    poll_duration: float  # seconds this poll took
    consecutive_failures: int
    error: str | None = None  # error kind ("timeout", "auth", ...) when unreachable


@dataclass(slots=True)
class PollResult:
    """One device poll. ``device`` holds the ``devices`` columns to update (empty = none)."""

    device_id: int
    polled: int  # epoch second of the poll
    device: dict[str, Any] = field(default_factory=dict)
    ports: list[PortWrite] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    outage_open: OutageOpen | None = None
    outage_close: OutageClose | None = None
    metrics: DeviceMetrics | None = None
    port_metrics: list[PortMetrics] = field(default_factory=list)

    @property
    def has_transition(self) -> bool:
        """True when the result carries state changes that must never be dropped."""
        return bool(self.events or self.outage_open or self.outage_close or "status" in self.device)
