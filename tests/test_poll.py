"""The poll unit end to end: snmpsim agents (variant recordings in tmp) -> poll_device -> writer -> MariaDB.

Each variant recording is the same device at a later moment (or after a reboot); switching the device's
community between polls replays them in order with exact, known counter values and poll times.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from poller.checks.intervals import first_run_offset
from poller.checks.port_table import PortTable
from poller.model import Credentials
from poller.poll import load_state, poll_device
from poller.snmp.client import SnmpEngine
from poller.snmp.errors import SnmpTimeout
from poller.store.inventory import load_devices
from poller.store.librenms import LibreNMSWriter
from poller.store.tables import device_outages, devices, eventlog, ports, ports_statistics
from tests.support.agents import snmpsim
from tests.support.net import free_udp_port

pytestmark = [pytest.mark.mariadb, pytest.mark.snmpsim]
T0 = 1_700_000_000


def _recording(uptime_ticks: int, hc_in: int, in_errors: int, bcast: int, alias: str = "uplink") -> str:
    lines = {
        "1.3.6.1.2.1.1.2.0": "6|1.3.6.1.4.1.8072.3.2.10",
        "1.3.6.1.2.1.1.3.0": f"67|{uptime_ticks}",
        "1.3.6.1.2.1.1.5.0": "4|box",
        "1.3.6.1.2.1.2.2.1.2.1": "4|eth0",
        "1.3.6.1.2.1.2.2.1.3.1": "2|6",
        "1.3.6.1.2.1.2.2.1.4.1": "2|1500",
        "1.3.6.1.2.1.2.2.1.7.1": "2|1",
        "1.3.6.1.2.1.2.2.1.8.1": "2|1",
        "1.3.6.1.2.1.2.2.1.9.1": "67|100",
        "1.3.6.1.2.1.2.2.1.14.1": f"65|{in_errors}",
        "1.3.6.1.2.1.31.1.1.1.1.1": "4|eth0",
        "1.3.6.1.2.1.31.1.1.1.3.1": f"65|{bcast}",
        "1.3.6.1.2.1.31.1.1.1.6.1": f"70|{hc_in}",
        "1.3.6.1.2.1.31.1.1.1.15.1": "66|1000",
        "1.3.6.1.2.1.31.1.1.1.18.1": f"4|{alias}",
    }
    ordered = sorted(lines, key=lambda o: tuple(int(x) for x in o.split(".")))
    return "".join(f"{o}|{lines[o]}\n" for o in ordered)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    data = tmp_path_factory.mktemp("variants")
    (data / "t0.snmprec").write_text(_recording(100_000, 1_000_000, 4_294_967_000, 10))
    (data / "t30.snmprec").write_text(_recording(103_000, 1_300_000, 704, 40))  # Counter32 wrapped
    (data / "rebooted.snmprec").write_text(_recording(500, 50, 3, 1))
    (data / "renamed.snmprec").write_text(_recording(103_000, 1_300_000, 704, 40, alias="core link"))
    with snmpsim(Path(data), "t0", tmp_path_factory.mktemp("cache")) as a:
        yield a


def _device(url: str, port: int, device_id: int | None = None) -> int:
    eng = create_engine(url)
    with eng.begin() as c:
        dev = c.execute(
            devices.insert().values(
                **({"device_id": device_id} if device_id is not None else {}),
                hostname="127.0.0.1",
                community="t0",
                port=port,
                status=1,
                status_reason="",
                timeout=1,
                retries=1,
            )
        ).inserted_primary_key[0]
        pid = c.execute(
            ports.insert().values(device_id=dev, ifIndex=1, ifDescr="eth0", ifName="eth0")
        ).inserted_primary_key[0]
        c.execute(ports_statistics.insert().values(port_id=pid))
    eng.dispose()
    return int(dev)


def _load(url: str, threshold: int = 1, freeze: bool = False):
    eng = create_engine(url)
    with eng.connect() as c:
        records, problems = load_devices(c, default_timeout=0.3, default_retries=0)
        states = load_state(c, records, down_threshold=threshold, freeze=freeze)
    eng.dispose()
    assert not problems
    return records[0].device, states[records[0].device.device_id]


def _with_community(device, community: str, port: int | None = None):
    target = replace(device.target, credentials=Credentials(version="2c", community=community))
    if port is not None:
        target = replace(target, port=port)
    return replace(device, target=target)


def _port_row(url: str):
    eng = create_engine(url)
    with eng.connect() as c:
        row = (
            c.execute(
                select(ports, ports_statistics).join_from(
                    ports, ports_statistics, ports.c.port_id == ports_statistics.c.port_id
                )
            )
            .mappings()
            .one()
        )
    eng.dispose()
    return row


async def test_second_poll_gives_exact_delta_rate_prev_and_period_and_wrap(agent, librenms_url):
    _device(librenms_url, agent.port)
    device, state = _load(librenms_url)
    async with SnmpEngine() as snmp:
        with LibreNMSWriter(librenms_url) as w:
            w.submit(await poll_device(snmp, device, state, now=T0))
            w.submit(await poll_device(snmp, _with_community(device, "t30"), state, now=T0 + 30))
            assert w.flush(10)
    row = _port_row(librenms_url)
    assert (row["ifInOctets"], row["ifInOctets_prev"], row["ifInOctets_delta"], row["ifInOctets_rate"]) == (
        1_300_000,
        1_000_000,
        300_000,
        10_000,
    )
    assert (row["poll_time"], row["poll_prev"], row["poll_period"]) == (T0 + 30, T0, 30)
    # Counter32 wrap: 4294967000 -> 704 is +1000 (LibreNMS would store 0)
    assert (row["ifInErrors_prev"], row["ifInErrors_delta"], row["ifInErrors_rate"]) == (
        4_294_967_000,
        1000,
        33,
    )
    assert (row["ifInBroadcastPkts_delta"], row["ifInBroadcastPkts_rate"]) == (30, 1)


async def test_a_device_keeps_its_ports_frozen_between_polls(agent, librenms_url):
    _device(librenms_url, agent.port)
    device, state = _load(librenms_url, freeze=True)
    assert isinstance(state.ports, PortTable)
    async with SnmpEngine() as snmp:
        result = await poll_device(snmp, device, state, now=T0, freeze_ports=True)
    assert state.ports is result.port_table and isinstance(state.ports, PortTable)
    assert [p.ifIndex for p in result.port_table.metrics()] == [p.ifIndex for p in result.port_metrics]


class _WalkRecorder:
    """An SnmpEngine that notes how many thaws had happened at each table walk (and can fail the walks)."""

    def __init__(self, engine: SnmpEngine, thaws: list[int], fail_walks: bool = False) -> None:
        self.engine, self.thaws, self.fail_walks = engine, thaws, fail_walks
        self.thaws_at_walks: list[int] = []

    async def get(self, *args, **kwargs):
        return await self.engine.get(*args, **kwargs)

    async def walk_columns(self, *args, **kwargs):
        self.thaws_at_walks.append(len(self.thaws))
        if self.fail_walks:
            raise SnmpTimeout("no answer")
        return await self.engine.walk_columns(*args, **kwargs)


def _count_thaws(monkeypatch) -> list[int]:
    thaws: list[int] = []
    states = PortTable.states
    monkeypatch.setattr(PortTable, "states", lambda table: thaws.append(1) or states(table))
    return thaws


async def test_frozen_ports_are_thawed_once_after_the_walk_answers(agent, librenms_url, monkeypatch):
    _device(librenms_url, agent.port)
    device, state = _load(librenms_url, freeze=True)
    thaws = _count_thaws(monkeypatch)
    async with SnmpEngine() as snmp:
        recorder = _WalkRecorder(snmp, thaws)
        result = await poll_device(recorder, device, state, now=T0, freeze_ports=True)  # type: ignore[arg-type]
    assert recorder.thaws_at_walks and set(recorder.thaws_at_walks) == {0}
    assert len(thaws) == 1 and result.ports


async def test_a_failed_ports_walk_thaws_nothing_and_keeps_the_frozen_ports(agent, librenms_url, monkeypatch):
    _device(librenms_url, agent.port)
    device, state = _load(librenms_url, freeze=True)
    frozen = state.ports
    thaws = _count_thaws(monkeypatch)
    async with SnmpEngine() as snmp:
        recorder = _WalkRecorder(snmp, thaws, fail_walks=True)
        result = await poll_device(recorder, device, state, now=T0, freeze_ports=True)  # type: ignore[arg-type]
    assert recorder.thaws_at_walks == [0] and not thaws
    assert state.ports is frozen and not result.ports and result.metrics.error == "ports:timeout"


class _OverlapRecorder:
    """An SnmpEngine whose table walks take a little longer, noting the most of them running at once."""

    def __init__(self, engine: SnmpEngine) -> None:
        self.engine, self.running, self.most = engine, 0, 0

    async def get(self, *args, **kwargs):
        return await self.engine.get(*args, **kwargs)

    async def walk_columns(self, *args, **kwargs):
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.05)
            return await self.engine.walk_columns(*args, **kwargs)
        finally:
            self.running -= 1


async def test_port_walks_beyond_the_gates_slots_wait_for_one(agent, librenms_url):
    _device(librenms_url, agent.port)
    polls = [_load(librenms_url) for _ in range(3)]  # the same device three times, each with its own state
    gate = asyncio.Semaphore(1)
    async with SnmpEngine() as snmp:
        recorder = _OverlapRecorder(snmp)
        results = await asyncio.gather(
            *(poll_device(recorder, d, st, now=T0, walk_gate=gate) for d, st in polls)  # type: ignore[arg-type]
        )
    assert recorder.most == 1 and all(r.ports and r.metrics.error is None for r in results)
    assert not gate.locked()  # every slot given back


async def test_a_ports_walk_without_a_slot_by_the_deadline_fails_as_a_timeout_and_keeps_the_ports(
    agent, librenms_url
):
    _device(librenms_url, agent.port)
    device, state = _load(librenms_url)
    before = dict(state.ports)
    gate = asyncio.Semaphore(1)
    await gate.acquire()  # every slot taken
    async with SnmpEngine() as snmp:
        deadline = asyncio.get_running_loop().time() + 0.3
        result = await poll_device(snmp, device, state, now=T0, walk_gate=gate, deadline=deadline)
    assert result.metrics.reachable and result.metrics.up and result.metrics.error == "ports:timeout"
    assert not result.ports and state.ports == before


async def test_ports_not_frozen_are_kept_as_objects_and_polled_the_same(agent, librenms_url):
    _device(librenms_url, agent.port)
    device, state = _load(librenms_url)
    assert type(state.ports) is dict
    async with SnmpEngine() as snmp:
        await poll_device(snmp, device, state, now=T0, freeze_ports=False)
        second = await poll_device(
            snmp, _with_community(device, "t30"), state, now=T0 + 30, freeze_ports=False
        )
    assert type(state.ports) is dict and second.port_table is None
    assert second.ports[0].ports["ifInOctets_delta"] == 300_000


async def test_descriptive_columns_are_walked_at_the_details_interval_status_and_counters_every_poll(
    agent, librenms_url
):
    _device(librenms_url, agent.port, device_id=1)
    device, state = _load(librenms_url)
    renamed = _with_community(device, "renamed")
    async with SnmpEngine() as snmp:
        await poll_device(snmp, device, state, now=T0, details_interval=300)
        walked = state.details_walked
        between = await poll_device(snmp, renamed, state, now=T0 + 30, details_interval=300)
        after = await poll_device(snmp, renamed, state, now=walked + 300, details_interval=300)
    assert between.ports[0].ports["ifInOctets"] == 1_300_000  # counters: this poll's
    assert "ifAlias" not in between.ports[0].ports and not between.events  # the alias: not walked yet
    assert after.ports[0].ports["ifAlias"] == "core link"
    assert [e.message for e in after.events] == ["ifAlias: uplink -> core link"]


async def test_the_first_details_walk_counts_as_made_a_per_device_share_of_the_interval_earlier(
    agent, librenms_url
):
    # a fleet started at once then walks its details spread over the cycles, not all in the fifth
    _device(librenms_url, agent.port, device_id=1)
    device, state = _load(librenms_url)
    async with SnmpEngine() as snmp:
        await poll_device(snmp, device, state, now=T0, details_interval=300)
        assert state.details_walked == T0 - first_run_offset(1, 300)  # 185.4 s
        await poll_device(snmp, device, state, now=T0 + 120, details_interval=300)
    assert state.details_walked == T0 + 120  # walked again after 120 s, then every 300 s


async def test_reboot_logs_event_and_resets_counters_without_spike(agent, librenms_url):
    _device(librenms_url, agent.port)
    device, state = _load(librenms_url)
    async with SnmpEngine() as snmp:
        with LibreNMSWriter(librenms_url) as w:
            w.submit(await poll_device(snmp, _with_community(device, "t30"), state, now=T0))
            w.submit(await poll_device(snmp, _with_community(device, "rebooted"), state, now=T0 + 30))
            assert w.flush(10)
    row = _port_row(librenms_url)
    assert (row["ifInOctets"], row["ifInOctets_delta"], row["ifInOctets_rate"]) == (50, 0, 0)
    assert (row["ifInErrors_delta"], row["ifInErrors_rate"]) == (0, 0)  # not mistaken for a wrap
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        ev = c.execute(select(eventlog).where(eventlog.c.type == "reboot")).mappings().one()
        uptime = c.execute(select(devices.c.uptime)).scalar_one()
    eng.dispose()
    assert ev["message"] == "Device rebooted after 17 minutes 10 seconds -> 5s"
    assert (ev["severity"], ev["reference"]) == (4, "1030")
    assert uptime == 5


async def test_device_down_after_threshold_and_up_again_with_outage_and_eventlog(agent, librenms_url):
    dev_id = _device(librenms_url, agent.port)
    device, state = _load(librenms_url, threshold=2)
    dead = _with_community(device, "t0", port=free_udp_port())
    async with SnmpEngine() as snmp:
        with LibreNMSWriter(librenms_url) as w:
            first = await poll_device(snmp, dead, state, now=T0, down_threshold=2)
            assert not first.events and "status" not in first.device  # flapping: not down yet
            w.submit(first)
            w.submit(await poll_device(snmp, dead, state, now=T0 + 10, down_threshold=2))
            w.submit(await poll_device(snmp, device, state, now=T0 + 20, down_threshold=2))
            assert w.flush(10)
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        events = c.execute(
            select(eventlog.c.message, eventlog.c.type, eventlog.c.severity)
            .where(eventlog.c.type.in_(["up", "down"]))
            .order_by(eventlog.c.event_id)
        ).all()
        outages = c.execute(
            select(device_outages.c.device_id, device_outages.c.going_down, device_outages.c.up_again)
        ).all()
        status = c.execute(select(devices.c.status, devices.c.status_reason)).one()
    eng.dispose()
    assert [tuple(e) for e in events] == [
        ("Device status changed to Down from snmp check.", "down", 2),
        ("Device status changed to Up from snmp check.", "up", 2),
    ]
    assert [tuple(o) for o in outages] == [(dev_id, T0, T0 + 20)]
    assert tuple(status) == (1, "")


async def test_poll_once_polls_the_bgp_peers_librenms_discovered(shared_snmpsim, librenms_url):
    from poller.poll import poll_once
    from tests.support.librenms_rows import insert_device, insert_edgeos_bgp_peer, query

    device_id = insert_device(librenms_url, community="edgeos", port=shared_snmpsim.port, timeout=2)
    insert_edgeos_bgp_peer(librenms_url, device_id)
    results, problems = await poll_once(librenms_url, [str(device_id)], default_timeout=2)
    assert not problems and results[0].metrics is not None and results[0].metrics.reachable
    sql = "SELECT bgpPeerState, bgpPeerInTotalMessages FROM bgpPeers WHERE device_id = :d"
    peer = query(librenms_url, sql, d=device_id)[0]
    assert (peer["bgpPeerState"], peer["bgpPeerInTotalMessages"]) == ("established", 3134)
