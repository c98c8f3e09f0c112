"""Scrape time and size of the fleet collector: 1,000 and 10,000 devices x 48 ports, default families.

    .venv/bin/python -m benchmarks.metrics_bench [--devices 1000 10000] [--ports 48] [--budget N] [--generic]
                                                 [--no-port-text-cache]

For each size: a cold scrape (every device polled since the last scrape: each device's lines are rendered),
a warm scrape (nothing polled since: cached text is joined), a scrape after every 6th device was re-polled
(a 10 s scrape of 60 s polling), the last two also as the HTTP endpoint answers a gzip scrape (kept port
lines sent compressed as they are kept), the exposition bytes (plain and gzip level 1), and the cost of
``FleetState.update`` per poll. Scrapes are given in wall seconds and CPU seconds (the CPU figure holds when
other processes share the machine). Then the memory one cold scrape leaves cached on the snapshots until
the next poll: the RSS growth over the scrapes above (their text dropped), and tracemalloc's count of the
bytes one more cold scrape allocated and still holds (tracemalloc runs only for that scrape, after every
timing). ``--generic`` also times prometheus_client's generic exposition of the same data
(``generate_latest`` over ``FleetCollector.collect``), which is why the text is built by hand.

``--budget`` is ``metrics.series_budget``; the default, 100,000,000, exports every series (the whole render);
``--budget 1000000`` is the daemon's default, under which 10,000 devices x 48 ports export the ports of only
the first ~2,900 devices.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import statistics
import time
import tracemalloc

import psutil
from prometheus_client import CollectorRegistry, generate_latest

from poller.checks.results import DeviceMetrics, PollResult, PortMetrics
from poller.config import MetricsSettings
from poller.metrics.collector import EXPORTED_COUNTERS, FleetCollector
from poller.metrics.server import metrics_chunks
from poller.metrics.state import FleetState
from poller.model import Device, Target


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
            counters={
                c: (n * 7919 + i * 104729 + k * 15485863) * (tick + 1)
                for k, c in enumerate(EXPORTED_COUNTERS)
            },
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


class GcClock:
    """CPU seconds the cyclic garbage collector has run (a gc callback): a cold scrape pays for collections
    that the re-polls before it made due, and their cost grows with the heap, not with the scrape's work."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started

    def close(self) -> None:
        gc.callbacks.remove(self._tick)


def timed(fn, repeat: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def _render_memory(collector: FleetCollector, state: FleetState, devs: list[Device], ports: int) -> None:
    """The bytes one cold scrape leaves cached on the snapshots (tracemalloc, for that scrape only)."""
    for d in devs:
        state.update(d, poll_result(d.device_id, ports, 20))  # new snapshots: the old caches are freed
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    collector.render()  # the text is dropped at once: only what the snapshots keep is left
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    print(
        f"  cached after a cold scrape {traced / 2**20:7.1f} MB (tracemalloc),"
        f" {traced / len(devs):,.0f} B/device"
    )


def run(devices: int, ports: int, generic: bool, budget: int, cache: bool = True) -> None:
    settings = MetricsSettings(series_budget=budget, cache_port_text=cache)
    state, devs = fleet(devices, ports)
    results = [poll_result(d.device_id, ports, 1) for d in devs]

    t0 = time.perf_counter()
    for d, r in zip(devs, results, strict=True):
        state.update(d, r)
    update_us = (time.perf_counter() - t0) / devices * 1e6

    gc.collect()
    rss0 = psutil.Process().memory_info().rss
    collector = FleetCollector(state, settings)
    gc_clock = GcClock()
    cold, cold_cpu, cold_gc = [], [], []
    for tick in range(2, 5):
        for d in devs:
            state.update(d, poll_result(d.device_id, ports, tick))
        t0, c0, g0 = time.perf_counter(), time.process_time(), gc_clock.seconds
        text = collector.render()
        cold.append(time.perf_counter() - t0)
        cold_cpu.append(time.process_time() - c0)
        cold_gc.append(gc_clock.seconds - g0)
    gc_clock.close()
    c0 = time.process_time()
    warm, _ = timed(collector.render)
    warm_cpu = (time.process_time() - c0) / 3
    c0 = time.process_time()
    warm_gzip, _ = timed(lambda: metrics_chunks(b"", collector.iter_gzip_parts(), gzip=True))
    warm_gzip_cpu = (time.process_time() - c0) / 3
    sixth = devs[::6]  # every 6th device: the scheduler spreads polls over the fleet, not by device_id
    for d in sixth:
        state.update(d, poll_result(d.device_id, ports, 9))
    t0, c0 = time.perf_counter(), time.process_time()
    collector.render()
    partial = time.perf_counter() - t0
    partial_cpu = time.process_time() - c0
    for d in sixth:
        state.update(d, poll_result(d.device_id, ports, 10))
    t0, c0 = time.perf_counter(), time.process_time()
    metrics_chunks(b"", collector.iter_gzip_parts(), gzip=True)
    partial_gzip = time.perf_counter() - t0
    partial_gzip_cpu = time.process_time() - c0
    body = text.encode()
    t0 = time.perf_counter()
    gz = gzip.compress(body, compresslevel=1)
    gzip_s = time.perf_counter() - t0
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(
        f"{devices} devices x {ports} ports, series_budget {budget:,}, cache_port_text {cache}:"
        f" {series:,} series exported"
    )
    print(f"  FleetState.update      {update_us:8.1f} us per poll")
    print(
        f"  cold scrape (render)   {statistics.median(cold):8.3f} s, CPU {statistics.median(cold_cpu):.3f} s"
        f" (of which GC {statistics.median(cold_gc):.3f} s; medians of 3)"
    )
    print(f"  1/6 re-polled scrape   {partial:8.3f} s, CPU {partial_cpu:.3f} s")
    print(f"  warm scrape (cached)   {warm:8.3f} s, CPU {warm_cpu:.3f} s  (min of 3; CPU: mean)")
    print(
        f"  gzip (the endpoint)    1/6 re-polled {partial_gzip:.3f} s, CPU {partial_gzip_cpu:.3f} s;"
        f" warm {warm_gzip:.3f} s, CPU {warm_gzip_cpu:.3f} s"
    )
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
    del text, body, gz
    gc.collect()
    rss = psutil.Process().memory_info().rss  # what the scrapes above left: the caches (and free heap)
    print(f"  RSS growth over the scrapes {(rss - rss0) / 2**20:6.1f} MB (to {rss / 2**20:.0f} MB)")
    _render_memory(collector, state, devs, ports)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--ports", type=int, default=48)
    p.add_argument("--generic", action="store_true", help="also time prometheus_client's generic exposition")
    p.add_argument(
        "--budget", type=int, default=100_000_000, help="metrics.series_budget (default: export every series)"
    )
    p.add_argument(
        "--no-port-text-cache",
        dest="cache",
        action="store_false",
        help="metrics.cache_port_text = false: every scrape renders the port lines again",
    )
    args = p.parse_args()
    for n in args.devices:
        run(n, args.ports, args.generic, args.budget, args.cache)


if __name__ == "__main__":
    main()
