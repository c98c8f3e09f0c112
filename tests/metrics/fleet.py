"""Test helpers: devices and poll results as the checks produce them, a TLS certificate, and a real scrape."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from poller.checks.results import DeviceMetrics, PollResult, PortMetrics
from poller.config import MetricFamilies, MetricsSettings
from poller.metrics import FleetState, SelfMetrics, start_metrics_server
from poller.model import Device, Target
from tests.support.net import free_tcp_port


def device(n: int, hostname: str | None = None, sys_name: str | None = None) -> Device:
    return Device(n, hostname or f"sw{n}.example.net", Target("127.0.0.1"), sys_name=sys_name or f"sw{n}")


def port(
    if_index: int,
    *,
    name: str | None = None,
    alias: str | None = None,
    if_type: str = "ethernetCsmacd",
    oper: str | None = "up",
    admin: str | None = "up",
    speed: int | None = 1_000_000_000,
    counters: dict[str, int] | None = None,
    rates: dict[str, float | None] | None = None,
    deleted: bool = False,
) -> PortMetrics:
    return PortMetrics(
        ifIndex=if_index,
        ifName=name if name is not None else f"ge-0/0/{if_index}",
        ifAlias=alias,
        ifDescr=name,
        ifType=if_type,
        oper_status=oper,
        admin_status=admin,
        speed=speed,
        counters=counters
        if counters is not None
        else {
            "ifInOctets": 1000 * if_index,
            "ifOutOctets": 2000 * if_index,
            "ifInUcastPkts": 10 * if_index,
            "ifOutUcastPkts": 20 * if_index,
            "ifInErrors": if_index,
            "ifOutErrors": 0,
            "ifInDiscards": 3,
            "ifOutDiscards": 4,
        },
        rates=rates or {},
        deleted=deleted,
    )


def result(
    device_id: int,
    ports: Iterable[PortMetrics] = (),
    *,
    up: bool = True,
    reachable: bool | None = None,
    error: str | None = None,
    polled: int = 1_700_000_000,
    uptime: int | None = 3600,
    duration: float = 0.25,
    failures: int = 0,
) -> PollResult:
    metrics = DeviceMetrics(
        up=up,
        reachable=up if reachable is None else reachable,
        uptime=uptime,
        poll_duration=duration,
        consecutive_failures=failures,
        error=error,
    )
    return PollResult(device_id, polled, metrics=metrics, port_metrics=list(ports))


def populated_state(devices: int = 2, ports: int = 3) -> FleetState:
    state = FleetState(interval_of=lambda d: 30.0)
    for n in range(1, devices + 1):
        state.update(device(n), result(n, [port(i, alias=f"uplink {i}") for i in range(1, ports + 1)]))
    return state


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key, PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastpoll test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def scrape_text() -> str:
    """A real HTTP scrape of a server holding a populated fleet and self metrics with everything attached
    that needs no network: the exposition every family name check compares with."""
    import redis.asyncio as aioredis

    from poller.cluster_redis import RedisMembership
    from poller.scheduler import Scheduler, VirtualClock
    from poller.snmp.client import SnmpEngine

    async def never(_: Device) -> None:  # the scheduler is never run here
        return None

    state = populated_state()
    own = SelfMetrics()
    scheduler = Scheduler(VirtualClock(), never, lambda d: 30.0)
    scheduler.update_inventory([device(1), device(2)])
    own.attach_scheduler(scheduler)
    own.attach_writer(_idle_writer())
    own.observe_sync("devices", True)
    own.attach_engine(SnmpEngine(), state.devices)  # never used: its counters are read, all zero
    own.attach_cluster(RedisMembership(aioredis.Redis(), "p1", None, 10.0))  # never connects: all zero
    server = start_metrics_server(
        MetricsSettings(listen=f"127.0.0.1:{free_tcp_port()}", families=MetricFamilies(port_errors=True)),
        state,
        own,
        {"scheduler": lambda: True},
    )
    try:
        return httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()


def _idle_writer():  # type: ignore[no-untyped-def]
    from poller.store.librenms import LibreNMSWriter

    # Never started and never connects: only its stats and queue are read.
    return LibreNMSWriter("mysql+pymysql://fastpoll@127.0.0.1:9/unused")


def exported_names(text: str) -> set[str]:
    """Every family and sample name in an exposition (histogram _bucket/_sum/_count, counter _total...)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":  # also when it has no samples yet
            names.add(f"{family.name}_total")
        names.update(sample.name for sample in family.samples)
    return names
