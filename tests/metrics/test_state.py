"""FleetState: the latest poll per device, replaced whole, readable from another thread."""

from __future__ import annotations

import threading

from poller.metrics.state import FleetState

from .fleet import device, port, result


def test_update_keeps_only_the_latest_poll_of_a_device():
    state = FleetState()
    state.update(device(1), result(1, [port(1)], polled=100))
    state.update(device(1), result(1, [port(1), port(2)], polled=130))
    (snap,) = state.snapshots()
    assert (snap.polled, [p.ifIndex for p in snap.ports]) == (130, [1, 2])


def test_remove_forgets_the_device():
    state = FleetState()
    state.update(device(1), result(1))
    state.update(device(2), result(2))
    state.remove(1)
    state.remove(99)  # unknown: nothing happens
    assert [s.device_id for s in state.snapshots()] == [2]


def test_retain_forgets_devices_outside_the_inventory():
    state = FleetState()
    for n in (1, 2, 3):
        state.update(device(n), result(n))
    state.retain({2})
    assert [s.device_id for s in state.snapshots()] == [2]


def test_deleted_ports_are_not_kept():
    state = FleetState()
    state.update(device(1), result(1, [port(1), port(2, deleted=True)]))
    assert [p.ifIndex for p in state.snapshots()[0].ports] == [1]


def test_a_poll_without_port_data_leaves_no_ports():
    state = FleetState()
    state.update(device(1), result(1, [port(1)]))
    state.update(device(1), result(1, [], up=False, error="timeout"))
    assert state.snapshots()[0].ports == ()


def test_interval_comes_from_interval_of_else_the_device():
    assert FleetState(lambda d: 15.0).snapshots() == []
    state = FleetState(lambda d: 15.0)
    state.update(device(1), result(1))
    plain = FleetState()
    plain.update(device(1), result(1))
    assert (state.snapshots()[0].interval, plain.snapshots()[0].interval) == (15.0, None)


def test_snapshots_are_ordered_by_device_id():
    state = FleetState()
    for n in (5, 1, 3):
        state.update(device(n), result(n))
    assert [s.device_id for s in state.snapshots()] == [1, 3, 5]


def test_reading_from_another_thread_while_updating_sees_whole_devices():
    state = FleetState()
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                for snap in state.snapshots():
                    seen.append(len(snap.ports))
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(3000):
        n = i % 50
        state.update(device(n), result(n, [port(1), port(2), port(3)]))
        if i % 7 == 0:
            state.remove((i * 13) % 50)
    stop.set()
    thread.join()
    assert not errors
    assert set(seen) <= {3}


def _polled_table():
    from poller.checks.port_table import PortTable
    from poller.checks.ports import poll_ports
    from tests.checks.test_ports import T0, raw

    first = poll_ports(1, {}, {1: raw(), 2: raw(ifDescr=b"Gi0/2", ifName=b"Gi0/2")}, polled=T0)
    out = poll_ports(1, first.states, {1: raw(ifHCInOctets=9000), 2: raw()}, polled=T0 + 60)
    return out, PortTable.freeze(out.states, out.metrics)


def test_a_poll_with_a_port_table_is_kept_as_that_table():
    out, table = _polled_table()
    state = FleetState()
    polled = result(1)
    polled.port_metrics, polled.port_table = out.metrics, table
    state.update(device(1), polled)
    (snap,) = state.snapshots()
    assert snap.port_source is table and snap.ports == tuple(out.metrics)
