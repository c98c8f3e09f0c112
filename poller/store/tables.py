"""SQLAlchemy Core tables: ONLY the LibreNMS tables and columns fastpoll reads or writes.

Types follow LibreNMS's schema (../shared/librenms/TABLES.md). In MariaDB these tables belong to LibreNMS:
fastpoll never creates or alters them there. ``poller/store/embedded.py`` creates them in SQLite for the
embedded mode (no LibreNMS).

``OWNED_COLUMNS`` is the one list of what the poller writes, used by the writer, the conformance test and
the least-privilege GRANT SQL; ``INSERT_TABLES`` the tables it inserts rows into.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from poller.checks.ports import ALL_COUNTERS, DATA_COLUMNS, DESCR_ATTRIBS, PORTS_COUNTERS, STATISTICS_COUNTERS
from poller.store import discovered

metadata = MetaData()

# BIGINT that SQLite also auto-increments (SQLite only does so for INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")

devices = Table(
    "devices",
    metadata,
    Column("device_id", Integer, primary_key=True, autoincrement=True),
    Column("inserted", DateTime, nullable=True),
    Column("hostname", String(128), nullable=False),
    Column("sysName", String(128)),
    Column("ip", String(16)),  # varbinary(16) in LibreNMS; read only
    Column("overwrite_ip", String(40)),
    Column("community", String(255)),
    Column("authlevel", String(16)),
    Column("authname", String(64)),
    Column("authpass", String(64)),
    Column("authalgo", String(10)),
    Column("cryptopass", String(64)),
    Column("cryptoalgo", String(10)),
    Column("snmpver", String(4), nullable=False, server_default="v2c"),
    Column("port", SmallInteger, nullable=False, server_default="161"),
    Column("transport", String(16), nullable=False, server_default="udp"),
    Column("timeout", Integer),
    Column("retries", Integer),
    Column("snmp_disable", SmallInteger, nullable=False, server_default="0"),
    Column("sysObjectID", String(128)),
    Column("sysDescr", Text),
    Column("os", String(32)),
    Column("status", SmallInteger, nullable=False, server_default="0"),
    Column("status_reason", String(50), nullable=False, server_default=""),
    Column("ignore", SmallInteger, nullable=False, server_default="0"),
    Column("disabled", SmallInteger, nullable=False, server_default="0"),
    Column("uptime", BigInteger),
    Column("last_polled", DateTime),
    Column("last_polled_timetaken", Float),
    Column("last_discovered", DateTime),
    Column("last_discovered_timetaken", Float),
    Column("type", String(20), nullable=False, server_default=""),
    Column("poller_group", Integer, nullable=False, server_default="0"),
    Column("port_association_mode", Integer, nullable=False, server_default="1"),
)


def _counter_columns(names: tuple[str, ...], signed_derived: bool) -> list[Column]:
    cols: list[Column] = []
    for name in names:
        cols += [
            Column(name, BigInteger),
            Column(f"{name}_prev", BigInteger),
            Column(f"{name}_delta", BigInteger),
            Column(f"{name}_rate", BigInteger),
        ]
    return cols


ports = Table(
    "ports",
    metadata,
    Column("port_id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", Integer, nullable=False, server_default="0", index=True),
    *[Column(f"port_descr_{a}", String(255)) for a in DESCR_ATTRIBS],
    Column("ifDescr", String(255)),
    Column("ifName", String(255)),
    Column("ifIndex", BigInteger, server_default="0"),
    Column("ifSpeed", BigInteger),
    Column("ifSpeed_prev", BigInteger),
    Column("ifConnectorPresent", String(12)),
    Column("ifOperStatus", String(16)),
    Column("ifOperStatus_prev", String(16)),
    Column("ifAdminStatus", String(16)),
    Column("ifAdminStatus_prev", String(16)),
    Column("ifDuplex", String(12)),
    Column("ifMtu", Integer),
    Column("ifType", String(64)),
    Column("ifAlias", String(255)),
    Column("ifPhysAddress", String(64)),
    Column("ifLastChange", BigInteger, nullable=False, server_default="0"),
    Column("ifVlan", String(8)),
    Column("ifTrunk", String(16)),
    Column("ignore", SmallInteger, nullable=False, server_default="0"),
    Column("disabled", SmallInteger, nullable=False, server_default="0"),
    Column("deleted", SmallInteger, nullable=False, server_default="0"),
    *_counter_columns(tuple(PORTS_COUNTERS), signed_derived=False),
    Column("poll_time", Integer),
    Column("poll_prev", Integer),
    Column("poll_period", Integer),
)

ports_statistics = Table(
    "ports_statistics",
    metadata,
    Column("port_id", Integer, primary_key=True, autoincrement=False),
    *_counter_columns(tuple(STATISTICS_COUNTERS), signed_derived=True),
)

eventlog = Table(
    "eventlog",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", Integer, index=True),
    Column("datetime", DateTime, nullable=False),
    Column("message", Text),
    Column("type", String(64)),
    Column("reference", String(64)),
    Column("username", String(128)),
    Column("severity", SmallInteger, nullable=False, server_default="2"),
)

device_outages = Table(
    "device_outages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", Integer, nullable=False, index=True),
    Column("going_down", BigInteger, nullable=False),
    Column("up_again", BigInteger),
)

TABLES = {t.name: t for t in (devices, ports, ports_statistics, eventlog, device_outages)}
# The sensors, processors and mempools LibreNMS discovered (their own MetaData: not created in the
# embedded SQLite); listed here too so the grants and `fastpoll validate` cover them.
TABLES.update({t.name: t for t in discovered.TABLES})


def _counter_names(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(f"{n}{s}" for n in names for s in ("", "_prev", "_delta", "_rate"))


PORT_PREV_COLUMNS = ("ifOperStatus_prev", "ifAdminStatus_prev", "ifSpeed_prev")
PORT_DESCR_COLUMNS = tuple(f"port_descr_{a}" for a in DESCR_ATTRIBS)
POLL_TIME_COLUMNS = ("poll_time", "poll_prev", "poll_period")

# Columns fastpoll's poller writes (UPDATE, and INSERT for the tables in INSERT_TABLES).
OWNED_COLUMNS: dict[str, tuple[str, ...]] = {
    "devices": ("status", "status_reason", "uptime", "last_polled", "last_polled_timetaken"),
    "ports": (
        "device_id",
        "ifIndex",
        *DATA_COLUMNS,
        *PORT_PREV_COLUMNS,
        *PORT_DESCR_COLUMNS,
        "ifLastChange",
        "deleted",
        *_counter_names(tuple(PORTS_COUNTERS)),
        *POLL_TIME_COLUMNS,
    ),
    "ports_statistics": ("port_id", *_counter_names(tuple(STATISTICS_COUNTERS))),
    "eventlog": ("device_id", "datetime", "message", "type", "reference", "username", "severity"),
    "device_outages": ("device_id", "going_down", "up_again"),
}
# Tables fastpoll's poller INSERTs rows into (new ports, their statistics, events, outages).
OWNED_COLUMNS.update(discovered.OWNED_COLUMNS)
INSERT_TABLES: tuple[str, ...] = ("ports", "ports_statistics", "eventlog", "device_outages")
# Columns the poller only reads.
READ_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in table.columns) for name, table in TABLES.items()
}
# `fastpoll device add` (discovery) additionally inserts devices rows with these columns.
DISCOVERY_DEVICE_COLUMNS: tuple[str, ...] = (
    "hostname",
    "sysName",
    "sysDescr",
    "sysObjectID",
    "os",
    "community",
    "authlevel",
    "authname",
    "authpass",
    "authalgo",
    "cryptopass",
    "cryptoalgo",
    "snmpver",
    "port",
    "transport",
    "status",
    "status_reason",
    "inserted",
    "last_discovered",
    "last_discovered_timetaken",
    "port_association_mode",
    "poller_group",
)

assert set(ALL_COUNTERS) == set(PORTS_COUNTERS) | set(STATISTICS_COUNTERS)


def grant_sql(database: str, user: str, host: str = "%") -> list[str]:
    """Least-privilege GRANT statements for the poller's database user (column-level UPDATE)."""
    stmts = []
    for table, cols in OWNED_COLUMNS.items():
        privs = [f"SELECT ON `{database}`.`{table}`"]
        update_cols = ", ".join(f"`{c}`" for c in cols)
        privs.append(f"UPDATE ({update_cols}) ON `{database}`.`{table}`")
        if table in INSERT_TABLES:
            privs.append(f"INSERT ON `{database}`.`{table}`")
        stmts += [f"GRANT {p} TO '{user}'@'{host}'" for p in privs]
    return stmts
