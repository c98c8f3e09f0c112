"""The demo's live view is a pure function of the latest polls."""

from __future__ import annotations

from rich.console import Console

from poller.checks.results import DeviceMetrics, PortMetrics
from poller.demo.view import Totals, human_bps, render, top_interfaces
from poller.metrics.state import DeviceSnapshot
from poller.model import Device, Target


def snapshot(
    device_id: int, up: bool, rates: list[tuple[float, float]], duration: float = 0.01
) -> DeviceSnapshot:
    ports = tuple(
        PortMetrics(
            i,
            f"eth{i}",
            None,
            None,
            "ethernetCsmacd",
            "up",
            "up",
            10**9,
            {},
            {"ifInOctets": a, "ifOutOctets": b},
        )
        for i, (a, b) in enumerate(rates, 1)
    )
    return DeviceSnapshot(
        Device(device_id, f"10.0.0.{device_id}", Target(f"10.0.0.{device_id}"), sys_name=f"r{device_id}"),
        0,
        DeviceMetrics(up=up, reachable=up, uptime=90061, poll_duration=duration, consecutive_failures=0),
        ports,
        10.0,
    )


def test_top_interfaces_are_ranked_by_total_traffic_in_bits():
    snaps = [snapshot(1, True, [(100, 100), (1000, 0)]), snapshot(2, True, [(50, 5000)])]
    assert top_interfaces(snaps, 2) == [("r2", "eth1", 400.0, 40000.0), ("r1", "eth2", 8000.0, 0.0)]


def test_rates_are_shown_in_human_units():
    assert human_bps(1.25e9) == "1.2 Gb/s"
    assert human_bps(999) == "999 b/s"


def test_the_view_names_down_devices_and_the_metrics_url():
    totals = Totals(
        polls=10, polls_per_second=2.0, failed=1, skipped_overrun=0, metrics_url="http://m", elapsed=5
    )
    console = Console(width=140, record=True)
    console.print(render([snapshot(1, True, [(1, 1)]), snapshot(2, False, [])], totals, total_devices=2))
    text = console.export_text()
    assert "1 up" in text and "1 down" in text
    assert "Down: r2" in text
    assert "http://m" in text
