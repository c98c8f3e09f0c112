"""sync/librenms_api.py: devices created in Payload are added to LibreNMS and their id written back.

LibreNMS itself (PHP + Laravel + its web server) cannot run here, so its API is a test double: an
httpx.MockTransport answering as LibreNMS's API v0 documents it (doc/API/Devices.md, app/Guards/
ApiTokenGuard.php, includes/html/api_functions.inc.php; see /work/shared/librenms/TESTDATA-API-SNMPSIM.md B).
Payload is the real one.
"""

from __future__ import annotations

import json

import httpx
import pytest

from sync.librenms_api import LibrenmsApi, LibrenmsAuthError, push_new_devices
from sync.models import NETWORK_DEVICES, NetworkDeviceCreate
from sync.payload import PayloadClient

TOKEN = "0123456789abcdef-librenms-token"


class FakeLibrenms:
    """LibreNMS API v0 devices routes, as documented."""

    def __init__(self, existing: dict[str, int] | None = None) -> None:
        self.devices: dict[str, int] = dict(existing or {})
        self.next_id = 100
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("X-Auth-Token") != TOKEN:
            return httpx.Response(401, json={"message": "Unauthenticated."})
        path = request.url.path
        if request.method == "POST" and path == "/api/v0/devices":
            body = json.loads(request.content)
            hostname = body.get("hostname")
            if not hostname:
                return httpx.Response(400, json={"status": "error", "message": "Missing the device hostname"})
            if hostname in self.devices:
                message = f"Already have device {hostname}"
                return httpx.Response(500, json={"status": "error", "message": message})
            self.next_id += 1
            self.devices[hostname] = self.next_id
            return httpx.Response(
                200,
                json={
                    "status": "ok",
                    "message": f"Device {hostname} ({self.next_id}) has been added successfully",
                    "devices": [{"device_id": str(self.next_id), "hostname": hostname, **body}],
                },
            )
        if request.method == "GET" and path.startswith("/api/v0/devices/"):
            hostname = path.rsplit("/", 1)[1]
            if hostname not in self.devices:
                return httpx.Response(
                    404, json={"status": "error", "message": f"Device {hostname} does not exist"}
                )
            device = {"device_id": str(self.devices[hostname]), "hostname": hostname}
            return httpx.Response(200, json={"status": "ok", "devices": [device], "count": 1})
        return httpx.Response(404, json={"status": "error", "message": "route not found"})


def api(fake: FakeLibrenms, token: str = TOKEN) -> LibrenmsApi:
    return LibrenmsApi("http://127.0.0.1:8000", token, transport=httpx.MockTransport(fake))


async def test_add_device_sends_the_token_header_and_returns_the_new_id():
    fake = FakeLibrenms()
    async with api(fake) as librenms:
        device_id = await librenms.add_device("new.example.net", poller_group=2)
    assert device_id == 101
    (request,) = fake.requests
    assert request.headers["X-Auth-Token"] == TOKEN
    assert json.loads(request.content) == {"hostname": "new.example.net", "poller_group": 2}


async def test_a_refused_token_is_an_auth_error_that_does_not_show_the_token():
    async with api(FakeLibrenms(), token="wrong-" + TOKEN) as librenms:
        with pytest.raises(LibrenmsAuthError) as exc_info:
            await librenms.add_device("x")
    assert TOKEN not in str(exc_info.value) and TOKEN not in repr(librenms)


@pytest.mark.payload
async def test_a_device_created_in_payload_is_added_to_librenms_and_gets_its_id(payload):
    base_url, key = payload
    fake = FakeLibrenms()
    async with PayloadClient(base_url, key) as client, api(fake) as librenms:
        doc = await client.create(
            NETWORK_DEVICES, NetworkDeviceCreate(hostname="new.example.net", pollerGroup=3)
        )
        await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="known.example.net", librenmsId=7))
        report = await push_new_devices(client, librenms)
        stored = await client.get(NETWORK_DEVICES, doc["id"])
    assert report.added == {doc["id"]: 101} and report.failed == {}
    assert stored["librenmsId"] == 101
    assert [json.loads(r.content)["hostname"] for r in fake.requests] == ["new.example.net"]
    assert json.loads(fake.requests[0].content)["poller_group"] == 3


@pytest.mark.payload
async def test_an_add_whose_write_back_was_lost_finds_the_existing_id(payload):
    base_url, key = payload
    fake = FakeLibrenms(existing={"new.example.net": 55})
    async with PayloadClient(base_url, key) as client, api(fake) as librenms:
        doc = await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="new.example.net"))
        report = await push_new_devices(client, librenms)
        stored = await client.get(NETWORK_DEVICES, doc["id"])
    assert report.added == {doc["id"]: 55} and stored["librenmsId"] == 55


@pytest.mark.payload
async def test_a_second_push_adds_nothing(payload):
    base_url, key = payload
    fake = FakeLibrenms()
    async with PayloadClient(base_url, key) as client, api(fake) as librenms:
        await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="new.example.net"))
        await push_new_devices(client, librenms)
        again = await push_new_devices(client, librenms)
    assert again.added == {} and len(fake.requests) == 1
