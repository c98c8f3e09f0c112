"""benchmarks.pipeline's set-up rows: ports as LibreNMS's discovery or its poller leaves them."""

from benchmarks.pipeline import port_rows, simulated_raw
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
