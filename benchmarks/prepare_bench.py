"""CPU of a scrape's rendering on the event loop (``FleetCollector.prepare``) with frozen ports.

    .venv/bin/python -m benchmarks.prepare_bench [--devices 2000] [--rounds 5]

Every device holds the same frozen 48-port table (``polling.freeze_ports``, made with checks_bench's
helpers) and every one is exported under the default budget. Each round re-polls every device (new
snapshots, nothing cached), then times ``prepare`` (process CPU) and lets a scrape follow, as the endpoint
does. Reported: the median CPU per device, which is what each device polled since the last scrape costs the
event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from benchmarks.checks_bench import DEVICE_ID, T0, poll_ports, rows_from_table, stored_ports, walked_table
from benchmarks.metrics_bench import device
from poller.checks.port_table import PortTable
from poller.checks.results import DeviceMetrics, PollResult
from poller.config import MetricsSettings
from poller.metrics.collector import FleetCollector
from poller.metrics.state import FleetState


def frozen_table() -> PortTable:
    out = poll_ports(DEVICE_ID, stored_ports(48), rows_from_table(walked_table(48, 1)), polled=T0)
    out = poll_ports(DEVICE_ID, out.states, rows_from_table(walked_table(48, 2)), polled=T0 + 60)
    return PortTable.freeze(out.states, out.metrics)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    table = frozen_table()
    metrics = DeviceMetrics(up=True, reachable=True, uptime=1, poll_duration=0.1, consecutive_failures=0)
    state = FleetState(interval_of=lambda d: 60.0)
    devices = [device(n) for n in range(1, args.devices + 1)]

    def repoll() -> None:
        for d in devices:
            state.update(d, PollResult(d.device_id, T0, metrics=metrics, port_table=table))

    repoll()
    collector = FleetCollector(state, MetricsSettings())
    collector.render()
    times = []
    for _ in range(args.rounds):
        repoll()
        gc.collect()
        started = time.process_time()
        asyncio.run(collector.prepare())
        times.append(time.process_time() - started)
        collector.render()
    per_device = statistics.median(times) / len(devices) * 1000
    print(
        f"prepare, {len(devices)} devices x 48 frozen ports, all exported: {per_device:.3f} ms CPU per device"
        f" (median of {args.rounds}: {' '.join(f'{t:.2f}' for t in times)} s)"
    )


if __name__ == "__main__":
    main()
