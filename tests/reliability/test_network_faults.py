"""Network faults, proved: the engine and poll_device against simulated agents behind a fault proxy.

Agents are poller.sim responders (in-process, generated devices with 8 ports) on loopback; faults are
injected by tests.support.udp_faults (no netem on this kernel). Values polled are compared with what the
simulated device holds (sysName, ifDescr, ifName: static columns). Bounds are generous: a good poll must
end before a bad device's timeout, never within a few milliseconds of anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from poller.checks.availability import initial_state
from poller.model import Credentials, Device, Target
from poller.poll import DeviceState, poll_device
from poller.sim.generate import SimDevice, fleet_agents, generate_fleet
from poller.sim.responder import Responder, SimAgent
from poller.snmp.client import SnmpEngine
from poller.snmp.errors import SnmpError, SnmpTimeout
from tests.support.udp_faults import Faults, UdpFaultProxy

SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
PORTS = 8


@dataclass(frozen=True)
class SimHost:
    device: SimDevice
    port: int  # where its responder socket listens

    @property
    def address(self) -> tuple[str, int]:
        return (self.device.host, self.port)

    def target(self, address: tuple[str, int] | None = None, *, timeout: float, retries: int) -> Target:
        host, port = address or self.address
        creds = Credentials("2c", self.device.community)
        return Target(host, port, credentials=creds, timeout=timeout, retries=retries)

    def expected(self) -> tuple[bytes, dict[tuple[int, ...], bytes], dict[tuple[int, ...], bytes]]:
        ports = self.device.ports()
        return (
            self.device.sys_name.encode(),
            {(p.if_index,): p.descr.encode() for p in ports},
            {(p.if_index,): p.name.encode() for p in ports},
        )


@pytest.fixture
async def hosts() -> AsyncIterator[list[SimHost]]:
    fleet = generate_fleet(24, PORTS, seed=5, base_address="127.31.0.1", port=0)
    agents: list[SimAgent] = fleet_agents(fleet)
    async with Responder(agents):
        yield [SimHost(d, a.port) for d, a in zip(fleet, agents, strict=True)]


async def poll_static(engine: SnmpEngine, target: Target, deadline: float):
    """sysName and the ifDescr/ifName columns: what the device holds, or an SnmpError."""
    (name,) = await engine.get(target, [SYS_NAME], deadline=deadline)
    table = await engine.walk_table(target, [IF_DESCR, IF_NAME], deadline=deadline)
    return name.value, table[IF_DESCR], table[IF_NAME]


def fresh_state() -> DeviceState:
    return DeviceState(availability=initial_state(True, "", threshold=1), has_ports=True)


# ---------------------------------------------------------------------------------------- loss


async def test_under_30_percent_loss_polls_complete_with_the_right_values_or_time_out_by_the_deadline(
    hosts: list[SimHost],
) -> None:
    lossy = hosts[:6]
    loop = asyncio.get_running_loop()
    async with (
        UdpFaultProxy([h.address for h in lossy], Faults(loss=0.3), seed=30) as proxy,
        SnmpEngine() as engine,
    ):

        async def rounds(i: int, host: SimHost) -> list[str]:
            target = host.target(proxy.address(i), timeout=0.25, retries=5)
            outcomes = []
            for _ in range(4):
                deadline = loop.time() + 3.0
                try:
                    got = await poll_static(engine, target, deadline)
                except SnmpTimeout:
                    assert loop.time() < deadline + 0.5  # failed by the device deadline
                    outcomes.append("timeout")
                    continue
                assert got == host.expected()
                outcomes.append("ok")
            return outcomes

        results = await asyncio.gather(*(rounds(i, h) for i, h in enumerate(lossy)))
        assert engine.in_flight == 0
        retries = sum(engine.device_stats(h.target(proxy.address(i), timeout=0.25, retries=5)).retries
                      for i, h in enumerate(lossy))  # fmt: skip
    flat = [o for r in results for o in r]
    assert flat.count("ok") >= len(flat) // 2, flat  # six attempts per request: most polls complete
    assert proxy.stats.dropped > 0 and retries > 0  # the loss was real and was retried


async def test_under_30_percent_loss_poll_device_reports_the_device_up_with_its_ports_or_down_by_timeout(
    hosts: list[SimHost],
) -> None:
    lossy = hosts[:4]
    loop = asyncio.get_running_loop()
    async with (
        UdpFaultProxy([h.address for h in lossy], Faults(loss=0.3), seed=31) as proxy,
        SnmpEngine() as engine,
    ):

        async def poll(i: int, host: SimHost):
            target = host.target(proxy.address(i), timeout=0.25, retries=5)
            device = Device(i + 1, host.device.host, target)
            deadline = loop.time() + 4.0
            result = await poll_device(engine, device, fresh_state(), now=1e9, deadline=deadline)
            assert loop.time() < deadline + 0.5
            return host, result

        polled = await asyncio.gather(*(poll(i, h) for i, h in enumerate(lossy)))
        assert engine.in_flight == 0
    for host, result in polled:
        m = result.metrics
        assert m is not None
        if not m.reachable:
            assert m.error == "timeout"
            continue
        if m.error is None:  # the walk completed too: every port, named as the device names it
            _, descr, names = host.expected()
            assert {(p.ifIndex,): p.ifDescr.encode() for p in result.port_metrics} == descr
            assert {(p.ifIndex,): p.ifName.encode() for p in result.port_metrics} == names
        else:
            assert m.error == "ports:timeout"


# ---------------------------------------------------------------------------------------- latency


async def test_a_2_second_path_is_polled_when_the_timeout_is_above_it(hosts: list[SimHost]) -> None:
    host = hosts[0]
    loop = asyncio.get_running_loop()
    async with (
        UdpFaultProxy([host.address], Faults(delay=2.0, direction="reply")) as proxy,
        SnmpEngine() as engine,
    ):
        start = loop.time()
        (name,) = await engine.get(host.target(proxy.address(), timeout=3.0, retries=0), [SYS_NAME])
        assert loop.time() - start >= 2.0  # the delay was real
        assert name.value == host.device.sys_name.encode()
        assert engine.in_flight == 0


async def test_a_2_second_path_fails_by_the_deadline_when_the_timeout_is_below_it(
    hosts: list[SimHost],
) -> None:
    host = hosts[0]
    loop = asyncio.get_running_loop()
    async with (
        UdpFaultProxy([host.address], Faults(delay=2.0, direction="reply")) as proxy,
        SnmpEngine() as engine,
    ):
        deadline = loop.time() + 1.5
        with pytest.raises(SnmpTimeout):
            await engine.get(
                host.target(proxy.address(), timeout=1.0, retries=5), [SYS_NAME], deadline=deadline
            )
        assert loop.time() < deadline + 0.5
        assert engine.in_flight == 0
        await asyncio.sleep(1.0)  # the late answers arrive, are dropped and counted
        assert engine.stats.dropped_unknown_id >= 1
        assert engine.in_flight == 0


async def test_a_retry_still_takes_the_late_answer_to_the_first_attempt(hosts: list[SimHost]) -> None:
    # Retransmissions keep the request-id (as net-snmp's do): a 2 s path answers a 1.5 s x 2 attempts
    # request at ~2 s, with the first attempt's reply, instead of failing.
    host = hosts[0]
    async with (
        UdpFaultProxy([host.address], Faults(delay=2.0, direction="reply")) as proxy,
        SnmpEngine() as engine,
    ):
        target = host.target(proxy.address(), timeout=1.5, retries=1)
        (name,) = await engine.get(target, [SYS_NAME])
        assert name.value == host.device.sys_name.encode()
        stats = engine.device_stats(target)
        assert stats is not None and stats.retries == 1 and stats.timeouts == 0


# ------------------------------------------------------------------------------- duplicates, corruption


async def test_duplicated_datagrams_give_the_right_values_and_the_extra_replies_are_dropped_and_counted(
    hosts: list[SimHost],
) -> None:
    host = hosts[0]
    loop = asyncio.get_running_loop()
    async with (
        UdpFaultProxy([host.address], Faults(duplicate=1.0, jitter=0.02), seed=2) as proxy,
        SnmpEngine() as engine,
    ):
        target = host.target(proxy.address(), timeout=1.0, retries=2)
        for _ in range(3):
            assert await poll_static(engine, target, loop.time() + 5) == host.expected()
        await asyncio.sleep(0.2)  # the last duplicates land
        assert engine.in_flight == 0
        requests = engine.device_stats(target).requests
        # every request reached the agent twice and every reply came back twice: 3 extra per request
        assert engine.stats.dropped_unknown_id == 3 * requests
    assert proxy.stats.duplicated == 3 * requests  # each request, and both answers to it


async def test_corrupted_replies_are_dropped_and_counted_and_the_poll_still_gets_the_right_values(
    hosts: list[SimHost],
) -> None:
    # Flips within the envelope (length, version, community, PDU tag, request-id): what SNMP can notice.
    # A flip inside a value passes unnoticed in v2c (no integrity check): UDP's checksum is the guard there.
    host = hosts[0]
    loop = asyncio.get_running_loop()
    faults = Faults(corrupt=0.4, corrupt_span=22, direction="reply")
    async with UdpFaultProxy([host.address], faults, seed=9) as proxy, SnmpEngine() as engine:
        target = host.target(proxy.address(), timeout=0.2, retries=5)
        outcomes = []
        for _ in range(5):
            try:
                outcomes.append(await poll_static(engine, target, loop.time() + 5) == host.expected())
            except SnmpTimeout:
                outcomes.append("timeout")
        assert engine.in_flight == 0
        dropped = engine.stats.dropped_malformed + engine.stats.dropped_unknown_id
    assert proxy.stats.corrupted > 0
    assert dropped == proxy.stats.corrupted  # every corrupted reply was dropped, none accepted
    assert all(o is True for o in outcomes), outcomes


async def test_random_corruption_either_way_never_lets_anything_but_an_snmp_error_escape(
    hosts: list[SimHost],
) -> None:
    host = hosts[0]
    loop = asyncio.get_running_loop()
    faults = Faults(corrupt=0.3, corrupt_bytes=2, duplicate=0.2, loss=0.05)
    async with UdpFaultProxy([host.address], faults, seed=11) as proxy, SnmpEngine() as engine:
        target = host.target(proxy.address(), timeout=0.2, retries=3)
        for _ in range(12):
            try:
                await poll_static(engine, target, loop.time() + 3)
            except SnmpError:
                pass
        assert engine.in_flight == 0
    assert proxy.stats.corrupted > 0


# ---------------------------------------------------------------------------------------- isolation


async def test_black_holed_and_2_second_devices_never_slow_the_good_ones(hosts: list[SimHost]) -> None:
    good, holed, slow = hosts[:18], hosts[18:21], hosts[21:24]
    bad = holed + slow
    loop = asyncio.get_running_loop()
    async with (
        UdpFaultProxy([h.address for h in holed], Faults(blackhole=True)) as hole,
        UdpFaultProxy([h.address for h in slow], Faults(delay=3.0, direction="reply")) as late,
        SnmpEngine() as engine,
    ):
        bad_timeout = 2.0
        finished: dict[int, float] = {}

        async def poll(device_id: int, target: Target):
            device = Device(device_id, target.host, target)
            result = await poll_device(engine, device, fresh_state(), now=1e9, deadline=loop.time() + 10)
            finished[device_id] = loop.time()
            return result

        start = loop.time()
        bad_targets = [h.target(hole.address(i), timeout=bad_timeout, retries=0) for i, h in enumerate(holed)]
        bad_targets += [h.target(late.address(i), timeout=bad_timeout, retries=0) for i, h in enumerate(slow)]
        tasks = [poll(100 + i, t) for i, t in enumerate(bad_targets)]
        tasks += [poll(i, h.target(timeout=bad_timeout, retries=0)) for i, h in enumerate(good)]
        results = await asyncio.gather(*tasks)
        assert engine.in_flight == 0
    bad_results, good_results = results[: len(bad)], results[len(bad) :]
    assert all(r.metrics and not r.metrics.reachable and r.metrics.error == "timeout" for r in bad_results)
    for host, r in zip(good, good_results, strict=True):
        assert r.metrics and r.metrics.reachable and r.metrics.error is None
        assert {(p.ifIndex,): p.ifName.encode() for p in r.port_metrics} == host.expected()[2]
    good_done = max(finished[i] for i in range(len(good)))
    bad_done = min(finished[100 + i] for i in range(len(bad)))
    assert (
        good_done < start + bad_timeout <= bad_done + 0.05
    )  # every good poll ended before any bad timed out


# ---------------------------------------------------------------------------------------- GETBULK size


def walk_requests(engine: SnmpEngine, target: Target) -> int:
    stats = engine.device_stats(target)
    return stats.requests if stats else 0


async def test_behind_a_path_mtu_black_hole_walks_shrink_their_getbulks_and_return_every_row(
    hosts: list[SimHost],
) -> None:
    host = hosts[0]
    loop = asyncio.get_running_loop()
    async with (
        UdpFaultProxy([host.address], Faults(max_size=500, direction="reply")) as proxy,
        SnmpEngine() as engine,
    ):
        target = host.target(proxy.address(), timeout=0.2, retries=1)
        assert await poll_static(engine, target, loop.time() + 10) == host.expected()
        assert proxy.stats.dropped > 0  # the big answers did vanish


async def test_a_device_gone_silent_mid_walk_teaches_the_engine_nothing_about_getbulk_size(
    hosts: list[SimHost],
) -> None:
    host = hosts[0]
    loop = asyncio.get_running_loop()
    async with UdpFaultProxy([host.address]) as proxy, SnmpEngine() as engine:
        target = host.target(proxy.address(), timeout=0.1, retries=1)
        before = walk_requests(engine, target)
        await poll_static(engine, target, loop.time() + 5)
        clean = walk_requests(engine, target) - before
        proxy.set_faults(Faults(blackhole=True))
        with pytest.raises(SnmpTimeout):
            await engine.walk_table(target, [IF_DESCR, IF_NAME], deadline=loop.time() + 5)
        proxy.set_faults(Faults())
        before = walk_requests(engine, target)
        assert await poll_static(engine, target, loop.time() + 5) == host.expected()
        assert walk_requests(engine, target) - before == clean


async def test_getbulk_size_learnt_behind_a_passing_mtu_black_hole_grows_back_once_it_is_gone(
    hosts: list[SimHost],
) -> None:
    host = hosts[0]
    loop = asyncio.get_running_loop()
    async with UdpFaultProxy([host.address]) as proxy, SnmpEngine() as engine:
        target = host.target(proxy.address(), timeout=0.1, retries=0)
        before = walk_requests(engine, target)
        await poll_static(engine, target, loop.time() + 5)
        clean = walk_requests(engine, target) - before
        proxy.set_faults(Faults(max_size=300, direction="reply"))
        await poll_static(engine, target, loop.time() + 5)  # learns small GETBULKs
        proxy.set_faults(Faults())
        before = walk_requests(engine, target)
        await poll_static(engine, target, loop.time() + 5)
        assert walk_requests(engine, target) - before > clean  # still small right after
        for _ in range(100):
            before = walk_requests(engine, target)
            assert await poll_static(engine, target, loop.time() + 5) == host.expected()
        assert walk_requests(engine, target) - before == clean  # back to full size
