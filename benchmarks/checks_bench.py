"""CPU cost of the ports check for one 48-port device-poll (no I/O).

    .venv/bin/python -m benchmarks.checks_bench [--ports 48] [--polls 1000] [--repeat 5] [--down 0]
        [--first-polls]

Builds the walked table an agent would return for a device with ``--ports`` ports (64-bit counters,
ifHighSpeed, every counter moving each poll; ``--down`` of them oper-down with an unchanged ifLastChange,
which LibreNMS's statistics-skip rule applies to), runs one first poll to reach steady state, then times
``--repeat`` blocks of ``--polls`` steady-state polls with ``time.process_time`` (CPU, not wall time; the
median block is reported, the machine may be busy with other work):

- ``rows_from_walks``: the walk's whole rows (RowBlocks of 4 rows, as a 64-varbind answer of 16 columns
  holds) -> {ifIndex: {name: value}}
- ``poll_ports``: the check itself (values, events, counters, writes, metrics)
- thaw + freeze: the device's PortTable (poller/checks/port_table.py) thawed into states before the check
  and its outcome frozen after it, as poll_device keeps a device's ports between polls

Reports CPU per 48-port poll for each, and for all together (what poll.py runs per device-poll).

``--first-polls`` times a daemon's first poll instead: each timed poll starts from the states as the
database gives them back (``PortState(ref, row)``, no memo), as every device's first poll after a start.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from poller.checks.ifmib import EXTRA_COLUMNS, IF_COLUMNS, IF_X_COLUMNS
from poller.checks.port_table import PortTable
from poller.checks.ports import PortState, poll_ports, rows_from_table, rows_from_walks
from poller.checks.results import PortRef
from poller.snmp.pdu import RowBlock, Walked

PORTS = 48
T0 = 1_700_000_000
DEVICE_ID = 1


def raw_port(i: int, k: int, *, down: bool = False) -> dict[str, Any]:
    """One port's raw SNMP values on poll ``k`` (counters grow with ``k`` at a per-port rate)."""
    return {
        "ifDescr": f"Gi0/{i}".encode(),
        "ifName": f"Gi0/{i}".encode(),
        "ifAlias": b"Cust: Example [1G] {EX1} (note)" if i % 4 == 0 else b"x",
        "ifType": 6,
        "ifAdminStatus": 1,
        "ifOperStatus": 2 if down else 1,
        "ifMtu": 1500,
        "ifHighSpeed": 1000,
        "ifLastChange": 5,
        "ifPhysAddress": bytes([0, 0x11, 0x22, 0x33, 0x44, i]),
        "ifConnectorPresent": 1,
        "dot3StatsDuplexStatus": 3,
        "ifHCInOctets": 10**9 + k * 12345 * i,
        "ifHCOutOctets": 10**9 + k * 54321 * i,
        "ifHCInUcastPkts": k * 10 * i,
        "ifHCOutUcastPkts": k * 11 * i,
        "ifInErrors": k,
        "ifOutErrors": 0,
        "ifInDiscards": k,
        "ifOutDiscards": 0,
        "ifHCInBroadcastPkts": k,
        "ifHCOutBroadcastPkts": k,
        "ifHCInMulticastPkts": k,
        "ifHCOutMulticastPkts": k,
    }


_NAME_TO_OID = {**IF_COLUMNS, **IF_X_COLUMNS, **EXTRA_COLUMNS}


def walked_table(n_ports: int, k: int, n_down: int = 0) -> dict[str, dict[tuple[int, ...], Any]]:
    """What ``SnmpEngine.walk_table`` returns for the device on poll ``k``."""
    table: dict[str, dict[tuple[int, ...], Any]] = {}
    for i in range(1, n_ports + 1):
        for name, value in raw_port(i, k, down=i > n_ports - n_down).items():
            table.setdefault(_NAME_TO_OID[name], {})[(i,)] = value
    return table


def walked_rows(n_ports: int, k: int, n_down: int = 0, rows_per_answer: int = 4) -> Walked:
    """What ``SnmpEngine.walk_columns`` returns for the device on poll ``k``: every row in RowBlocks."""
    table = walked_table(n_ports, k, n_down)
    columns = tuple(table)
    blocks = []
    for first in range(1, n_ports + 1, rows_per_answer):
        indexes = [(i,) for i in range(first, min(first + rows_per_answer, n_ports + 1))]
        keys = [index for index in indexes for _ in columns]
        blocks.append(RowBlock(columns, keys, [table[c][index] for index in indexes for c in columns]))
    return Walked({c: {} for c in columns}, blocks)


def stored_ports(n_ports: int, device_id: int = DEVICE_ID, first_port_id: int = 1) -> dict[Any, PortState]:
    """Ports as discovery leaves them (only ifIndex known), keyed by ifIndex."""
    refs = [PortRef(device_id, i, first_port_id + i - 1) for i in range(1, n_ports + 1)]
    return {ref.ifIndex: PortState(ref, {"ifIndex": ref.ifIndex}) for ref in refs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=PORTS)
    ap.add_argument("--polls", type=int, default=1000)
    ap.add_argument("--down", type=int, default=0, help="ports oper-down (statistics skipped)")
    ap.add_argument("--repeat", type=int, default=5, help="blocks of --polls; the median block is reported")
    ap.add_argument(
        "--first-polls", action="store_true", help="each poll from states read back from a database"
    )
    args = ap.parse_args()
    blocks = sorted((_block(args) for _ in range(args.repeat)), key=sum)
    rows_cpu, check_cpu, table_cpu = blocks[len(blocks) // 2]
    best = sum(blocks[0])
    n = args.polls
    kind = "first polls (states as read from the database)" if args.first_polls else "steady-state polls"
    print(f"{n} {kind} x {args.ports} ports ({args.down} down), CPU per poll", end="")
    print(f" (median of {args.repeat} blocks):")
    print(f"  rows_from_walks: {1000 * rows_cpu / n:.3f} ms")
    print(f"  poll_ports:      {1000 * check_cpu / n:.3f} ms")
    if args.first_polls:
        print("  (states built from rows: not timed)")
    else:
        print(f"  thaw + freeze:   {1000 * table_cpu / n:.3f} ms (the device's PortTable, as poll_device)")
    total = 1000 * (rows_cpu + check_cpu + table_cpu) / n
    print(f"  ports check:     {total:.3f} ms (best block {1000 * best / n:.3f} ms)")


def _block(args: argparse.Namespace) -> tuple[float, float, float]:
    """CPU seconds of rows_from_walks, of poll_ports and of the PortTable's thaw and freeze over
    ``args.polls`` steady-state polls (with ``args.first_polls``: first polls, no PortTable)."""
    first = rows_from_table(walked_table(args.ports, 1, args.down))
    out = poll_ports(DEVICE_ID, stored_ports(args.ports), first, polled=T0)
    frozen = PortTable.freeze(out.states, out.metrics)

    cpu_rows = 0.0
    cpu_check = 0.0
    cpu_table = 0.0
    polled = T0
    # --first-polls: the states after a second poll (its NULL _prev filled), as the database holds them
    read_back = (
        {
            k: PortState(s.ref, s.row)
            for k, s in poll_ports(DEVICE_ID, out.states, first, polled=T0).states.items()
        }
        if args.first_polls
        else {}
    )
    for n in range(args.polls):
        polled += 60
        walked = walked_rows(args.ports, n + 2, args.down)  # built outside the timed part
        c0 = time.process_time()
        rows = rows_from_walks([walked])
        c1 = time.process_time()
        if args.first_polls:  # the same states each time, as the database holds them
            out = poll_ports(DEVICE_ID, read_back, rows, polled=polled)
            c3 = time.process_time()
            cpu_rows += c1 - c0
            cpu_check += c3 - c1
            continue
        states = frozen.states()
        c2 = time.process_time()
        out = poll_ports(DEVICE_ID, states, rows, polled=polled)
        c3 = time.process_time()
        frozen = PortTable.freeze(out.states, out.metrics)
        c4 = time.process_time()
        cpu_rows += c1 - c0
        cpu_check += c3 - c2
        cpu_table += (c2 - c1) + (c4 - c3)
    return cpu_rows, cpu_check, cpu_table


if __name__ == "__main__":
    main()
