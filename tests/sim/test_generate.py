"""Synthetic devices: deterministic, three kinds, full IF-MIB tables, counters that grow."""

from __future__ import annotations

import pytest

from poller.model import Target
from poller.sim.generate import FaultPlan, fleet_agents, generate_fleet
from poller.sim.responder import Responder
from poller.snmp.client import SnmpEngine

IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
IF_IN = "1.3.6.1.2.1.2.2.1.10"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"


def test_same_seed_gives_the_same_fleet_and_tables() -> None:
    a, b = generate_fleet(20, 8, seed=7), generate_fleet(20, 8, seed=7)
    assert a == b
    assert a[3].table().items == b[3].table().items


def test_another_seed_gives_other_devices() -> None:
    one, two = generate_fleet(5, 8, seed=1)[1], generate_fleet(5, 8, seed=2)[1]
    assert (one.uptime0, one.ports()) != (two.uptime0, two.ports())


def test_devices_get_consecutive_loopback_addresses() -> None:
    fleet = generate_fleet(300, 4, base_address="127.30.0.250")
    assert [d.host for d in fleet[:7]] == [f"127.30.{x}" for x in ("0.250", "0.251", "0.252", "0.253",
                                                                    "0.254", "0.255", "1.0")]  # fmt: skip


def test_addresses_outside_loopback_are_refused() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        generate_fleet(3, 4, base_address="10.0.0.1")


def test_all_three_kinds_have_their_own_identity() -> None:
    fleet = generate_fleet(3, 8, kinds=("edge-router", "access-switch", "radio"))
    assert len({d.sys_object_id for d in fleet}) == 3
    assert all(d.sys_object_id.startswith("1.3.6.1.4.1.32473.") for d in fleet)
    assert [d.sys_descr.split()[0] for d in fleet] == ["Korvid", "Tessellate", "Airlume"]


def test_every_device_has_p_interfaces_with_unique_if_index() -> None:
    for device in generate_fleet(3, 48, kinds=("edge-router", "access-switch", "radio")):
        ports = device.ports()
        assert len(ports) == 48
        assert len({p.if_index for p in ports}) == 48


def test_hc_counter_grows_at_the_port_rate_and_the_32_bit_view_wraps() -> None:
    device = generate_fleet(1, 48, kinds=("edge-router",))[0]
    table = device.table()
    busy = max(range(48), key=lambda k: table.state.in_rate[k])
    port = device.ports()[busy]
    hc = table.layout.position[_content(f"{IF_HC_IN}.{port.if_index}")]
    c32 = table.layout.position[_content(f"{IF_IN}.{port.if_index}")]
    (_, v0), (_, v60) = table.value(hc, 0.0), table.value(hc, 60.0)
    assert v60 - v0 == pytest.approx(port.in_rate * 60, abs=2)
    assert table.value(c32, 60.0)[1] == v60 % 2**32


def test_default_fault_plan_has_a_few_slow_and_dead_devices_and_one_that_flaps() -> None:
    fleet = generate_fleet(1000, 4, faults=True)
    kinds = [d.fault.kind for d in fleet if d.fault]
    assert kinds.count("flap") == 1
    assert kinds.count("timeout") >= 1 and kinds.count("slow") >= 1
    assert fleet[0].fault is None


def test_a_fault_plan_bigger_than_the_fleet_is_refused() -> None:
    with pytest.raises(ValueError, match="fault plan"):
        generate_fleet(3, 4, faults=FaultPlan(timeout=5))


async def test_a_generated_fleet_answers_the_engine_per_address() -> None:
    fleet = generate_fleet(3, 12, base_address="127.31.0.1", port=0)
    agents = fleet_agents(fleet)
    async with Responder(agents), SnmpEngine() as engine:
        tables = []
        for agent in agents:
            tables.append(await engine.walk_table(Target(agent.host, agent.port), [IF_NAME, IF_HC_IN]))
    for device, table in zip(fleet, tables, strict=True):
        names = {(p.if_index,): p.name.encode() for p in device.ports()}
        assert table[IF_NAME] == names
        assert len(table[IF_HC_IN]) == 12


def _content(oid: str) -> bytes:
    from poller.snmp.ber import oid_content

    return oid_content(oid)
