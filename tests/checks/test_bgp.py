"""BGP peers: LibreNMS's generic BGP4-MIB poll of bgpPeers rows (includes/polling/bgp-peers.inc.php)."""

from __future__ import annotations

from typing import Any

from poller.checks.bgp import (
    BGP_PEER_ENTRY,
    BgpPeerRow,
    error_description,
    local_addresses,
    peer_data,
    poll_bgp,
)
from poller.checks.results import EventRow

PEER = "192.0.2.1"
STORED: dict[str, Any] = {
    "bgpPeerState": "established",
    "bgpPeerAdminStatus": "start",
    "bgpPeerInUpdates": 10,
    "bgpPeerOutUpdates": 5,
    "bgpPeerInTotalMessages": 100,
    "bgpPeerOutTotalMessages": 90,
    "bgpPeerFsmEstablishedTime": 5000,
    "bgpPeerInUpdateElapsedTime": 20,
    "bgpLocalAddr": "192.0.2.2",
    "bgpPeerLastErrorCode": 6,
    "bgpPeerLastErrorSubCode": 2,
    "bgpPeerIface": 7,
}
COLUMN = {
    "bgpPeerState": 2,
    "bgpPeerAdminStatus": 3,
    "bgpLocalAddr": 5,
    "bgpPeerInUpdates": 10,
    "bgpPeerOutUpdates": 11,
    "bgpPeerInTotalMessages": 12,
    "bgpPeerOutTotalMessages": 13,
    "bgpPeerLastError": 14,
    "bgpPeerFsmEstablishedTime": 16,
    "bgpPeerInUpdateElapsedTime": 24,
}
# What the agent answers when nothing changed since STORED (enums as integers, as the engine decodes them).
SAME: dict[str, Any] = {
    "bgpPeerState": 6,
    "bgpPeerAdminStatus": 2,
    "bgpLocalAddr": "192.0.2.2",
    "bgpPeerInUpdates": 10,
    "bgpPeerOutUpdates": 5,
    "bgpPeerInTotalMessages": 100,
    "bgpPeerOutTotalMessages": 90,
    "bgpPeerLastError": b"\x06\x02",
    "bgpPeerFsmEstablishedTime": 5000,
    "bgpPeerInUpdateElapsedTime": 20,
}
IFACES = {"192.0.2.2": 7}


def row(identifier: str = PEER, descr: str = "transit", **values: Any) -> BgpPeerRow:
    return BgpPeerRow(
        bgpPeer_id=3,
        device_id=1,
        bgpPeerIdentifier=identifier,
        bgpPeerRemoteAs=64500,
        bgpPeerDescr=descr,
        values={**STORED, **values},
    )


def answers(peer: str = PEER, **changes: Any) -> dict[str, Any]:
    values = {**SAME, **changes}
    return {f"{BGP_PEER_ENTRY}.{COLUMN[name]}.{peer}": v for name, v in values.items() if v is not None}


def poll(r: BgpPeerRow, a: dict[str, Any], ifaces: dict[str, int | None] = IFACES):  # type: ignore[no-untyped-def]
    rows, updates, events = poll_bgp([r], a, ifaces, 1_700_000_000)
    return rows[0], updates, events


# ------------------------------------------------------------------------------------------ OIDs


def test_the_peer_address_indexes_the_bgp_peer_table():
    oids = row().oids()
    assert oids["bgpPeerState"] == "1.3.6.1.2.1.15.3.1.2.192.0.2.1"
    assert oids["bgpPeerInUpdateElapsedTime"] == "1.3.6.1.2.1.15.3.1.24.192.0.2.1"
    assert len(oids) == 10


def test_an_ipv6_peer_has_no_bgp4_mib_oids():
    assert row(identifier="2001:db8::1").oids() == {}


def test_an_ipv6_peer_is_left_alone():
    r = row(identifier="2001:db8::1")
    assert poll(r, answers()) == (r, [], [])


# ------------------------------------------------------------------------------------------ values


def test_states_are_stored_as_net_snmp_names_them():
    data = peer_data(row(), answers(bgpPeerState=3, bgpPeerAdminStatus=1))
    assert data is not None
    assert (data["bgpPeerState"], data["bgpPeerAdminStatus"]) == ("active", "stop")


def test_an_unknown_state_value_is_stored_as_its_number():
    data = peer_data(row(), answers(bgpPeerState=9))
    assert data is not None and data["bgpPeerState"] == "9"


def test_last_error_octets_give_code_and_subcode():
    data = peer_data(row(), answers(bgpPeerLastError=b"\x03\x0b"))
    assert data is not None
    assert (data["bgpPeerLastErrorCode"], data["bgpPeerLastErrorSubCode"]) == (3, 11)


def test_absent_counters_and_error_read_zero_and_absent_texts_read_empty():
    a = answers(bgpPeerInUpdates=None, bgpPeerLastError=None, bgpLocalAddr=None, bgpPeerAdminStatus=None)
    data = peer_data(row(), a)
    assert data is not None
    assert (data["bgpPeerInUpdates"], data["bgpPeerLastErrorCode"]) == (0, 0)
    assert (data["bgpLocalAddr"], data["bgpPeerAdminStatus"]) == ("", "")
    assert "bgpPeerLastErrorSubCode" not in data


def test_a_peer_the_agent_does_not_answer_for_is_left_alone():
    r = row()
    assert poll(r, {}) == (r, [], [])


# ------------------------------------------------------------------------------------------ updates


def test_nothing_changed_writes_nothing():
    _, updates, events = poll(row(), answers())
    assert (updates, events) == ([], [])


def test_only_the_changed_columns_are_written():
    new, updates, _ = poll(row(), answers(bgpPeerInUpdates=12, bgpPeerInTotalMessages=103))
    assert [dict(u.columns) for u in updates] == [{"bgpPeerInUpdates": 12, "bgpPeerInTotalMessages": 103}]
    assert updates[0].bgpPeer_id == 3
    assert new.values["bgpPeerInUpdates"] == 12


def test_the_next_poll_compares_with_what_the_last_one_stored():
    new, _, _ = poll(row(), answers(bgpPeerInUpdates=12))
    _, updates, _ = poll(new, answers(bgpPeerInUpdates=12))
    assert updates == []


def test_a_null_error_code_becomes_zero_when_the_agent_has_no_error_column():
    # LibreNMS's edgeos poller row: bgpPeerLastErrorCode NULL -> 0, the subcode stays NULL
    _, updates, _ = poll(
        row(bgpPeerLastErrorCode=None, bgpPeerLastErrorSubCode=None), answers(bgpPeerLastError=None)
    )
    assert [dict(u.columns) for u in updates] == [{"bgpPeerLastErrorCode": 0}]


def test_the_interface_is_the_one_found_for_the_local_address():
    _, updates, _ = poll(row(bgpPeerIface=None), answers(), {"192.0.2.2": 26})
    assert [dict(u.columns) for u in updates] == [{"bgpPeerIface": 26}]


def test_no_port_found_for_the_local_address_stores_null():
    _, updates, _ = poll(row(), answers(), {})
    assert [dict(u.columns) for u in updates] == [{"bgpPeerIface": None}]


def test_the_local_addresses_to_look_up_are_the_answered_ones():
    assert local_addresses([row()], answers(bgpLocalAddr="198.51.100.9")) == {"198.51.100.9"}
    assert local_addresses([row()], answers(bgpLocalAddr=None)) == set()


def test_a_non_numeric_counter_is_stored_as_zero():
    _, updates, _ = poll(row(), answers(bgpPeerOutUpdates="n/a"))
    assert [dict(u.columns) for u in updates] == [{"bgpPeerOutUpdates": 0}]


# ------------------------------------------------------------------------------------------ eventlog


def test_session_up_is_logged_ok_with_the_peer_as_reference():
    r = row(bgpPeerState="active", bgpPeerFsmEstablishedTime=300)
    _, _, events = poll(r, answers(bgpPeerFsmEstablishedTime=12))
    assert events == [
        EventRow(1, 1_700_000_000, "BGP Session Up: 192.0.2.1 (AS64500 transit)", "bgpPeer", 1, PEER)
    ]


def test_session_down_is_logged_as_an_error_with_the_stored_last_error():
    _, _, events = poll(row(), answers(bgpPeerState=1, bgpPeerFsmEstablishedTime=40))
    assert [(e.message, e.severity) for e in events] == [
        (
            "BGP Session Down: 192.0.2.1 (AS64500 transit), last error: Cease - Administrative Shutdown",
            5,
        )
    ]


def test_an_established_time_reset_without_state_change_is_a_flap():
    _, _, events = poll(row(), answers(bgpPeerFsmEstablishedTime=30))
    assert [(e.message, e.severity) for e in events] == [
        ("BGP Session Flap: 192.0.2.1 (AS64500 transit), last error: Cease - Administrative Shutdown", 4)
    ]


def test_a_zero_established_time_logs_nothing():
    _, _, events = poll(row(), answers(bgpPeerState=1, bgpPeerFsmEstablishedTime=0))
    assert events == []


def test_a_change_between_two_non_established_states_logs_nothing():
    r = row(bgpPeerState="idle")
    _, _, events = poll(r, answers(bgpPeerState=3, bgpPeerFsmEstablishedTime=9000))
    assert events == []


def test_an_empty_description_leaves_librenms_space_before_the_parenthesis():
    r = row(descr="", bgpPeerState="idle", bgpPeerFsmEstablishedTime=0)
    _, _, events = poll(r, answers())
    assert [e.message for e in events] == ["BGP Session Up: 192.0.2.1 (AS64500 )"]


def test_error_descriptions_follow_librenms_names():
    assert error_description(6, 2) == "Cease - Administrative Shutdown"
    assert error_description(4, 0) == "Hold Timer Expired"  # no subcode names for code 4
    assert error_description(0, None) == "Reserved"
    assert error_description(None, None) == "Unknown"
    assert error_description(42, 1) == "Unknown"
