"""The writer with its SQL in a child process, against the real MariaDB with LibreNMS's schema."""

from __future__ import annotations

import os
import pickle
import signal
import time

import psutil
import pytest
from sqlalchemy import create_engine, select

from poller.checks.results import EventRow, OutageClose, OutageOpen, PollResult, PortRef, PortWrite
from poller.store.librenms import _Pending
from poller.store.tables import device_outages, devices, eventlog, ports, ports_statistics
from poller.store.writer_process import ChildWriteError, ProcessWriter, portable, rebuilt
from tests.store.test_librenms import T0, _count, _down, _setup, _up, behind_proxy

pytestmark = pytest.mark.mariadb


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_batches_written_by_the_child_reach_the_tables(librenms_url):
    dev, refs = _setup(librenms_url)
    res = PollResult(dev, T0, device={"uptime": 55})
    res.ports = [PortWrite(r, {"ifInOctets": 100 + r.ifIndex}, {"ifInDiscards": 7}) for r in refs]
    with ProcessWriter(librenms_url) as w:
        assert w.child_pid not in (None, os.getpid())
        w.submit(res)
        assert w.flush(20)
        assert w.stats.rows == 7  # 1 device + 3 ports + 3 ports_statistics, counted in the child
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        octets = c.execute(select(ports.c.ifInOctets).order_by(ports.c.ifIndex)).scalars().all()
        discards = c.execute(select(ports_statistics.c.ifInDiscards)).scalars().all()
        uptime = c.execute(select(devices.c.uptime)).scalar_one()
    eng.dispose()
    assert octets == [101, 102, 103] and discards == [7, 7, 7] and uptime == 55


def test_new_ports_get_the_ids_the_child_assigned(librenms_url):
    dev, _ = _setup(librenms_url, 0)
    first, second = PortRef(dev, 41), PortRef(dev, 42)
    res = PollResult(
        dev,
        T0,
        ports=[PortWrite(r, {"ifDescr": f"if{r.ifIndex}"}, {}, insert=True) for r in (first, second)],
        events=[EventRow(dev, T0, "ifDescr:  -> if42", "interface", 3, second)],
    )
    with ProcessWriter(librenms_url) as w:
        w.submit(res)
        assert w.flush(20)
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        by_index = dict(c.execute(select(ports.c.ifIndex, ports.c.port_id)).all())
        reference = c.execute(select(eventlog.c.reference)).scalar_one()
    eng.dispose()
    assert (first.port_id, second.port_id) == (by_index[41], by_index[42])
    assert reference == str(second.port_id)


def test_a_child_that_dies_is_replaced_and_nothing_is_lost(librenms_url):
    dev, _ = _setup(librenms_url, 0)
    w = ProcessWriter(librenms_url, retry_initial=0.05, retry_max=0.2).start()
    try:
        os.kill(w.child_pid, signal.SIGKILL)
        assert _wait_gone(w.child_pid)
        w.submit(_down(dev, T0))
        w.submit(_up(dev, T0 + 60))
        assert w.flush(30)
        assert w.stats.process_restarts == 1 and w.stats.failures >= 1
        assert w.stats.last_error == "WriterProcessExited"
    finally:
        w.close(5)
    assert _count(librenms_url, eventlog) == 2
    assert _count(librenms_url, device_outages) == 1


def test_database_errors_in_the_child_are_retried_under_their_own_name(librenms_url):
    dev, refs = _setup(librenms_url, 1)
    proxy, url = behind_proxy(librenms_url)
    w = ProcessWriter(url, retry_initial=0.05, retry_max=0.2).start()
    try:
        proxy.cut()
        w.submit(_down(dev, T0))
        w.submit(PollResult(dev, T0, ports=[PortWrite(refs[0], {"ifInOctets": 9}, {})]))
        assert not w.flush(1.0)
        assert w.stats.last_error == "OperationalError"  # the child's error type, not the parent's
        assert w.stats.process_restarts == 0
        proxy.restore()
        assert w.flush(30)
    finally:
        w.close(5)
        proxy.cut()
    assert _count(librenms_url, eventlog) == 1
    assert _count(librenms_url, device_outages) == 1


def test_the_child_outlives_a_ctrl_c_so_the_parent_can_flush(librenms_url):
    dev, _ = _setup(librenms_url, 0)
    with ProcessWriter(librenms_url) as w:
        child = w.child_pid
        os.kill(child, signal.SIGINT)  # what a terminal sends the whole process group
        os.kill(child, signal.SIGTERM)  # what systemd sends every process of the unit
        w.submit(PollResult(dev, T0, outage_open=OutageOpen(dev, T0)))
        assert w.flush(20)
        assert w.child_pid == child and w.stats.process_restarts == 0
    assert _count(librenms_url, device_outages) == 1


def test_the_child_imports_only_the_writer_and_owns_little_memory(librenms_url):
    with ProcessWriter(librenms_url) as w:
        child = psutil.Process(w.child_pid).memory_full_info()
    assert child.uss < 40 * 2**20  # ~30 MB: SQLAlchemy, PyMySQL, the writer (the whole daemon is ~50 more)


def test_a_terminals_ctrl_c_never_reaches_the_child(librenms_url):
    with ProcessWriter(librenms_url) as w:
        assert os.getpgid(w.child_pid) != os.getpgid(0)  # a session of its own


def test_close_returns_and_ends_a_child_that_hangs(librenms_url):
    dev, _ = _setup(librenms_url, 0)
    w = ProcessWriter(librenms_url).start()
    child = w.child_pid
    os.kill(child, signal.SIGSTOP)  # as a child waiting on a database that never answers
    w.submit(_down(dev, T0))
    time.sleep(0.2)  # the batch is on its way; the worker thread waits for the answer
    started = time.monotonic()
    assert not w.close(0.5)  # the down transition was never written: close() says so
    assert time.monotonic() - started < 15
    assert _wait_gone(child)


def test_close_ends_the_child(librenms_url):
    w = ProcessWriter(librenms_url).start()
    child = w.child_pid
    assert w.close(5)
    assert _wait_gone(child)


def test_an_in_memory_sqlite_database_is_refused():
    with pytest.raises(ValueError, match="in-memory SQLite"):
        ProcessWriter("sqlite://")


def test_a_child_error_is_named_by_its_type_only():
    err = ChildWriteError("OperationalError")
    assert isinstance(err, OSError) and err.error_name == "OperationalError"
    assert str(err) == "the writer process failed to write a batch: OperationalError"


def _batch() -> tuple[_Pending, PortRef, PortRef]:
    new, known = PortRef(9, 2), PortRef(9, 1, 501)
    batch = _Pending(devices={9: {"uptime": 5}})
    batch.ports[new] = PortWrite(new, {"ifDescr": "x"}, {"ifInDiscards": 1}, insert=True)
    batch.ports[501] = PortWrite(known, {"ifInOctets": 2**63}, {}, counters=False)
    batch.transitions.extend(
        [EventRow(9, T0, "ifDescr:  -> x", "interface", 3, new), OutageOpen(9, T0), OutageClose(9, T0 + 1)]
    )
    return batch, new, known


def test_a_batch_crosses_the_pipe_with_its_values():
    batch, _, _ = _batch()
    again, refs = rebuilt(pickle.loads(pickle.dumps(portable(batch))))
    assert [(r.device_id, r.ifIndex, r.port_id) for r in refs] == [(9, 2, None), (9, 1, 501)]
    assert [(w.ports, w.statistics, w.insert, w.counters) for w in again.ports.values()] == [
        (w.ports, w.statistics, w.insert, w.counters) for w in batch.ports.values()
    ]
    assert again.devices == batch.devices and list(again.transitions)[1:] == list(batch.transitions)[1:]


def test_an_event_names_the_same_port_ref_as_its_ports_insert_after_the_pipe():
    batch, _, _ = _batch()
    again, refs = rebuilt(pickle.loads(pickle.dumps(portable(batch))))
    assert again.transitions[0].reference is refs[0]  # the insert's port_id reaches the event
    assert again.ports[refs[0]].ref is refs[0]


def test_an_event_naming_a_port_outside_the_batch_keeps_its_ref_values():
    batch = _Pending()
    batch.transitions.append(EventRow(9, T0, "m", "interface", 3, PortRef(9, 7, 70)))
    again, _ = rebuilt(pickle.loads(pickle.dumps(portable(batch))))
    ref = again.transitions[0].reference
    assert (ref.device_id, ref.ifIndex, ref.port_id) == (9, 7, 70)


def test_port_writes_cross_the_pipe_as_plain_values():
    batch, _, _ = _batch()
    assert b"PortWrite" not in pickle.dumps(portable(batch))  # dataclasses with slots pickle in Python
