"""The client against real agents (snmpsim serving ../shared/snmprec) and scripted misbehaving ones."""

from __future__ import annotations

import asyncio
import socket

import pytest

from poller.model import Credentials, Target
from poller.sim.snmprec import parse_line, read_snmprec
from poller.snmp import pdu
from poller.snmp.ber import parse_oid
from poller.snmp.client import SnmpEngine
from poller.snmp.errors import SnmpErrorStatus, SnmpLoopError, SnmpProtocolError, SnmpTimeout
from poller.snmp.values import Tag
from tests.support.shared import SNMPREC_DIR, recordings

from .scripted_agent import requested_oids, response, start_agent

pytestmark = pytest.mark.snmpsim
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"


def target(port: int, community: str, version: str = "2c", **kw) -> Target:
    return Target("127.0.0.1", port, credentials=Credentials(version, community), **kw)


def recorded(name: str) -> list[tuple[str, Tag, object]]:
    """What an agent serving the recording holds, in OID order, as snmpsim serves it.

    Some shared recordings carry values snmpsim cannot decode: anonymised MACs that are not hex
    (`4x|346288XXYYZZ`) or a `<private>` TimeTicks. snmpsim answers endOfMibView at the first
    such record, so a walk through it ends there.
    """
    path = SNMPREC_DIR / f"{name}.snmprec"
    records = sorted(read_snmprec(path), key=lambda r: r.oid)
    broken = [oid for oid, tag in _undecodable(path) if tag != "6"]
    if broken:
        records = [r for r in records if r.oid < min(broken)]
    return [(r.oid_str, r.tag, r.value) for r in records]


def _undecodable(path) -> list[tuple[tuple[int, ...], str]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            parse_line(line)
        except ValueError:
            oid, tag, _ = line.split("|", 2)
            out.append((parse_oid(oid), tag))
    return out


def _roots(records) -> list[str]:
    return sorted(
        {".".join(oid.split(".")[:2]) for oid, _, _ in records}, key=lambda r: tuple(map(int, r.split(".")))
    )


# vrp_s5328c-ei holds OID values of "0" (entPhysicalVendorType): snmpsim goes silent on any request
# that reaches them, so a walk through them can only time out, exactly as snmpbulkwalk does.
SILENT_AT = {"vrp_s5328c-ei": "1.3.6.1.2.1.47.1.1.1.1.3"}


@pytest.mark.parametrize("name", recordings())
async def test_a_full_walk_returns_exactly_the_recording(shared_snmpsim, name):
    want = recorded(name)
    # retries=0: snmpsim drops some large GETBULKs; the walk must shrink and go on
    t = target(shared_snmpsim.port, name, timeout=2, retries=0)
    async with SnmpEngine() as engine:
        if name in SILENT_AT:
            with pytest.raises(SnmpTimeout):
                await engine.walk(t, _roots(want))
            root = "1.3.6.1.2.1.2"
            want = [r for r in want if r[0].startswith(root + ".")]
            got = await engine.walk(t, [root])
        else:
            got = await engine.walk(t, _roots(want))
    assert [(vb.oid, vb.tag, vb.value) for vb in got] == want and want


@pytest.mark.parametrize("name", ["ios", "routeros", "linux_ntc"])
async def test_a_v1_walk_with_getnext_returns_the_recording_minus_counter64(shared_snmpsim, name):
    async with SnmpEngine() as engine:
        got = await engine.walk(target(shared_snmpsim.port, name, "1", timeout=5), ["1.3.6.1.2.1.2"])
    want = [r for r in recorded(name) if r[0].startswith("1.3.6.1.2.1.2.") and r[1] != Tag.COUNTER64]
    assert [(vb.oid, vb.tag, vb.value) for vb in got] == want


async def test_a_table_walk_returns_each_column_by_index(shared_snmpsim):
    columns = [IF_DESCR, "1.3.6.1.2.1.2.2.1.8", "1.3.6.1.2.1.31.1.1.1.6"]
    async with SnmpEngine() as engine:
        table = await engine.walk_table(target(shared_snmpsim.port, "ios", timeout=5), columns)
    records = [(r.oid_str, r.tag, r.value) for r in read_snmprec(SNMPREC_DIR / "ios.snmprec")]
    for column in columns:
        want = {
            tuple(map(int, oid[len(column) + 1 :].split("."))): v
            for oid, _, v in records
            if oid.startswith(column + ".")
        }
        assert table[column] == want and want


async def test_a_walk_of_columns_keeps_whole_rows_as_blocks_and_holds_the_table_walks_cells(shared_snmpsim):
    columns = [IF_DESCR, "1.3.6.1.2.1.2.2.1.8", "1.3.6.1.2.1.31.1.1.1.6"]
    ios = target(shared_snmpsim.port, "ios", timeout=5)
    async with SnmpEngine() as engine:
        walked = await engine.walk_columns(ios, columns)
        table = await engine.walk_table(ios, columns)
    assert walked.blocks and all(set(b.columns) <= set(columns) for b in walked.blocks)
    assert walked.table() == table and len(walked) == sum(map(len, table.values()))


async def test_a_get_keeps_the_requested_order_and_marks_absent_oids(shared_snmpsim):
    async with SnmpEngine() as engine:
        got = await engine.get(
            target(shared_snmpsim.port, "linux_ntc"), ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.99.0", SYS_UPTIME]
        )
    assert [vb.oid for vb in got] == ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.99.0", SYS_UPTIME]
    assert got[1].tag in (Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE)
    assert got[2].tag == Tag.TIMETICKS


async def test_a_get_of_many_oids_is_split_over_several_pdus(shared_snmpsim):
    oids = [f"{IF_DESCR}.{i}" for i in range(1, 80)]
    async with SnmpEngine() as engine:
        got = await engine.get(target(shared_snmpsim.port, "ios", timeout=5), oids)
    assert [vb.oid for vb in got] == oids


async def test_a_wrong_community_times_out_within_timeout_times_attempts(shared_snmpsim):
    loop = asyncio.get_running_loop()
    async with SnmpEngine() as engine:
        start = loop.time()
        with pytest.raises(SnmpTimeout):
            await engine.get(
                target(shared_snmpsim.port, "no-such-community", timeout=0.2, retries=1), [SYS_UPTIME]
            )
        assert loop.time() - start < 0.2 * 2 + 0.3
        assert engine.in_flight == 0


async def test_each_attempt_that_times_out_calls_on_timeout_in_the_requesting_task(shared_snmpsim):
    calls: list[str] = []
    async with SnmpEngine() as engine:
        engine.on_timeout = lambda: calls.append(asyncio.current_task().get_name())

        async def poll() -> None:
            with pytest.raises(SnmpTimeout):
                await engine.get(
                    target(shared_snmpsim.port, "no-such-community", timeout=0.1, retries=1), [SYS_UPTIME]
                )

        await asyncio.create_task(poll(), name="the-poll")
        await engine.get(target(shared_snmpsim.port, "linux_ntc"), [SYS_UPTIME])  # answered: no call
    assert calls == ["the-poll", "the-poll"]


async def test_a_dead_device_fails_by_its_deadline_while_others_are_polled(shared_snmpsim):
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))  # bound but never answering
    loop = asyncio.get_running_loop()
    try:
        async with SnmpEngine() as engine:
            deadline = loop.time() + 0.5
            dead_poll = asyncio.ensure_future(
                engine.get(
                    target(dead.getsockname()[1], "x", timeout=5, retries=5), [SYS_UPTIME], deadline=deadline
                )
            )
            good = await engine.walk_table(target(shared_snmpsim.port, "ios", timeout=5), [IF_DESCR])
            assert good[IF_DESCR] and not dead_poll.done()
            with pytest.raises(SnmpTimeout):
                await dead_poll
            assert loop.time() < deadline + 0.2
    finally:
        dead.close()


async def test_a_slow_device_times_out_and_its_late_answers_are_dropped_and_counted():
    agent = await start_agent(lambda req, raw: [response(req, [(SYS_UPTIME, Tag.TIMETICKS, 1)])], delay=0.3)
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpTimeout):
            await engine.get(target(agent.port, "c", timeout=0.1, retries=0), [SYS_UPTIME])
        await asyncio.sleep(0.4)
        assert engine.stats.dropped_unknown_id == 1
        assert engine.in_flight == 0
    agent.transport.close()


async def test_an_agent_that_repeats_itself_gives_a_loop_error():
    def loop_forever(req, raw):
        return [response(req, [(f"{IF_DESCR}.7", Tag.OCTET_STRING, b"x")] * 3)]

    agent = await start_agent(loop_forever)
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpLoopError):
            await engine.walk_table(target(agent.port, "c"), [IF_DESCR])
    agent.transport.close()


async def test_a_reply_from_another_address_is_dropped_and_counted():
    spoofer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    spoofer.bind(("127.0.0.2", 0))

    def answer_after_a_spoof(req, raw):
        client_port = answer_after_a_spoof.client  # set below once known
        spoofer.sendto(response(req, [(SYS_UPTIME, Tag.TIMETICKS, 666)]), ("127.0.0.1", client_port))
        return [response(req, [(SYS_UPTIME, Tag.TIMETICKS, 42)])]

    agent = await start_agent(answer_after_a_spoof, delay=0.05)
    async with SnmpEngine() as engine:
        # learn the engine's port from the first datagram the agent sees
        orig = agent.datagram_received

        def capture(data, addr):
            answer_after_a_spoof.client = addr[1]
            orig(data, addr)

        agent.datagram_received = capture
        got = await engine.get(target(agent.port, "c", timeout=1), [SYS_UPTIME])
        assert got[0].value == 42
        assert engine.stats.dropped_wrong_source == 1
    agent.transport.close()
    spoofer.close()


async def test_garbage_replies_are_counted_and_the_request_times_out_without_leaking():
    agent = await start_agent(lambda req, raw: [b"\x30\x03garbage", b"\xff" * 40])
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpTimeout):
            await engine.get(target(agent.port, "c", timeout=0.2, retries=0), [SYS_UPTIME])
        assert engine.stats.dropped_malformed == 2
        assert engine.in_flight == 0
    agent.transport.close()


async def test_at_most_max_in_flight_requests_reach_one_device():
    agent = await start_agent(lambda req, raw: [response(req, [(SYS_UPTIME, Tag.TIMETICKS, 1)])], delay=0.05)
    async with SnmpEngine() as engine:
        t = target(agent.port, "c", timeout=2)
        await asyncio.gather(*(engine.get(t, [SYS_UPTIME]) for _ in range(6)))
    assert agent.max_concurrent == 1
    agent.transport.close()


async def test_too_big_splits_a_get_until_it_fits():
    def small_agent(req, raw):
        oids = requested_oids(req)
        if len(oids) > 2:
            return [response(req, [], status=1)]
        return [response(req, [(o, Tag.INTEGER, int(o.rsplit(".", 1)[1])) for o in oids])]

    agent = await start_agent(small_agent)
    async with SnmpEngine() as engine:
        got = await engine.get(target(agent.port, "c"), [f"{IF_DESCR}.{i}" for i in range(1, 8)])
    assert [vb.value for vb in got] == list(range(1, 8))
    agent.transport.close()


async def test_an_agent_that_fails_getbulk_is_walked_with_getnext():
    rows = {f"{IF_DESCR}.{i}": f"if{i}".encode() for i in range(1, 5)}

    def no_bulk(req, raw):
        if req.pdu.tag == pdu.GETBULK:
            return [response(req, [], status=5)]
        out = []
        for oid in requested_oids(req):
            nxt = next(
                (
                    o
                    for o in sorted(rows, key=lambda s: tuple(map(int, s.split("."))))
                    if tuple(map(int, o.split("."))) > tuple(map(int, oid.split(".")))
                ),
                None,
            )
            out.append(
                (nxt, Tag.OCTET_STRING, rows[nxt]) if nxt else ("1.3.6.1.2.1.2.2.1.3.1", Tag.INTEGER, 6)
            )
        return [response(req, out)]

    agent = await start_agent(no_bulk)
    async with SnmpEngine() as engine:
        table = await engine.walk_table(target(agent.port, "c"), [IF_DESCR])
    assert table[IF_DESCR] == {(i,): f"if{i}".encode() for i in range(1, 5)}
    agent.transport.close()


async def test_a_getbulk_the_agent_drops_is_asked_again_with_fewer_rows():
    rows = {f"{IF_DESCR}.{i}": f"if{i}".encode() for i in range(1, 40)}
    ordered = sorted(rows, key=lambda s: int(s.rsplit(".", 1)[1]))

    def drops_big_bulks(req, raw):
        if req.pdu.error_index > 10:  # max-repetitions
            return []
        start = requested_oids(req)[0]
        after = [
            o for o in ordered if start == IF_DESCR or int(o.rsplit(".", 1)[1]) > int(start.rsplit(".", 1)[1])
        ]
        out = [(o, Tag.OCTET_STRING, rows[o]) for o in after[: req.pdu.error_index]]
        return [response(req, out or [("1.3.6.1.2.1.2.2.1.3.1", Tag.INTEGER, 6)])]

    agent = await start_agent(drops_big_bulks)
    async with SnmpEngine() as engine:
        table = await engine.walk_table(
            target(agent.port, "c", timeout=0.2, retries=0), [IF_DESCR], max_repetitions=8
        )
        table2 = await engine.walk_table(
            target(agent.port, "c", timeout=0.2, retries=0), [IF_DESCR], max_repetitions=40
        )
    assert len(table[IF_DESCR]) == 39 and table2 == table
    agent.transport.close()


async def test_a_get_answered_for_another_oid_is_a_protocol_error_not_a_value():
    agent = await start_agent(lambda req, raw: [response(req, [("1.3.6.1.2.1.1.5.0", Tag.TIMETICKS, 5)])])
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpProtocolError, match=r"1\.3\.6\.1\.2\.1\.1\.5\.0 where"):
            await engine.get(target(agent.port, "c"), [SYS_UPTIME])
    agent.transport.close()


async def test_an_error_status_on_get_raises_with_its_name():
    agent = await start_agent(lambda req, raw: [response(req, [], status=5)])
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpErrorStatus, match="genErr"):
            await engine.get(target(agent.port, "c"), [SYS_UPTIME])
    agent.transport.close()


async def test_a_short_timeout_fires_on_time_while_a_longer_one_is_in_flight():
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    loop = asyncio.get_running_loop()
    try:
        async with SnmpEngine() as engine:
            slow = asyncio.ensure_future(engine.get(target(port, "a", timeout=5, retries=0), [SYS_UPTIME]))
            await asyncio.sleep(0.05)
            start = loop.time()
            with pytest.raises(SnmpTimeout):
                await engine.get(target(port, "b", timeout=0.2, retries=1), [SYS_UPTIME])
            assert 0.4 <= loop.time() - start < 0.5  # two attempts of 0.2 s, not the other's 5 s
            assert engine.in_flight == 1 and not slow.done()
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert engine.in_flight == 0
    finally:
        dead.close()


async def test_a_request_cancelled_while_waiting_for_the_devices_slot_leaves_it_to_the_next():
    agent = await start_agent(lambda req, raw: [response(req, [(SYS_UPTIME, Tag.TIMETICKS, 1)])], delay=0.1)
    async with SnmpEngine() as engine:
        t = target(agent.port, "c", timeout=2)
        first = asyncio.ensure_future(engine.get(t, [SYS_UPTIME]))
        waiting = asyncio.ensure_future(engine.get(t, [SYS_UPTIME]))
        await asyncio.sleep(0.02)
        waiting.cancel()
        after = await asyncio.wait_for(engine.get(t, [SYS_UPTIME]), 1.0)
        assert after[0].value == 1 and (await first)[0].value == 1 and waiting.cancelled()
    assert agent.received == 2 and agent.max_concurrent == 1
    agent.transport.close()


def _oper_table_agent(rows: int = 6, drop: set[int] | None = None):
    """An agent walking IF-MIB ifOperStatus.1..rows; it ignores the requests numbered in `drop`."""
    column = "1.3.6.1.2.1.2.2.1.8"
    seen = []

    def handler(req, raw):
        seen.append(req.pdu.request_id)
        if drop and len(seen) in drop:
            return []
        start = requested_oids(req)[0]
        after = 0 if start == column else int(start.rsplit(".", 1)[1])
        out = [(f"{column}.{i}", Tag.INTEGER, i) for i in range(after + 1, rows + 1)][: req.pdu.error_index]
        return [response(req, out or [("1.3.6.1.2.1.2.2.1.9.1", Tag.TIMETICKS, 0)])]

    return column, handler


async def test_a_lost_request_in_the_middle_of_a_walk_is_asked_again_and_the_walk_completes():
    column, handler = _oper_table_agent(rows=9, drop={3})
    agent = await start_agent(handler)
    async with SnmpEngine() as engine:
        t = target(agent.port, "c", timeout=0.2, retries=1)
        table = await engine.walk_table(t, [column], max_repetitions=2)
        stats = engine.device_stats(t)
    assert table[column] == {(i,): i for i in range(1, 10)}
    assert stats is not None and stats.retries == 1 and stats.requests == agent.received == 7
    agent.transport.close()


async def test_concurrent_walks_of_one_device_keep_to_one_request_in_flight():
    column, handler = _oper_table_agent(rows=9)
    agent = await start_agent(handler, delay=0.01)
    async with SnmpEngine() as engine:
        t = target(agent.port, "c", timeout=2)
        tables = await asyncio.gather(*(engine.walk_table(t, [column], max_repetitions=3) for _ in range(3)))
        stats = engine.device_stats(t)
    assert all(table[column] == {(i,): i for i in range(1, 10)} for table in tables)
    assert agent.max_concurrent == 1 and stats is not None and stats.requests == agent.received == 12
    agent.transport.close()
