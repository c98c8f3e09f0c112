"""``fastpoll device add HOST``: discover a device into the database as ``lnms device:add`` + discovery would.

SNMP GET sysName/sysDescr/sysObjectID (the device must answer, as LibreNMS checks before adding), then the
IF-MIB walk: a ``devices`` row (status up) and one ``ports`` row per valid port with the identity columns
discovery fills (ifIndex, ifDescr, ifName, ifAlias, ifType, ifOperStatus; counters NULL) plus its
``ports_statistics`` row. The first poll then fills everything else. OS detection is not done (os = NULL):
LibreNMS's own discovery sets it when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, select

from poller.checks.ports import is_port_valid, needs_full_if_entry, port_values, rows_from_table
from poller.model import AUTH_ALGOS, PRIV_ALGOS, Credentials, Target
from poller.poll import FIRST_WALK, REST_OF_IF_ENTRY, SYS_NAME, SYS_OBJECT_ID
from poller.snmp.client import SnmpEngine
from poller.snmp.errors import SnmpError
from poller.store.tables import devices, ports, ports_statistics

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
DISCOVERY_PORT_COLUMNS = ("ifDescr", "ifName", "ifAlias", "ifType", "ifOperStatus")


class DiscoveryError(RuntimeError):
    """The device could not be added (message safe to show: no secrets)."""


@dataclass(frozen=True)
class Discovered:
    device: dict[str, Any]
    ports: list[dict[str, Any]]


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return None if v is None else str(v)


async def discover(engine: SnmpEngine, target: Target) -> Discovered:
    try:
        vbs = await engine.get(target, [SYS_NAME, SYS_DESCR, SYS_OBJECT_ID])
        table = await engine.walk_table(target, FIRST_WALK)
        rows = rows_from_table(table)
        if rows and needs_full_if_entry(rows):
            table.update(await engine.walk_table(target, REST_OF_IF_ENTRY))
            rows = rows_from_table(table)
    except SnmpError as exc:
        raise DiscoveryError(f"{target}: no usable SNMP answer ({exc.kind})") from None
    sys_name, sys_descr, sys_oid = (_text(vb.value) for vb in vbs)
    port_rows = []
    for if_index in sorted(rows):
        values = port_values(rows[if_index])
        if is_port_valid(values):
            port_rows.append({"ifIndex": if_index, **{c: values[c] for c in DISCOVERY_PORT_COLUMNS}})
    return Discovered({"sysName": sys_name, "sysDescr": sys_descr, "sysObjectID": sys_oid}, port_rows)


def _credentials_columns(creds: Credentials) -> dict[str, Any]:
    if creds.version == "3":
        return {
            "snmpver": "v3",
            "authlevel": creds.authlevel,
            "authname": creds.username,
            "authpass": creds.auth_password,
            "authalgo": creds.auth_algo,
            "cryptopass": creds.priv_password,
            "cryptoalgo": creds.priv_algo,
        }
    return {"snmpver": f"v{creds.version}", "community": creds.community}


def store(db: Engine, hostname: str, target: Target, found: Discovered, *, poller_group: int = 0) -> int:
    now = datetime.now(UTC).replace(tzinfo=None)
    with db.begin() as conn:
        if conn.execute(select(devices.c.device_id).where(devices.c.hostname == hostname)).first():
            raise DiscoveryError(f"device {hostname} already exists")
        device_id = conn.execute(
            devices.insert().values(
                hostname=hostname,
                port=target.port,
                transport=target.transport,
                status=1,
                status_reason="",
                inserted=now,
                last_discovered=now,
                poller_group=poller_group,
                port_association_mode=1,
                **found.device,
                **_credentials_columns(target.credentials),
            )
        ).inserted_primary_key[0]
        for row in found.ports:
            port_id = conn.execute(ports.insert().values(device_id=device_id, **row)).inserted_primary_key[0]
            conn.execute(ports_statistics.insert().values(port_id=port_id))
    return int(device_id)


async def add_device(db_url: str, hostname: str, target: Target, *, poller_group: int = 0) -> tuple[int, int]:
    """Discover and insert; returns (device_id, number of ports)."""
    async with SnmpEngine() as engine:
        found = await discover(engine, target)
    db = create_engine(db_url)
    try:
        return store(db, hostname, target, found, poller_group=poller_group), len(found.ports)
    finally:
        db.dispose()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``fastpoll device add HOST [--community C | -v 3 ...] [--db URL]``."""
    dev = subparsers.add_parser("device", help="manage devices in the database")
    sub = dev.add_subparsers(dest="device_command", required=True)
    p = sub.add_parser("add", help="discover a device and add it with its ports")
    p.add_argument("host")
    p.add_argument("--db", default="sqlite:///fastpoll.db", help="SQLAlchemy URL (default: embedded SQLite)")
    p.add_argument("--port", type=int, default=161)
    p.add_argument("--transport", choices=("udp", "udp6"), default="udp")
    p.add_argument("-v", "--snmp-version", choices=("1", "2c", "3"), default="2c")
    p.add_argument("-c", "--community", default="public")
    p.add_argument("--authlevel", choices=("noAuthNoPriv", "authNoPriv", "authPriv"), default="noAuthNoPriv")
    p.add_argument("-u", "--username", default="")
    p.add_argument("--authalgo", choices=AUTH_ALGOS, default="SHA")
    p.add_argument("--authpass", default="")
    p.add_argument("--cryptoalgo", choices=PRIV_ALGOS, default="AES")
    p.add_argument("--cryptopass", default="")
    p.add_argument("--poller-group", type=int, default=0)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--retries", type=int, default=2)
    p.set_defaults(func=run)
    return dev


def run(args: argparse.Namespace) -> int:
    if args.db.startswith("sqlite"):
        from poller.store.embedded import create_embedded

        create_embedded(args.db).dispose()
    creds = Credentials(
        version=args.snmp_version,
        community=args.community,
        authlevel=args.authlevel,
        username=args.username,
        auth_algo=args.authalgo,
        auth_password=args.authpass,
        priv_algo=args.cryptoalgo,
        priv_password=args.cryptopass,
    )
    target = Target(args.host, args.port, args.transport, creds, timeout=args.timeout, retries=args.retries)
    try:
        device_id, n_ports = asyncio.run(
            add_device(args.db, args.host, target, poller_group=args.poller_group)
        )
    except DiscoveryError as exc:
        print(f"fastpoll device add: {exc}", file=sys.stderr)
        return 1
    print(f"added device {device_id} ({args.host}) with {n_ports} ports")
    return 0
