"""Payload -> LibreNMS: a device created in Payload without ``librenmsId`` is added through LibreNMS's API.

LibreNMS API v0 (doc/API/Devices.md): ``POST /api/v0/devices`` with header ``X-Auth-Token``, JSON
``{"hostname", "poller_group", "location", ...}``; success is
``{"status":"ok","message":"Device <h> (<id>) has been added successfully","devices":[{"device_id":..}]}``
(ids may come as strings). Errors are ``{"status":"error","message":...}`` (an existing host gives 500
"Already have device ..."); a bad token gives 401. The new id is written back to the Payload document; when
the write-back was lost and the add is refused as a duplicate, the id is looked up with
``GET /api/v0/devices/<hostname>``. No SNMP credentials are sent: LibreNMS tries its configured communities
(``snmp.community``) unless the caller gives a version and credentials in :class:`AddDefaults`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from .models import NETWORK_DEVICES, NetworkDevicePatch
from .payload import PayloadClient, PayloadError, PayloadUnavailable

log = logging.getLogger(__name__)

ENV_TOKEN = "FASTPOLL_LIBRENMS_API_TOKEN"
ENV_TOKEN_FILE = "FASTPOLL_LIBRENMS_API_TOKEN_FILE"


class LibrenmsApiError(Exception):
    """LibreNMS refused or failed a request. Never holds the token."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message + (f" (HTTP {status})" if status is not None else ""))


class LibrenmsAuthError(LibrenmsApiError):
    pass


class LibrenmsDeviceExists(LibrenmsApiError):
    pass


@dataclass(frozen=True, slots=True)
class AddDefaults:
    """Extra add_device fields for every device added (e.g. ``snmpver``, ``force_add``, ``ping_fallback``)."""

    fields: dict[str, Any] = field(default_factory=dict)


class _TokenAuth(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request):  # type: ignore[override]
        request.headers["X-Auth-Token"] = self._token.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "_TokenAuth(**********)"


class LibrenmsApi:
    def __init__(
        self,
        base_url: str,
        token: SecretStr | str,
        *,
        timeout: float = 60.0,  # add_device probes SNMP before answering
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        token = token if isinstance(token, SecretStr) else SecretStr(token)
        root = base_url.rstrip("/")
        if not root.endswith("/api/v0"):
            root += "/api/v0"
        self.base_url = root
        self._http = httpx.AsyncClient(
            base_url=root + "/",
            auth=_TokenAuth(token),
            headers={"Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"LibrenmsApi({self.base_url!r})"

    async def __aenter__(self) -> LibrenmsApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise LibrenmsApiError(f"cannot reach LibreNMS: {type(exc).__name__}") from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        message = str(data.get("message") or "") if isinstance(data, dict) else ""
        if response.status_code in (401, 403):
            raise LibrenmsAuthError("LibreNMS refused the API token", status=response.status_code)
        if response.status_code >= 400 or (isinstance(data, dict) and data.get("status") == "error"):
            if "already have device" in message.lower() or "already exists" in message.lower():
                raise LibrenmsDeviceExists(message, status=response.status_code)
            raise LibrenmsApiError(message or "LibreNMS API error", status=response.status_code)
        if not isinstance(data, dict):
            raise LibrenmsApiError("LibreNMS answered with something that is not a JSON object")
        return data

    async def add_device(self, hostname: str, **fields: Any) -> int:
        """Add a device; return its new device_id."""
        data = await self._call("POST", "devices", {"hostname": hostname, **fields})
        return _first_device_id(data, f"add_device {hostname}")

    async def get_device_id(self, hostname: str) -> int:
        data = await self._call("GET", f"devices/{quote(hostname, safe='')}")
        return _first_device_id(data, f"get_device {hostname}")


def _first_device_id(data: dict[str, Any], what: str) -> int:
    devices = data.get("devices")
    try:
        return int(devices[0]["device_id"])  # type: ignore[index]
    except (TypeError, KeyError, IndexError, ValueError):
        raise LibrenmsApiError(f"{what}: answer without devices[0].device_id") from None


@dataclass
class PushReport:
    added: dict[int, int] = field(default_factory=dict)  # Payload doc id -> LibreNMS device_id
    failed: dict[int, str] = field(default_factory=dict)  # Payload doc id -> error


async def push_new_devices(
    payload: PayloadClient, librenms: LibrenmsApi, defaults: AddDefaults | None = None
) -> PushReport:
    """Add every network-devices document without librenmsId to LibreNMS and write the id back."""
    defaults = defaults or AddDefaults()
    report = PushReport()
    where = {"and": [{"librenmsId": {"exists": False}}, {"removedFromLibrenms": {"not_equals": True}}]}
    for doc in await payload.find_all(NETWORK_DEVICES, where=where):
        doc_id, hostname = doc["id"], str(doc.get("hostname") or "")
        fields: dict[str, Any] = dict(defaults.fields)
        if doc.get("pollerGroup") is not None:
            fields["poller_group"] = doc["pollerGroup"]
        if doc.get("location"):
            fields["location"] = doc["location"]
        try:
            try:
                device_id = await librenms.add_device(hostname, **fields)
            except LibrenmsDeviceExists:
                device_id = await librenms.get_device_id(hostname)  # added before; the write-back was lost
            await payload.update(NETWORK_DEVICES, doc_id, NetworkDevicePatch(librenmsId=device_id))
        except (LibrenmsAuthError, PayloadUnavailable):
            raise  # nothing else can succeed either
        except (LibrenmsApiError, PayloadError) as exc:
            report.failed[doc_id] = str(exc)
            log.warning("adding %s (network-devices/%s) to LibreNMS failed: %s", hostname, doc_id, exc)
            continue
        report.added[doc_id] = device_id
        log.info(
            "added %s to LibreNMS as device %s; wrote librenmsId to network-devices/%s",
            hostname,
            device_id,
            doc_id,
        )
    return report
