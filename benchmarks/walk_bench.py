"""CPU of a ports walk's answers on their way to the ports check's rows, replayed from one device's answers.

    .venv/bin/python -m benchmarks.walk_bench [--ports 48] [--reps 300] [--rounds 9]

Polls one simulated device (``poller.sim``, on 127.0.0.1) with ``poll_device`` twice, recording every
answer ``collect_columns`` is given: the first poll walks every port column (the full walk, as a device's
details walk does), the second only status and counters (the measured walk, four polls in five). Then it
replays each walk's answers in-process, no I/O, two ways, taking turns:

- ``columns``: each answer's cells into their columns' dicts, then ``rows_from_table`` (as ``walk_table``
  callers do, and the ports check did before ``walk_columns``);
- ``rows``: whole rows kept as RowBlocks, then ``rows_from_walks`` (what ``poll_device`` runs).

Both must give the same rows (checked). Reported: the best round's mean time per walk, for each way
(wall time of a CPU-bound loop, best of ``--rounds``: the machine may be busy with other work).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

from poller.checks.ports import rows_from_table, rows_from_walks
from poller.model import Credentials, Device, Target
from poller.poll import new_state, poll_device
from poller.sim.generate import fleet_agents, generate_fleet
from poller.sim.responder import Responder
from poller.snmp import client
from poller.snmp.client import SnmpEngine
from poller.snmp.pdu import ColumnProgress, Pdu, RowBlock, Walked, collect_columns

# One recorded answer: its varbinds' buffer and bounds, the columns asked (OIDs and their prefixes).
Answer = tuple[bytes, int, int, tuple[str, ...], tuple[bytes, ...]]


class _Answer:
    """The three attributes collect_columns reads of a Pdu."""

    __slots__ = ("buf", "vb_end", "vb_start")

    def __init__(self, buf: bytes, vb_start: int, vb_end: int) -> None:
        self.buf, self.vb_start, self.vb_end = buf, vb_start, vb_end


async def record(ports: int) -> dict[str, list[Answer]]:
    """The answers of one device's full walk and of its measured walk, in the order they came."""
    answers: list[Answer] = []

    def recording(pdu: Pdu, columns: list[ColumnProgress], *args: Any) -> int:
        oids, prefixes = tuple(c.oid for c in columns), tuple(c.prefix for c in columns)
        answers.append((bytes(pdu.buf), pdu.vb_start, pdu.vb_end, oids, prefixes))
        return collect_columns(pdu, columns, *args)

    fleet = generate_fleet(1, ports, seed=1, base_address="127.0.0.1", port=0)
    agents = fleet_agents(fleet)
    walks: dict[str, list[Answer]] = {}
    saved = client.collect_columns
    client.collect_columns = recording  # the engine's one call site, for the two polls only
    try:
        async with Responder(agents), SnmpEngine() as engine:
            credentials = Credentials("2c", fleet[0].community)
            device = Device(1, "walk-bench", Target("127.0.0.1", agents[0].port, credentials=credentials))
            state = new_state(True, "", freeze=True)
            state.has_ports = True
            now = time.time()
            for name in ("full", "measured"):
                answers.clear()
                await poll_device(engine, device, state, now=now, details_interval=300, freeze_ports=True)
                walks[name] = list(answers)
                now += 60
    finally:
        client.collect_columns = saved
    return walks


def replay(answers: list[Answer], blocks: list[RowBlock] | None) -> Walked:
    """The walk's answers into ColumnProgresses (and ``blocks``, if given), as _Walk.take gives them."""
    columns: dict[str, ColumnProgress] = {}
    for buf, start, end, oids, prefixes in answers:
        active = []
        for oid, prefix in zip(oids, prefixes, strict=True):
            column = columns.get(oid)
            if column is None:
                column = columns[oid] = ColumnProgress(oid, prefix, {})
            active.append(column)
        collect_columns(_Answer(buf, start, end), active, prefixes, blocks)  # type: ignore[arg-type]
    return Walked({oid: c.values for oid, c in columns.items()}, blocks if blocks is not None else [])


def via_columns(answers: list[Answer]) -> dict[int, dict[str, Any]]:
    return rows_from_table(replay(answers, None).table())


def via_rows(answers: list[Answer]) -> dict[int, dict[str, Any]]:
    return rows_from_walks([replay(answers, [])])


def best_of(fn: Callable[[list[Answer]], object], answers: list[Answer], reps: int) -> float:
    started = time.perf_counter()
    for _ in range(reps):
        fn(answers)
    return (time.perf_counter() - started) / reps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ports", type=int, default=48)
    parser.add_argument("--reps", type=int, default=300, help="replays of a walk per round")
    parser.add_argument("--rounds", type=int, default=9, help="rounds of each way, taking turns")
    args = parser.parse_args(argv)
    walks = asyncio.run(record(args.ports))
    for name, answers in walks.items():
        rows = via_rows(answers)
        if rows != via_columns(answers) or len(rows) != args.ports:
            raise SystemExit(f"{name} walk: the two ways disagree, or not every port has a row")
        times: dict[str, list[float]] = {"columns": [], "rows": []}
        for _ in range(args.rounds):
            times["columns"].append(best_of(via_columns, answers, args.reps))
            times["rows"].append(best_of(via_rows, answers, args.reps))
        before, after = min(times["columns"]), min(times["rows"])
        print(
            f"{name} walk ({len(answers[0][3])} columns, {len(answers)} answers, {args.ports} ports): "
            f"columns {before * 1000:.3f} ms, rows {after * 1000:.3f} ms ({after / before:.2f}x)"
        )


if __name__ == "__main__":
    main()
