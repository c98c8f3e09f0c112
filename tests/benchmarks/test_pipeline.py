"""benchmarks.pipeline's set-up rows (ports as LibreNMS's discovery or its poller leaves them), and what
lets several pipelines run as one cluster: the barrier."""

import asyncio
from pathlib import Path

import pytest

from benchmarks.pipeline import barrier, port_rows, simulated_raw
from poller.checks.ports import PortState, poll_ports
from poller.checks.results import PortRef
from poller.sim.generate import generate_fleet


def _first_poll_events(polled: bool) -> list[str]:
    (device,) = generate_fleet(1, 8, seed=3, base_address="127.26.0.1", port=1161)
    rows = port_rows([device], polled=polled)
    stored = {r["ifIndex"]: PortState(PortRef(1, r["ifIndex"], r["port_id"]), r) for r in rows}
    raw = {p.if_index: simulated_raw(p) for p in device.ports()}
    return [e.message for e in poll_ports(1, stored, raw, polled=1_000).events]


def test_ports_as_discovered_leave_every_data_column_to_the_first_poll():
    assert len(_first_poll_events(polled=False)) >= 8


def test_ports_as_polled_give_a_first_poll_without_data_changes():
    assert _first_poll_events(polled=True) == []


async def test_the_barrier_lets_instances_on_only_once_every_one_has_arrived(tmp_path: Path) -> None:
    spec = {"dir": str(tmp_path), "parties": 2}
    first = asyncio.create_task(barrier({**spec, "name": "0"}, "window"))
    await asyncio.sleep(0.1)
    assert not first.done()  # waits for the second instance
    await asyncio.wait_for(barrier({**spec, "name": "1"}, "window"), 2)
    await asyncio.wait_for(first, 2)


async def test_the_barrier_stops_waiting_when_another_instance_failed(tmp_path: Path) -> None:
    (tmp_path / "failed.1").touch()
    with pytest.raises(RuntimeError, match="another instance failed"):
        await asyncio.wait_for(barrier({"dir": str(tmp_path), "parties": 2, "name": "0"}, "window"), 2)


async def test_without_a_barrier_a_lone_pipeline_goes_straight_on() -> None:
    await asyncio.wait_for(barrier(None, "window"), 1)
