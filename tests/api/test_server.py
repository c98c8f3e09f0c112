"""poller/api/server.py: uvicorn on the caller's event loop, real sockets, the relay end to end."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest

from poller.api import ApiServer, ApiSettings
from sync.models import CRISIS_EVENTS
from sync.payload import CircuitBreaker, PayloadClient, RetryPolicy
from tests.support.net import free_tcp_port

from .conftest import SECRET, TOKEN, fleet
from .test_app import ALERT, RELAY


async def test_the_api_answers_real_http_on_its_own_address_and_stops(settings: ApiSettings):
    server = ApiServer(settings, fleet())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get(
                "/api/v1/devices?status=down", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert [d["device_id"] for d in response.json()["devices"]] == [3]
            assert (await http.get("/api/v1/devices")).status_code == 401
        url = server.url
    finally:
        await server.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{url}/api/v1/openapi.json")


async def test_an_address_in_use_fails_at_start(settings: ApiSettings):
    first = ApiServer(settings, fleet())
    await first.start()
    try:
        second = ApiServer(replace(settings, listen=first.url.removeprefix("http://")), fleet())
        with pytest.raises(OSError):
            await second.start()
    finally:
        await first.stop()


async def test_alerts_are_accepted_while_payload_is_unreachable(settings: ApiSettings):
    dead = f"http://127.0.0.1:{free_tcp_port()}"
    async with PayloadClient(dead, "key", retry=RetryPolicy(attempts=1)) as down:
        server = ApiServer(settings, fleet(), down)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as http:
                for _ in range(3):
                    assert (await http.post("/hooks/librenms", json=ALERT, headers=RELAY)).status_code == 202
            assert server.queue is not None
            assert [r["status"] for r in await server.queue.rows()] == ["pending"] * 3
        finally:
            await server.stop()


@pytest.mark.payload
@pytest.mark.slow
async def test_alerts_posted_while_payload_is_stopped_are_delivered_once_when_it_is_back(
    settings: ApiSettings, restartable_payload
):
    retry, breaker = RetryPolicy(attempts=1), CircuitBreaker(reset_after=0.2)
    async with PayloadClient(
        restartable_payload.base_url, restartable_payload.api_key, retry=retry, breaker=breaker
    ) as client:
        server = ApiServer(settings, fleet(), client)
        await server.start()
        try:
            await asyncio.to_thread(restartable_payload.stop)
            async with httpx.AsyncClient(base_url=server.url) as http:
                for state in (1, 1, 0):  # open, the same again, clear
                    response = await http.post(
                        "/hooks/librenms", json={**ALERT, "state": state}, headers=RELAY
                    )
                    assert response.status_code == 202
            assert server.queue is not None and server.delivery is not None
            await asyncio.sleep(0.3)  # the delivery task has tried and failed by now
            assert {r["status"] for r in await server.queue.rows()} == {"pending"}
            await asyncio.to_thread(restartable_payload.start)
            async with asyncio.timeout(60):
                await server.delivery.wait_idle()
            (event,) = await client.find_all(CRISIS_EVENTS)
            assert event["dedupKey"] == "librenms_alert:1:alert-17" and event["resolvedAt"] is not None
            outcomes = [r["outcome"] for r in await server.queue.rows()]
            assert outcomes == ["opened", "already", "resolved"]
        finally:
            await server.stop()


async def test_the_relay_refuses_everything_without_a_secret(settings: ApiSettings):
    server = ApiServer(replace(settings, relay_secret=None), fleet())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            headers = {"Authorization": f"Bearer {SECRET}"}
            assert (await http.post("/hooks/librenms", json=ALERT, headers=headers)).status_code == 401
    finally:
        await server.stop()
