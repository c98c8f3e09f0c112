"""Inventory reader: LibreNMS ``devices`` rows -> poller.model.Device, ``ports`` rows -> PortState.

Rules (LibreNMS): the SNMP host is ``overwrite_ip`` when set, else ``hostname``; ``snmpver`` is
'v1'/'v2c'/'v3'; NULL timeout/retries fall back to the configured defaults (LibreNMS: 1 s, 5 retries);
transport 'udp'/'udp6' (tcp/tcp6 are not supported by fastpoll: such devices are reported and skipped).
Disabled devices and devices with snmp_disable are not polled. Disabled ports are not polled; ignored and
deleted ports are (LibreNMS polls them; ``ignore`` only mutes alerts, ``deleted`` is cleared when seen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from poller.checks.ports import ALL_COUNTERS, ASSOCIATION_COLUMNS, PortState
from poller.checks.results import PortRef
from poller.model import AUTH_ALGOS, PRIV_ALGOS, Credentials, Device, Target

from .tables import OWNED_COLUMNS, devices, ports, ports_statistics

SNMP_VERSIONS = {"v1": "1", "v2c": "2c", "v3": "3"}
SUPPORTED_TRANSPORTS = ("udp", "udp6")


class UnsupportedDevice(ValueError):
    """A device fastpoll cannot poll (the message names the device, never its secrets)."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device plus the stored values the poll state starts from."""

    device: Device
    status: bool
    status_reason: str
    uptime: int | None
    last_polled: float | None  # epoch


def device_from_row(
    row: Mapping[str, Any], *, default_timeout: float = 1.0, default_retries: int = 5
) -> Device:
    """One ``devices`` row -> Device. Raises UnsupportedDevice for tcp transports or bad settings."""
    device_id = int(row["device_id"])
    label = f"device {device_id} ({row['hostname']})"
    transport = (row.get("transport") or "udp").lower()
    if transport not in SUPPORTED_TRANSPORTS:
        raise UnsupportedDevice(f"{label}: transport {transport!r} is not supported (udp and udp6 only)")
    version = SNMP_VERSIONS.get((row.get("snmpver") or "v2c").lower())
    if version is None:
        raise UnsupportedDevice(f"{label}: unknown snmpver {row.get('snmpver')!r}")
    if version == "3":
        auth_algo = (row.get("authalgo") or "MD5").upper()
        priv_algo = (row.get("cryptoalgo") or "AES").upper()
        if auth_algo not in AUTH_ALGOS:
            raise UnsupportedDevice(f"{label}: unknown authalgo {auth_algo!r}")
        if priv_algo not in PRIV_ALGOS:
            raise UnsupportedDevice(f"{label}: unknown cryptoalgo {priv_algo!r}")
        creds = Credentials(
            version="3",
            community="",
            authlevel=row.get("authlevel") or "noAuthNoPriv",
            username=row.get("authname") or "",
            auth_algo=auth_algo,
            auth_password=row.get("authpass") or "",
            priv_algo=priv_algo,
            priv_password=row.get("cryptopass") or "",
        )
    else:
        creds = Credentials(version=version, community=row.get("community") or "")  # type: ignore[arg-type]
    host = row.get("overwrite_ip") or row["hostname"]
    timeout = row.get("timeout")
    retries = row.get("retries")
    target = Target(
        host=str(host),
        port=int(row.get("port") or 161),
        transport=transport,  # type: ignore[arg-type]
        credentials=creds,
        timeout=float(timeout) if timeout else default_timeout,
        retries=int(retries) if retries is not None else default_retries,
    )
    return Device(
        device_id=device_id,
        hostname=str(row["hostname"]),
        target=target,
        sys_name=row.get("sysName"),
        os=row.get("os"),
        poller_group=int(row.get("poller_group") or 0),
        snmp_disable=bool(row.get("snmp_disable")),
        disabled=bool(row.get("disabled")),
        ignore=bool(row.get("ignore")),
        port_association_mode=int(row.get("port_association_mode") or 1),
    )


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return None


def load_devices(
    conn: Connection,
    selectors: Sequence[str] | None = None,
    *,
    poller_groups: Sequence[int] | None = None,
    default_timeout: float = 1.0,
    default_retries: int = 5,
) -> tuple[list[DeviceRecord], list[str]]:
    """Pollable devices (optionally only those matching device ids / hostnames, or in the poller groups).

    Returns (records, problems): problems are human-readable reasons for devices skipped or selectors that
    matched nothing.
    """
    stmt = select(devices).where(devices.c.disabled == 0, devices.c.snmp_disable == 0)
    if poller_groups:
        stmt = stmt.where(devices.c.poller_group.in_(list(poller_groups)))
    if selectors:
        ids = [int(s) for s in selectors if s.isdigit()]
        names = [s for s in selectors if not s.isdigit()]
        stmt = stmt.where(or_(devices.c.device_id.in_(ids), devices.c.hostname.in_(names)))
    records: list[DeviceRecord] = []
    problems: list[str] = []
    found: set[str] = set()
    for row in conn.execute(stmt.order_by(devices.c.device_id)).mappings():
        found.update({str(row["device_id"]), str(row["hostname"])})
        try:
            device = device_from_row(row, default_timeout=default_timeout, default_retries=default_retries)
        except UnsupportedDevice as exc:
            problems.append(str(exc))
            continue
        records.append(
            DeviceRecord(
                device=device,
                status=bool(row["status"]),
                status_reason=row["status_reason"] or "",
                uptime=row["uptime"],
                last_polled=_epoch(row["last_polled"]),
            )
        )
    for s in selectors or ():
        if s not in found:
            problems.append(f"no pollable device matches {s!r} (unknown, disabled or snmp disabled)")
    return records, problems


PORT_READ_COLUMNS = (
    *tuple(c for c in OWNED_COLUMNS["ports"] if c not in ("device_id",)),
    "port_id",
    "ifTrunk",
    "ignore",
    "disabled",
    "ifType",
)
STAT_READ_COLUMNS = tuple(c for c in OWNED_COLUMNS["ports_statistics"] if c != "port_id")


def load_ports(conn: Connection, device_id: int, association_mode: int = 1) -> dict[Any, PortState]:
    """Stored, enabled ports of a device keyed by the association column, with every owned column."""
    cols = [ports.c[c] for c in dict.fromkeys(PORT_READ_COLUMNS)] + [
        ports_statistics.c[c] for c in STAT_READ_COLUMNS
    ]
    stmt = (
        select(*cols)
        .select_from(ports.outerjoin(ports_statistics, ports.c.port_id == ports_statistics.c.port_id))
        .where(ports.c.device_id == device_id, ports.c.disabled == 0)
        .order_by(ports.c.port_id)
    )
    key_col = ASSOCIATION_COLUMNS.get(association_mode, "ifIndex")
    out: dict[Any, PortState] = {}
    for row in conn.execute(stmt).mappings():
        data = dict(row)
        for name in ALL_COUNTERS:  # BIGINT UNSIGNED comes back as int; keep None as None
            if data.get(name) is not None:
                data[name] = int(data[name])
        key = data["ifIndex"] if key_col == "ifIndex" else data.get(key_col)
        if key is None or key in out:
            continue
        ref = PortRef(device_id, int(data["ifIndex"] or 0), int(data["port_id"]))
        out[key] = PortState(ref, data)
    return out
