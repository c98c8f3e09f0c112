"""End to end: snmpsim with growing counters -> poll_device -> FleetState -> the endpoint (TLS + basic auth)
-> a real Prometheus scraping every second -> rate() over its HTTP API equals the simulated rate."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import bcrypt
import httpx
import pytest
from pydantic import SecretStr

from poller.config import MetricsSettings
from poller.metrics import FleetState, SelfMetrics, start_metrics_server
from poller.model import Credentials, Device, Target
from poller.poll import new_state, poll_device
from poller.snmp.client import SnmpEngine
from tests.support.agents import snmpsim
from tests.support.net import free_tcp_port

from .fleet import self_signed_cert

pytestmark = [pytest.mark.prometheus, pytest.mark.snmpsim, pytest.mark.slow]
PROMETHEUS = "/usr/bin/prometheus"
IN_RATE, OUT_RATE = 125_000, 25_000  # octets per second, as snmpsim's numeric variation grows them
PASSWORD = "scrape-me"
IN, OUT = "fastpoll_interface_in_octets_total", "fastpoll_interface_out_octets_total"
WINDOW = "15s"


def recording() -> str:
    lines = {
        "1.3.6.1.2.1.1.2.0": "6|1.3.6.1.4.1.8072.3.2.10",
        "1.3.6.1.2.1.1.3.0": "67:numeric|initial=100000,rate=100",
        "1.3.6.1.2.1.1.5.0": "4|edge1",
        "1.3.6.1.2.1.2.2.1.2.1": "4|eth0",
        "1.3.6.1.2.1.2.2.1.3.1": "2|6",
        "1.3.6.1.2.1.2.2.1.7.1": "2|1",
        "1.3.6.1.2.1.2.2.1.8.1": "2|1",
        "1.3.6.1.2.1.31.1.1.1.1.1": "4|eth0",
        "1.3.6.1.2.1.31.1.1.1.6.1": f"70:numeric|initial=1000000000,rate={IN_RATE}",
        "1.3.6.1.2.1.31.1.1.1.10.1": f"70:numeric|initial=5000000000,rate={OUT_RATE}",
        "1.3.6.1.2.1.31.1.1.1.15.1": "66|1000",
        "1.3.6.1.2.1.31.1.1.1.18.1": "4|uplink to core",
    }
    ordered = sorted(lines, key=lambda o: tuple(int(x) for x in o.split(".")))
    return "".join(f"{o}|{lines[o]}\n" for o in ordered)


def prometheus_config(path: Path, target: str, ca: Path) -> None:
    path.write_text(
        f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: fastpoll
    scheme: https
    tls_config:
      ca_file: {ca}
    basic_auth:
      username: prometheus
      password: {PASSWORD}
    static_configs:
      - targets: ["{target}"]
"""
    )


def query(base: str, expr: str) -> list[dict]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["result"]


async def poll_until_prometheus_has_data(
    device: Device, fleet: FleetState, own: SelfMetrics, base: str
) -> tuple[list[dict], list[dict]]:
    """Poll the device the way the daemon does while Prometheus scrapes; return (octet rates, up)."""
    state = new_state(True, "")
    state.has_ports = True  # as if discovery had found the ports: poll_device walks them
    async with SnmpEngine() as engine:
        own.attach_engine(engine, fleet.devices)

        async def poll_forever() -> None:
            while True:
                result = await poll_device(engine, device, state, now=time.time())
                fleet.update(device, result)
                own.observe_poll(result)
                await asyncio.sleep(0.1)

        poller = asyncio.create_task(poll_forever())
        try:
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline and not poller.done():
                await asyncio.sleep(1)
                try:
                    ready = await asyncio.to_thread(query, base, f"count_over_time({IN}[{WINDOW}])")
                except httpx.HTTPError:
                    continue  # Prometheus still starting
                if ready and float(ready[0]["value"][1]) >= 14:
                    rates = [
                        *await asyncio.to_thread(query, base, f"rate({IN}[{WINDOW}])"),
                        *await asyncio.to_thread(query, base, f"rate({OUT}[{WINDOW}])"),
                    ]
                    return rates, await asyncio.to_thread(query, base, 'up{job="fastpoll"}')
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
    return [], []


def test_prometheus_rate_of_scraped_octets_matches_the_simulated_rate(tmp_path: Path):
    if not Path(PROMETHEUS).exists():
        pytest.skip("prometheus not installed")
    data = tmp_path / "data"
    data.mkdir()
    (data / "edge.snmprec").write_text(recording())
    cert, key = self_signed_cert(tmp_path)
    settings = MetricsSettings(
        listen=f"127.0.0.1:{free_tcp_port()}",
        tls_cert=cert,
        tls_key=key,
        basic_auth_user="prometheus",
        basic_auth_password=SecretStr(bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()),
    )
    fleet = FleetState(interval_of=lambda d: 1.0)
    own = SelfMetrics()
    with snmpsim(data, "edge", tmp_path / "cache") as agent:
        device = Device(
            1,
            "edge1.example.net",
            Target(agent.host, agent.port, credentials=Credentials("2c", "edge")),
            sys_name="edge1",
        )
        server = start_metrics_server(settings, fleet, own, {"poller": lambda: True})
        prom_port = free_tcp_port()
        prometheus_config(tmp_path / "prometheus.yml", f"127.0.0.1:{server.address[1]}", cert)
        prom = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{prom_port}"
        try:
            rates, up = asyncio.run(poll_until_prometheus_has_data(device, fleet, own, base))
        finally:
            server.stop()
            prom.terminate()
            try:
                prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prom.kill()
    assert rates, "Prometheus never stored 10 s of fastpoll samples: " + (
        prom.stderr.read().decode()[-2000:] if prom.stderr else ""
    )
    assert float(up[0]["value"][1]) == 1  # scraped over TLS with basic auth
    assert [(r["metric"]["ifname"], r["metric"]["ifalias"]) for r in rates] == [
        ("eth0", "uplink to core")
    ] * 2
    values = sorted(float(r["value"][1]) for r in rates)
    # A scrape reads the latest poll, up to one poll duration (~0.5 s with snmpsim) old: over 15 s of samples
    # that jitter moves rate() by a few percent.
    assert values[0] == pytest.approx(OUT_RATE, rel=0.15)
    assert values[1] == pytest.approx(IN_RATE, rel=0.15)
