"""What CPython's garbage collector costs the poll path: the interpreter's settings against the daemon's.

    .venv/bin/python -m benchmarks.gc_bench [--devices 2000] [--cycles 5] [--policy default|daemon|both]

Starts the simulator (poller.sim, one worker) with ``--devices`` devices of 48 ports, then polls every
device with ``poll_device`` and keeps each result in a ``FleetState`` (the daemon's poll: device GET, ports
walk, ports check, the metrics snapshot; no writer, no scrape), 20 at a time, in cycles a little over a
second apart: two warm-up cycles (the first walks every column and builds each port's state), then
``--cycles`` measured ones. Per policy, in its own process:

- CPU per device-poll (process time of the measured cycles; the simulator's is not counted);
- time inside the collector per generation (``gc.callbacks``), the longest single collection (a pause of
  the event loop), and the objects the collections freed;
- objects the collector tracks at the end.

``default`` is the interpreter's thresholds; ``daemon`` is ``poller.gc_policy.GcPolicy`` applied after the
warm-up, as ``fastpoll run`` applies it after start-up (its timed full collection does not fall inside the
measured cycles). Polls come faster than in the daemon (cycles ~1 s apart instead of 60 s), so the
collector's share is shown at its densest; per poll, the figures are what the daemon pays.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
from typing import Any

from .harness import REPO, free_udp_port

BASE = "127.33.0.1"


class GcClock:
    """Time spent in the collector, per generation, from gc.callbacks."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]
        self.collected = [0, 0, 0]
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        g = info["generation"]
        self.seconds[g] += took
        self.runs[g] += 1
        self.collected[g] += info["collected"]
        self.longest = max(self.longest, took)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


async def measure(devices: int, cycles: int, policy: str, port: int) -> dict[str, Any]:
    from poller.gc_policy import GcPolicy
    from poller.metrics.state import FleetState
    from poller.model import Credentials, Device, Target
    from poller.poll import new_state, poll_device
    from poller.sim.generate import generate_fleet
    from poller.snmp.client import SnmpEngine

    fleet = generate_fleet(devices, 48, base_address=BASE, port=port)
    inventory = [
        Device(i + 1, d.host, Target(d.host, d.port, credentials=Credentials(community=d.community)))
        for i, d in enumerate(fleet)
    ]
    states = {d.device_id: new_state(True, "") for d in inventory}
    fleet_state = FleetState()  # what the daemon keeps of every poll for the next scrape
    for state in states.values():
        state.has_ports = True  # as discovery left them: the first poll inserts the ports
    clock = GcClock()
    gc.callbacks.append(clock)
    failed = 0
    async with SnmpEngine() as engine:

        async def cycle() -> None:
            nonlocal failed
            now = time.time()
            slots = asyncio.Semaphore(20)

            async def one(device: Device) -> None:
                nonlocal failed
                async with slots:
                    result = await poll_device(
                        engine, device, states[device.device_id], now=now, details_interval=300
                    )
                    fleet_state.update(device, result)
                    failed += result.metrics is None or not result.metrics.reachable

            await asyncio.gather(*(one(d) for d in inventory))
            await asyncio.sleep(1.1)  # counters move and the next poll has a period

        for _ in range(2):
            await cycle()
        gc_policy = GcPolicy()
        if policy == "daemon":
            gc_policy.apply()
        clock.reset()
        failed = 0
        cpu0 = time.process_time()
        for _ in range(cycles):
            await cycle()
        cpu = time.process_time() - cpu0
        gc_policy.restore()
    polls = devices * cycles
    return {
        "policy": policy,
        "devices": devices,
        "polls": polls,
        "failed": failed,
        "cpu_ms_per_poll": round(cpu / polls * 1000, 3),
        "gc_seconds": [round(s, 3) for s in clock.seconds],
        "gc_share": round(sum(clock.seconds) / cpu, 3) if cpu else None,
        "gc_runs": clock.runs,
        "gc_collected": clock.collected,
        "longest_pause_s": round(clock.longest, 3),
        "tracked_objects": len(gc.get_objects()),
    }


def run_one(devices: int, cycles: int, policy: str) -> dict[str, Any]:
    port = free_udp_port(BASE)
    sim = subprocess.Popen(
        [
            sys.executable, "-m", "poller.sim", "serve", "--devices", str(devices), "--ports", "48",
            "--base-address", BASE, "--port", str(port), "--workers", "1",
        ],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        ready = json.loads(sim.stdout.readline() or "{}")
        if not ready.get("ready"):
            raise RuntimeError("the simulator did not start")
        return asyncio.run(measure(devices, cycles, policy, port))
    finally:
        sim.terminate()
        sim.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--policy", choices=("default", "daemon", "both"), default="both")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.devices, args.cycles, args.policy)))
        return 0
    policies = ("default", "daemon") if args.policy == "both" else (args.policy,)
    for policy in policies:  # each in its own process: the heap of one run must not burden the next
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.gc_bench", "--one", "--devices", str(args.devices),
             "--cycles", str(args.cycles), "--policy", policy],
            cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['policy']:>8}: {r['polls']} polls ({r['failed']} failed), "
            f"{r['cpu_ms_per_poll']} ms CPU per poll, collector {r['gc_share'] * 100:.1f}% of it "
            f"(s per generation {r['gc_seconds']}, runs {r['gc_runs']}, freed {r['gc_collected']}), "
            f"longest pause {r['longest_pause_s']} s, {r['tracked_objects']:,} tracked objects"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
