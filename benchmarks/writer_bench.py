"""Database cost of a device-poll (48 ports, full write set) into MariaDB with LibreNMS's schema.

    .venv/bin/python -m benchmarks.writer_bench [--devices 200] [--rounds 5]

Creates a throw-away database (tests/support/mariadb.py), inserts the devices and ports, then submits
``rounds`` polls of every device to the writer and waits for each round to be written. Reports the
database time per device-poll and the sustained rows/s (a row = one ports or ports_statistics UPDATE,
one device UPDATE).
"""

from __future__ import annotations

import argparse
import time

from sqlalchemy import create_engine

from poller.checks.ports import PortState, poll_ports
from poller.checks.results import PollResult, PortRef
from poller.store.librenms import LibreNMSWriter
from poller.store.tables import devices, ports, ports_statistics
from tests.support import mariadb

PORTS = 48


def _raw(i: int, k: int) -> dict:
    return {
        "ifDescr": f"Gi0/{i}".encode(),
        "ifName": f"Gi0/{i}".encode(),
        "ifAlias": b"x",
        "ifType": 6,
        "ifAdminStatus": 1,
        "ifOperStatus": 1,
        "ifMtu": 1500,
        "ifHighSpeed": 1000,
        "ifLastChange": 5,
        "ifPhysAddress": b"\x00\x11\x22\x33\x44\x55",
        "ifConnectorPresent": 1,
        "ifHCInOctets": 10**9 + k * 12345,
        "ifHCOutOctets": 10**9 + k * 54321,
        "ifHCInUcastPkts": k * 10,
        "ifHCOutUcastPkts": k * 11,
        "ifInErrors": k,
        "ifOutErrors": 0,
        "ifInDiscards": k,
        "ifOutDiscards": 0,
        "ifHCInBroadcastPkts": k,
        "ifHCOutBroadcastPkts": k,
        "ifHCInMulticastPkts": k,
        "ifHCOutMulticastPkts": k,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with mariadb.librenms_database("fastpoll_bench") as name:
        url = mariadb.url(name)
        eng = create_engine(url)
        states: dict[int, dict] = {}
        with eng.begin() as c:
            for d in range(args.devices):
                dev = c.execute(
                    devices.insert().values(hostname=f"h{d}", status=1, status_reason="")
                ).inserted_primary_key[0]
                st = {}
                for i in range(1, PORTS + 1):
                    pid = c.execute(ports.insert().values(device_id=dev, ifIndex=i)).inserted_primary_key[0]
                    c.execute(ports_statistics.insert().values(port_id=pid))
                    st[i] = PortState(PortRef(dev, i, pid), {"ifIndex": i})
                states[dev] = st
        writer = LibreNMSWriter(eng).start()
        total_rows = 0
        t_write = 0.0
        for k in range(1, args.rounds + 1):
            polled = 1_700_000_000 + 30 * k
            before = writer.stats.rows
            for dev, st in states.items():
                out = poll_ports(dev, st, {i: _raw(i, k) for i in range(1, PORTS + 1)}, polled=polled)
                states[dev] = out.states
                writer.submit(
                    PollResult(dev, polled, device={"uptime": 1000 + k}, ports=out.writes, events=out.events)
                )
            t = time.perf_counter()
            writer.flush()
            t_write += time.perf_counter() - t
            total_rows += writer.stats.rows - before
        writer.close()
        eng.dispose()
    polls = args.devices * args.rounds
    print(f"{polls} device-polls x {PORTS} ports: {t_write:.2f} s of database writing")
    print(f"  {1000 * t_write / polls:.2f} ms per device-poll, {total_rows / t_write:,.0f} rows/s sustained")


if __name__ == "__main__":
    main()
