"""Benchmark of ``fastpoll sync``: N synthetic LibreNMS devices into an empty Payload, then the no-change run.

    .venv/bin/python benchmarks/sync_bench.py [--devices 10000] [--concurrency 8] [--payload-url URL]

Without --payload-url it starts the test Payload (tests/payload_app, built first: see tests/sync/conftest.py)
on a free port with a fresh in-memory DB, and stops it at the end. With --payload-url the key comes from
FASTPOLL_PAYLOAD_API_KEY and the collection must be empty. Prints the time of each run and writes per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sync.apply import sync_once  # noqa: E402
from sync.models import LibreDevice  # noqa: E402
from sync.payload import PayloadClient, api_key_from_env  # noqa: E402

APP = REPO / "tests" / "payload_app"


def synthetic_devices(n: int, changed_every: int = 0) -> list[LibreDevice]:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    return [
        LibreDevice(
            device_id=i,
            hostname=f"cpe-{i:06d}.pop{i % 40}.example.net",
            ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            sys_name=f"cpe-{i:06d}",
            os="airos" if i % 3 else "routeros",
            hardware="LiteBeam 5AC" if i % 3 else "hAP ac2",
            version="8.7.11" if not (changed_every and i % changed_every == 0) else "8.7.12",
            serial=f"SN{i:08d}",
            location=f"POP {i % 40}",
            status=i % 50 != 0,
            status_reason="" if i % 50 else "icmp",
            uptime=86_400 + i,
            last_polled=t0 + timedelta(seconds=i % 300),
            poller_group=i % 4,
        )
        for i in range(1, n + 1)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run(url: str, key: str, n: int, concurrency: int) -> None:
    devices = synthetic_devices(n)
    async with PayloadClient(url, key) as client:
        t = time.perf_counter()
        first = await sync_once(client, devices, concurrency=concurrency)
        full = time.perf_counter() - t
        assert first.report is not None and first.report.ok, first.report
        t = time.perf_counter()
        second = await sync_once(client, devices, concurrency=concurrency)
        unchanged = time.perf_counter() - t
        assert second.report is not None and second.report.writes == 0
        changed = synthetic_devices(n, changed_every=100)
        t = time.perf_counter()
        third = await sync_once(client, changed, concurrency=concurrency)
        one_percent = time.perf_counter() - t
        assert third.report is not None
    print(f"devices: {n}, concurrency: {concurrency}")
    print(f"full sync into an empty Payload: {full:8.2f} s  ({n / full:7.1f} creates/s)")
    print(f"no-change run (read all + diff): {unchanged:8.2f} s  (0 writes)")
    print(f"1% changed (version field):      {one_percent:8.2f} s  ({third.report.writes} PATCHes)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--payload-url")
    args = parser.parse_args()
    if args.payload_url:
        asyncio.run(
            run(
                args.payload_url,
                api_key_from_env(os.environ).get_secret_value(),
                args.devices,
                args.concurrency,
            )
        )
        return 0
    if not (APP / ".next" / "BUILD_ID").exists():
        print("build the test app first: cd tests/payload_app && npm ci && npm run build", file=sys.stderr)
        return 2
    key = str(uuid.uuid4())
    port = free_port()
    env = dict(os.environ, FASTPOLL_PAYLOAD_API_KEY=key)
    pid = int(
        subprocess.run(
            [str(APP / "scripts" / "start-test-server.sh"), str(port)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
    )
    try:
        asyncio.run(run(f"http://127.0.0.1:{port}", key, args.devices, args.concurrency))
    finally:
        os.kill(pid, 15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
