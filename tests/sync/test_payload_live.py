"""sync/payload.py against the real Payload 3.90 production build: each quirk of RECIPE.md, handled."""

from __future__ import annotations

import httpx
import pytest

from sync.models import NETWORK_DEVICES, NetworkDeviceCreate, NetworkDevicePatch
from sync.payload import (
    PayloadAuthError,
    PayloadClient,
    PayloadCoercionError,
    PayloadNotFound,
    PayloadServerError,
    PayloadValidationError,
    RetryPolicy,
)

pytestmark = pytest.mark.payload


@pytest.fixture
async def client(payload):
    base_url, key = payload
    async with PayloadClient(base_url, key, retry=RetryPolicy(attempts=1)) as c:
        yield c


async def test_the_key_authenticates_as_the_api_user(client):
    user = await client.whoami()
    assert user is not None and user["email"] == "fastpoll@example.test"


async def test_a_wrong_key_is_a_403_auth_error_on_collections_and_no_user_on_me(payload):
    base_url, _ = payload
    async with PayloadClient(base_url, "wrong") as bad:
        assert await bad.whoami() is None
        with pytest.raises(PayloadAuthError):
            await bad.find(NETWORK_DEVICES)


async def test_a_duplicate_hostname_is_a_validation_error_on_that_path_despite_minified_names(client):
    await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="r1"))
    with pytest.raises(PayloadValidationError) as exc_info:
        await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="r1"))
    assert exc_info.value.unique_violations == ("hostname",)


async def test_a_missing_required_field_names_its_path(client):
    with pytest.raises(PayloadValidationError) as exc_info:
        await client.request("POST", NETWORK_DEVICES, body={"os": "ios"})
    assert exc_info.value.paths == ("hostname",)


async def test_a_query_on_an_unknown_field_names_the_path(client):
    with pytest.raises(PayloadValidationError) as exc_info:
        await client.find(NETWORK_DEVICES, where={"nofield": {"equals": 1}})
    assert exc_info.value.paths == ("nofield",)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
async def test_a_wrong_type_is_refused_before_sending_and_caught_after_if_it_slips_through(client):
    with pytest.raises(ValueError, match="librenmsId"):
        NetworkDevicePatch.model_validate({"librenmsId": "abc"})
    slipped = NetworkDeviceCreate.model_construct(hostname="r9", librenmsId="abc")  # bypasses validation
    with pytest.raises(PayloadCoercionError) as exc_info:
        await client.create(NETWORK_DEVICES, slipped)
    assert exc_info.value.paths == ("librenmsId",)  # Payload stored null with a 201


async def test_a_non_numeric_id_gives_500_from_payload_so_the_client_refuses_it(client):
    with pytest.raises(PayloadServerError):
        await client.request("GET", f"{NETWORK_DEVICES}/abc")
    with pytest.raises(ValueError):
        await client.get(NETWORK_DEVICES, "abc")  # type: ignore[arg-type]


async def test_a_missing_document_is_not_found(client):
    with pytest.raises(PayloadNotFound):
        await client.get(NETWORK_DEVICES, 999_999)


async def test_a_body_without_json_content_type_fails_so_the_client_always_sends_it(payload, client):
    base_url, key = payload
    headers = {"Authorization": f"users API-Key {key}", "Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient() as plain:
        raw = await plain.post(
            f"{base_url}/api/{NETWORK_DEVICES}", content=b'{"hostname":"x"}', headers=headers
        )
    assert raw.status_code == 500
    assert (await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="x")))["hostname"] == "x"


async def test_paging_by_id_returns_every_document_once(client):
    for i in range(7):
        await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname=f"h{i}"))
    docs = await client.find_all(NETWORK_DEVICES, page_size=3)
    assert [d["hostname"] for d in docs] == [f"h{i}" for i in range(7)]


async def test_null_clears_a_field(client):
    doc = await client.create(NETWORK_DEVICES, NetworkDeviceCreate(hostname="r1", os="ios"))
    updated = await client.update(NETWORK_DEVICES, doc["id"], NetworkDevicePatch(os=None))
    assert updated["os"] is None
