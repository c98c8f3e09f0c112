"""Synthetic ISP devices: the project's own data for the demo and the benchmarks.

Three kinds, of invented vendors (sysObjectIDs under 32473, the enterprise number RFC 5612
reserves for documentation): edge routers (Korvid KR series: 10G/1G ports, non-contiguous
ifIndex, busy links whose 32-bit counters wrap within a minute), access switches (Tessellate
TS series: 1G access ports, many down, 10G uplinks) and radios (Airlume AL series: eth/wlan/
bridge/VLAN interfaces). Each device has the system group, ifNumber, ifTable, ifXTable and the
SNMP engine group; counters grow at per-port rates (Counter64 and true 32-bit Counter32 views of
the same traffic), sysUpTime and snmpEngineTime advance.

Everything is deterministic from (seed, device index): a device is described cheaply up front
(address, community, names, fault) and its tables are built on its first request, so a
10,000-device fleet starts at once and every worker process builds identical data.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..model import Credentials, Target
from ..snmp.values import Tag, Value
from .responder import (
    Cell,
    DeviceState,
    EngineTime,
    Fault,
    Layout,
    MibTable,
    PortCounter,
    SimAgent,
    Uptime,
)

Kind = Literal["edge-router", "access-switch", "radio"]
KINDS: tuple[Kind, ...] = ("edge-router", "access-switch", "radio")
KIND_WEIGHTS = (0.1, 0.7, 0.2)
EXAMPLE_ENTERPRISE = "1.3.6.1.4.1.32473"  # RFC 5612: for documentation use

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
ENGINE = (1, 3, 6, 1, 6, 3, 10, 2, 1)

# Traffic mix per octet, to derive packet/error counters from a port's octet rate.
UCAST, NUCAST, MCAST, BCAST = 1 / 700, 1 / 40_000, 1 / 60_000, 1 / 200_000
DISCARDS, ERRORS = 1e-9, 2e-10


@dataclass(frozen=True, slots=True)
class KindProfile:
    vendor: str
    models: tuple[str, ...]
    os_name: str
    versions: tuple[str, ...]
    oid_suffix: str
    services: int
    name_prefix: str


PROFILES: dict[Kind, KindProfile] = {
    "edge-router": KindProfile(
        "Korvid", ("KR-8400", "KR-8800", "KR-4200"), "KorOS", ("7.2.1", "7.4.0", "8.0.3"), "1", 6, "edge"
    ),
    "access-switch": KindProfile(
        "Tessellate", ("TS-2448P", "TS-2452X", "TS-1228"), "TessOS", ("3.4.12", "3.5.2"), "2", 2, "sw"
    ),
    "radio": KindProfile(
        "Airlume",
        ("AL-5X Sector", "AL-60 Backhaul", "AL-5C CPE"),
        "AirOS-L",
        ("2.8.4", "2.9.1"),
        "3",
        2,
        "radio",
    ),
}
SITES = ("ams1", "fra2", "lis1", "mad3", "par4", "ber1", "waw2", "vie1", "prg1", "osl2", "hel1", "dub3")


@dataclass(frozen=True, slots=True)
class PortSpec:
    if_index: int
    name: str
    descr: str
    alias: str
    if_type: int
    mtu: int
    speed_bps: int
    mac: bytes
    admin: int  # 1 up, 2 down
    oper: int  # 1 up, 2 down
    last_change: int  # TimeTicks
    in0: int
    in_rate: float  # octets per second
    out0: int
    out_rate: float


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A synthetic device, described cheaply; `table()` builds its MIB on demand."""

    index: int
    seed: int
    kind: Kind
    host: str
    port: int
    community: str
    ports_count: int
    sys_name: str
    sys_descr: str
    sys_object_id: str
    sys_location: str
    uptime0: int  # TimeTicks at the simulator's start
    fault: Fault | None = None

    def target(self, *, timeout: float = 1.0, retries: int = 2, version: Literal["1", "2c"] = "2c") -> Target:
        return Target(
            self.host, self.port, credentials=Credentials(version=version, community=self.community),
            timeout=timeout, retries=retries,
        )  # fmt: skip

    def ports(self) -> list[PortSpec]:
        return _ports(self, random.Random(f"{self.seed}/{self.index}/ports"))

    def rows(self) -> tuple[list[tuple[tuple[int, ...], int, Value | Cell]], DeviceState]:
        """The device's (oid, tag, value-or-cell) rows and the state its cells read."""
        ports = self.ports()
        state = DeviceState(
            uptime0=self.uptime0,
            in0=[p.in0 for p in ports],
            in_rate=[p.in_rate for p in ports],
            out0=[p.out0 for p in ports],
            out_rate=[p.out_rate for p in ports],
            fault=self.fault,
        )
        return _system_rows(self) + _interface_rows(ports), state

    def table(
        self,
        layouts: dict[tuple[tuple[int, ...], ...], Layout] | None = None,
        interned: dict[bytes, bytes] | None = None,
    ) -> MibTable:
        rows, state = self.rows()
        return MibTable.from_rows(rows, state, layouts=layouts, interned=interned)


# ---------------------------------------------------------------------------------------- the fleet


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """How many devices misbehave (chosen deterministically among devices 1..N-1)."""

    timeout: int = 0
    slow: int = 0
    garbage: int = 0
    flap: int = 0
    slow_delay: tuple[float, float] = (0.3, 1.5)
    flap_period: float = 300.0
    flap_down: float = 90.0
    flap_phase: float = 60.0

    @classmethod
    def default_for(cls, devices: int) -> FaultPlan:
        """A few that time out or are slow, one garbage-talker per thousand, one that flaps."""
        if devices < 5:
            return cls(flap=1 if devices > 1 else 0)
        return cls(
            timeout=max(1, devices // 500), slow=max(1, devices // 200), garbage=devices // 1000, flap=1
        )


def generate_fleet(
    devices: int,
    ports: int = 48,
    *,
    seed: int = 1,
    base_address: str = "127.20.0.1",
    port: int = 1161,
    community: str = "public",
    kinds: tuple[Kind, ...] | None = None,
    faults: FaultPlan | bool = False,
) -> list[SimDevice]:
    """N devices with P interfaces each, device i on base_address + i (deterministic from seed)."""
    if devices < 0 or ports < 1:
        raise ValueError("need devices >= 0 and ports >= 1")
    base = ipaddress.IPv4Address(base_address)
    if not base.is_loopback or not (base + max(devices - 1, 0)).is_loopback:
        raise ValueError(f"simulated devices live in 127.0.0.0/8; {base_address} + {devices} leaves it")
    plan = FaultPlan.default_for(devices) if faults is True else (faults or FaultPlan())
    fault_of = _assign_faults(devices, plan, random.Random(f"{seed}/faults"))
    out = []
    for i in range(devices):
        rng = random.Random(f"{seed}/{i}")
        kind: Kind = kinds[i % len(kinds)] if kinds else rng.choices(KINDS, KIND_WEIGHTS)[0]
        prof = PROFILES[kind]
        model_no = rng.randrange(len(prof.models))
        model = prof.models[model_no]
        version = rng.choice(prof.versions)
        site = SITES[i % len(SITES)]
        build = rng.randrange(1000, 9999)
        out.append(
            SimDevice(
                index=i,
                seed=seed,
                kind=kind,
                host=str(base + i),
                port=port,
                community=community,
                ports_count=ports,
                sys_name=f"{prof.name_prefix}-{i:05d}.{site}.example.net",
                sys_descr=f"{prof.vendor} {model} {prof.os_name} {version} (build {build})",
                sys_object_id=f"{EXAMPLE_ENTERPRISE}.1.{prof.oid_suffix}.{model_no + 1}",
                sys_location=f"{site.upper()} POP, rack {rng.randrange(1, 40)}",
                uptime0=rng.randrange(100, 400 * 86400 * 100),
                fault=fault_of.get(i),
            )
        )
    return out


def _assign_faults(devices: int, plan: FaultPlan, rng: random.Random) -> dict[int, Fault]:
    wanted = plan.timeout + plan.slow + plan.garbage + plan.flap
    candidates = list(range(1, devices))  # device 0 always answers: handy for probes
    if wanted > len(candidates):
        raise ValueError(f"fault plan needs {wanted} devices, fleet has {len(candidates)} besides device 0")
    chosen = rng.sample(candidates, wanted)
    out: dict[int, Fault] = {}
    it = iter(chosen)
    for _ in range(plan.timeout):
        out[next(it)] = Fault("timeout")
    for _ in range(plan.slow):
        out[next(it)] = Fault("slow", delay=round(rng.uniform(*plan.slow_delay), 2))
    for _ in range(plan.garbage):
        out[next(it)] = Fault("garbage")
    for _ in range(plan.flap):
        out[next(it)] = Fault("flap", period=plan.flap_period, down=plan.flap_down, phase=plan.flap_phase)
    return out


def fleet_agents(fleet: list[SimDevice]) -> list[SimAgent]:
    """One agent per device, its table built on first request; layouts and equal varbinds shared."""
    layouts: dict[tuple[tuple[int, ...], ...], Layout] = {}
    interned: dict[bytes, bytes] = {}

    def factory(dev: SimDevice) -> Callable[[], MibTable]:
        return lambda: dev.table(layouts, interned)

    return [SimAgent(d.host, d.port, {d.community.encode(): factory(d)}, d.fault) for d in fleet]


# ---------------------------------------------------------------------------------------- rows

_CELLS: dict[tuple[int, bool, float, int], PortCounter] = {}
_UPTIME = Uptime()
_ENGINE_TIME = EngineTime()


def _counter(slot: int, inbound: bool, factor: float, bits: Literal[32, 64]) -> PortCounter:
    key = (slot, inbound, factor, bits)
    cell = _CELLS.get(key)
    if cell is None:
        cell = _CELLS[key] = PortCounter(slot, inbound, factor, bits)
    return cell


def _system_rows(dev: SimDevice) -> list[tuple[tuple[int, ...], int, Value | Cell]]:
    engine_id = bytes.fromhex("80007ed904") + f"fastpoll-sim-{dev.index}".encode()
    return [
        ((*SYSTEM, 1, 0), Tag.OCTET_STRING, dev.sys_descr.encode()),
        ((*SYSTEM, 2, 0), Tag.OID, dev.sys_object_id),
        ((*SYSTEM, 3, 0), Tag.TIMETICKS, _UPTIME),
        ((*SYSTEM, 4, 0), Tag.OCTET_STRING, b"noc@example.net"),
        ((*SYSTEM, 5, 0), Tag.OCTET_STRING, dev.sys_name.encode()),
        ((*SYSTEM, 6, 0), Tag.OCTET_STRING, dev.sys_location.encode()),
        ((*SYSTEM, 7, 0), Tag.INTEGER, PROFILES[dev.kind].services),
        (IF_NUMBER, Tag.INTEGER, dev.ports_count),
        ((*ENGINE, 1, 0), Tag.OCTET_STRING, engine_id),
        ((*ENGINE, 2, 0), Tag.INTEGER, 1 + dev.index % 7),
        ((*ENGINE, 3, 0), Tag.INTEGER, _ENGINE_TIME),
        ((*ENGINE, 4, 0), Tag.INTEGER, 1500),
    ]


def _interface_rows(ports: list[PortSpec]) -> list[tuple[tuple[int, ...], int, Value | Cell]]:
    rows: list[tuple[tuple[int, ...], int, Value | Cell]] = []
    add = rows.append
    for slot, p in enumerate(ports):
        i = p.if_index
        for col, tag, value in (
            (1, Tag.INTEGER, i),
            (2, Tag.OCTET_STRING, p.descr.encode()),
            (3, Tag.INTEGER, p.if_type),
            (4, Tag.INTEGER, p.mtu),
            (5, Tag.GAUGE32, min(p.speed_bps, 0xFFFFFFFF)),
            (6, Tag.OCTET_STRING, p.mac),
            (7, Tag.INTEGER, p.admin),
            (8, Tag.INTEGER, p.oper),
            (9, Tag.TIMETICKS, p.last_change),
            (10, Tag.COUNTER32, _counter(slot, True, 1.0, 32)),
            (11, Tag.COUNTER32, _counter(slot, True, UCAST, 32)),
            (12, Tag.COUNTER32, _counter(slot, True, NUCAST, 32)),
            (13, Tag.COUNTER32, _counter(slot, True, DISCARDS, 32)),
            (14, Tag.COUNTER32, _counter(slot, True, ERRORS, 32)),
            (15, Tag.COUNTER32, 0),
            (16, Tag.COUNTER32, _counter(slot, False, 1.0, 32)),
            (17, Tag.COUNTER32, _counter(slot, False, UCAST, 32)),
            (18, Tag.COUNTER32, _counter(slot, False, NUCAST, 32)),
            (19, Tag.COUNTER32, _counter(slot, False, DISCARDS, 32)),
            (20, Tag.COUNTER32, _counter(slot, False, ERRORS, 32)),
            (21, Tag.GAUGE32, 0),
            (22, Tag.OID, "0.0"),
        ):
            add(((*IF_ENTRY, col, i), tag, value))
        for col, tag, value in (
            (1, Tag.OCTET_STRING, p.name.encode()),
            (2, Tag.COUNTER32, _counter(slot, True, MCAST, 32)),
            (3, Tag.COUNTER32, _counter(slot, True, BCAST, 32)),
            (4, Tag.COUNTER32, _counter(slot, False, MCAST, 32)),
            (5, Tag.COUNTER32, _counter(slot, False, BCAST, 32)),
            (6, Tag.COUNTER64, _counter(slot, True, 1.0, 64)),
            (7, Tag.COUNTER64, _counter(slot, True, UCAST, 64)),
            (8, Tag.COUNTER64, _counter(slot, True, MCAST, 64)),
            (9, Tag.COUNTER64, _counter(slot, True, BCAST, 64)),
            (10, Tag.COUNTER64, _counter(slot, False, 1.0, 64)),
            (11, Tag.COUNTER64, _counter(slot, False, UCAST, 64)),
            (12, Tag.COUNTER64, _counter(slot, False, MCAST, 64)),
            (13, Tag.COUNTER64, _counter(slot, False, BCAST, 64)),
            (14, Tag.INTEGER, 1 if p.if_type in (6, 117, 161) else 2),
            (15, Tag.GAUGE32, p.speed_bps // 1_000_000),
            (16, Tag.INTEGER, 2),
            (17, Tag.INTEGER, 1 if p.if_type in (6, 117, 71) else 2),
            (18, Tag.OCTET_STRING, p.alias.encode()),
            (19, Tag.TIMETICKS, 0),
        ):
            add(((*IFX_ENTRY, col, i), tag, value))
    return rows


# ---------------------------------------------------------------------------------------- ports

CUSTOMERS = (
    "Acme Fibre",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella Labs",
    "Hooli",
    "Vandelay",
    "Stark Ind",
)


def _ports(dev: SimDevice, rng: random.Random) -> list[PortSpec]:
    n = dev.ports_count
    oui = bytes((0x02, 0x7E, 0xD9))  # locally administered
    mac_base = (dev.index * 4096) & 0xFFFFFF
    out = []
    for k in range(n):
        name, descr, if_type, speed, mtu, if_index, busy = _port_shape(dev.kind, k, n)
        admin = 1 if rng.random() > 0.05 else 2
        up = admin == 1 and rng.random() < busy[0]
        rate = rng.lognormvariate(busy[1], 1.2) if up else 0.0
        rate = min(rate, speed / 8 * 0.95)
        alias = ""
        if up and rng.random() < 0.6:
            alias = f"{rng.choice(CUSTOMERS)} circuit {rng.randrange(10000, 99999)}"
        out.append(
            PortSpec(
                if_index=if_index,
                name=name,
                descr=descr,
                alias=alias,
                if_type=if_type,
                mtu=mtu,
                speed_bps=speed,
                mac=oui + ((mac_base + k) & 0xFFFFFF).to_bytes(3, "big"),
                admin=admin,
                oper=1 if up else 2,
                last_change=rng.randrange(0, max(1, dev.uptime0)),
                in0=rng.randrange(0, 1 << 44),
                in_rate=rate,
                out0=rng.randrange(0, 1 << 44),
                out_rate=rate * rng.uniform(0.2, 1.5) if up else 0.0,
            )
        )
    return out


def _port_shape(kind: Kind, k: int, n: int) -> tuple[str, str, int, int, int, int, tuple[float, float]]:
    """(ifName, ifDescr, ifType, speed bps, MTU, ifIndex, (P(up), log mean octet rate))."""
    if kind == "edge-router":
        if k == 0:
            return "lo0", "lo0", 24, 0, 65535, 16, (1.0, 0.0)
        if k <= n // 2:
            name = f"xe-0/0/{k - 1}"
            return name, f"{name} 10GBASE-LR", 6, 10_000_000_000, 9192, 500 + k, (0.9, 18.0)
        if k == n - 1:
            return "ae0", "ae0 aggregate", 161, 20_000_000_000, 9192, 700, (1.0, 19.0)
        name = f"ge-0/1/{k - n // 2 - 1}"
        return name, f"{name} 1000BASE-T", 6, 1_000_000_000, 1514, 500 + k, (0.8, 15.5)
    if kind == "access-switch":
        if k >= n - 2 and n > 4:
            name = f"xe1/{k - n + 3}"
            return name, f"Tessellate 10G uplink {name}", 6, 10_000_000_000, 9216, k + 1, (1.0, 16.5)
        name = f"ge1/{k + 1}"
        return name, f"Tessellate 1G port {name}", 6, 1_000_000_000, 1518, k + 1, (0.55, 12.0)
    # radio
    fixed = (
        ("eth0", "Gigabit Ethernet", 6, 1_000_000_000, 1500, (1.0, 14.5)),
        ("wlan0", "802.11ax radio", 71, 600_000_000, 1500, (1.0, 14.5)),
        ("br0", "bridge", 209, 1_000_000_000, 1500, (1.0, 14.0)),
    )
    if k < len(fixed):
        name, descr, if_type, speed, mtu, busy = fixed[k]
        return name, descr, if_type, speed, mtu, k + 1, busy
    vlan = 100 + k
    return f"vlan{vlan}", f"eth0.{vlan}", 135, 1_000_000_000, 1500, k + 1, (0.85, 11.0)


__all__ = ["KINDS", "FaultPlan", "PortSpec", "SimDevice", "fleet_agents", "generate_fleet"]
