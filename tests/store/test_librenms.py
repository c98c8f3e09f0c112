"""The writer against the real MariaDB with LibreNMS's schema."""

from __future__ import annotations

import gc
import time
import weakref
from datetime import datetime

import pymysql
import pytest
from sqlalchemy import create_engine, func, select

from poller.checks.results import EventRow, OutageClose, OutageOpen, PollResult, PortRef, PortWrite
from poller.store.embedded import create_embedded
from poller.store.librenms import LibreNMSWriter, _mysql_update_join, sql_values, update_join_sql
from poller.store.tables import device_outages, devices, eventlog, ports, ports_statistics
from tests.store.proxy import TcpProxy
from tests.support import mariadb

pytestmark = pytest.mark.mariadb
T0 = 1_700_000_000


def _setup(url: str, n_ports: int = 3) -> tuple[int, list[PortRef]]:
    eng = create_engine(url)
    with eng.begin() as c:
        dev = c.execute(
            devices.insert().values(hostname="h", status=1, status_reason="")
        ).inserted_primary_key[0]
        refs = []
        for i in range(1, n_ports + 1):
            pid = c.execute(ports.insert().values(device_id=dev, ifIndex=i)).inserted_primary_key[0]
            c.execute(ports_statistics.insert().values(port_id=pid))
            refs.append(PortRef(dev, i, pid))
    eng.dispose()
    return dev, refs


def behind_proxy(url: str) -> tuple[TcpProxy, str]:
    """A TCP proxy to MariaDB (cut and restored by the test) and ``url`` through it."""
    proxy = TcpProxy((mariadb.HOST, mariadb.PORT))
    return proxy, url.replace(f"{mariadb.HOST}:{mariadb.PORT}", f"127.0.0.1:{proxy.port}")


def _count(url: str, table) -> int:
    eng = create_engine(url)
    with eng.connect() as c:
        n = c.execute(select(func.count()).select_from(table)).scalar_one()
    eng.dispose()
    return n


def _down(dev: int, t: int) -> PollResult:
    return PollResult(
        dev,
        t,
        device={"status": 0, "status_reason": "snmp"},
        events=[EventRow(dev, t, "Device status changed to Down from snmp check.", "down", 2)],
        outage_open=OutageOpen(dev, t),
    )


def _up(dev: int, t: int) -> PollResult:
    return PollResult(
        dev,
        t,
        device={"status": 1, "status_reason": ""},
        events=[EventRow(dev, t, "Device status changed to Up from snmp check.", "up", 2)],
        outage_close=OutageClose(dev, t),
    )


def test_batch_updates_ports_and_statistics_in_one_go(librenms_url):
    dev, refs = _setup(librenms_url)
    res = PollResult(dev, T0, device={"uptime": 55})
    res.ports = [
        PortWrite(r, {"ifInOctets": 100 + r.ifIndex, "ifOperStatus": "up"}, {"ifInDiscards": 7}) for r in refs
    ]
    with LibreNMSWriter(librenms_url) as w:
        w.submit(res)
        assert w.flush(10)
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        got = c.execute(
            select(ports.c.ifIndex, ports.c.ifInOctets, ports.c.ifOperStatus).order_by(ports.c.ifIndex)
        ).all()
        disc = c.execute(select(ports_statistics.c.ifInDiscards)).scalars().all()
        up = c.execute(select(devices.c.uptime)).scalar_one()
    eng.dispose()
    assert [tuple(r) for r in got] == [(1, 101, "up"), (2, 102, "up"), (3, 103, "up")]
    assert disc == [7, 7, 7] and up == 55


def test_new_port_is_inserted_with_statistics_and_event_reference(librenms_url):
    dev, _ = _setup(librenms_url, 0)
    ref = PortRef(dev, 42)
    res = PollResult(
        dev,
        T0,
        ports=[PortWrite(ref, {"ifDescr": "x", "ifInOctets": 5}, {"ifInDiscards": 1}, insert=True)],
        events=[EventRow(dev, T0, "ifDescr:  -> x", "interface", 3, ref)],
    )
    with LibreNMSWriter(librenms_url) as w:
        w.submit(res)
        assert w.flush(10)
    assert ref.port_id is not None
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        assert c.execute(select(ports.c.ifIndex, ports.c.device_id)).one() == (42, dev)
        assert c.execute(select(ports_statistics.c.port_id)).scalar_one() == ref.port_id
        assert c.execute(select(eventlog.c.reference)).scalar_one() == str(ref.port_id)
    eng.dispose()


def test_outage_is_opened_once_and_closed(librenms_url):
    dev, _ = _setup(librenms_url, 0)
    with LibreNMSWriter(librenms_url) as w:
        w.submit(_down(dev, T0))
        w.submit(PollResult(dev, T0 + 5, outage_open=OutageOpen(dev, T0 + 5)))  # already open: ignored
        w.submit(_up(dev, T0 + 60))
        assert w.flush(10)
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        rows = c.execute(select(device_outages.c.going_down, device_outages.c.up_again)).all()
        status = c.execute(select(devices.c.status, devices.c.status_reason)).one()
    eng.dispose()
    assert [tuple(r) for r in rows] == [(T0, T0 + 60)]
    assert tuple(status) == (1, "")


def test_writes_of_one_port_under_new_refs_are_merged_by_its_port_id(librenms_url):
    w = LibreNMSWriter(librenms_url)  # not started: submits stay pending
    for i in range(3):  # each poll thaws the port's state with a new PortRef
        w.submit(PollResult(1, T0 + i, ports=[PortWrite(PortRef(1, 1, 7), {"ifInOctets": i}, {})]))
    assert w.pending_counts()["ports"] == 1
    w.close(0)


def test_writes_of_ports_not_inserted_yet_are_merged_by_their_ref(librenms_url):
    w = LibreNMSWriter(librenms_url)
    new, other = PortRef(1, 1), PortRef(1, 2)
    for ref in (new, other, new):
        w.submit(PollResult(1, T0, ports=[PortWrite(ref, {"ifInOctets": 1}, {}, insert=ref is new)]))
    assert w.pending_counts()["ports"] == 2
    w.close(0)


def test_database_going_away_loses_no_eventlog_or_outage_row(librenms_url):
    dev, refs = _setup(librenms_url, 2)
    proxy, url = behind_proxy(librenms_url)
    w = LibreNMSWriter(url, retry_initial=0.05, retry_max=0.2).start()
    try:
        w.submit(PollResult(dev, T0, ports=[PortWrite(refs[0], {"ifInOctets": 1}, {})]))
        assert w.flush(10)
        proxy.cut()
        for i in range(5):
            w.submit(_down(dev, T0 + 100 * i))
            w.submit(_up(dev, T0 + 100 * i + 50))
            w.submit(PollResult(dev, T0 + i, ports=[PortWrite(refs[0], {"ifInOctets": 10 + i}, {})]))
        assert not w.flush(1.0)  # nothing can be written while the database is away
        assert w.stats.failures >= 1
        assert (
            w.pending_counts()["ports"] <= 1
        )  # coalesced: one port held at most (0 while the batch is in flight)
        proxy.restore()
        assert w.flush(20)
    finally:
        w.close(5)
        proxy.cut()
    assert _count(librenms_url, eventlog) == 10
    assert _count(librenms_url, device_outages) == 5
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        assert (
            c.execute(select(ports.c.ifInOctets).where(ports.c.port_id == refs[0].port_id)).scalar_one() == 14
        )
    eng.dispose()


class _Value:
    """A column value the test can hold a weak reference to."""


def _wait(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_failed_attempt_keeps_no_superseded_write_alive(librenms_url):
    # what the database being away costs is the pending writes, not every attempt's copy of them: the
    # daemon collects cyclic garbage only every 10 minutes, so this holds without the collector
    dev, refs = _setup(librenms_url, 1)
    proxy, url = behind_proxy(librenms_url)
    proxy.cut()
    w = LibreNMSWriter(url, retry_initial=0.02, retry_max=0.02)
    value = _Value()
    gone = weakref.ref(value)
    w.submit(PollResult(dev, T0, ports=[PortWrite(refs[0], {"ifAlias": value}, {})]))
    del value
    gc.disable()
    try:
        w.start()
        _wait(lambda: w.stats.failures >= 1)
        w.submit(PollResult(dev, T0 + 60, ports=[PortWrite(refs[0], {"ifAlias": "newer"}, {})]))
        failures = w.stats.failures
        _wait(lambda: w.stats.failures >= failures + 2)
        assert gone() is None
    finally:
        gc.enable()
        w.close(0.2)
        proxy.cut()


def test_transition_cap_counts_what_it_drops(librenms_url):
    dev, _ = _setup(librenms_url, 0)
    w = LibreNMSWriter(librenms_url, max_transitions=3)  # not started: everything stays pending
    for i in range(5):
        w.submit(PollResult(dev, T0, events=[EventRow(dev, T0 + i, f"e{i}", "system", 2)]))
    assert w.stats.dropped_transitions == 2
    w.start()
    assert w.flush(10)
    w.close()
    assert _count(librenms_url, eventlog) == 3


def test_at_the_transition_cap_port_events_give_way_to_device_transitions(librenms_url):
    dev, _ = _setup(librenms_url, 0)
    w = LibreNMSWriter(librenms_url, max_transitions=3)  # not started: everything stays pending
    w.submit(PollResult(dev, T0, events=[EventRow(dev, T0, "ifAlias: a -> b", "interface", 3)] * 3))
    w.submit(_down(dev, T0 + 1))  # a status event and an outage
    w.submit(PollResult(dev, T0 + 2, events=[EventRow(dev, T0 + 2, "ifAlias: b -> c", "interface", 3)]))
    assert w.stats.dropped_transitions == 3
    w.start()
    assert w.flush(10)
    w.close()
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        messages = c.execute(select(eventlog.c.message).order_by(eventlog.c.event_id)).scalars().all()
    eng.dispose()
    assert messages == ["ifAlias: a -> b", "Device status changed to Down from snmp check."]
    assert _count(librenms_url, device_outages) == 1


def test_status_write_set_writes_only_availability_and_port_status(librenms_url):
    dev, refs = _setup(librenms_url, 1)
    res = _down(dev, T0)
    res.device["uptime"] = 99
    res.ports = [
        PortWrite(refs[0], {"ifOperStatus": "down", "ifInOctets": 5, "ifAlias": "x"}, {"ifInDiscards": 3})
    ]
    with LibreNMSWriter(librenms_url, write_set="status") as w:
        w.submit(res)
        assert w.flush(10)
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        assert tuple(c.execute(select(devices.c.status, devices.c.uptime)).one()) == (0, None)
        assert tuple(c.execute(select(ports.c.ifOperStatus, ports.c.ifInOctets, ports.c.ifAlias)).one()) == (
            "down",
            None,
            None,
        )
    eng.dispose()


# ---- the statement builder (values rendered by fastpoll, not by the driver) and the embedded SQLite path


def _escape(value):
    return pymysql.converters.escape_item(value, "utf8mb4")


def test_update_join_sql_is_the_statement_pymysql_would_send():
    rows = [
        (1, 5, None, "it's 50% \\ done", datetime(2024, 1, 2, 3, 4, 5)),
        (2, 2**63, 7, None, None),
        (3, None, None, None, None),
    ]
    cols = ("a", "b", "c", "d")
    sql, params = _mysql_update_join("ports", "port_id", cols, rows)
    assert update_join_sql("ports", "port_id", cols, rows, _escape) == sql % tuple(map(_escape, params))


def test_update_join_sql_of_int_and_null_rows_is_the_statement_pymysql_would_send():
    rows = [(1, 5, None), (2, 2**64 - 1, -7), (3, None, None), (4, 0, 10**30)]
    cols = ("a", "b")
    sql, params = _mysql_update_join("ports", "port_id", cols, rows)
    want = sql % tuple(map(_escape, params))
    assert update_join_sql("ports", "port_id", cols, rows, _escape) == want
    assert update_join_sql("ports", "port_id", cols, tuple(rows), _escape) == want


def test_update_join_sql_of_a_bool_renders_it_as_pymysql_does():
    rows = [(1, 5), (2, True), (3, False)]
    sql, params = _mysql_update_join("ports", "port_id", ("a",), rows)
    assert update_join_sql("ports", "port_id", ("a",), rows, _escape) == sql % tuple(map(_escape, params))


def test_sql_values_renders_ints_as_decimals_and_none_as_null():
    assert sql_values((1, None, 2**64 - 1), _escape) == f"1, NULL, {2**64 - 1}"
    assert sql_values((1, "None", True), _escape) == "1, 'None', 1"


def test_text_with_quotes_percent_and_backslash_is_stored_verbatim(librenms_url):
    dev, refs = _setup(librenms_url, 2)
    alias = "50% 'uplink' \\ \"core\" None"
    res = PollResult(dev, T0, device={"status_reason": "it's %s"})
    res.ports = [PortWrite(r, {"ifAlias": alias, "ifMtu": None}, {}) for r in refs]
    res.events = [EventRow(dev, T0, f"ifAlias: -> {alias}", "interface", 3, refs[0])]
    with LibreNMSWriter(librenms_url) as w:
        w.submit(res)
        assert w.flush(10)
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        assert c.execute(select(ports.c.ifAlias)).scalars().all() == [alias, alias]
        assert c.execute(select(eventlog.c.message, eventlog.c.reference)).one() == (
            f"ifAlias: -> {alias}",
            str(refs[0].port_id),
        )
        assert c.execute(select(devices.c.status_reason)).scalar_one() == "it's %s"
    eng.dispose()


def test_rows_with_different_column_sets_are_each_written(librenms_url):
    dev, refs = _setup(librenms_url, 3)
    res = PollResult(dev, T0)
    res.ports = [
        PortWrite(refs[0], {"ifInOctets": 1, "poll_time": T0}, {}),
        PortWrite(refs[1], {"poll_time": T0, "ifInOctets": 2}, {}),  # same set, other order
        PortWrite(refs[2], {"ifOperStatus": "down", "ifTrunk": "dot1Q"}, {}),  # ifTrunk is not fastpoll's
    ]
    with LibreNMSWriter(librenms_url, chunk_rows=1) as w:
        w.submit(res)
        assert w.flush(10)
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        got = c.execute(
            select(ports.c.ifInOctets, ports.c.poll_time, ports.c.ifOperStatus, ports.c.ifTrunk).order_by(
                ports.c.ifIndex
            )
        ).all()
    eng.dispose()
    assert [tuple(r) for r in got] == [(1, T0, None, None), (2, T0, None, None), (None, None, "down", None)]


def test_embedded_sqlite_database_is_written_too(tmp_path):
    eng = create_embedded(tmp_path / "fastpoll.sqlite")
    with eng.begin() as c:
        dev = c.execute(
            devices.insert().values(hostname="h", status=1, status_reason="")
        ).inserted_primary_key[0]
        pid = c.execute(ports.insert().values(device_id=dev, ifIndex=1)).inserted_primary_key[0]
        c.execute(ports_statistics.insert().values(port_id=pid))
    ref, new = PortRef(dev, 1, pid), PortRef(dev, 2)
    res = PollResult(
        dev, T0, device={"uptime": 9}, events=[EventRow(dev, T0, "it's 50%", "interface", 3, new)]
    )
    res.ports = [
        PortWrite(ref, {"ifInOctets": 10, "ifAlias": "50% 'x'"}, {"ifInDiscards": 3}),
        PortWrite(new, {"ifDescr": "eth1"}, {"ifInDiscards": 1}, insert=True),
    ]
    with LibreNMSWriter(eng) as w:
        w.submit(res)
        assert w.flush(10)
    with eng.connect() as c:
        assert tuple(
            c.execute(select(ports.c.ifInOctets, ports.c.ifAlias).where(ports.c.port_id == pid)).one()
        ) == (
            10,
            "50% 'x'",
        )
        assert c.execute(
            select(ports_statistics.c.ifInDiscards).order_by(ports_statistics.c.port_id)
        ).scalars().all() == [
            3,
            1,
        ]
        assert c.execute(select(eventlog.c.message, eventlog.c.reference)).one() == (
            "it's 50%",
            str(new.port_id),
        )
        assert c.execute(select(devices.c.uptime)).scalar_one() == 9
    eng.dispose()
