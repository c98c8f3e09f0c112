"""`fastpoll demo` as a newcomer runs it: simulated devices, SQLite, the daemon, a summary at the end."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

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
