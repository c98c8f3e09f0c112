"""fastpoll's HTTP API: the live JSON API and the LibreNMS alert relay (Starlette, served by uvicorn)."""

from .app import build_app
from .queue import AlertQueue
from .server import ApiServer
from .settings import ApiSettings

__all__ = ["AlertQueue", "ApiServer", "ApiSettings", "build_app"]
