"""Scrape time and size of the fleet collector: 1,000 and 10,000 devices x 48 ports, default families.

    .venv/bin/python benchmarks/metrics_bench.py [--devices 1000 10000] [--ports 48] [--generic]

For each size: a cold scrape (every device polled since the last scrape: each device's lines are rendered),
a warm scrape (nothing polled since: cached text is joined), a scrape after 1/6 of the fleet was re-polled
(a 10 s scrape of 60 s polling), the exposition bytes (plain and gzip level 1), and the cost of
``FleetState.update`` per poll. ``--generic`` also times prometheus_client's generic exposition of the same
data (``generate_latest`` over ``FleetCollector.collect``), which is why the text is built by hand.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time

from prometheus_client import CollectorRegistry, generate_latest

from poller.checks.results import DeviceMetrics, PollResult, PortMetrics
from poller.config import MetricsSettings
from poller.metrics.collector import FleetCollector
from poller.metrics.state import FleetState
from poller.model import Device, Target

COUNTERS = (
    "ifInOctets",
    "ifOutOctets",
    "ifInUcastPkts",
    "ifOutUcastPkts",
    "ifInErrors",
    "ifOutErrors",
    "ifInDiscards",
    "ifOutDiscards",
)


def device(n: int) -> Device:
    return Device(
        n,
        f"sw{n:05d}.pop{n % 40:02d}.example.net",
        Target(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"),
        sys_name=f"sw{n:05d}",
    )


def poll_result(n: int, ports: int, tick: int) -> PollResult:
    port_metrics = [
        PortMetrics(
            ifIndex=i,
            ifName=f"GigabitEthernet1/0/{i}",
            ifAlias=f"customer {n}-{i} [ref {n * 100 + i}]",
            ifDescr=f"GigabitEthernet1/0/{i}",
            ifType="ethernetCsmacd",
            oper_status="up" if i % 7 else "down",
            admin_status="up",
            speed=1_000_000_000,
            counters={c: (n * 7919 + i * 104729 + k * 15485863) * (tick + 1) for k, c in enumerate(COUNTERS)},
            rates={},
        )
        for i in range(1, ports + 1)
    ]
    metrics = DeviceMetrics(
        up=True, reachable=True, uptime=86400 + tick, poll_duration=0.123, consecutive_failures=0
    )
    return PollResult(n, 1_700_000_000 + tick, metrics=metrics, port_metrics=port_metrics)


def fleet(devices: int, ports: int) -> tuple[FleetState, list[Device]]:
    state = FleetState(interval_of=lambda d: 60.0)
    devs = [device(n) for n in range(1, devices + 1)]
    for d in devs:
        state.update(d, poll_result(d.device_id, ports, 0))
    return state, devs


def timed(fn, repeat: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run(devices: int, ports: int, generic: bool) -> None:
    settings = MetricsSettings(series_budget=100_000_000)
    state, devs = fleet(devices, ports)
    results = [poll_result(d.device_id, ports, 1) for d in devs]

    t0 = time.perf_counter()
    for d, r in zip(devs, results, strict=True):
        state.update(d, r)
    update_us = (time.perf_counter() - t0) / devices * 1e6

    collector = FleetCollector(state, settings)
    cold = []
    for tick in range(2, 5):
        for d in devs:
            state.update(d, poll_result(d.device_id, ports, tick))
        t0 = time.perf_counter()
        text = collector.render()
        cold.append(time.perf_counter() - t0)
    warm, _ = timed(collector.render)
    sixth = devs[: max(1, devices // 6)]
    for d in sixth:
        state.update(d, poll_result(d.device_id, ports, 9))
    t0 = time.perf_counter()
    collector.render()
    partial = time.perf_counter() - t0
    body = text.encode()
    t0 = time.perf_counter()
    gz = gzip.compress(body, compresslevel=1)
    gzip_s = time.perf_counter() - t0
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"{devices} devices x {ports} ports: {series:,} series")
    print(f"  FleetState.update      {update_us:8.1f} us per poll")
    print(f"  cold scrape (render)   {statistics.median(cold):8.3f} s  (median of 3)")
    print(f"  1/6 re-polled scrape   {partial:8.3f} s")
    print(f"  warm scrape (cached)   {warm:8.3f} s")
    print(
        f"  body                   {len(body) / 1e6:8.1f} MB, gzip-1 {len(gz) / 1e6:.1f} MB in {gzip_s:.3f} s"
    )
    if generic:
        registry = CollectorRegistry(auto_describe=False)
        fresh = FleetCollector(state, settings)
        registry.register(fresh)
        for d in devs:
            state.update(d, poll_result(d.device_id, ports, 10))
        t0 = time.perf_counter()
        generate_latest(registry)
        print(f"  prometheus_client generic exposition (cold) {time.perf_counter() - t0:8.3f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--ports", type=int, default=48)
    p.add_argument("--generic", action="store_true", help="also time prometheus_client's generic exposition")
    args = p.parse_args()
    for n in args.devices:
        run(n, args.ports, args.generic)


if __name__ == "__main__":
    main()
