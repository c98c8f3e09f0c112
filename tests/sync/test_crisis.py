"""sync/crisis.py: crisis events opened and resolved in a real Payload, idempotent across restarts."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from sync.crisis import CrisisConfig, CrisisNotifier
from sync.models import CRISIS_EVENTS, NETWORK_DEVICES, NetworkDeviceCreate
from sync.payload import CircuitBreaker, PayloadClient, RetryPolicy

from .conftest import PayloadServer

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UPLINKS = CrisisConfig(uplink_pattern=re.compile(r"^(xe-|uplink)"))


async def events(client: PayloadClient) -> list[dict]:
    return await client.find_all(CRISIS_EVENTS)


def test_a_full_queue_drops_and_counts_without_blocking():
    notifier = CrisisNotifier(PayloadClient("http://127.0.0.1:9", "k"), queue_size=2)  # never started
    accepted = [notifier.device_down(i, f"r{i}", T0, "icmp") for i in range(3)]
    assert accepted == [True, True, False]
    assert (notifier.stats.queued, notifier.stats.dropped) == (2, 1)


def test_ports_not_matching_the_uplink_pattern_are_ignored():
    notifier = CrisisNotifier(PayloadClient("http://127.0.0.1:9", "k"), UPLINKS)
    assert notifier.port_down(1, "r1", "xe-0/0/1", T0) is True
    assert notifier.port_down(1, "r1", "ge-0/0/7", T0) is False


@pytest.fixture
async def client(payload):
    base_url, key = payload
    async with PayloadClient(base_url, key) as c:
        yield c


@pytest.mark.payload
async def test_device_down_opens_one_event_linked_to_the_device(client):
    doc = await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="r1", librenmsId=1))
    async with CrisisNotifier(client) as notifier:
        notifier.device_down(1, "r1", T0, "icmp timeout")
    (event,) = await events(client)
    assert (event["device"], event["type"], event["severity"], event["resolvedAt"]) == (
        doc["id"],
        "device_down",
        "critical",
        None,
    )
    assert event["startedAt"] == "2026-03-01T12:00:00.000Z" and "icmp timeout" in event["message"]


@pytest.mark.payload
async def test_device_down_again_after_a_notifier_restart_does_not_duplicate(client):
    async with CrisisNotifier(client) as notifier:
        notifier.device_down(1, "r1", T0)
    async with CrisisNotifier(client) as notifier:  # the daemon restarted and saw the device down again
        notifier.device_down(1, "r1", T0 + timedelta(minutes=5))
    assert len(await events(client)) == 1
    assert notifier.stats.already == 1


@pytest.mark.payload
async def test_device_up_resolves_the_open_event_after_a_restart(client):
    async with CrisisNotifier(client) as notifier:
        notifier.device_down(1, "r1", T0)
    async with CrisisNotifier(client) as notifier:
        notifier.device_up(1, "r1", T0 + timedelta(minutes=3))
        notifier.device_up(1, "r1", T0 + timedelta(minutes=4))  # a second "up" changes nothing
    (event,) = await events(client)
    assert event["resolvedAt"] == "2026-03-01T12:03:00.000Z" and event["openKey"] is None


@pytest.mark.payload
async def test_a_device_that_goes_down_again_gets_a_new_event(client):
    async with CrisisNotifier(client) as notifier:
        notifier.device_down(1, "r1", T0)
        notifier.device_up(1, "r1", T0 + timedelta(minutes=1))
        notifier.device_down(1, "r1", T0 + timedelta(minutes=2))
    first, second = sorted(await events(client), key=lambda e: e["id"])
    assert first["resolvedAt"] is not None and second["resolvedAt"] is None


@pytest.mark.payload
async def test_two_notifiers_racing_open_one_event(client):
    one, two = CrisisNotifier(client), CrisisNotifier(client)
    down = [n.device_down(1, "r1", T0) for n in (one, two)]
    assert down == [True, True]
    async with one, two:
        pass
    assert len(await events(client)) == 1
    assert one.stats.opened + two.stats.opened == 1 and one.stats.failed + two.stats.failed == 0


@pytest.mark.payload
async def test_a_reboot_is_recorded_once_as_a_resolved_event(client):
    async with CrisisNotifier(client) as notifier:
        notifier.device_rebooted(1, "r1", T0, "uptime went back to 12s")
        notifier.device_rebooted(1, "r1", T0)
    (event,) = await events(client)
    assert (event["type"], event["severity"], event["resolvedAt"]) == (
        "device_rebooted",
        "warning",
        "2026-03-01T12:00:00.000Z",
    )


@pytest.mark.payload
async def test_an_uplink_port_down_opens_and_up_resolves_its_own_event(client):
    async with CrisisNotifier(client, UPLINKS) as notifier:
        notifier.port_down(1, "r1", "xe-0/0/1", T0, "ifOperStatus down")
        notifier.device_down(1, "r1", T0)
        notifier.port_up(1, "r1", "xe-0/0/1", T0 + timedelta(minutes=1))
    by_type = {e["type"]: e for e in await events(client)}
    assert by_type["port_down"]["subject"] == "xe-0/0/1" and by_type["port_down"]["resolvedAt"] is not None
    assert by_type["device_down"]["resolvedAt"] is None


@pytest.mark.payload
@pytest.mark.slow
async def test_transitions_wait_while_payload_is_down_and_are_written_when_it_returns(
    restartable_payload: PayloadServer,
):
    server = restartable_payload
    server.stop()
    client = PayloadClient(
        server.base_url,
        server.api_key,
        retry=RetryPolicy(attempts=1),
        breaker=CircuitBreaker(threshold=100),
    )
    async with client, CrisisNotifier(client, retry_delay=0.2) as notifier:
        assert notifier.device_down(1, "r1", T0) is True  # returns at once though Payload is down
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)
        await asyncio.wait_for(notifier.drain(), 30)
        (event,) = await events(client)
    assert event["type"] == "device_down" and notifier.stats.opened == 1


@pytest.mark.payload
async def test_an_event_whose_device_document_vanished_is_kept_without_the_link(client, monkeypatch):
    notifier = CrisisNotifier(client)

    async def deleted_meanwhile(device_id: int) -> int:
        return 999_999  # Payload answers a dangling relationship with 500 (SQLite foreign key)

    monkeypatch.setattr(notifier, "_device_doc_id", deleted_meanwhile)
    async with notifier:
        notifier.device_down(1, "r1", T0)
    (event,) = await events(client)
    assert event["device"] is None and event["librenmsId"] == 1 and notifier.stats.opened == 1
