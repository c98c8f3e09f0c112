"""sync/librenms_db.py: reading LibreNMS's devices from the real schema (MariaDB), and the embedded SQLite."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.librenms_db import ip_text, make_engine, read_devices


def insert_device(engine: sa.Engine, **cols: object) -> None:
    cols = {"status_reason": "", **cols}
    names = ", ".join(f"`{k}`" for k in cols)
    values = ", ".join(f":{k}" for k in cols)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO devices ({names}) VALUES ({values})"), cols)


@pytest.mark.mariadb
def test_devices_are_read_with_ip_as_text_and_location_joined(librenms_url: str):
    engine = make_engine(librenms_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM locations"))
        conn.execute(
            sa.text("INSERT INTO locations (id, location, timestamp) VALUES (3, 'POP North', NOW())")
        )
    insert_device(
        engine,
        device_id=10,
        hostname="core1.example.net",
        ip=ipaddress.ip_address("192.0.2.10").packed,
        sysName="core1",
        os="iosxe",
        hardware="ASR-920",
        version="17.3",
        serial="FOC123",
        location_id=3,
        status=1,
        status_reason="",
        uptime=123456,
        last_polled=datetime(2026, 3, 1, 12, 0, 5),
        poller_group=2,
        ignore=1,
    )
    insert_device(
        engine, device_id=11, hostname="v6.example.net", ip=ipaddress.ip_address("2001:db8::5").packed
    )
    core, v6 = read_devices(engine)
    assert (core.device_id, core.hostname, core.ip, core.location) == (
        10,
        "core1.example.net",
        "192.0.2.10",
        "POP North",
    )
    assert (core.sys_name, core.os, core.hardware, core.version, core.serial) == (
        "core1",
        "iosxe",
        "ASR-920",
        "17.3",
        "FOC123",
    )
    assert (
        core.status and core.ignore and not core.disabled and core.poller_group == 2 and core.uptime == 123456
    )
    assert core.last_polled == datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
    assert (v6.ip, v6.location, v6.status, v6.last_polled) == ("2001:db8::5", None, False, None)
    engine.dispose()


@pytest.mark.mariadb
def test_timestamps_are_read_as_utc_whatever_the_session_time_zone_was_at_write(librenms_url: str):
    engine = make_engine(librenms_url)
    with engine.connect() as conn:  # a LibreNMS whose PHP wrote in Europe/Paris-like +02:00
        conn.execute(sa.text("SET time_zone = '+02:00'"))
        insert = (
            "INSERT INTO devices (device_id, hostname, status_reason, last_polled) VALUES (1, 'r1', '', :t)"
        )
        conn.execute(sa.text(insert), {"t": "2026-03-01 14:00:00"})
        conn.execute(sa.text("SET time_zone = '+00:00'"))
        conn.commit()
    (device,) = read_devices(engine)
    assert device.last_polled == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    engine.dispose()


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (bytes([10, 0, 0, 1]), "10.0.0.1"),
        (ipaddress.ip_address("2001:db8::1").packed, "2001:db8::1"),
        (b"192.0.2.1", "192.0.2.1"),
        ("192.0.2.7", "192.0.2.7"),
        (b"\xff\xfe", None),
        (None, None),
    ],
)
def test_ip_column_bytes_become_text(raw, text):
    assert ip_text(raw) == text


def test_the_embedded_sqlite_with_fewer_columns_and_no_locations_reads(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'embedded.db'}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE devices (device_id INTEGER PRIMARY KEY, hostname TEXT NOT NULL, ip BLOB,"
                " os TEXT, status INTEGER, last_polled TIMESTAMP, disabled INTEGER, location_id INTEGER)"
            )
        )
        conn.execute(
            sa.text("INSERT INTO devices VALUES (1, 'demo-1', :ip, 'linux', 1, '2026-03-01 12:00:00', 0, 4)"),
            {"ip": bytes([127, 0, 0, 1])},
        )
    (device,) = read_devices(engine)
    assert (device.hostname, device.ip, device.os, device.status, device.location) == (
        "demo-1",
        "127.0.0.1",
        "linux",
        True,
        None,
    )
    assert device.last_polled == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
