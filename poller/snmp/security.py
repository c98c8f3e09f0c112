"""How a message is wrapped for the wire: community (v1/v2c) or USM (v3).

The client builds PDUs; a SecurityModel turns a PDU into a message and a reply back into a PDU.
v1/v2c is here; v3 (USM) lives in usm.py and plugs into the same seam.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .ber import SEQUENCE, tlv
from .errors import SnmpDecodeError
from .pdu import RESPONSE, Pdu, community_message_head, encode_community_request, parse_community_message


class NeedsResync(Exception):
    """Raised by decode() when the agent reported notInTimeWindow: prepare() again, then resend."""


# send(message, msg_id, deadline) -> the reply datagram (with the engine's timeouts and retries)
Exchange = Callable[[Callable[[int], bytes], float], Awaitable[bytes]]


class SecurityModel(Protocol):
    async def prepare(self, exchange: Exchange, deadline: float) -> None:
        """Anything needed before the first request (v3: engine-ID discovery, time sync)."""

    def encode(self, pdu: bytes, msg_id: int) -> bytes:
        """The message carrying `pdu`, demultiplexed by `msg_id`."""

    def decode(self, data: bytes) -> Pdu:
        """The PDU of a reply; raises SnmpAuthError / SnmpDecodeError / NeedsResync."""


class CommunitySecurity:
    """SNMPv1 / v2c: the community string travels in clear text."""

    __slots__ = ("_community", "_head", "_version", "_version_code")

    def __init__(self, version: str, community: str) -> None:
        self._version = version
        self._version_code = 0 if version == "1" else 1
        self._community = community.encode()
        self._head = community_message_head(version, self._community)

    def __repr__(self) -> str:
        return f"CommunitySecurity(version={self._version!r})"

    async def prepare(self, exchange: Exchange, deadline: float) -> None:
        return None

    def encode(self, pdu: bytes, msg_id: int) -> bytes:
        return tlv(SEQUENCE, self._head + pdu)

    def encode_request(self, tag: int, msg_id: int, varbinds: bytes, a: int, b: int) -> bytes:
        """encode(encode_pdu(tag, msg_id, varbinds, a, b), msg_id), built in one piece."""
        return encode_community_request(self._head, tag, msg_id, varbinds, a, b)

    def decode(self, data: bytes) -> Pdu:
        msg = parse_community_message(data)
        if msg.version != self._version_code:
            raise SnmpDecodeError(f"reply has SNMP version code {msg.version}, expected {self._version_code}")
        if msg.pdu.tag != RESPONSE:
            raise SnmpDecodeError(f"reply is not a Response PDU (tag 0x{msg.pdu.tag:02x})")
        # A reply with another community is not ours (agents echo the request's community).
        if msg.community != self._community:
            raise SnmpDecodeError("reply carries a different community")
        return msg.pdu
