"""The daemon opens crisis events in a real Payload when the fast path declares a device down."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from poller.config import load_config
from poller.daemon import Daemon
from tests.support.librenms_rows import insert_device
from tests.support.net import free_tcp_port, free_udp_port

pytestmark = [pytest.mark.payload, pytest.mark.mariadb]


async def crisis_events(base_url: str, key: str) -> list[dict]:
    async with httpx.AsyncClient() as client:
        r = await client.get(
            f"{base_url}/api/crisis-events",
            params={"depth": 0, "limit": 0},
            headers={"Authorization": f"users API-Key {key}"},
        )
    r.raise_for_status()
    return r.json()["docs"]


async def run_daemon(url: str, base_url: str, key: str, seconds: float) -> None:
    config = load_config(
        None,
        {
            "FASTPOLL_DATABASE__URL": url,
            "FASTPOLL_POLLING__DEFAULT_INTERVAL": "1",
            "FASTPOLL_POLLING__DOWN_AFTER": "1",
            "FASTPOLL_METRICS__LISTEN": f"127.0.0.1:{free_tcp_port()}",
            "FASTPOLL_PAYLOAD__URL": base_url,
            "FASTPOLL_PAYLOAD__API_KEY": key,
        },
    )
    daemon = Daemon(config)
    task = asyncio.create_task(daemon.serve(install_signals=False))
    await asyncio.sleep(seconds)
    daemon.request_stop()
    assert await asyncio.wait_for(task, 30) == 0


async def test_a_dead_device_opens_one_crisis_event_across_a_daemon_restart(payload, librenms_url):
    base_url, key = payload
    device = insert_device(librenms_url, community="x", port=free_udp_port(), hostname="127.0.0.1", retries=0)
    await run_daemon(librenms_url, base_url, key, 3.0)
    await run_daemon(librenms_url, base_url, key, 2.5)  # still down after the restart: no second event
    events = await crisis_events(base_url, key)
    assert len(events) == 1
    assert events[0]["type"] == "device_down" and events[0]["librenmsId"] == device
    assert events[0].get("resolvedAt") is None
