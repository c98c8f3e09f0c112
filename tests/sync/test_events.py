"""Poll results become crisis-event transitions: exactly the eventlog transitions LibreNMS records."""

from __future__ import annotations

from poller.checks.results import EventRow, PollResult, PortMetrics, PortRef
from poller.model import Device, Target
from sync.events import CrisisSink

DEVICE = Device(7, "10.0.0.7", Target("10.0.0.7"), sys_name="edge-7")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args)) or True


def port(if_index: int, name: str) -> PortMetrics:
    return PortMetrics(if_index, name, None, None, "ethernetCsmacd", "down", "up", 10**9, {}, {})


def feed(*events: EventRow, ports=()) -> list[tuple]:
    rec = Recorder()
    CrisisSink(rec).on_result(DEVICE, PollResult(7, 100, events=list(events), port_metrics=list(ports)))
    return rec.calls


def test_a_device_going_down_opens_and_coming_up_resolves():
    down = EventRow(7, 100, "Device status changed to Down from snmp check.", "down", 2)
    up = EventRow(7, 160, "Device status changed to Up from snmp check.", "up", 2)
    assert [c[0] for c in feed(down, up)] == ["device_down", "device_up"]
    assert feed(down)[0][1:3] == (7, "edge-7")


def test_a_reboot_is_reported():
    assert (
        feed(EventRow(7, 100, "Device rebooted after 3 days -> 5s", "reboot", 4, 259200))[0][0]
        == "device_rebooted"
    )


def test_oper_status_changes_of_ports_carry_the_port_name():
    ref = PortRef(7, 3, 42)
    calls = feed(
        EventRow(7, 100, "ifOperStatus: up -> down", "interface", 3, ref),
        EventRow(7, 100, "ifOperStatus: down -> up", "interface", 3, ref),
        ports=[port(3, "xe-0/0/1")],
    )
    assert [(c[0], c[3]) for c in calls] == [("port_down", "xe-0/0/1"), ("port_up", "xe-0/0/1")]


def test_other_interface_changes_are_not_crisis_events():
    ref = PortRef(7, 3, 42)
    assert feed(EventRow(7, 100, "ifAlias: a -> b", "interface", 3, ref), ports=[port(3, "xe-0/0/1")]) == []
