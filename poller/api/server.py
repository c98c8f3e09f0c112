"""Serving the app with uvicorn on the daemon's own event loop, beside the poller.

``ApiServer.start()`` binds the socket itself (a bad address fails there, as an OSError the daemon can
report, instead of uvicorn's ``sys.exit`` inside a task) and runs ``uvicorn.Server.serve`` as a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from datetime import timedelta

import uvicorn

from poller.metrics.state import FleetState

from .app import build_app
from .delivery import AlertDelivery
from .queue import AlertQueue
from .settings import ApiSettings

log = logging.getLogger("fastpoll.api")


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn would replace SIGINT/SIGTERM handlers and re-raise the signals at exit: the daemon owns
        # those signals (first = graceful stop, second = force) and stops this server itself.
        yield


class ApiServer:
    """The API + relay. ``client`` None = alerts are queued but not delivered (no Payload configured)."""

    def __init__(self, settings: ApiSettings, fleet: FleetState, client: object | None = None) -> None:
        self.settings = settings
        self.fleet = fleet
        self.queue = AlertQueue(settings.queue_path) if settings.relay_secret is not None else None
        self.delivery: AlertDelivery | None = None
        if self.queue is not None and client is not None:
            self.delivery = AlertDelivery(
                self.queue,
                client,  # type: ignore[arg-type]
                retry_delay=settings.retry_delay,
                keep_delivered=timedelta(days=settings.keep_delivered_days),
            )
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        assert self._socket is not None
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    async def start(self) -> None:
        host, port = self.settings.host_port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        if self.queue is not None:
            await self.queue.open()
        if self.delivery is not None:
            self.delivery.start()
        if self.queue is not None and self.delivery is None:
            log.warning("alert relay: no Payload configured; alerts are queued but not delivered")
        wake = self.delivery.wake if self.delivery is not None else (lambda: None)
        app = build_app(self.settings, self.fleet, self.queue, wake)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False)
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="api-server")
        log.info("API listening on %s", self.url)

    async def stop(self, grace: float = 5.0) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._task, grace)
            except TimeoutError:
                self._server.force_exit = True
                with contextlib.suppress(Exception):
                    await self._task
        if self.delivery is not None:
            await self.delivery.stop()
        if self.queue is not None:
            await self.queue.close()
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = self._socket = None
