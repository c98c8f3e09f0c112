"""DiscoveredChecks: one GET of the stored OIDs of the checks due on this poll, rows kept between polls."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from poller.checks.fastpath import DiscoveredChecks
from poller.model import Device, Target
from poller.snmp.values import Tag, VarBind
from poller.store.discovered import bgp_peers, processors
from poller.store.embedded import create_embedded

CPU_OID = ".1.3.6.1.2.1.25.3.3.1.2.1"
PEER = "192.0.2.1"
BGP = "1.3.6.1.2.1.15.3.1"
AGENT: dict[str, VarBind] = {
    CPU_OID.lstrip("."): VarBind(CPU_OID.lstrip("."), Tag.INTEGER, 42),
    f"{BGP}.2.{PEER}": VarBind(f"{BGP}.2.{PEER}", Tag.INTEGER, 6),
    f"{BGP}.3.{PEER}": VarBind(f"{BGP}.3.{PEER}", Tag.INTEGER, 2),
    f"{BGP}.16.{PEER}": VarBind(f"{BGP}.16.{PEER}", Tag.GAUGE32, 600),
}
DEVICE = Device(1, "r1", Target("127.0.0.1"))


class FakeAgent:
    """Answers GETs from AGENT (noSuchInstance otherwise) and records what was asked."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def get(
        self, target: Target, oids: Sequence[str], *, deadline: float | None = None
    ) -> list[VarBind]:
        self.asked.append(list(oids))
        return [AGENT.get(o, VarBind(o, Tag.NO_SUCH_INSTANCE, None)) for o in oids]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    engine = create_embedded(tmp_path / "fastpoll.sqlite")
    with engine.begin() as conn:
        conn.execute(
            insert(processors).values(
                device_id=1,
                processor_oid=CPU_OID,
                processor_precision=1,
                processor_usage=0,
                processor_descr="cpu",
            )
        )
        conn.execute(
            insert(bgp_peers).values(
                device_id=1,
                bgpPeerIdentifier=PEER,
                bgpPeerRemoteAs=64500,
                bgpPeerState="idle",
                bgpPeerAdminStatus="stop",
                bgpLocalAddr="",
                bgpPeerDescr="",
                bgpPeerInUpdates=0,
                bgpPeerOutUpdates=0,
                bgpPeerInTotalMessages=0,
                bgpPeerOutTotalMessages=0,
                bgpPeerFsmEstablishedTime=0,
                bgpPeerInUpdateElapsedTime=0,
                context_name="",
            )
        )
    yield engine
    engine.dispose()


async def test_only_the_due_checks_oids_are_fetched(db: Engine) -> None:
    agent = FakeAgent()
    writes = await DiscoveredChecks(db).poll(agent, DEVICE, now=1000, checks={"bgp"})  # type: ignore[arg-type]
    assert all(o.startswith(BGP) for o in agent.asked[0])
    assert writes.entities is None
    assert writes.bgp is not None and writes.bgp.peers[0].columns["bgpPeerState"] == "established"


async def test_due_checks_share_one_get(db: Engine) -> None:
    agent = FakeAgent()
    writes = await DiscoveredChecks(db).poll(agent, DEVICE, now=1000, checks={"processors", "bgp"})  # type: ignore[arg-type]
    assert len(agent.asked) == 1 and CPU_OID.lstrip(".") in agent.asked[0]
    assert writes.entities is not None and writes.entities.processors[0].processor_usage == 42
    assert writes.bgp is not None and [e.message for e in writes.bgp.events] == [
        "BGP Session Up: 192.0.2.1 (AS64500 )"
    ]


async def test_no_check_due_fetches_nothing(db: Engine) -> None:
    agent = FakeAgent()
    writes = await DiscoveredChecks(db).poll(agent, DEVICE, now=1000, checks=set())  # type: ignore[arg-type]
    assert agent.asked == [] and writes.batch() == []


async def test_the_next_poll_of_unchanged_values_writes_nothing(db: Engine) -> None:
    checks = DiscoveredChecks(db)
    await checks.poll(FakeAgent(), DEVICE, now=1000)  # type: ignore[arg-type]
    again = await checks.poll(FakeAgent(), DEVICE, now=1030)  # type: ignore[arg-type]
    assert again.batch() == []


async def test_without_the_bgp_peers_table_bgp_is_switched_off_and_the_rest_goes_on(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(text('DROP TABLE "bgpPeers"'))
    checks = DiscoveredChecks(db)
    writes = await checks.poll(FakeAgent(), DEVICE, now=1000)  # type: ignore[arg-type]
    assert not checks.bgp_enabled and writes.bgp is None
    assert writes.entities is not None and writes.entities.processors
