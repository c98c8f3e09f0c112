"""A tiny scripted UDP agent for behaviours real agents rarely show (loops, garbage, spoofing)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from poller.snmp import ber, pdu
from poller.snmp.values import Tag

# handler(request_message) -> list of datagrams to answer with (possibly none), or a coroutine delay first
Handler = Callable[[pdu.CommunityMessage, bytes], list[bytes]]


def response(
    request: pdu.CommunityMessage, varbinds: list[tuple[str, Tag, object]], status: int = 0
) -> bytes:
    body = b"".join(ber.tlv(0x30, ber.encode_oid(o) + ber.encode_value(t, v)) for o, t, v in varbinds)
    return pdu.encode_community_message(
        "2c" if request.version == 1 else "1",
        request.community,
        pdu.encode_pdu(pdu.RESPONSE, request.pdu.request_id, ber.tlv(0x30, body), status, 0),
    )


def requested_oids(request: pdu.CommunityMessage) -> list[str]:
    return [vb.oid for vb in pdu.decode_varbinds(request.pdu)]


@dataclass
class ScriptedAgent(asyncio.DatagramProtocol):
    handler: Handler
    delay: float = 0.0
    received: int = 0
    concurrent: int = 0
    max_concurrent: int = 0
    transport: asyncio.DatagramTransport | None = None
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received += 1
        task = asyncio.get_running_loop().create_task(self._answer(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, data, addr):
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            request = pdu.parse_community_message(data)
            for reply in self.handler(request, data):
                self.transport.sendto(reply, addr)
        finally:
            self.concurrent -= 1

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]


async def start_agent(handler: Handler, delay: float = 0.0, host: str = "127.0.0.1") -> ScriptedAgent:
    loop = asyncio.get_running_loop()
    agent = ScriptedAgent(handler, delay)
    await loop.create_datagram_endpoint(lambda: agent, local_addr=(host, 0))
    return agent
