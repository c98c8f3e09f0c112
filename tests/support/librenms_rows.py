"""Insert LibreNMS rows as LibreNMS's discovery would leave them (devices, ports, ports_statistics)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine, text

from poller.store.tables import devices, ports, ports_statistics

from .shared import LIBRENMS_DATA


def discovery_ports(recording: str) -> list[dict[str, Any]]:
    """The `ports` rows LibreNMS's discovery produced for a shared recording."""
    data = json.loads((LIBRENMS_DATA / f"{recording}.json").read_text())
    return data["ports"]["discovery"]["ports"]


def insert_device(
    url: str,
    *,
    community: str,
    port: int,
    hostname: str = "127.0.0.1",
    ports_rows: list[dict[str, Any]] = (),  # type: ignore[assignment]
    **columns: Any,
) -> int:
    """Insert a v2c device and its discovered ports; return its device_id."""
    port_cols = {c.name for c in ports.columns} - {"port_id", "device_id"}
    stat_cols = {c.name for c in ports_statistics.columns} - {"port_id"}
    values = dict(
        hostname=hostname,
        community=community,
        port=port,
        snmpver="v2c",
        transport="udp",
        status=1,
        status_reason="",
        timeout=1,
        retries=1,
    )
    values.update(columns)
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            device_id = conn.execute(devices.insert().values(**values)).inserted_primary_key[0]
            for row in ports_rows:
                port_id = conn.execute(
                    ports.insert().values(
                        device_id=device_id, **{k: v for k, v in row.items() if k in port_cols}
                    )
                ).inserted_primary_key[0]
                stats = {k: v for k, v in row.items() if k in stat_cols}
                conn.execute(ports_statistics.insert().values(port_id=port_id, **stats))
    finally:
        eng.dispose()
    return int(device_id)


def query(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql), params).mappings()]
    finally:
        eng.dispose()


def execute(url: str, sql: str, **params: Any) -> None:
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        eng.dispose()


def insert_edgeos_bgp_peer(url: str, device_id: int) -> None:
    """The BGP peer LibreNMS's discovery found on the edgeos recording, as discovery leaves it (idle)."""
    execute(
        url,
        "INSERT INTO bgpPeers (device_id, astext, bgpPeerIdentifier, bgpPeerRemoteAs, bgpPeerState,"
        " bgpPeerAdminStatus, bgpLocalAddr, bgpPeerRemoteAddr, bgpPeerInUpdates, bgpPeerOutUpdates,"
        " bgpPeerInTotalMessages, bgpPeerOutTotalMessages, bgpPeerFsmEstablishedTime,"
        " bgpPeerInUpdateElapsedTime, context_name)"
        " VALUES (:d, '', '172.16.200.1', 65000, 'idle', 'stop', '0.0.0.0', '0.0.0.0', 0, 0, 0, 0, 0, 0, '')",
        d=device_id,
    )
