"""Replies carrying our request-id that cannot be used are dropped, counted and asked again.

v1/v2c carry no integrity check: a reply whose varbinds do not decode was corrupted on the way (or
the agent is broken) and is asked again within the target's retries. v3: once this session has
verified authenticated replies, a digest that fails is a corrupted datagram, not wrong credentials.
"""

from __future__ import annotations

import asyncio

import pytest

from poller.model import Credentials, Target
from poller.snmp import ber, pdu
from poller.snmp.client import SnmpEngine
from poller.snmp.errors import SnmpAuthError, SnmpDecodeError
from poller.snmp.values import Tag

from .conftest import V3Agent
from .scripted_agent import requested_oids, response, start_agent

SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
BROKEN_VARBIND = b"\x30\x04\x06\x08\x2b\x06"  # an OID claiming 8 octets inside a 4-octet varbind


def target(port: int, retries: int = 2) -> Target:
    return Target("127.0.0.1", port, credentials=Credentials("2c", "c"), timeout=1.0, retries=retries)


def with_broken_varbind(request: pdu.CommunityMessage, good: list[tuple[str, Tag, object]]) -> bytes:
    """A response whose header is fine and whose varbind list ends in a varbind that does not decode."""
    body = b"".join(ber.tlv(0x30, ber.encode_oid(o) + ber.encode_value(t, v)) for o, t, v in good)
    varbinds = ber.tlv(0x30, body + BROKEN_VARBIND)
    return pdu.encode_community_message(
        "2c", request.community, pdu.encode_pdu(pdu.RESPONSE, request.pdu.request_id, varbinds)
    )


def oper_rows(after: int, count: int) -> list[tuple[str, Tag, object]]:
    rows = [(f"{IF_OPER}.{i}", Tag.INTEGER, 1) for i in range(after + 1, min(after + count, 6) + 1)]
    return rows if len(rows) == count else [*rows, ("1.3.6.1.2.1.2.2.1.9.1", Tag.TIMETICKS, 0)]


async def test_a_get_reply_whose_varbinds_do_not_decode_is_dropped_counted_and_asked_again():
    answers = iter(["broken", "good"])

    def agent_handler(req, raw):
        if next(answers) == "broken":
            return [with_broken_varbind(req, [])]
        return [response(req, [(SYS_NAME, Tag.OCTET_STRING, b"router-1")])]

    agent = await start_agent(agent_handler)
    async with SnmpEngine() as engine:
        t = target(agent.port)
        (vb,) = await engine.get(t, [SYS_NAME])
        stats = engine.device_stats(t)
        assert vb.value == b"router-1"
        assert engine.stats.dropped_malformed == 1 and stats is not None and stats.requests == 2
    agent.transport.close()


async def test_a_walk_reply_broken_after_some_rows_is_asked_again_and_keeps_none_of_its_rows():
    broken_once = []

    def agent_handler(req, raw):
        start = requested_oids(req)[0]
        after = 0 if start == IF_OPER else int(start.rsplit(".", 1)[1])
        rows = oper_rows(after, req.pdu.error_index)
        if after == 2 and not broken_once:  # the second GETBULK: rows of other values, then garbage
            broken_once.append(True)
            return [with_broken_varbind(req, [(oid, tag, 99) for oid, tag, _ in rows])]
        return [response(req, rows)]

    agent = await start_agent(agent_handler)
    async with SnmpEngine() as engine:
        table = await engine.walk_table(target(agent.port), [IF_OPER], max_repetitions=2)
        assert engine.stats.dropped_malformed == 1
    assert table[IF_OPER] == {(i,): 1 for i in range(1, 7)}
    agent.transport.close()


async def test_an_agent_that_always_answers_broken_varbinds_fails_with_a_decode_error_after_the_retries():
    agent = await start_agent(lambda req, raw: [with_broken_varbind(req, [])])
    loop = asyncio.get_running_loop()
    async with SnmpEngine() as engine:
        start = loop.time()
        with pytest.raises(SnmpDecodeError):
            await engine.walk_table(target(agent.port, retries=2), [IF_OPER])
        assert loop.time() - start < 0.5  # asked again at once, never waiting for a timeout
        assert engine.stats.dropped_malformed == 3 and engine.in_flight == 0
    assert agent.received == 3  # the request and its 2 retries
    agent.transport.close()


class CorruptingProxy(asyncio.DatagramProtocol):
    """Relays datagrams between one client and an agent, flipping the last octet of chosen replies."""

    def __init__(self, agent: tuple[str, int], corrupt_replies: set[int]) -> None:
        self.agent = agent
        self.corrupt_replies = corrupt_replies  # 1-based numbers of the replies to corrupt
        self.replies = 0
        self.client: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if addr == self.agent:
            self.replies += 1
            if self.replies in self.corrupt_replies:
                data = data[:-1] + bytes((data[-1] ^ 0xFF,))  # inside the encrypted PDU
            self.transport.sendto(data, self.client)
        else:
            self.client = addr
            self.transport.sendto(data, self.agent)


@pytest.mark.snmpd
async def test_a_v3_reply_with_a_bad_digest_after_verified_ones_is_dropped_and_asked_again(snmpd_v3: V3Agent):
    loop = asyncio.get_running_loop()
    # replies: 1 = engine discovery, 2 = first GET, 3 = second GET (corrupted), 4 = its retry
    proxy = CorruptingProxy((snmpd_v3.host, snmpd_v3.port), {3})
    transport, _ = await loop.create_datagram_endpoint(lambda: proxy, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    t = V3Agent("proxy", "127.0.0.1", port, "public", "").v3("SHA", "AES", timeout=2.0, retries=1)
    try:
        async with SnmpEngine() as engine:
            first = await engine.get(t, [SYS_NAME])
            second = await engine.get(t, [SYS_NAME])
            assert second[0].value == first[0].value
            assert engine.stats.dropped_malformed == 1
    finally:
        transport.close()
    assert proxy.replies == 4


@pytest.mark.snmpd
async def test_a_v3_reply_with_a_bad_digest_before_any_verified_one_fails_fast_as_an_auth_error(
    snmpd_v3: V3Agent,
):
    loop = asyncio.get_running_loop()
    proxy = CorruptingProxy((snmpd_v3.host, snmpd_v3.port), {2})  # the first GET's reply
    transport, _ = await loop.create_datagram_endpoint(lambda: proxy, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    t = V3Agent("proxy", "127.0.0.1", port, "public", "").v3("SHA", "AES", timeout=2.0, retries=1)
    try:
        async with SnmpEngine() as engine:
            with pytest.raises(SnmpAuthError, match="wrong digest"):
                await engine.get(t, [SYS_NAME])
            stats = engine.device_stats(t)
            assert stats is not None and stats.retries == 0 and engine.stats.dropped_malformed == 0
    finally:
        transport.close()
