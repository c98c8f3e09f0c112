"""Settings of the API server and the alert relay, built from the ``[api]`` section of the configuration
(plus tuning values that have no key of their own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

DEFAULT_LISTEN = "127.0.0.1:9878"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    listen: str = DEFAULT_LISTEN
    # Bearer token of the read-only JSON API; None = the /api/v1 data routes answer 401 to everyone.
    token: SecretStr | None = None
    # Shared secret of POST /hooks/librenms (bearer, or the password of basic auth); None = relay refuses all.
    relay_secret: SecretStr | None = None
    # The durable alert queue (SQLite, WAL). Must be on persistent storage.
    queue_path: Path = Path("/var/lib/fastpoll/alert-queue.sqlite3")
    retry_delay: float = 5.0  # seconds between delivery attempts while Payload is unavailable
    keep_delivered_days: float = 30.0  # delivered alerts older than this are pruned from the queue file
    max_body: int = 64 * 1024  # bytes; a larger alert body gets 413

    @property
    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"api listen address must be host:port, got {self.listen!r}")
        return host.strip("[]") or "127.0.0.1", int(port)

    @classmethod
    def from_config(cls, api: Any) -> ApiSettings:
        """From ``Config.api`` (poller.config.ApiSettings): listen, token, relay_secret, queue_path."""
        return cls(
            listen=api.listen, token=api.token, relay_secret=api.relay_secret, queue_path=api.queue_path
        )
