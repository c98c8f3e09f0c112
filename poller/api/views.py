"""FleetState snapshots as the JSON API's documents (pure functions, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from poller.checks.results import PortMetrics
from poller.metrics.state import DeviceSnapshot

Status = Literal["up", "down", "unknown"]
STATUSES: tuple[str, ...] = ("up", "down")  # the values the status filter accepts


def device_status(snapshot: DeviceSnapshot) -> Status:
    if snapshot.metrics is None:
        return "unknown"
    return "up" if snapshot.metrics.up else "down"


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def device_doc(snapshot: DeviceSnapshot) -> dict[str, Any]:
    d, m = snapshot.device, snapshot.metrics
    return {
        "device_id": d.device_id,
        "hostname": d.hostname,
        "sys_name": d.sys_name,
        "os": d.os,
        "poller_group": d.poller_group,
        "status": device_status(snapshot),
        "reachable": m.reachable if m is not None else None,
        "uptime": m.uptime if m is not None else None,
        "error": m.error if m is not None else None,
        "consecutive_failures": m.consecutive_failures if m is not None else None,
        "poll_duration": m.poll_duration if m is not None else None,
        "last_polled": _iso(snapshot.polled),
        "interval": snapshot.interval,
        "port_count": len(snapshot.ports),
    }


def _times(rate: float | None, factor: float) -> float | None:
    return None if rate is None else rate * factor


def port_doc(port: PortMetrics) -> dict[str, Any]:
    """Rates are per second from the last two polls; None until a port has been polled twice."""
    rates = port.rates
    return {
        "if_index": port.ifIndex,
        "name": port.ifName,
        "alias": port.ifAlias,
        "descr": port.ifDescr,
        "type": port.ifType,
        "oper_status": port.oper_status,
        "admin_status": port.admin_status,
        "speed": port.speed,
        "in_bps": _times(rates.get("ifInOctets"), 8),
        "out_bps": _times(rates.get("ifOutOctets"), 8),
        "in_errors_per_sec": rates.get("ifInErrors"),
        "out_errors_per_sec": rates.get("ifOutErrors"),
    }


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    status: str | None = None  # "up" | "down"
    poller_group: int | None = None
    hostname: str | None = None  # case-insensitive substring of hostname or sysName

    def matches(self, s: DeviceSnapshot) -> bool:
        if self.status is not None and device_status(s) != self.status:
            return False
        if self.poller_group is not None and s.device.poller_group != self.poller_group:
            return False
        if self.hostname is not None:
            needle = self.hostname.lower()
            names = (s.device.hostname, s.device.sys_name or "")
            if not any(needle in name.lower() for name in names):
                return False
        return True


class FilterError(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


def parse_filter(params: Iterable[tuple[str, str]]) -> DeviceFilter:
    """Query parameters -> DeviceFilter; an unknown parameter or a bad value raises FilterError."""
    values: dict[str, str] = {}
    for key, value in params:
        if key not in ("status", "poller_group", "hostname"):
            raise FilterError(key, "unknown query parameter")
        values[key] = value
    status = values.get("status")
    if status is not None and status not in STATUSES:
        raise FilterError("status", f"must be one of {', '.join(STATUSES)}")
    group = values.get("poller_group")
    if group is not None and not (group.isascii() and group.isdigit()):
        raise FilterError("poller_group", "must be a non-negative integer")
    return DeviceFilter(status, int(group) if group is not None else None, values.get("hostname") or None)
