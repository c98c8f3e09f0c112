"""What LibreNMS's discovery stored per device (sensors, processors, mempools, BGP peers) and how to load it.

SQLAlchemy Core tables with only the columns fastpoll reads or writes (types from
../shared/librenms/TABLES.md), in their own MetaData so the embedded SQLite set-up is not affected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection

from poller.checks.bgp import UPDATED_COLUMNS as BGP_UPDATED_COLUMNS
from poller.checks.bgp import BgpPeerRow
from poller.checks.mempools import MempoolRow
from poller.checks.processors import ProcessorRow
from poller.checks.sensors import SensorRow

metadata = MetaData()

sensors = Table(
    "sensors",
    metadata,
    Column("sensor_id", Integer, primary_key=True),
    Column("sensor_deleted", Integer),
    Column("sensor_class", String(64)),
    Column("device_id", Integer),
    Column("poller_type", String(16)),
    Column("sensor_oid", String(255)),
    Column("sensor_descr", String(255)),
    Column("sensor_divisor", BigInteger),
    Column("sensor_multiplier", Integer),
    Column("sensor_current", Float),
    Column("sensor_limit", Float),
    Column("sensor_limit_warn", Float),
    Column("sensor_limit_low", Float),
    Column("sensor_limit_low_warn", Float),
    Column("sensor_alert", Integer),
    Column("lastupdate", DateTime),
    Column("sensor_prev", Float),
    Column("user_func", String(100)),
)
sensors_to_state_indexes = Table(
    "sensors_to_state_indexes",
    metadata,
    Column("sensors_to_state_translations_id", Integer, primary_key=True),
    Column("sensor_id", Integer),
    Column("state_index_id", Integer),
)
state_translations = Table(
    "state_translations",
    metadata,
    Column("state_translation_id", Integer, primary_key=True),
    Column("state_index_id", Integer),
    Column("state_descr", String(255)),
    Column("state_value", Integer),
)
processors = Table(
    "processors",
    metadata,
    Column("processor_id", Integer, primary_key=True),
    Column("device_id", Integer),
    Column("processor_oid", String(128)),
    Column("processor_descr", String(64)),
    Column("processor_usage", Integer),
    Column("processor_precision", Integer),
)
mempools = Table(
    "mempools",
    metadata,
    Column("mempool_id", Integer, primary_key=True),
    Column("device_id", Integer),
    Column("mempool_class", String(32)),
    Column("mempool_precision", Integer),
    Column("mempool_deleted", Integer),
    Column("mempool_perc", Integer),
    Column("mempool_perc_oid", String(255)),
    Column("mempool_used", BigInteger),
    Column("mempool_used_oid", String(255)),
    Column("mempool_free", BigInteger),
    Column("mempool_free_oid", String(255)),
    Column("mempool_total", BigInteger),
    Column("mempool_total_oid", String(255)),
)

bgp_peers = Table(
    "bgpPeers",
    metadata,
    Column("bgpPeer_id", Integer, primary_key=True),
    Column("device_id", Integer),
    Column("vrf_id", Integer),
    Column("bgpPeerIdentifier", Text),
    Column("bgpPeerRemoteAs", BigInteger),
    Column("bgpPeerState", Text),
    Column("bgpPeerAdminStatus", Text),
    Column("bgpPeerLastErrorCode", Integer),
    Column("bgpPeerLastErrorSubCode", Integer),
    Column("bgpPeerIface", Integer),
    Column("bgpLocalAddr", Text),
    Column("bgpPeerDescr", String(255)),
    Column("bgpPeerInUpdates", BigInteger),
    Column("bgpPeerOutUpdates", BigInteger),
    Column("bgpPeerInTotalMessages", BigInteger),
    Column("bgpPeerOutTotalMessages", BigInteger),
    Column("bgpPeerFsmEstablishedTime", BigInteger),
    Column("bgpPeerInUpdateElapsedTime", BigInteger),
    Column("context_name", String(128)),
)
# Read for bgpPeerIface: which port holds a peering's local address.
ipv4_addresses = Table(
    "ipv4_addresses",
    metadata,
    Column("ipv4_address_id", Integer, primary_key=True),
    Column("ipv4_address", String(32)),
    Column("port_id", Integer),
)
# LibreNMS's ports table, for the join only (its own MetaData: poller/store/tables.py defines ports).
_ports = Table("ports", MetaData(), Column("port_id", Integer, primary_key=True), Column("ifIndex", Integer))

TABLES = (
    sensors,
    sensors_to_state_indexes,
    state_translations,
    processors,
    mempools,
    bgp_peers,
    ipv4_addresses,
)

# What the discovered-entities writer updates (for the least-privilege GRANT list).
OWNED_COLUMNS: dict[str, tuple[str, ...]] = {
    "sensors": ("sensor_current", "sensor_prev", "lastupdate"),
    "processors": ("processor_usage",),
    "mempools": ("mempool_total", "mempool_used", "mempool_free", "mempool_perc"),
    "bgpPeers": BGP_UPDATED_COLUMNS,
}


@dataclass
class Discovered:
    """One device's stored entities."""

    sensors: list[SensorRow] = field(default_factory=list)
    processors: list[ProcessorRow] = field(default_factory=list)
    mempools: list[MempoolRow] = field(default_factory=list)
    bgp_peers: list[BgpPeerRow] = field(default_factory=list)
    bgp_ifaces: dict[str, int | None] = field(default_factory=dict)  # local address -> ifIndex looked up

    def bgp_oids(self) -> list[str]:
        """The bgpPeerTable OIDs of every peer BGP4-MIB can index, in a stable order."""
        return [oid for peer in self.bgp_peers for oid in peer.oids().values()]

    def oids(self) -> list[str]:
        """Every stored OID to GET, each once, in a stable order."""
        seen: dict[str, None] = {}
        for s in self.sensors:
            if s.pollable:
                seen.setdefault(s.sensor_oid)
        for p in self.processors:
            seen.setdefault(p.processor_oid)
        for m in self.mempools:
            for oid in m.oids():
                seen.setdefault(oid)
        return list(seen)


def _f(v: object) -> float | None:
    return None if v is None else float(v)  # type: ignore[arg-type]


def load_discovered(conn: Connection, device_id: int) -> Discovered:
    """Load a device's sensors (not deleted, with state translations), processors and mempools."""
    states: dict[int, dict[int, str]] = {}
    q = (
        select(
            sensors_to_state_indexes.c.sensor_id,
            state_translations.c.state_value,
            state_translations.c.state_descr,
        )
        .join(
            state_translations,
            state_translations.c.state_index_id == sensors_to_state_indexes.c.state_index_id,
        )
        .join(sensors, sensors.c.sensor_id == sensors_to_state_indexes.c.sensor_id)
        .where(sensors.c.device_id == device_id)
    )
    for sid, value, descr in conn.execute(q):
        states.setdefault(int(sid), {})[int(value)] = descr
    out = Discovered()
    q = (
        select(sensors)
        .where(sensors.c.device_id == device_id, sensors.c.sensor_deleted == 0)
        .order_by(sensors.c.sensor_id)
    )
    for r in conn.execute(q).mappings():
        out.sensors.append(
            SensorRow(
                sensor_id=r["sensor_id"],
                device_id=r["device_id"],
                sensor_class=r["sensor_class"],
                sensor_oid=r["sensor_oid"],
                sensor_descr=r["sensor_descr"],
                poller_type=r["poller_type"],
                sensor_divisor=int(r["sensor_divisor"]),
                sensor_multiplier=int(r["sensor_multiplier"]),
                sensor_current=_f(r["sensor_current"]),
                sensor_limit=_f(r["sensor_limit"]),
                sensor_limit_warn=_f(r["sensor_limit_warn"]),
                sensor_limit_low=_f(r["sensor_limit_low"]),
                sensor_limit_low_warn=_f(r["sensor_limit_low_warn"]),
                sensor_alert=int(r["sensor_alert"]),
                user_func=r["user_func"],
                states=states.get(r["sensor_id"], {}),
            )
        )
    q = select(processors).where(processors.c.device_id == device_id).order_by(processors.c.processor_id)
    for r in conn.execute(q).mappings():
        out.processors.append(
            ProcessorRow(
                processor_id=r["processor_id"],
                device_id=r["device_id"],
                processor_oid=r["processor_oid"],
                processor_precision=int(r["processor_precision"]),
                processor_usage=_f(r["processor_usage"]),
                processor_descr=r["processor_descr"],
            )
        )
    q = (
        select(mempools)
        .where(mempools.c.device_id == device_id, mempools.c.mempool_deleted == 0)
        .order_by(mempools.c.mempool_id)
    )
    for r in conn.execute(q).mappings():
        out.mempools.append(
            MempoolRow(
                mempool_id=r["mempool_id"],
                device_id=r["device_id"],
                mempool_class=r["mempool_class"],
                mempool_precision=int(r["mempool_precision"]),
                mempool_perc_oid=r["mempool_perc_oid"],
                mempool_used_oid=r["mempool_used_oid"],
                mempool_free_oid=r["mempool_free_oid"],
                mempool_total_oid=r["mempool_total_oid"],
                mempool_total=r["mempool_total"],
                mempool_used=r["mempool_used"],
                mempool_free=r["mempool_free"],
                mempool_perc=r["mempool_perc"],
            )
        )
    return out


def load_bgp_peers(conn: Connection, device_id: int) -> list[BgpPeerRow]:
    """The device's peers in the default SNMP context (peers LibreNMS polls through a VRF context are left
    out: fastpoll's engine sends no SNMP context)."""
    q = select(bgp_peers).where(bgp_peers.c.device_id == device_id).order_by(bgp_peers.c.bgpPeer_id)
    out = []
    for r in conn.execute(q).mappings():
        if r["context_name"]:
            continue
        out.append(
            BgpPeerRow(
                bgpPeer_id=r["bgpPeer_id"],
                device_id=r["device_id"],
                bgpPeerIdentifier=r["bgpPeerIdentifier"] or "",
                bgpPeerRemoteAs=int(r["bgpPeerRemoteAs"] or 0),
                bgpPeerDescr=r["bgpPeerDescr"] or "",
                values={name: r[name] for name in BGP_UPDATED_COLUMNS},
            )
        )
    return out


def lookup_ifaces(conn: Connection, addresses: Iterable[str]) -> dict[str, int | None]:
    """LibreNMS's bgpPeerIface lookup: the ifIndex of the one port (of any device) that holds each IPv4
    address in ipv4_addresses; None when no port or more than one does (``->sole()``)."""
    wanted = sorted(set(addresses))
    found: dict[str, list[int]] = {a: [] for a in wanted}
    if wanted:
        q = (
            select(ipv4_addresses.c.ipv4_address, _ports.c.ifIndex)
            .join(_ports, _ports.c.port_id == ipv4_addresses.c.port_id)
            .where(ipv4_addresses.c.ipv4_address.in_(wanted))
        )
        for address, if_index in conn.execute(q):
            found.setdefault(address, []).append(if_index)
    return {a: (int(v[0]) if len(v) == 1 and v[0] is not None else None) for a, v in found.items()}
