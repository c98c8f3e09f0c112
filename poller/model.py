"""Plain data handed from stage to stage: what to poll (inventory) and how to reach it.

Nothing here does I/O. Secrets (community, v3 passwords) never appear in ``repr`` or ``str``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SnmpVersion = Literal["1", "2c", "3"]
AuthLevel = Literal["noAuthNoPriv", "authNoPriv", "authPriv"]
# LibreNMS's devices.authalgo / devices.cryptoalgo values.
AuthAlgo = Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
PrivAlgo = Literal["DES", "AES", "AES-192", "AES-256", "AES-192-C", "AES-256-C"]

AUTH_ALGOS: tuple[str, ...] = ("MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")
PRIV_ALGOS: tuple[str, ...] = ("DES", "AES", "AES-192", "AES-256", "AES-192-C", "AES-256-C")


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to authenticate to an agent. Secrets are excluded from repr."""

    version: SnmpVersion = "2c"
    community: str = field(default="public", repr=False)
    # SNMPv3 (USM)
    authlevel: AuthLevel = "noAuthNoPriv"
    username: str = ""
    auth_algo: str = "SHA"
    auth_password: str = field(default="", repr=False)
    priv_algo: str = "AES"
    priv_password: str = field(default="", repr=False)
    context: str = ""

    def secrets(self) -> tuple[str, ...]:
        """Every secret value held, for redaction filters."""
        return tuple(s for s in (self.community, self.auth_password, self.priv_password) if s)


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to send SNMP requests for one device."""

    host: str
    port: int = 161
    transport: Literal["udp", "udp6"] = "udp"
    credentials: Credentials = field(default_factory=Credentials)
    timeout: float = 1.0  # seconds per request attempt
    retries: int = 2  # extra attempts after the first
    max_in_flight: int = 1  # concurrent requests to this device (protects device CPUs)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Device:
    """One device from the inventory (LibreNMS ``devices`` or the embedded SQLite)."""

    device_id: int
    hostname: str
    target: Target
    sys_name: str | None = None
    os: str | None = None
    poller_group: int = 0
    snmp_disable: bool = False
    disabled: bool = False
    ignore: bool = False
    port_association_mode: int = 1  # 1 = ifIndex (LibreNMS's port_association_mode table)
    interval: float | None = None  # seconds; None = the configured default

    @property
    def pollable(self) -> bool:
        return not self.disabled and not self.snmp_disable
