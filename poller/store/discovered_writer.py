"""Apply DiscoveredWrites (sensors/processors/mempools column updates + eventlog rows) and BgpWrites (bgpPeers
column updates + eventlog rows) to the database.

Kept apart from LibreNMSWriter (ports/devices batching): these are small keyed UPDATEs, one executemany
per table, in one transaction with the eventlog inserts. Call it from the writer thread (or any thread
that owns a connection), never from the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection

from poller.checks.bgp import BgpWrites
from poller.checks.discovered import DiscoveredWrites
from poller.checks.results import EventRow
from poller.store.discovered import bgp_peers, mempools, processors, sensors
from poller.store.librenms import epoch_to_db
from poller.store.tables import eventlog

_SENSOR = (
    update(sensors)
    .where(sensors.c.sensor_id == bindparam("b_id"))
    .values(
        sensor_current=bindparam("b_current"),
        sensor_prev=bindparam("b_prev"),
        lastupdate=bindparam("b_lastupdate"),
    )
)
_PROCESSOR = (
    update(processors)
    .where(processors.c.processor_id == bindparam("b_id"))
    .values(processor_usage=bindparam("b_usage"))
)
_MEMPOOL = (
    update(mempools)
    .where(mempools.c.mempool_id == bindparam("b_id"))
    .values(
        mempool_total=bindparam("b_total"),
        mempool_used=bindparam("b_used"),
        mempool_free=bindparam("b_free"),
        mempool_perc=bindparam("b_perc"),
    )
)


def _event(ev: EventRow) -> dict[str, Any]:
    return {
        "device_id": ev.device_id,
        "datetime": epoch_to_db(ev.datetime),
        "message": ev.message,
        "type": ev.type,
        "reference": None if ev.reference is None else str(ev.reference),
        "username": ev.username,
        "severity": ev.severity,
    }


def write_discovered(conn: Connection, batch: Iterable[DiscoveredWrites | BgpWrites]) -> dict[str, int]:
    """Execute the updates and inserts of ``batch``; returns rows written per table."""
    s: list[dict[str, Any]] = []
    p: list[dict[str, Any]] = []
    m: list[dict[str, Any]] = []
    e: list[dict[str, Any]] = []
    bgp = 0
    for w in batch:
        if isinstance(w, BgpWrites):
            # one UPDATE per peer: each sets only the columns that changed (as LibreNMS's dbUpdate does)
            for u in w.peers:
                conn.execute(
                    update(bgp_peers).where(bgp_peers.c.bgpPeer_id == u.bgpPeer_id).values(**u.columns)
                )
            bgp += len(w.peers)
            e += [_event(ev) for ev in w.events]
            continue
        lastupdate = epoch_to_db(w.polled)
        s += [
            {
                "b_id": u.sensor_id,
                "b_current": u.sensor_current,
                "b_prev": u.sensor_prev,
                "b_lastupdate": lastupdate,
            }
            for u in w.sensors
        ]
        p += [{"b_id": u.processor_id, "b_usage": u.processor_usage} for u in w.processors]
        m += [
            {
                "b_id": u.mempool_id,
                "b_total": u.mempool_total,
                "b_used": u.mempool_used,
                "b_free": u.mempool_free,
                "b_perc": u.mempool_perc,
            }
            for u in w.mempools
        ]
        e += [_event(ev) for ev in w.events]
    for stmt, rows in ((_SENSOR, s), (_PROCESSOR, p), (_MEMPOOL, m)):
        if rows:
            conn.execute(stmt, rows)
    if e:
        conn.execute(eventlog.insert(), e)
    return {
        "sensors": len(s),
        "processors": len(p),
        "mempools": len(m),
        "bgpPeers": bgp,
        "eventlog": len(e),
    }
