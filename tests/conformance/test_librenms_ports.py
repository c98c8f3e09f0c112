"""Conformance: one fastpoll poll leaves ports + ports_statistics as LibreNMS's own first poll did.

For every recording in ../shared/snmprec: insert the device (hostname 127.0.0.1, community = recording name,
port = snmpsim's) and the ``ports.discovery.ports`` rows of ../shared/librenms-data/<name>.json into the
real LibreNMS schema, run ``poll_once``, and compare every ``ports.poller.ports`` row (LibreNMS's dump rule:
ports joined with ports_statistics, without device_id/port_id/poll_time/poll_period/ifVrf, ordered by
ifIndex, ifDescr, ifName) column by column. Columns that differ on purpose are listed below with the reason.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from poller.poll import poll_once
from poller.store.tables import OWNED_COLUMNS, devices, ports, ports_statistics
from tests.support.shared import LIBRENMS_DATA, recordings

pytestmark = [pytest.mark.mariadb, pytest.mark.snmpsim]

EXCLUDED = {"device_id", "port_id", "poll_time", "poll_period", "ifVrf"}
OWNED = (set(OWNED_COLUMNS["ports"]) | set(OWNED_COLUMNS["ports_statistics"])) - EXCLUDED

# (recording, column) -> why fastpoll's value differs from LibreNMS's on purpose. "*" = every recording.
OS_INCLUDE = (
    "LibreNMS's OS-specific ports code (includes/polling/ports/os/<os>.inc.php, OS yaml) is not carried"
)
CISCO_VLAN = "Cisco vmVlan/vlanTrunkPortEncapsulationOperType (CISCO-VLAN-MEMBERSHIP/VTP-MIB) are not polled"
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("*", "ifTrunk"): "not owned by fastpoll: " + CISCO_VLAN,
    ("ios", "ifVlan"): CISCO_VLAN,
    ("ios_c3560", "ifVlan"): CISCO_VLAN,
    ("cnmatrix", "ifAlias"): OS_INCLUDE + " (cnmatrix keeps ifDescr as ifAlias)",
    ("zynos_mgs3712", "ifName"): OS_INCLUDE + " (zynos renames ports 1/01...)",
    ("zynos_mgs3712", "ifDuplex"): OS_INCLUDE + " (zynos stores the raw duplex number)",
}
# Ports one poller inserts and the other does not: LibreNMS filters by per-OS bad_if lists (fastpoll has no
# OS definitions) and junos inserts virtual-chassis ports from its OS include.
KNOWN_EXTRA_PORTS: dict[str, tuple[set[int], str]] = {
    "edgeos": (
        {10, 11, 12, 13, 14, 15, 16, 17, 24, 25},
        "edgeos bad_if (npi*, loop*, gre*) in LibreNMS's OS yaml",
    ),
    "iosxe_asr920": ({31, 37, 64, 65}, "LibreNMS's ios bad_if_regexp (-mpls layer, Virtual-PPP)"),
    "ptp670": ({4}, "ptp670's OS yaml bad_if"),
    "routeros": ({11}, "routeros bad_if (pppoe-)"),
}
KNOWN_MISSING_PORTS: dict[str, tuple[set[int], str]] = {
    "junos": (
        {10000050, 10000053, 10001050, 10001053, 10002048, 10002053, 10003048, 10003053},
        "junos OS include inserts virtual-chassis (vcp) ports that are not in the IF-MIB walk",
    ),
}


def _expected(name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    data = json.loads((LIBRENMS_DATA / f"{name}.json").read_text())
    section = data["ports"]
    poller = section["poller"]
    discovery = section["discovery"]["ports"]
    after = discovery if poller == "matches discovery" else poller["ports"]
    return discovery, after


def _insert_device_and_ports(url: str, name: str, port: int, discovery: list[dict[str, Any]]) -> int:
    port_cols = {c.name for c in ports.columns} - {"port_id", "device_id"}
    stat_cols = {c.name for c in ports_statistics.columns} - {"port_id"}
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            device_id = conn.execute(
                devices.insert().values(
                    hostname="127.0.0.1",
                    community=name,
                    port=port,
                    snmpver="v2c",
                    transport="udp",
                    status=1,
                    status_reason="",
                    os=name.split("_")[0],
                    timeout=2,
                    retries=3,
                )
            ).inserted_primary_key[0]
            for row in discovery:
                values = {k: v for k, v in row.items() if k in port_cols}
                port_id = conn.execute(
                    ports.insert().values(device_id=device_id, **values)
                ).inserted_primary_key[0]
                stats = {k: v for k, v in row.items() if k in stat_cols}
                conn.execute(ports_statistics.insert().values(port_id=port_id, **stats))
    finally:
        eng.dispose()
    return int(device_id)


def _actual(url: str, device_id: int, columns: list[str]) -> list[dict[str, Any]]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            sel = ", ".join(f"`{c}`" for c in columns)
            rows = conn.execute(
                text(
                    f"SELECT {sel} FROM ports LEFT JOIN ports_statistics USING (port_id) "
                    "WHERE device_id = :d ORDER BY ifIndex, ifDescr, ifName"
                ),
                {"d": device_id},
            ).mappings()
            return [{k: (int(v) if isinstance(v, Decimal) else v) for k, v in r.items()} for r in rows]
    finally:
        eng.dispose()


def _known(name: str, column: str) -> str | None:
    return KNOWN_DIFFERENCES.get((name, column)) or KNOWN_DIFFERENCES.get(("*", column))


@pytest.mark.parametrize("name", recordings())
async def test_first_poll_matches_librenms(name: str, shared_snmpsim: Any, librenms_url: str) -> None:
    discovery, expected = _expected(name)
    device_id = _insert_device_and_ports(librenms_url, name, shared_snmpsim.port, discovery)

    results, problems = await poll_once(librenms_url, [str(device_id)], default_timeout=2, default_retries=3)
    assert not problems
    assert results and results[0].metrics and results[0].metrics.reachable

    columns = list(expected[0].keys()) if expected else ["ifIndex"]
    actual = {r["ifIndex"]: r for r in _actual(librenms_url, device_id, columns)}
    wanted = {r["ifIndex"]: r for r in expected}
    extra_ok = KNOWN_EXTRA_PORTS.get(name, (set(), ""))[0]
    missing_ok = KNOWN_MISSING_PORTS.get(name, (set(), ""))[0]
    assert set(actual) - set(wanted) == extra_ok
    assert set(wanted) - set(actual) <= missing_ok
    mismatches = []
    for if_index, exp in wanted.items():
        if if_index not in actual:
            continue
        act = actual[if_index]
        for col, want in exp.items():
            got = act.get(col)
            if got == want or _known(name, col):
                continue
            mismatches.append(f"ifIndex {exp['ifIndex']} {col}: LibreNMS {want!r}, fastpoll {got!r}")
    assert not mismatches, f"{len(mismatches)} differences:\n" + "\n".join(mismatches[:60])
