"""poller/api/app.py: the JSON API and the relay endpoint, through real HTTP requests over ASGI."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from poller.api import AlertQueue
from poller.api.openapi import SPEC

from .conftest import SECRET, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
RELAY = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
ALERT = {
    "alert_id": 17,
    "device_id": 1,
    "hostname": "sw1.example.net",
    "state": 1,
    "severity": "critical",
    "title": "High CPU on sw1",
    "rule": "cpu > 90",
    "timestamp": "2026-11-25 05:48:19",
}

# OpenAPI 3.1 schemas are JSON Schema 2020-12; the whole document is one resource their $refs point into
_REGISTRY = Registry().with_resource("urn:spec", DRAFT202012.create_resource(SPEC))


def conforms(response: httpx.Response, path: str, status: int) -> None:
    """The response validates against the OpenAPI schema of (GET path, status)."""
    assert response.status_code == status, response.text
    declared = SPEC["paths"][path]["get"]["responses"][str(status)]
    schema = declared["content"]["application/json"]["schema"]
    ref = schema["$ref"].replace("#", "urn:spec#")
    validator = jsonschema.Draft202012Validator(
        {"$ref": ref}, registry=_REGISTRY, format_checker=jsonschema.FormatChecker()
    )
    validator.validate(response.json())


# ----------------------------------------------------------------------------------------------- API


@pytest.mark.parametrize(
    "path", ["/api/v1/devices", "/api/v1/devices/1", "/api/v1/devices/1/ports", "/api/v1/devices?status=up"]
)
async def test_no_token_gets_401_and_no_data(api: httpx.AsyncClient, path: str):
    response = await api.get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_wrong_token_gets_401(api: httpx.AsyncClient):
    response = await api.get("/api/v1/devices", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert response.status_code == 401 and "devices" not in response.text


async def test_devices_lists_every_device_by_id(api: httpx.AsyncClient):
    response = await api.get("/api/v1/devices", headers=AUTH)
    conforms(response, "/api/v1/devices", 200)
    body = response.json()
    assert body["count"] == 3
    assert [(d["device_id"], d["status"]) for d in body["devices"]] == [(1, "up"), (2, "up"), (3, "down")]


async def test_a_device_holds_its_latest_poll(api: httpx.AsyncClient):
    response = await api.get("/api/v1/devices/3", headers=AUTH)
    conforms(response, "/api/v1/devices/{device_id}", 200)
    doc = response.json()
    assert (doc["hostname"], doc["status"], doc["reachable"], doc["error"]) == (
        "core3.example.net",
        "down",
        False,
        "timeout",
    )
    assert doc["last_polled"] == "2023-11-14T22:13:20Z" and doc["interval"] == 60.0


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("status=up", [1, 2]),
        ("status=down", [3]),
        ("poller_group=1", [2]),
        ("poller_group=0&status=up", [1]),
        ("hostname=CORE3", [3]),
        ("hostname=edge-two", [2]),  # matches sysName too
        ("hostname=nowhere", []),
    ],
)
async def test_filters_select_devices(api: httpx.AsyncClient, query: str, ids: list[int]):
    response = await api.get(f"/api/v1/devices?{query}", headers=AUTH)
    conforms(response, "/api/v1/devices", 200)
    assert [d["device_id"] for d in response.json()["devices"]] == ids


@pytest.mark.parametrize(
    ("query", "field"), [("status=sideways", "status"), ("poller_group=-1", "poller_group"), ("x=1", "x")]
)
async def test_a_bad_filter_is_a_400_naming_the_parameter(api: httpx.AsyncClient, query: str, field: str):
    response = await api.get(f"/api/v1/devices?{query}", headers=AUTH)
    conforms(response, "/api/v1/devices", 400)
    assert response.json()["fields"][0]["field"] == field


async def test_ports_give_status_and_rates_in_bits_and_errors_per_second(api: httpx.AsyncClient):
    response = await api.get("/api/v1/devices/1/ports", headers=AUTH)
    conforms(response, "/api/v1/devices/{device_id}/ports", 200)
    first, second = response.json()["ports"]
    assert (first["name"], first["oper_status"], first["admin_status"]) == ("xe-0/0/1", "up", "up")
    assert (first["in_bps"], first["out_bps"]) == (10_000.0, 2_000.0)
    assert (first["in_errors_per_sec"], first["out_errors_per_sec"]) == (0.5, 0.0)
    assert (second["oper_status"], second["in_bps"]) == ("down", None)  # no rate before a second poll


@pytest.mark.parametrize("path", ["/api/v1/devices/99", "/api/v1/devices/99/ports"])
async def test_an_unknown_device_is_a_404(api: httpx.AsyncClient, path: str):
    response = await api.get(path, headers=AUTH)
    conforms(response, path.replace("99", "{device_id}"), 404)


async def test_the_openapi_description_is_served_and_valid(api: httpx.AsyncClient):
    response = await api.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json() == SPEC
    for schema in SPEC["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


# --------------------------------------------------------------------------------------------- relay


async def post(api: httpx.AsyncClient, body: Any, headers: dict[str, str] = RELAY) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    return await api.post("/hooks/librenms", content=content, headers=headers)


async def test_an_alert_is_queued_and_answered_202(api: httpx.AsyncClient, queue: AlertQueue):
    response = await post(api, ALERT)
    assert response.status_code == 202
    (row,) = await queue.rows()
    assert (row["seq"], row["alert_id"], row["state"], row["status"]) == (
        response.json()["queued"],
        17,
        1,
        "pending",
    )


async def test_basic_auth_with_the_secret_as_password_is_accepted(api: httpx.AsyncClient):
    basic = base64.b64encode(f"librenms:{SECRET}".encode()).decode()
    response = await post(api, ALERT, {"Authorization": f"Basic {basic}"})
    assert response.status_code == 202


@pytest.mark.parametrize(
    "authorization", [None, f"Bearer {SECRET}x", f"Bearer {TOKEN}", "Basic bm90OmJhc2U2NA=="]
)
async def test_a_missing_or_wrong_secret_gets_401_and_queues_nothing(
    api: httpx.AsyncClient, queue: AlertQueue, authorization: str | None
):
    headers = {"Authorization": authorization} if authorization else {}
    response = await post(api, ALERT, headers)
    assert response.status_code == 401
    assert await queue.rows() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ALERT, "state": 7}, "state"),
        ({**ALERT, "alert_id": "17"}, "alert_id"),  # LibreNMS template quoted a number
        ({**ALERT, "severity": "bad"}, "severity"),
        ({k: v for k, v in ALERT.items() if k != "device_id"}, "device_id"),
        ({**ALERT, "alertid": 3}, "alertid"),  # a typo in the template
        ({**ALERT, "timestamp": "yesterday"}, "timestamp"),
        (b'{"alert_id": , "state": 1}', "body"),  # an empty placeholder
        (b"[1, 2]", "body"),
        (b"\xff\xfe", "body"),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field(
    api: httpx.AsyncClient, queue: AlertQueue, body: Any, field: str
):
    response = await post(api, body)
    assert response.status_code == 400
    assert field in [f["field"] for f in response.json()["fields"]]
    assert await queue.rows() == []


async def test_an_oversized_body_is_refused(api: httpx.AsyncClient):
    response = await post(api, {**ALERT, "title": "x" * 70_000})
    assert response.status_code == 413
