"""bgpPeers storage: loading the discovered peers, the bgpPeerIface lookup and the writes (embedded SQLite,
which holds the same LibreNMS-shaped tables)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from poller.checks.bgp import BgpPeerUpdate, BgpWrites
from poller.checks.results import EventRow
from poller.store.discovered import bgp_peers, ipv4_addresses, load_bgp_peers, lookup_ifaces
from poller.store.discovered_writer import write_discovered
from poller.store.embedded import create_embedded
from poller.store.tables import eventlog, ports

PEER_COLUMNS: dict[str, Any] = {
    "bgpPeerRemoteAs": 64500,
    "bgpPeerState": "idle",
    "bgpPeerAdminStatus": "stop",
    "bgpLocalAddr": "0.0.0.0",
    "bgpPeerDescr": "",
    "bgpPeerInUpdates": 0,
    "bgpPeerOutUpdates": 0,
    "bgpPeerInTotalMessages": 0,
    "bgpPeerOutTotalMessages": 0,
    "bgpPeerFsmEstablishedTime": 0,
    "bgpPeerInUpdateElapsedTime": 0,
    "context_name": "",
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    engine = create_embedded(tmp_path / "fastpoll.sqlite")
    yield engine
    engine.dispose()


def add_peer(db: Engine, identifier: str, device_id: int = 1, **values: Any) -> int:
    with db.begin() as conn:
        row = {**PEER_COLUMNS, "device_id": device_id, "bgpPeerIdentifier": identifier, **values}
        return int(conn.execute(insert(bgp_peers).values(**row)).inserted_primary_key[0])


def add_address(db: Engine, address: str, device_id: int, if_index: int) -> None:
    with db.begin() as conn:
        port_id = conn.execute(
            insert(ports).values(device_id=device_id, ifIndex=if_index)
        ).inserted_primary_key[0]
        conn.execute(insert(ipv4_addresses).values(ipv4_address=address, port_id=port_id))


def test_the_device_peers_are_loaded_with_their_stored_columns(db: Engine) -> None:
    add_peer(db, "192.0.2.1", bgpPeerDescr="transit", bgpPeerState="established")
    add_peer(db, "192.0.2.9", device_id=2)
    with db.connect() as conn:
        peers = load_bgp_peers(conn, 1)
    assert [(p.bgpPeerIdentifier, p.bgpPeerRemoteAs, p.bgpPeerDescr) for p in peers] == [
        ("192.0.2.1", 64500, "transit")
    ]
    assert peers[0].values["bgpPeerState"] == "established"


def test_peers_in_a_vrf_context_are_not_loaded(db: Engine) -> None:
    add_peer(db, "192.0.2.1", context_name="cust-a")
    with db.connect() as conn:
        assert load_bgp_peers(conn, 1) == []


def test_the_interface_is_the_one_port_holding_the_local_address(db: Engine) -> None:
    add_address(db, "192.0.2.2", device_id=1, if_index=26)
    with db.connect() as conn:
        assert lookup_ifaces(conn, ["192.0.2.2", "198.51.100.1"]) == {"192.0.2.2": 26, "198.51.100.1": None}


def test_an_address_held_by_two_ports_gives_no_interface(db: Engine) -> None:
    # LibreNMS's ->sole(): reused address space (two devices) is ambiguous
    add_address(db, "10.0.0.1", device_id=1, if_index=3)
    add_address(db, "10.0.0.1", device_id=2, if_index=4)
    with db.connect() as conn:
        assert lookup_ifaces(conn, ["10.0.0.1"]) == {"10.0.0.1": None}


def test_a_bgp_write_updates_only_its_columns_and_logs_its_events(db: Engine) -> None:
    peer_id = add_peer(db, "192.0.2.1")
    other = add_peer(db, "192.0.2.5")
    event = EventRow(1, 1_700_000_000, "BGP Session Up: 192.0.2.1 (AS64500 )", "bgpPeer", 1, "192.0.2.1")
    writes = BgpWrites(
        1,
        1_700_000_000,
        peers=[BgpPeerUpdate(peer_id, {"bgpPeerState": "established", "bgpPeerFsmEstablishedTime": 12})],
        events=[event],
    )
    with db.begin() as conn:
        counts = write_discovered(conn, [writes])
    assert (counts["bgpPeers"], counts["eventlog"]) == (1, 1)
    with db.connect() as conn:
        rows = {r.bgpPeer_id: r for r in conn.execute(select(bgp_peers))}
        logged = conn.execute(select(eventlog.c.message, eventlog.c.reference, eventlog.c.severity)).all()
    assert (rows[peer_id].bgpPeerState, rows[peer_id].bgpPeerFsmEstablishedTime) == ("established", 12)
    assert rows[peer_id].bgpPeerAdminStatus == "stop"
    assert rows[other].bgpPeerState == "idle"
    assert [tuple(r) for r in logged] == [("BGP Session Up: 192.0.2.1 (AS64500 )", "192.0.2.1", 1)]
