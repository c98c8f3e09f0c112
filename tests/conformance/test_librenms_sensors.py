"""Conformance: one fastpoll poll of the discovered sensors/processors/mempools leaves them as LibreNMS's
own first poll did.

For every recording whose ../shared/librenms-data/<name>.json has a ``sensors``, ``processors`` or
``mempools`` section: insert the device and the section's ``discovery`` rows (with the state indexes and
translations of state sensors) into the real LibreNMS schema, run SensorsCheck once against snmpsim, apply
the writes with write_discovered, and compare the columns fastpoll owns with the ``poller`` rows.
Differences on purpose are listed in KNOWN_DIFFERENCES with the reason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select, text

from poller.checks.discovered import DiscoveredWrites, SensorsCheck
from poller.model import Credentials, Device, Target
from poller.snmp.client import SnmpEngine
from poller.store.discovered import OWNED_COLUMNS, sensors_to_state_indexes
from poller.store.discovered_writer import write_discovered
from poller.store.tables import eventlog
from tests.support.librenms_rows import insert_device
from tests.support.shared import LIBRENMS_DATA, recordings

pytestmark = [pytest.mark.mariadb, pytest.mark.snmpsim]

SECTIONS = ("sensors", "processors", "mempools")
KEYS = {
    "sensors": ("sensor_class", "sensor_type", "sensor_index"),
    "processors": ("processor_type", "processor_index"),
    "mempools": ("mempool_type", "mempool_class", "mempool_index"),
}
COMPARED = {
    "sensors": ("sensor_current", "sensor_prev"),  # lastupdate: hidden in LibreNMS's dump
    "processors": OWNED_COLUMNS["processors"],
    "mempools": OWNED_COLUMNS["mempools"],
}
# (recording, table, column) -> why fastpoll's value differs on purpose.
OS_POLLING = (
    "LibreNMS's OS class implements its own {} (not carried: fastpoll polls the stored OID generically)"
)
KNOWN_DIFFERENCES: dict[tuple[str, str, str], str] = {
    ("edgeswitch_es-24-250w", "processors", "processor_usage"): OS_POLLING.format(
        "ProcessorPolling (Traits/VxworksProcessorUsage parses '5 Secs ( 31.1%) 60 Secs ...')"
    ),
}


def _data(name: str) -> dict[str, Any]:
    return json.loads((LIBRENMS_DATA / f"{name}.json").read_text())


def _with_sections() -> list[str]:
    out = []
    for name in recordings():
        path = LIBRENMS_DATA / f"{name}.json"
        if path.exists() and any(s in _data(name) for s in SECTIONS):
            out.append(name)
    return out


def _table_cols(table: Any) -> set[str]:
    return {c.name for c in table.columns}


def _blanked(section: str, row: dict[str, Any], unchanged: bool = True) -> dict[str, Any]:
    """The discovery row with the values the poll must produce replaced, so a poll that writes nothing
    fails: processor usage and mempool used/free/perc = -1 (the stored total stays: LibreNMS divides it
    for percent-only pools); a sensor's current = NULL when LibreNMS's poll left sensor_prev NULL (its
    first poll did not change the value: ``unchanged``) and the value is not 0 (PHP: NULL == 0, no update)."""
    row = dict(row)
    if section == "processors":
        row["processor_usage"] = -1
    elif section == "mempools":
        row.update(mempool_used=-1, mempool_free=-1, mempool_perc=-1)
    elif section == "sensors" and unchanged and row["sensor_current"] not in (0, None):
        row["sensor_current"] = None
    return row


def _insert_discovery(url: str, device_id: int, data: dict[str, Any]) -> None:
    meta = MetaData()
    state_indexes = Table(
        "state_indexes",
        meta,
        Column("state_index_id", Integer, primary_key=True),
        Column("state_name", String(64)),
    )
    # full column sets from the real schema: the discovery rows carry more than fastpoll's Table objects
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            full = {
                t: Table(t, MetaData(), autoload_with=conn) for t in ("sensors", "processors", "mempools")
            }
            full_trans = Table("state_translations", MetaData(), autoload_with=conn)
            # the fixture truncates fastpoll's tables only: drop mappings left by an earlier test's sensors
            conn.execute(
                text(
                    "DELETE FROM sensors_to_state_indexes"
                    " WHERE sensor_id NOT IN (SELECT sensor_id FROM sensors)"
                )
            )
            if "sensors" in data:
                disc = data["sensors"]["discovery"]
                by_name: dict[str, list[dict[str, Any]]] = {}
                for t in disc.get("state_indexes", []):
                    by_name.setdefault(t["state_name"], []).append(t)
                index_ids: dict[str, int] = {}
                for state_name, trans in by_name.items():
                    found = conn.execute(
                        select(state_indexes.c.state_index_id).where(state_indexes.c.state_name == state_name)
                    ).scalar()
                    if found is None:
                        found = conn.execute(
                            insert(state_indexes).values(state_name=state_name)
                        ).inserted_primary_key[0]
                        for t in trans:
                            conn.execute(
                                insert(full_trans).values(
                                    state_index_id=found, **{k: v for k, v in t.items() if k != "state_name"}
                                )
                            )
                    index_ids[state_name] = int(found)
                cols = _table_cols(full["sensors"]) - {"sensor_id", "device_id"}
                unchanged = data["sensors"]["poller"] == "matches discovery"
                for row in (_blanked("sensors", r, unchanged) for r in disc["sensors"]):
                    sid = conn.execute(
                        insert(full["sensors"]).values(
                            device_id=device_id, **{k: v for k, v in row.items() if k in cols}
                        )
                    ).inserted_primary_key[0]
                    if row.get("state_name") in index_ids:
                        conn.execute(
                            insert(sensors_to_state_indexes).values(
                                sensor_id=sid, state_index_id=index_ids[row["state_name"]]
                            )
                        )
            for section in ("processors", "mempools"):
                if section in data:
                    table = full[section]
                    cols = _table_cols(table) - {"device_id", f"{section[:-1]}_id"}
                    for row in (_blanked(section, r) for r in data[section]["discovery"][section]):
                        conn.execute(
                            insert(table).values(
                                device_id=device_id, **{k: v for k, v in row.items() if k in cols}
                            )
                        )
    finally:
        eng.dispose()


def _actual(url: str, device_id: int, section: str) -> list[dict[str, Any]]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            full = Table(section, MetaData(), autoload_with=conn)
            rows = conn.execute(select(full).where(full.c.device_id == device_id)).mappings()
            return [dict(r) for r in rows]
    finally:
        eng.dispose()


def _num(v: Any) -> Any:
    return None if v is None else float(v)


async def _poll_once(name: str, agent: Any, url: str) -> tuple[int, DiscoveredWrites]:
    """Insert the device + discovery rows, poll them once with SensorsCheck and write the result."""
    device_id = insert_device(url, community=name, port=agent.port, timeout=2, retries=3)
    _insert_discovery(url, device_id, _data(name))
    device = Device(
        device_id=device_id,
        hostname="127.0.0.1",
        target=Target(
            "127.0.0.1",
            agent.port,
            credentials=Credentials(version="2c", community=name),
            timeout=2,
            retries=3,
        ),
    )
    db = create_engine(url)
    try:
        async with SnmpEngine() as engine:
            writes = await SensorsCheck(db).poll(engine, device, now=1_700_000_000)
        with db.begin() as conn:
            write_discovered(conn, [writes])
    finally:
        db.dispose()
    return device_id, writes


@pytest.mark.parametrize("name", _with_sections())
async def test_first_poll_of_discovered_entities_matches_librenms(
    name: str, shared_snmpsim: Any, librenms_url: str
) -> None:
    data = _data(name)
    device_id, writes = await _poll_once(name, shared_snmpsim, librenms_url)
    assert writes.oids > 0

    mismatches = []
    for section in SECTIONS:
        if section not in data:
            continue
        poller = data[section]["poller"]
        expected = data[section]["discovery"][section] if poller == "matches discovery" else poller[section]
        keys = KEYS[section]
        actual = {tuple(r[k] for k in keys): r for r in _actual(librenms_url, device_id, section)}
        assert len(actual) == len(expected)
        for exp in expected:
            key = tuple(exp[k] for k in keys)
            got_row = actual[key]
            for col in COMPARED[section]:
                want, got = _num(exp[col]), _num(got_row[col])
                if want == got or KNOWN_DIFFERENCES.get((name, section, col)):
                    continue
                mismatches.append(f"{section} {key} {col}: LibreNMS {want!r}, fastpoll {got!r}")
    assert not mismatches, f"{len(mismatches)} differences:\n" + "\n".join(mismatches[:60])


async def test_state_change_on_first_poll_logs_librenms_event(shared_snmpsim: Any, librenms_url: str) -> None:
    """ptp670: discovery stored state 9 (inactive), the recording answers 0 (locked)."""
    device_id, _ = await _poll_once("ptp670", shared_snmpsim, librenms_url)
    eng = create_engine(librenms_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                select(eventlog.c.message, eventlog.c.type, eventlog.c.severity).where(
                    eventlog.c.device_id == device_id
                )
            ).all()
    finally:
        eng.dispose()
    assert [tuple(r) for r in rows] == [
        ("State sensor Sync Status has changed from inactive (9) to locked (0)", "State", 3)
    ]
