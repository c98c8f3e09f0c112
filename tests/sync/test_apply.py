"""sync/apply.py against a real Payload 3 (tests/payload_app) and LibreNMS's real schema in MariaDB."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from sync import reconcile
from sync.apply import apply_plan, sync_once
from sync.librenms_db import make_engine, read_devices
from sync.models import NETWORK_DEVICES, LibreDevice
from sync.payload import CircuitBreaker, PayloadAuthError, PayloadClient, RetryPolicy

from .conftest import PayloadServer

pytestmark = [pytest.mark.payload, pytest.mark.mariadb]


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The real HTTP transport, remembering each request (method, path, JSON body)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, dict | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        return await super().handle_async_request(request)

    def writes(self) -> list[tuple[str, str, dict | None]]:
        return [r for r in self.requests if r[0] != "GET"]


@pytest.fixture
def librenms(librenms_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(librenms_url)
    yield engine
    engine.dispose()


def add_devices(engine: sa.Engine, *rows: dict) -> None:
    with engine.begin() as conn:
        for row in rows:
            row = {"status_reason": "", "status": 1, "os": "ios", **row}
            if "ip" in row:
                row["ip"] = ipaddress.ip_address(row["ip"]).packed
            names = ", ".join(f"`{k}`" for k in row)
            conn.execute(
                sa.text(f"INSERT INTO devices ({names}) VALUES ({', '.join(':' + k for k in row)})"), row
            )


def fleet(n: int, start: int = 1) -> list[dict]:
    return [
        {"device_id": i, "hostname": f"r{i}.example.net", "ip": f"10.0.{i // 250}.{i % 250 + 1}"}
        for i in range(start, start + n)
    ]


def client_for(payload: tuple[str, str], transport: httpx.AsyncBaseTransport | None = None) -> PayloadClient:
    base_url, key = payload
    return PayloadClient(base_url, key, transport=transport)


async def docs_of(client: PayloadClient) -> list[dict]:
    return await client.find_all(NETWORK_DEVICES)


async def test_first_sync_creates_one_document_per_device(payload, librenms):
    add_devices(librenms, *fleet(5))
    async with client_for(payload) as client:
        result = await sync_once(client, read_devices(librenms))
        docs = await docs_of(client)
    assert result.report is not None and len(result.report.created) == 5 and result.report.ok
    assert sorted(d["librenmsId"] for d in docs) == [1, 2, 3, 4, 5]
    assert {d["hostname"]: d["ip"] for d in docs}["r3.example.net"] == "10.0.0.4"
    assert all(d["status"] == "up" and d["lastSyncedAt"] for d in docs)


async def test_second_sync_with_nothing_changed_sends_no_write(payload, librenms):
    add_devices(librenms, *fleet(5))
    transport = RecordingTransport()
    async with client_for(payload, transport) as client:
        await sync_once(client, read_devices(librenms))
        transport.requests.clear()
        result = await sync_once(client, read_devices(librenms))
    assert result.plan.is_empty and result.report is not None and result.report.writes == 0
    assert transport.writes() == []


async def test_a_changed_librenms_row_becomes_one_patch_of_that_field(payload, librenms):
    add_devices(librenms, *fleet(3))
    transport = RecordingTransport()
    async with client_for(payload, transport) as client:
        await sync_once(client, read_devices(librenms))
        with librenms.begin() as conn:
            conn.execute(sa.text("UPDATE devices SET version = '17.9' WHERE device_id = 2"))
        transport.requests.clear()
        await sync_once(client, read_devices(librenms))
        (method, path, body), *others = transport.writes()
        doc = await client.get(NETWORK_DEVICES, int(path.rsplit("/", 1)[1]))
    assert others == []
    assert method == "PATCH"
    assert body is not None and set(body) == {"version", "lastSyncedAt"}  # lastSyncedAt: bookkeeping
    assert (doc["librenmsId"], doc["version"]) == (2, "17.9")


async def test_a_device_removed_from_librenms_is_marked_not_deleted(payload, librenms):
    add_devices(librenms, *fleet(3))
    async with client_for(payload) as client:
        await sync_once(client, read_devices(librenms))
        with librenms.begin() as conn:
            conn.execute(sa.text("DELETE FROM devices WHERE device_id = 3"))
        result = await sync_once(client, read_devices(librenms))
        docs = {d["librenmsId"]: d for d in await docs_of(client)}
    assert result.report is not None and len(result.report.marked_removed) == 1
    assert docs[3]["removedFromLibrenms"] is True and docs[1]["removedFromLibrenms"] is False


async def test_prune_deletes_the_document_of_a_removed_device(payload, librenms):
    add_devices(librenms, *fleet(3))
    async with client_for(payload) as client:
        await sync_once(client, read_devices(librenms))
        with librenms.begin() as conn:
            conn.execute(sa.text("DELETE FROM devices WHERE device_id = 3"))
        await sync_once(client, read_devices(librenms), prune=True)
        assert sorted(d["librenmsId"] for d in await docs_of(client)) == [1, 2]


async def test_a_duplicate_hostname_in_librenms_is_reported_and_not_written(payload, librenms):
    add_devices(librenms, *fleet(2), {"device_id": 7, "hostname": "r1.example.net"})
    async with client_for(payload) as client:
        result = await sync_once(client, read_devices(librenms))
        docs = await docs_of(client)
    (conflict,) = result.plan.conflicts
    assert conflict.kind == "duplicate_hostname" and conflict.librenms_ids == (1, 7)
    assert [d["librenmsId"] for d in docs] == [2]


async def test_a_bad_api_key_gives_an_auth_error(payload, librenms):
    base_url, _ = payload
    async with PayloadClient(base_url, "not-the-key") as client:
        with pytest.raises(PayloadAuthError):
            await sync_once(client, [])


async def test_one_refused_document_is_reported_and_the_rest_are_written(payload, librenms):
    add_devices(librenms, *fleet(4))
    devices = read_devices(librenms)
    async with client_for(payload) as client:
        stale = reconcile.plan(devices, [])
        # Meanwhile someone creates r2's hostname by hand, for another device: the create must fail alone.
        await client.request("POST", NETWORK_DEVICES, body={"hostname": "r2.example.net", "librenmsId": 99})
        report = await apply_plan(client, stale)
    assert len(report.created) == 3
    (failure,) = report.failures
    assert failure.action.hostname == "r2.example.net" and failure.fields == ("hostname",)


async def test_a_create_whose_answer_was_lost_counts_as_created_not_duplicated(payload):
    device = LibreDevice(device_id=5, hostname="r5.example.net")
    async with client_for(payload) as client:
        first = await apply_plan(client, reconcile.plan([device], []))
        again = await apply_plan(client, reconcile.plan([device], []))  # as if the first answer never came
        docs = await docs_of(client)
    assert again.ok and again.created == first.created
    assert len(docs) == 1


@pytest.mark.slow
async def test_payload_stopped_mid_sync_then_restarted_resumes_without_duplicates(
    restartable_payload: PayloadServer, librenms
):
    add_devices(librenms, *fleet(40))
    devices = read_devices(librenms)
    server = restartable_payload

    def client() -> PayloadClient:
        return PayloadClient(
            server.base_url,
            server.api_key,
            retry=RetryPolicy(attempts=2, base=0.05),
            breaker=CircuitBreaker(threshold=3, reset_after=60),
        )

    def stop_after_ten(done: int) -> None:
        if done == 10:
            server.stop()

    async with client() as c:
        the_plan = reconcile.plan(devices, await docs_of(c))
        first = await apply_plan(c, the_plan, concurrency=4, on_progress=stop_after_ten)
    assert first.aborted is not None and 10 <= len(first.created) < 40

    server.start()
    async with client() as c:
        resumed = await sync_once(c, devices)
        docs = await docs_of(c)
        last = await sync_once(c, devices)
    assert resumed.report is not None and resumed.report.ok
    assert sorted(d["librenmsId"] for d in docs) == list(range(1, 41))
    assert last.plan.is_empty
