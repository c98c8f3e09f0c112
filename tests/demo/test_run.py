"""`fastpoll demo` as a newcomer runs it: simulated devices, SQLite, the daemon, a summary at the end."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from poller.demo.run import BASE_ADDRESS, populate
from poller.demo.run import free_port as free_udp_port
from poller.sim.generate import fleet_agents, generate_fleet
from poller.sim.responder import Responder
from tests.support.net import free_tcp_port


def test_a_scripted_demo_polls_the_simulated_fleet_into_sqlite_and_exits_0(tmp_path):
    db = tmp_path / "demo.sqlite"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "poller.cli",
            "demo",
            "--duration",
            "8",
            "--devices",
            "5",
            "--ports",
            "8",
            "--interval",
            "2",
            "--no-live",
            "--db",
            str(db),
            "--metrics-listen",
            f"127.0.0.1:{free_tcp_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "metrics: http://127.0.0.1:" in out.stdout
    assert "summary: devices 5" in out.stdout
    with sqlite3.connect(db) as conn:
        polled = conn.execute("SELECT COUNT(*) FROM devices WHERE last_polled IS NOT NULL").fetchone()[0]
        counters = conn.execute("SELECT COUNT(*) FROM ports WHERE ifInOctets_rate IS NOT NULL").fetchone()[0]
    assert polled >= 4
    assert counters > 0  # a second poll happened and rates were computed


async def test_a_second_demo_run_points_the_kept_devices_at_its_new_simulator_port(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'demo.sqlite'}"

    def fleet(devices: int) -> list:
        port = free_udp_port(BASE_ADDRESS)
        return generate_fleet(devices, 4, base_address=BASE_ADDRESS, port=port, community="demo")

    first = fleet(3)
    async with Responder(fleet_agents(first)):
        assert await populate(db_url, first) == 3
    second = fleet(4)
    async with Responder(fleet_agents(second)):
        assert await populate(db_url, second) == 1  # only the device the first run lacked is discovered
    with sqlite3.connect(tmp_path / "demo.sqlite") as conn:
        stored = dict(conn.execute("SELECT hostname, port FROM devices").fetchall())
    assert stored == {dev.host: second[0].port for dev in second}
