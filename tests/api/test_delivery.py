"""poller/api/delivery.py against a real Payload: open, resolve, acknowledge, Payload down, duplicates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from poller.api.delivery import AlertDelivery
from poller.api.queue import AlertQueue
from poller.api.relay import parse_alert
from sync.models import CRISIS_EVENTS, NETWORK_DEVICES, NetworkDeviceCreate
from sync.payload import PayloadClient, RetryPolicy
from tests.support.net import free_tcp_port

pytestmark = pytest.mark.payload


def alert(state: int, alert_id: int = 17, device_id: int = 1, **extra: object):
    body = {
        "alert_id": alert_id,
        "device_id": device_id,
        "hostname": f"r{device_id}",
        "state": state,
        "severity": "critical",
        "title": "High CPU",
        "timestamp": "2026-11-25 05:00:00",
        **extra,
    }
    return parse_alert(json.dumps(body).encode())


@pytest.fixture
async def client(payload: tuple[str, str]) -> AsyncIterator[PayloadClient]:
    base_url, key = payload
    async with PayloadClient(base_url, key) as c:
        yield c


async def deliver_all(queue: AlertQueue, client: PayloadClient) -> AlertDelivery:
    delivery = AlertDelivery(queue, client, retry_delay=0.05)
    delivery.start()
    delivery.wake()
    await delivery.wait_idle()
    await delivery.stop()
    return delivery


async def test_an_active_alert_opens_one_event_linked_to_its_device(queue: AlertQueue, client: PayloadClient):
    device = await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="r1", librenmsId=1))
    await queue.append(alert(1))
    await deliver_all(queue, client)
    (event,) = await client.find_all(CRISIS_EVENTS)
    assert (event["type"], event["device"], event["severity"], event["resolvedAt"]) == (
        "librenms_alert",
        device["id"],
        "critical",
        None,
    )
    assert event["startedAt"] == "2026-11-25T05:00:00.000Z" and "High CPU" in event["message"]
    assert [r["outcome"] for r in await queue.rows()] == ["opened"]


async def test_clear_resolves_the_event_of_the_same_alert_id(queue: AlertQueue, client: PayloadClient):
    await queue.append(alert(1))
    await queue.append(alert(1, alert_id=18))  # another rule on the same device stays open
    await queue.append(alert(0))
    await deliver_all(queue, client)
    events = {e["dedupKey"]: e for e in await client.find_all(CRISIS_EVENTS)}
    assert events["librenms_alert:1:alert-17"]["resolvedAt"] is not None
    assert events["librenms_alert:1:alert-18"]["resolvedAt"] is None
    assert [r["outcome"] for r in await queue.rows()] == ["opened", "opened", "resolved"]


async def test_the_same_alert_delivered_twice_creates_one_event(queue: AlertQueue, client: PayloadClient):
    await queue.append(alert(1))
    await queue.append(alert(1))  # LibreNMS re-sent it
    await queue.append(alert(3))  # worse: still the same open event
    await deliver_all(queue, client)
    assert len(await client.find_all(CRISIS_EVENTS)) == 1
    assert [r["outcome"] for r in await queue.rows()] == ["opened", "already", "already"]


async def test_a_redelivery_after_a_lost_mark_changes_nothing(queue: AlertQueue, client: PayloadClient):
    await queue.append(alert(1))
    await deliver_all(queue, client)
    (item,) = [await queue.append(alert(1))]  # as if the first mark had never been written
    delivery = AlertDelivery(queue, client)
    (pending,) = await queue.pending()
    assert pending.seq == item
    assert await delivery.deliver(pending) is True
    assert len(await client.find_all(CRISIS_EVENTS)) == 1


async def test_an_acknowledgement_is_recorded_and_sends_nothing(queue: AlertQueue, client: PayloadClient):
    await queue.append(alert(2))
    await deliver_all(queue, client)
    assert await client.find_all(CRISIS_EVENTS) == []
    assert [(r["status"], r["outcome"]) for r in await queue.rows()] == [("delivered", "acknowledged")]


async def test_alerts_queued_while_payload_is_down_are_delivered_once_when_it_returns(
    tmp_path: Path, client: PayloadClient, payload: tuple[str, str]
):
    path = tmp_path / "queue.sqlite3"
    # Payload down: a real connection to a port nobody listens on (refused), one attempt per try
    dead = f"http://127.0.0.1:{free_tcp_port()}"
    async with (
        AlertQueue(path) as queue,
        PayloadClient(dead, payload[1], retry=RetryPolicy(attempts=1)) as down,
    ):
        await queue.append(alert(1))
        await queue.append(alert(0))
        stalled = AlertDelivery(queue, down, retry_delay=0.01)
        head, _ = await queue.pending()
        assert await stalled.deliver(head) is False  # Payload unavailable: kept for later
        assert await stalled.deliver(head) is False
        rows = await queue.rows()
        assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 2), ("pending", 0)]
    # fastpoll restarts with Payload back: the same file, delivered in order, each once
    async with AlertQueue(path) as queue:
        await deliver_all(queue, client)
        await deliver_all(queue, client)  # a second delivery pass finds nothing pending
        (event,) = await client.find_all(CRISIS_EVENTS)
        assert event["resolvedAt"] is not None
        assert [(r["status"], r["outcome"]) for r in await queue.rows()] == [
            ("delivered", "opened"),
            ("delivered", "resolved"),
        ]
