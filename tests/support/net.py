"""Loopback helpers: free ports and waiting for a UDP agent to answer."""

from __future__ import annotations

import socket
import time


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# A hand-encoded v2c GET of sysObjectID.0 with community "public"; used only to probe readiness.
def _probe_packet(community: str) -> bytes:
    c = community.encode()
    oid = bytes.fromhex("06082b06010201010200")  # 1.3.6.1.2.1.1.2.0
    vb = b"\x30" + bytes([len(oid) + 2]) + oid + b"\x05\x00"
    vbl = b"\x30" + bytes([len(vb)]) + vb
    pdu_body = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + vbl
    pdu = b"\xa0" + bytes([len(pdu_body)]) + pdu_body
    msg_body = b"\x02\x01\x01" + b"\x04" + bytes([len(c)]) + c + pdu
    return b"\x30" + bytes([len(msg_body)]) + msg_body


def wait_for_agent(host: str, port: int, community: str, timeout: float = 60.0) -> None:
    """Block until the agent answers a GET, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    pkt = _probe_packet(community)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        while time.monotonic() < deadline:
            s.sendto(pkt, (host, port))
            try:
                s.recvfrom(65535)
                return
            except OSError:
                continue
    raise TimeoutError(f"no SNMP agent answered on {host}:{port} within {timeout:.0f}s")
