"""Fixtures of the API tests: a populated FleetState, the app over ASGITransport, the real Payload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from poller.api import AlertQueue, ApiSettings, build_app
from poller.metrics import FleetState
from tests.metrics.fleet import device, port, result
from tests.sync.conftest import payload, payload_app, payload_server, restartable_payload  # noqa: F401

TOKEN = "api-token-0123456789"
SECRET = "relay-secret-9876543210"


def fleet() -> FleetState:
    """Two devices up in poller groups 0 and 1, one down; ports with rates on sw1."""
    state = FleetState(interval_of=lambda d: 60.0)
    with_rates = port(
        1,
        name="xe-0/0/1",
        alias="uplink to core",
        rates={"ifInOctets": 1250.0, "ifOutOctets": 250.0, "ifInErrors": 0.5, "ifOutErrors": 0.0},
    )
    state.update(device(1), result(1, [with_rates, port(2, oper="down")], polled=1_700_000_000))
    state.update(replace(device(2, sys_name="edge-two"), poller_group=1), result(2, [port(1)]))
    state.update(device(3, "core3.example.net"), result(3, up=False, uptime=None, error="timeout"))
    return state


@pytest.fixture
def settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        listen="127.0.0.1:0",
        token=SecretStr(TOKEN),
        relay_secret=SecretStr(SECRET),
        queue_path=tmp_path / "queue.sqlite3",
        retry_delay=0.05,
    )


@pytest.fixture
async def queue(settings: ApiSettings) -> AsyncIterator[AlertQueue]:
    async with AlertQueue(settings.queue_path) as q:
        yield q


@pytest.fixture
async def api(settings: ApiSettings, queue: AlertQueue) -> AsyncIterator[httpx.AsyncClient]:
    """The app (fleet() and the queue) over httpx's ASGI transport: real requests, no socket."""
    app = build_app(settings, fleet(), queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://fastpoll") as client:
        yield client
