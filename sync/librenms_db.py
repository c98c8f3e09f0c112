"""Read LibreNMS's devices (with their location) through SQLAlchemy Core: MariaDB, or the embedded SQLite.

Columns that a schema lacks (the embedded SQLite may carry fewer) read as NULL; ``locations`` is joined only
when it exists. ``devices.ip`` is ``varbinary(16)`` holding inet_pton bytes (4 for IPv4, 16 for IPv6);
MariaDB TIMESTAMPs are read in UTC (the session time zone is set to +00:00); naive values from SQLite are
taken as UTC.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .models import LibreDevice

# (devices column, LibreDevice attribute); device_id and hostname are required, the rest optional.
_OPTIONAL_COLUMNS = {
    "ip": "ip",
    "sysName": "sys_name",
    "os": "os",
    "hardware": "hardware",
    "version": "version",
    "serial": "serial",
    "status": "status",
    "status_reason": "status_reason",
    "uptime": "uptime",
    "last_polled": "last_polled",
    "poller_group": "poller_group",
    "disabled": "disabled",
    "ignore": "ignore",
    "location_id": None,  # joined below
}


def make_engine(url: str) -> Engine:
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name in ("mysql", "mariadb"):

        @sa.event.listens_for(engine, "connect")
        def _utc(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET time_zone = '+00:00'")

    return engine


def ip_text(value: bytes | str | None) -> str | None:
    """``devices.ip`` as text: packed bytes (inet_pton) or, from some schemas, already text."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) in (4, 16):
            return str(ipaddress.ip_address(raw))
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_devices(engine: Engine) -> list[LibreDevice]:
    """Every row of ``devices`` (disabled and ignored included: their flags are synced too)."""
    inspector = sa.inspect(engine)
    present = {c["name"] for c in inspector.get_columns("devices")}
    meta = sa.MetaData()
    devices = sa.Table(
        "devices",
        meta,
        sa.Column("device_id", sa.Integer, primary_key=True),
        sa.Column("hostname", sa.String),
        *(sa.Column(name) for name in _OPTIONAL_COLUMNS if name in present),
    )
    columns: list[Any] = [devices.c.device_id, devices.c.hostname]
    columns += [
        devices.c[name].label(name) for name, attr in _OPTIONAL_COLUMNS.items() if attr and name in present
    ]
    source: Any = devices
    if "location_id" in present and inspector.has_table("locations"):
        locations = sa.Table("locations", meta, sa.Column("id", sa.Integer), sa.Column("location", sa.String))
        source = devices.outerjoin(locations, devices.c.location_id == locations.c.id)
        columns.append(locations.c.location.label("location"))
    query = sa.select(*columns).select_from(source).order_by(devices.c.device_id)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [_device(row) for row in rows]


def _device(row: Any) -> LibreDevice:
    def get(name: str) -> Any:
        return row.get(name)

    def text(name: str) -> str | None:
        value = get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return None if value is None else str(value)

    return LibreDevice(
        device_id=int(row["device_id"]),
        hostname=str(row["hostname"]),
        ip=ip_text(get("ip")),
        sys_name=text("sysName"),
        os=text("os"),
        hardware=text("hardware"),
        version=text("version"),
        serial=text("serial"),
        location=text("location"),
        status=bool(get("status")),
        status_reason=text("status_reason") or "",
        uptime=int(get("uptime")) if get("uptime") is not None else None,
        last_polled=_utc(get("last_polled")),
        poller_group=int(get("poller_group") or 0),
        disabled=bool(get("disabled")),
        ignore=bool(get("ignore")),
    )
