"""Memory each polled port keeps between polls: the daemon's per-device pipeline, in-process, no sockets.

    .venv/bin/python -m benchmarks.memory_bench [--devices 300] [--ports 48] [--rounds 3]
                                                [--writer sqlite|none] [--no-scrape] [--no-freeze-ports]
                                                [--mode both|rss|trace]

Set-up (not measured): the simulated fleet (poller/sim/generate.py, the benchmarks' devices), its devices and
ports inserted into an embedded SQLite database as LibreNMS's discovery leaves them (benchmarks.pipeline's
rows), then the daemon's start path: load_devices + load_state, a LibreNMSWriter thread, FleetState and a
FleetCollector. An in-process engine answers poll_device's GET and ports walk from the same simulated
devices (values as the SNMP engine decodes them; counters move with simulated time): no socket, no agent.

Each round polls every device once, 60 simulated seconds after the previous round, as Daemon._poll does:
poll_device -> writer.submit -> FleetState.update, the writer flushed every --flush-every devices (the
daemon's polls are spread over the interval and its writer keeps up: a whole round pending at once would
measure the benchmark's burst, not the daemon); at the end of the round, unless --no-scrape, the collector
renders (the text it caches per device until the next poll is part of the cost). Round 1 is the
first poll after discovery; the figures are taken after the last round, against a baseline taken after the
set-up, before the fleet's state is loaded from the database (so the per-port figure is all a port costs).

Two measurements, each in its own process (tracemalloc's own bookkeeping would inflate the RSS):

- ``rss``: RSS after each round and its growth over the baseline, per port;
- ``trace``: a tracemalloc snapshot diff (baseline -> after the last round) grouped by file and by line,
  with the retained bytes per port.

Projections multiply the per-port figure by 48 x 1,000 and 48 x 10,000 ports and add the baseline RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from poller.snmp.pdu import Walked
from poller.snmp.values import Tag, VarBind

T0 = 1_700_000_000
INTERVAL = 60
OBJECT_NAMES = {  # the device GET: sysUpTime, sysObjectID, sysName, snmpEngineTime
    "1.3.6.1.2.1.1.3.0": (1, 3, 6, 1, 2, 1, 1, 3, 0),
    "1.3.6.1.2.1.1.2.0": (1, 3, 6, 1, 2, 1, 1, 2, 0),
    "1.3.6.1.2.1.1.5.0": (1, 3, 6, 1, 2, 1, 1, 5, 0),
    "1.3.6.1.6.3.10.2.1.3.0": (1, 3, 6, 1, 6, 3, 10, 2, 1, 3, 0),
}


class SimEngine:
    """The SnmpEngine methods poll_device calls, answered from simulated devices at simulated time ``t``.

    Nothing is kept per device: each request rebuilds the device's rows (deterministic from its seed), so the
    simulator adds no memory that grows with the fleet.
    """

    def __init__(self, fleet: Sequence[Any]) -> None:
        self.by_target = {(d.host, d.port): d for d in fleet}
        self.t = 0.0

    def _device(self, target: Any) -> Any:
        return self.by_target[(target.host, target.port)]

    async def get(self, target: Any, oids: Sequence[str], *, deadline: float | None = None) -> list[VarBind]:
        from poller.sim.generate import _system_rows
        from poller.sim.responder import DeviceState

        dev = self._device(target)
        state = DeviceState(uptime0=dev.uptime0, fault=dev.fault)  # what the system group's cells read
        values = {oid: (tag, value) for oid, tag, value in _system_rows(dev)}
        out = []
        for oid in oids:
            found = values.get(tuple(int(a) for a in oid.split(".")))
            if found is None:
                out.append(VarBind(oid, Tag.NO_SUCH_OBJECT, None))
                continue
            tag, value = found
            if hasattr(value, "value_at"):
                value = value.value_at(state, self.t)
            out.append(VarBind(oid, Tag(tag), value))
        return out

    async def walk_table(
        self, target: Any, columns: Sequence[str], *, max_repetitions: int = 25, deadline: float | None = None
    ) -> dict[str, dict[tuple[int, ...], Any]]:
        rows, state = self._device(target).rows()
        t = self.t
        table: dict[str, dict[tuple[int, ...], Any]] = {c: {} for c in columns}
        wanted = {tuple(int(a) for a in c.split(".")): table[c] for c in columns}
        for oid, _tag, value in rows:
            column = wanted.get(oid[:-1])
            if column is not None:
                column[oid[-1:]] = value.value_at(state, t) if hasattr(value, "value_at") else value
        return table

    async def walk_columns(
        self, target: Any, columns: Sequence[str], *, max_repetitions: int = 25, deadline: float | None = None
    ) -> Walked:
        return Walked(await self.walk_table(target, columns), [])


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _malloc_trim() -> bool:
    """glibc's malloc_trim(0): hand free heap pages back to the OS (False where there is no glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        from sqlalchemy import Engine

        from benchmarks.pipeline import device_rows, port_rows
        from poller.config import MetricsSettings
        from poller.metrics import FleetState
        from poller.metrics.collector import FleetCollector
        from poller.sim.generate import generate_fleet
        from poller.store.embedded import create_embedded
        from poller.store.tables import devices, ports, ports_statistics

        self.args = args
        fleet = generate_fleet(args.devices, args.ports)
        self.engine = SimEngine(fleet)
        db: Engine = create_embedded(workdir / "librenms.sqlite")
        port_list = port_rows(fleet)
        with db.begin() as conn:
            conn.execute(devices.insert(), device_rows(fleet, timeout=1.0, retries=2))
            for i in range(0, len(port_list), 5000):
                chunk = port_list[i : i + 5000]
                conn.execute(ports.insert(), chunk)
                conn.execute(ports_statistics.insert(), [{"port_id": r["port_id"]} for r in chunk])
        del port_list
        self.db = db
        self.devices: list[Any] = []
        self.states: dict[int, Any] = {}
        self.ports = 0
        self.writer: Any = None  # a LibreNMSWriter once loaded (--writer sqlite)
        self.fleet = FleetState(interval_of=lambda d: INTERVAL)
        self.collector = FleetCollector(self.fleet, MetricsSettings())

    def load(self) -> None:
        """The daemon's start path: the inventory and every device's poll state from the database."""
        from poller.poll import load_state
        from poller.store.inventory import load_devices
        from poller.store.librenms import LibreNMSWriter

        args, db = self.args, self.db
        with db.connect() as conn:
            records, problems = load_devices(conn)
            self.states = load_state(conn, records, freeze=args.freeze_ports)
        if problems or len(records) != args.devices:
            raise RuntimeError(f"inventory: {len(records)} of {args.devices} devices loaded; {problems[:3]}")
        self.devices = [r.device for r in records]
        self.writer = LibreNMSWriter(db).start() if args.writer == "sqlite" else None
        self.ports = sum(len(s.ports) for s in self.states.values())

    async def round(self, k: int) -> None:
        from poller.poll import poll_device

        self.engine.t = INTERVAL * k
        now = T0 + INTERVAL * k
        for n, device in enumerate(self.devices, start=1):
            result = await poll_device(
                self.engine,  # type: ignore[arg-type]
                device,
                self.states[device.device_id],
                now=now,
                freeze_ports=self.args.freeze_ports,
            )
            if result.metrics is None or not result.metrics.reachable or result.metrics.error:
                raise RuntimeError(f"device {device.device_id}: poll failed ({result.metrics})")
            if self.writer is not None:
                self.writer.submit(result)
            self.fleet.update(device, result)
            if self.writer is not None and n % self.args.flush_every == 0:
                self.writer.flush()  # the daemon's polls are spread over the interval: its writer keeps up
        if self.writer is not None:
            self.writer.flush()
        if self.args.scrape:
            self.collector.render()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.db.dispose()


def _settle() -> None:
    gc.collect()
    time.sleep(0.2)  # let the writer thread go idle


def run_rss(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="fastpoll-membench-") as tmp:
        bench = Bench(args, Path(tmp))
        _settle()
        base = _rss()
        bench.load()
        n = bench.ports
        _settle()
        loaded = _rss()
        mb = base / 2**20
        print(f"rss: {args.devices} devices, {n:,} ports; baseline (set up, state not loaded) {mb:.1f} MB")
        print(f"  state loaded: RSS {loaded / 2**20:7.1f} MB, = {(loaded - base) / n:6.0f} B/port")
        cpu0 = time.process_time()
        for k in range(1, args.rounds + 1):
            c0 = time.process_time()
            asyncio.run(bench.round(k))
            cpu = time.process_time() - c0
            _settle()
            rss = _rss()
            print(
                f"  after round {k}: RSS {rss / 2**20:7.1f} MB, +{(rss - base) / 2**20:6.1f} MB over baseline"
                f" = {(rss - base) / n:6.0f} B/port  (round CPU {cpu:.1f} s incl. the simulator)"
            )
        grown = rss - base
        per_port = grown / n
        if _malloc_trim():
            trimmed = _rss()
            print(
                f"  after malloc_trim(0): RSS {trimmed / 2**20:7.1f} MB = {(trimmed - base) / n:6.0f} B/port"
                " (the rest of the growth was free memory glibc kept)"
            )
        print(f"  CPU {time.process_time() - cpu0:.1f} s for {args.rounds} rounds")
        print(f"RSS per port retained after {args.rounds} rounds: {per_port:.0f} B")
        for devices in (1_000, 10_000):
            ports = devices * 48
            projected = (base + per_port * ports) / 2**20
            print(
                f"  projected RSS at {devices:,} devices x 48 ports: {projected:,.0f} MB"
                f" (baseline {base / 2**20:.0f} MB + {per_port * ports / 2**20:,.0f} MB of port state)"
            )
        bench.close()


def _where(stat: Any, root: str) -> str:
    frame = stat.traceback[0]
    name = frame.filename
    if name.startswith(root):
        name = name[len(root) :]
    elif "site-packages" in name:
        name = "site-packages/" + name.split("site-packages/", 1)[1]
    return name


def run_trace(args: argparse.Namespace) -> None:
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    with tempfile.TemporaryDirectory(prefix="fastpoll-membench-") as tmp:
        tracemalloc.start(1)
        bench = Bench(args, Path(tmp))
        _settle()
        before = tracemalloc.take_snapshot()
        bench.load()
        for k in range(1, args.rounds + 1):
            asyncio.run(bench.round(k))
        _settle()
        after = tracemalloc.take_snapshot()
        n = bench.ports
        diff = after.compare_to(before, "lineno")
        total = sum(s.size_diff for s in diff)
        print(f"trace: {args.devices} devices, {n:,} ports, {args.rounds} rounds")
        print(f"tracemalloc: {total / 2**20:.1f} MB retained over the baseline = {total / n:.0f} B/port")
        by_file: dict[str, int] = {}
        for s in diff:
            key = _where(s, root)
            by_file[key] = by_file.get(key, 0) + s.size_diff
        print("  by file (B/port):")
        for name, size in sorted(by_file.items(), key=lambda kv: -kv[1])[: args.top]:
            if abs(size) / n >= 1:
                print(f"    {size / n:7.0f}  {name}")
        print("  by line (B/port):")
        for s in diff[: args.top]:
            if abs(s.size_diff) / n >= 1:
                frame = s.traceback[0]
                blocks = s.count_diff / n
                print(f"    {s.size_diff / n:7.0f}  {_where(s, root)}:{frame.lineno}  ({blocks:+.1f} blocks)")
        bench.close()
        tracemalloc.stop()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=300)
    ap.add_argument("--ports", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writer", choices=("sqlite", "none"), default="sqlite")
    ap.add_argument(
        "--flush-every", type=int, default=10, help="devices polled between writer flushes (default 10)"
    )
    ap.add_argument(
        "--freeze-ports",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep ports frozen between polls (polling.freeze_ports, the daemon's default); "
        "--no-freeze-ports keeps them as objects",
    )
    ap.add_argument("--no-scrape", dest="scrape", action="store_false", help="skip the collector render")
    ap.add_argument("--top", type=int, default=15, help="rows of the tracemalloc tables")
    ap.add_argument("--mode", choices=("both", "rss", "trace"), default="both")
    args = ap.parse_args(argv)
    if args.mode == "rss":
        run_rss(args)
    elif args.mode == "trace":
        run_trace(args)
    else:
        common = [
            *("--devices", str(args.devices), "--ports", str(args.ports), "--rounds", str(args.rounds)),
            *("--writer", args.writer, "--top", str(args.top), "--flush-every", str(args.flush_every)),
            *(() if args.scrape else ("--no-scrape",)),
            "--freeze-ports" if args.freeze_ports else "--no-freeze-ports",
        ]
        for mode in ("rss", "trace"):
            cmd = [sys.executable, "-m", "benchmarks.memory_bench", *common, "--mode", mode]
            subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
