"""CPU cost per OID of the sensors check, beside the ports check's cost per varbind (no I/O).

    .venv/bin/python -m benchmarks.sensors_bench [--polls 2000] [--repeat 5]

The sensors are every pollable sensor LibreNMS discovered on the shared recordings
(``../shared/librenms-data/*.json``, ``sensors.discovery``); each poll answers their stored OIDs with the
recording's own values (``../shared/snmprec``): steady (the same answers every poll, as most sensors hold
still between fast polls) and changing (every integer answer moves on every poll: an update row and the
threshold checks for each, the worst case). Timed: the pure part
the daemon runs per device-poll, ``snmp_text`` of each answer + ``poll_sensors``. Beside it, the ports
check on a 48-port poll (``benchmarks.checks_bench``), divided by the varbinds that poll carries.
CPU is ``time.process_time``; the median of ``--repeat`` blocks is reported (the machine may be busy).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchmarks import checks_bench
from poller.checks.librenms_number import snmp_text
from poller.checks.ports import poll_ports, rows_from_table
from poller.checks.sensors import SensorRow, poll_sensors
from poller.sim.snmprec import read_snmprec
from poller.snmp.values import VarBind

SHARED = Path(os.environ.get("FASTPOLL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
_ROW_FIELDS = set(SensorRow.__dataclass_fields__) - {"sensor_id", "device_id", "states"}


def shared_sensors() -> tuple[list[SensorRow], dict[str, VarBind]]:
    """Every pollable discovered sensor of the shared recordings, and its recorded answer."""
    rows: list[SensorRow] = []
    answers: dict[str, VarBind] = {}
    for device_id, path in enumerate(sorted((SHARED / "librenms-data").glob("*.json")), 1):
        data = json.loads(path.read_text())
        discovered = data.get("sensors", {}).get("discovery", {}).get("sensors", [])
        if not discovered:
            continue
        recorded = {r.oid_str: r for r in read_snmprec(SHARED / "snmprec" / f"{path.stem}.snmprec")}
        for row in discovered:
            oid = row["sensor_oid"].lstrip(".")
            rec = recorded.get(oid)
            if rec is None or rec.value is None or row["poller_type"] != "snmp":
                continue
            values = {k: v for k, v in row.items() if k in _ROW_FIELDS and v is not None}
            rows.append(SensorRow(sensor_id=len(rows) + 1, device_id=device_id, **values))
            answers[row["sensor_oid"]] = VarBind(oid, rec.tag, rec.value)
    return rows, answers


def _moved(vb: VarBind) -> VarBind:
    return VarBind(vb.oid, vb.tag, vb.value + 1) if isinstance(vb.value, int) else vb


def sensors_block(rows: list[SensorRow], answers: dict[str, VarBind], polls: int, *, changing: bool) -> float:
    """CPU seconds of ``polls`` polls of every sensor (after one first poll)."""
    variants = [answers, {oid: _moved(vb) for oid, vb in answers.items()} if changing else answers]
    rows, _, _ = poll_sensors(rows, {oid: snmp_text(vb) for oid, vb in answers.items()}, checks_bench.T0)
    cpu = 0.0
    polled = checks_bench.T0
    for n in range(polls):
        got = variants[n % 2]
        polled += 30
        c0 = time.process_time()
        texts = {oid: snmp_text(vb) for oid, vb in got.items()}
        rows, _, _ = poll_sensors(rows, texts, polled)
        cpu += time.process_time() - c0
    return cpu


def ports_block(polls: int) -> tuple[float, int]:
    """CPU seconds of ``polls`` steady-state 48-port polls, and the varbinds one such poll carries."""
    first = rows_from_table(checks_bench.walked_table(checks_bench.PORTS, 1))
    states = poll_ports(
        checks_bench.DEVICE_ID, checks_bench.stored_ports(checks_bench.PORTS), first, polled=1
    ).states
    varbinds = 0
    cpu = 0.0
    for n in range(polls):
        table = checks_bench.walked_table(checks_bench.PORTS, n + 2)
        varbinds = sum(len(column) for column in table.values())
        c0 = time.process_time()
        out = poll_ports(checks_bench.DEVICE_ID, states, rows_from_table(table), polled=60 * (n + 2))
        cpu += time.process_time() - c0
        states = out.states
    return cpu, varbinds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--polls", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows, answers = shared_sensors()
    if not rows:
        raise SystemExit(f"no discovered sensors found under {SHARED}")

    def per_oid(changing: bool) -> float:
        blocks = sorted(
            sensors_block(rows, answers, args.polls, changing=changing) / (args.polls * len(rows))
            for _ in range(args.repeat)
        )
        return 1e6 * blocks[len(blocks) // 2]

    steady_us, changing_us = per_oid(False), per_oid(True)
    port_polls = max(1, args.polls // 10)
    per_varbind = []
    for _ in range(args.repeat):
        cpu, varbinds = ports_block(port_polls)
        per_varbind.append(cpu / (port_polls * varbinds))
    per_varbind.sort()
    port_us = 1e6 * per_varbind[len(per_varbind) // 2]
    devices = len({r.device_id for r in rows})
    print(f"{len(rows)} sensors from {devices} shared recordings, CPU, median of {args.repeat} blocks:")
    print(
        f"  sensors check, steady:   {steady_us:.2f} us per OID ({steady_us / port_us:.2f}x the ports check)"
    )
    print(f"  sensors check, changing: {changing_us:.2f} us per OID ({changing_us / port_us:.2f}x)")
    print(f"  ports check:             {port_us:.2f} us per varbind")


if __name__ == "__main__":
    main()
