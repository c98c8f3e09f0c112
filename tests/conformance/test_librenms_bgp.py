"""Conformance: one fastpoll poll of the BGP peers LibreNMS discovered leaves them as LibreNMS's own first
poll did, and logs the state change LibreNMS logs.

edgeos (../shared/librenms-data/edgeos.json, ``bgp-peers``): insert the device, its ports and IPv4 addresses
(for bgpPeerIface) and the ``discovery`` bgpPeers row into the real LibreNMS schema, poll the edgeos recording
once through snmpsim with DiscoveredChecks (the BGP check only), apply the writes with write_discovered, and
compare the columns fastpoll owns with the ``poller`` row. Columns that are discovery's (astext,
bgpPeerRemoteAs, bgpPeerDescr, bgpPeerRemoteAddr, ...) are not compared: fastpoll never writes them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, create_engine, delete, insert, select

from poller.checks.bgp import BgpWrites
from poller.checks.fastpath import DiscoveredChecks
from poller.model import Credentials, Device, Target
from poller.snmp.client import SnmpEngine
from poller.store.discovered import OWNED_COLUMNS, bgp_peers, ipv4_addresses
from poller.store.discovered_writer import write_discovered
from poller.store.tables import eventlog, ports
from tests.support.librenms_rows import insert_device
from tests.support.shared import LIBRENMS_DATA

pytestmark = [pytest.mark.mariadb, pytest.mark.snmpsim]

RECORDING = "edgeos"
COMPARED: tuple[str, ...] = OWNED_COLUMNS["bgpPeers"]
# column -> why fastpoll's value differs from LibreNMS's poller row on purpose (none for this recording).
KNOWN_DIFFERENCES: dict[str, str] = {}


def _data() -> dict[str, Any]:
    return json.loads((LIBRENMS_DATA / f"{RECORDING}.json").read_text())


def _insert_discovery(url: str, device_id: int, data: dict[str, Any]) -> None:
    """The discovery bgpPeers row and the IPv4 addresses of the device's ports (bgpPeerIface's lookup)."""
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            full = Table("bgpPeers", MetaData(), autoload_with=conn)
            addresses = Table("ipv4_addresses", MetaData(), autoload_with=conn)
            # earlier tests' rows: the ifIndex lookup must find exactly one port per address
            conn.execute(delete(ipv4_addresses))
            conn.execute(delete(bgp_peers))
            port_ids = {
                r.ifIndex: r.port_id
                for r in conn.execute(
                    select(ports.c.ifIndex, ports.c.port_id).where(ports.c.device_id == device_id)
                )
            }
            for row in data["ipv4-addresses"]["discovery"]["ipv4_addresses"]:
                values = {k: v for k, v in row.items() if k in addresses.c and k != "ifIndex"}
                conn.execute(insert(addresses).values(port_id=port_ids[row["ifIndex"]], **values))
            cols = {c.name for c in full.columns} - {"bgpPeer_id", "device_id"}
            for row in data["bgp-peers"]["discovery"]["bgpPeers"]:
                conn.execute(
                    insert(full).values(device_id=device_id, **{k: v for k, v in row.items() if k in cols})
                )
    finally:
        eng.dispose()


async def _poll_once(agent: Any, url: str) -> tuple[int, BgpWrites]:
    data = _data()
    if_indexes = sorted({r["ifIndex"] for r in data["ipv4-addresses"]["discovery"]["ipv4_addresses"]})
    device_id = insert_device(
        url,
        community=RECORDING,
        port=agent.port,
        timeout=2,
        retries=3,
        ports_rows=[{"ifIndex": i, "ifName": f"if{i}"} for i in if_indexes],
    )
    _insert_discovery(url, device_id, data)
    device = Device(
        device_id=device_id,
        hostname="127.0.0.1",
        target=Target(
            "127.0.0.1",
            agent.port,
            credentials=Credentials(version="2c", community=RECORDING),
            timeout=2,
            retries=3,
        ),
    )
    db = create_engine(url)
    try:
        async with SnmpEngine() as engine:
            writes = await DiscoveredChecks(db).poll(engine, device, now=1_700_000_000, checks={"bgp"})
        assert writes.entities is None and writes.bgp is not None
        with db.begin() as conn:
            write_discovered(conn, [writes.bgp])
    finally:
        db.dispose()
    return device_id, writes.bgp


def _rows(url: str, table: Any, device_id: int) -> list[dict[str, Any]]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(select(table).where(table.c.device_id == device_id)).mappings()
            return [dict(r) for r in rows]
    finally:
        eng.dispose()


async def test_first_poll_of_bgp_peers_matches_librenms(shared_snmpsim: Any, librenms_url: str) -> None:
    device_id, writes = await _poll_once(shared_snmpsim, librenms_url)
    assert writes.oids > 0 and writes.peers

    expected = {r["bgpPeerIdentifier"]: r for r in _data()["bgp-peers"]["poller"]["bgpPeers"]}
    actual = {r["bgpPeerIdentifier"]: r for r in _rows(librenms_url, bgp_peers, device_id)}
    assert actual.keys() == expected.keys()
    mismatches = [
        f"{peer} {col}: LibreNMS {want[col]!r}, fastpoll {actual[peer][col]!r}"
        for peer, want in expected.items()
        for col in COMPARED
        if want[col] != actual[peer][col] and col not in KNOWN_DIFFERENCES
    ]
    assert not mismatches, "\n".join(mismatches)


async def test_session_coming_up_logs_librenms_event(shared_snmpsim: Any, librenms_url: str) -> None:
    """Discovery stored the peer idle; the recording answers established (up for 164372 s)."""
    device_id, _ = await _poll_once(shared_snmpsim, librenms_url)
    rows = _rows(librenms_url, eventlog, device_id)
    assert [(r["message"], r["type"], r["severity"], r["reference"]) for r in rows] == [
        ("BGP Session Up: 172.16.200.1 (AS65000 )", "bgpPeer", 1, "172.16.200.1")
    ]
