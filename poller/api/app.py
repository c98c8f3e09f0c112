"""The Starlette app: the read-only JSON API (/api/v1) and the LibreNMS alert relay (/hooks/librenms).

Handlers read FleetState on the event loop (FleetState.snapshots() is a lock-free copy) and never block:
the relay's only I/O before answering is the queue append, which runs on the queue's own thread.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from poller.metrics.state import DeviceSnapshot, FleetState

from .auth import bearer_ok, relay_auth_ok
from .openapi import SPEC
from .queue import AlertQueue
from .relay import AlertBodyError, parse_alert
from .settings import ApiSettings
from .views import FilterError, device_doc, parse_filter, port_doc

log = logging.getLogger("fastpoll.api")

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, fields: Sequence[tuple[str, str]] = (), **headers: str) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if fields:
        body["fields"] = [{"field": f, "message": m} for f, m in fields]
    return JSONResponse(body, status_code=status, headers=headers or None)


def _unauthorized() -> JSONResponse:
    return _error(401, "unauthorized", **{"WWW-Authenticate": 'Bearer realm="fastpoll"'})


def build_app(
    settings: ApiSettings,
    fleet: FleetState,
    queue: AlertQueue | None = None,
    on_queued: Callable[[], None] = lambda: None,
) -> Starlette:
    """``queue`` None = no relay (POST /hooks/librenms answers 503); ``on_queued`` wakes the delivery task."""

    def protected(handler: Handler) -> Handler:
        async def check(request: Request) -> Response:
            if not bearer_ok(request.headers.get("authorization"), settings.token):
                return _unauthorized()
            return await handler(request)

        return check

    def snapshot(request: Request) -> DeviceSnapshot | None:
        device_id = request.path_params["device_id"]
        return next((s for s in fleet.snapshots() if s.device_id == device_id), None)

    async def devices(request: Request) -> Response:
        try:
            wanted = parse_filter(request.query_params.multi_items())
        except FilterError as exc:
            return _error(400, "bad query parameter", [(exc.parameter, str(exc).split(": ", 1)[1])])
        docs = [device_doc(s) for s in fleet.snapshots() if wanted.matches(s)]
        return JSONResponse({"count": len(docs), "devices": docs})

    async def device(request: Request) -> Response:
        s = snapshot(request)
        if s is None:
            return _error(404, "no such device")
        return JSONResponse(device_doc(s))

    async def ports(request: Request) -> Response:
        s = snapshot(request)
        if s is None:
            return _error(404, "no such device")
        body = {
            "device_id": s.device_id,
            "last_polled": device_doc(s)["last_polled"],
            "ports": [port_doc(p) for p in sorted(s.ports, key=lambda p: p.ifIndex)],
        }
        return JSONResponse(body)

    async def openapi(_: Request) -> Response:
        return JSONResponse(SPEC)  # public: it describes the API and holds no data

    async def librenms_hook(request: Request) -> Response:
        if not relay_auth_ok(request.headers.get("authorization"), settings.relay_secret):
            return _unauthorized()
        if queue is None:
            return _error(503, "the alert relay has no queue configured")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > settings.max_body:
                return _error(413, f"body larger than {settings.max_body} bytes")
        try:
            alert = parse_alert(raw)
        except AlertBodyError as exc:
            return _error(400, "invalid alert", exc.fields)
        received = datetime.now(UTC)
        seq = await queue.append(alert, received)
        on_queued()
        return JSONResponse(
            {"queued": seq, "alert_id": alert.alert_id, "state": alert.state}, status_code=202
        )

    routes = [
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
        Route("/api/v1/devices", protected(devices), methods=["GET"]),
        Route("/api/v1/devices/{device_id:int}", protected(device), methods=["GET"]),
        Route("/api/v1/devices/{device_id:int}/ports", protected(ports), methods=["GET"]),
        Route("/hooks/librenms", librenms_hook, methods=["POST"]),
    ]
    return Starlette(routes=routes)
