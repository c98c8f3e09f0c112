"""Cost of writing device-polls (48 ports, full write set) into MariaDB with LibreNMS's schema.

    .venv/bin/python -m benchmarks.writer_bench [--devices 200] [--rounds 5]

Creates a throw-away database (tests/support/mariadb.py), inserts the devices and their ports (as discovery
leaves them: only ifIndex), runs one warm-up round (the first poll writes every data column and its
eventlog rows), then ``rounds`` steady-state polls of every device: the ports check runs in the main thread,
every result is submitted to the writer, and the round ends when the writer has flushed it.

Reports, for the steady-state rounds (and the warm-up round on its own line):

- fastpoll writer CPU per device-poll: CPU time of the writer thread (user + system, from /proc via psutil);
  the main thread's submit() cost is reported apart (it is part of the poll, not the writer thread);
- MariaDB CPU per device-poll: mariadbd's CPU time over the same interval (only when the server runs on this
  host and its /proc entry is readable; shared with anything else using the server meanwhile);
- wall time the flushes took, rows/s (a row = one ports / ports_statistics / devices row written);
- projections for 167 device-polls/s (10,000 devices x 48 ports every 60 s).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import psutil
from sqlalchemy import create_engine

from benchmarks.checks_bench import raw_port
from poller.checks.ports import PortState, poll_ports
from poller.checks.results import PollResult, PortRef
from poller.store.librenms import LibreNMSWriter
from poller.store.tables import devices, ports, ports_statistics
from tests.support import mariadb

PORTS = 48
TARGET_POLLS_PER_SECOND = 10_000 / 60


def _mariadb_process() -> psutil.Process | None:
    if mariadb.HOST not in ("127.0.0.1", "localhost", "::1"):
        return None
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("mariadbd", "mysqld"):
            try:
                proc.cpu_times()
            except psutil.Error:
                return None
            return proc
    return None


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    t = proc.cpu_times()
    return t.user + t.system


def _thread_cpu(native_id: int | None) -> float:
    for t in psutil.Process().threads():
        if t.id == native_id:
            return t.user_time + t.system_time
    return 0.0


class _Totals:
    def __init__(self) -> None:
        self.polls = 0
        self.rows = 0
        self.wall = 0.0
        self.writer_cpu = 0.0
        self.submit_cpu = 0.0
        self.check_cpu = 0.0
        self.db_cpu = 0.0

    def report(self, label: str, has_db: bool) -> None:
        n = max(self.polls, 1)
        print(f"{label}: {self.polls} device-polls x {PORTS} ports, {self.rows:,} rows")
        writer_ms = 1000 * self.writer_cpu / n
        print(
            f"  fastpoll writer CPU: {writer_ms:.2f} ms per device-poll"
            f" (+ submit() in the poll: {1000 * self.submit_cpu / n:.3f} ms)"
            f" -> {TARGET_POLLS_PER_SECOND * writer_ms / 1000:.2f} CPU-s/s at 167 polls/s"
        )
        if has_db:
            db_ms = 1000 * self.db_cpu / n
            print(
                f"  MariaDB CPU:         {db_ms:.2f} ms per device-poll"
                f" -> {TARGET_POLLS_PER_SECOND * db_ms / 1000:.2f} cores at 167 polls/s"
            )
        else:
            print("  MariaDB CPU:         n/a (server not local or /proc not readable)")
        print(
            f"  wall (flush):        {1000 * self.wall / n:.2f} ms per device-poll,"
            f" {self.rows / max(self.wall, 1e-9):,.0f} rows/s"
        )
        print(f"  ports check CPU:     {1000 * self.check_cpu / n:.2f} ms per device-poll (main thread)")


def _setup(eng: Any, n_devices: int) -> dict[int, dict[Any, PortState]]:
    states: dict[int, dict[Any, PortState]] = {}
    with eng.begin() as c:
        for d in range(n_devices):
            dev = c.execute(
                devices.insert().values(hostname=f"h{d}", status=1, status_reason="")
            ).inserted_primary_key[0]
            c.execute(ports.insert(), [{"device_id": dev, "ifIndex": i} for i in range(1, PORTS + 1)])
            rows = c.execute(
                ports.select()
                .with_only_columns(ports.c.port_id, ports.c.ifIndex)
                .where(ports.c.device_id == dev)
            ).all()
            c.execute(ports_statistics.insert(), [{"port_id": pid} for pid, _ in rows])
            states[dev] = {i: PortState(PortRef(dev, i, pid), {"ifIndex": i}) for pid, i in rows}
    return states


def _round(
    writer: LibreNMSWriter,
    states: dict[int, dict[Any, PortState]],
    k: int,
    totals: _Totals,
    db: psutil.Process | None,
) -> None:
    polled = 1_700_000_000 + 60 * k
    results = []
    c0 = time.process_time()
    for dev, st in states.items():
        out = poll_ports(dev, st, {i: raw_port(i, k) for i in range(1, PORTS + 1)}, polled=polled)
        states[dev] = out.states
        results.append(
            PollResult(dev, polled, device={"uptime": 1000 + k}, ports=out.writes, events=out.events)
        )
    totals.check_cpu += time.process_time() - c0  # includes building the raw samples (a few %)
    native_id = writer._thread.native_id if writer._thread else None
    before_rows = writer.stats.rows
    w0, d0 = _thread_cpu(native_id), _cpu(db)
    t0 = time.perf_counter()
    s0 = time.thread_time()
    for res in results:
        writer.submit(res)
    totals.submit_cpu += time.thread_time() - s0
    writer.flush()
    totals.wall += time.perf_counter() - t0
    totals.writer_cpu += _thread_cpu(native_id) - w0
    totals.db_cpu += _cpu(db) - d0
    totals.rows += writer.stats.rows - before_rows
    totals.polls += len(states)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    db = _mariadb_process()
    warm, steady = _Totals(), _Totals()
    with mariadb.librenms_database("fastpoll_bench") as name:
        eng = create_engine(mariadb.url(name))
        states = _setup(eng, args.devices)
        writer = LibreNMSWriter(eng).start()
        _round(writer, states, 1, warm, db)
        for k in range(2, args.rounds + 2):
            _round(writer, states, k, steady, db)
        writer.close()
        eng.dispose()
    warm.report("warm-up (first poll: data columns + eventlog)", db is not None)
    steady.report("steady state", db is not None)


if __name__ == "__main__":
    main()
