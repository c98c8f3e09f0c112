"""Container health check: GET fastpoll's /health on its own metrics listener; exit 0 when it answers 200.

Standard library only (it runs in the slim image). The address comes from FASTPOLL_METRICS__LISTEN (default
127.0.0.1:9877, fastpoll's own default); a wildcard listen address is checked on loopback. HTTPS is used when
FASTPOLL_METRICS__TLS_CERT is set (certificate not verified: it is this container talking to itself).
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

DEFAULT_LISTEN = "127.0.0.1:9877"
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1", "": "127.0.0.1"}


def health_url(env: Mapping[str, str]) -> str:
    """The /health URL for the listen address in ``env``."""
    listen = env.get("FASTPOLL_METRICS__LISTEN") or DEFAULT_LISTEN
    host, _, port = listen.rpartition(":")
    host = WILDCARDS.get(host, host).strip("[]")
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if env.get("FASTPOLL_METRICS__TLS_CERT") else "http"
    return f"{scheme}://{host}:{port}/health"


def check(url: str, timeout: float = 3.0) -> bool:
    context = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main() -> int:
    url = health_url(os.environ)
    if check(url):
        return 0
    print(f"fastpoll health check failed: {url}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
