"""Scheduler cost at scale: N devices at one interval on the real event loop with a no-op poll.

Reports start lag (how late each poll started against its instant: p50/p99/max) and the CPU the process used
(the scheduler, the event loop and the no-op poll tasks; nothing else runs) as a share of one core.

    .venv/bin/python benchmarks/scheduler_bench.py                       # 10,000 devices, 60 s, one interval
    .venv/bin/python benchmarks/scheduler_bench.py --duration 20         # shorter: a third of the starts
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from poller.model import Device, Target
from poller.scheduler import Scheduler, WallClock


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(devices: int, interval: float, duration: float) -> dict[str, float | int | str]:
    async def no_op(_device: Device) -> None:
        return None

    scheduler = Scheduler(WallClock(), no_op, lambda _d: interval)
    inventory = [Device(i, f"d{i}", Target("127.0.0.1")) for i in range(1, devices + 1)]
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    scheduler.update_inventory(inventory)
    runner = asyncio.create_task(scheduler.run())
    await asyncio.sleep(duration)
    await scheduler.stop(grace=5)
    await runner
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    lags = list(scheduler.stats.lag_samples)
    return {
        "python": platform.python_version(),
        "devices": devices,
        "interval_s": interval,
        "duration_s": round(wall, 2),
        "starts": scheduler.stats.started,
        "expected_starts": round(devices * duration / interval),
        "skipped_overrun": scheduler.stats.skipped_overrun,
        "missed": scheduler.stats.missed,
        "lag_p50_ms": round(statistics.median(lags) * 1000, 3),
        "lag_p99_ms": round(quantile(lags, 0.99) * 1000, 3),
        "lag_max_ms": round(max(lags) * 1000, 3),
        "cpu_s": round(cpu, 3),
        "cpu_share_of_one_core_pct": round(100 * cpu / wall, 2),
        "cpu_per_start_us": round(1e6 * cpu / max(1, scheduler.stats.started), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds to run (one interval by default)"
    )
    args = parser.parse_args()
    result = asyncio.run(bench(args.devices, args.interval, args.duration))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
