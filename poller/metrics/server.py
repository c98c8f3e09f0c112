"""The HTTP endpoint: ``/metrics`` (Prometheus) and ``/health`` (liveness), optionally TLS and basic auth.

It runs in its own threads (stdlib ``ThreadingHTTPServer``), so a slow client never holds up polling. Given
the daemon's event loop, a scrape has the loop render the devices polled since the last scrape, a few
milliseconds at a time between its callbacks (:class:`OnLoop`), because a render in a thread of its own
fights the loop for the GIL; what is left in the scrape's thread is joining kept pieces and zlib (which
releases the GIL). The body is encoded and compressed piece by piece (:func:`metrics_chunks`), never joined
into one text first; the interface lines the collector keeps compressed go into a gzip body as they are kept
(``gzip_body.py``).
The stdlib server is used rather than ``prometheus_client.start_http_server`` because fastpoll needs basic
auth and ``/health`` on the same listener, which that helper has no hook for; the exposition itself still
comes from prometheus_client (self metrics) and :class:`~poller.metrics.collector.FleetCollector` (fleet
families).

Basic auth follows the Prometheus exporter toolkit's web config: ``metrics.basic_auth_password`` may be a
bcrypt hash (``$2b$...``, made with ``htpasswd -nBC 10 "" | tr -d ':\\n'``), a SHA-256 hex digest written
``sha256:<hex>`` (``printf %s PASSWORD | sha256sum``), or (discouraged) the password itself. Comparisons are
constant-time; a verified (user, password) pair is remembered by its SHA-256 so a bcrypt check is paid once,
not on every scrape. Every path, ``/health`` included, needs the credentials when they are configured.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import CancelledError
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from poller.config import Config, MetricsSettings

from .collector import FleetCollector
from .gzip_body import GzipBody, inflate_piece
from .selfmetrics import SelfMetrics
from .state import FleetState

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HealthChecks = Mapping[str, Callable[[], bool]]


class TextCollector(Protocol):
    """Anything that renders exposition text at scrape time (the profile collector)."""

    def render(self) -> str: ...


_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def metrics_chunks(own: bytes, texts: Iterable[str | bytes], *, gzip: bool) -> list[bytes | memoryview]:
    """The ``/metrics`` body as byte chunks: ``own`` (already encoded), then ``texts`` in order.

    Each text piece is encoded, and with ``gzip`` compressed (level 1), one at a time: at 10,000 devices x 48
    ports the text is ~150 MB, and joining it, encoding it and prefixing ``own`` would hold three copies of it
    at once for every scrape. Compressed, the chunks are ~1/10 of the text. A ``bytes`` piece is one the
    collector keeps compressed (``deflate_piece``): it goes into a gzip body as it is, and is decompressed for
    a plain one.
    """
    if not gzip:
        return [own, *(_encoded(t) for t in texts)]
    body = GzipBody()
    body.add_text(own)
    for piece in texts:
        if type(piece) is bytes:
            body.add_piece(piece)
        else:
            body.add_text(piece.encode("utf-8"))  # type: ignore[union-attr]
    return body.chunks()


def _encoded(piece: str | bytes) -> bytes:
    return piece.encode("utf-8") if type(piece) is str else inflate_piece(piece).encode("utf-8")  # type: ignore[arg-type, union-attr]


# ---------------------------------------------------------------------------------------- listen address


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` -> (host, port); ValueError with the reason otherwise."""
    try:
        settings = MetricsSettings(listen=value)
    except ValidationError:
        raise ValueError(f"{value!r}: expected host:port, e.g. 127.0.0.1:9877 or [::1]:9877") from None
    return settings.host, settings.port


def add_listen_argument(parser: argparse.ArgumentParser) -> None:
    """``--metrics-listen HOST:PORT`` (wins over ``metrics.listen``; default 127.0.0.1:9877)."""

    def checked(value: str) -> str:
        try:
            parse_listen(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parser.add_argument(
        "--metrics-listen",
        type=checked,
        default=None,
        metavar="HOST:PORT",
        help="where /metrics and /health listen (default: metrics.listen, 127.0.0.1:9877)",
    )


# ---------------------------------------------------------------------------------------- basic auth


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against one user and a (hashed) password."""

    def __init__(self, user: str, password: str, *, cache_size: int = 64) -> None:
        self._user = hashlib.sha256(user.encode()).digest()
        self._check = self._checker(password)
        self._verified: set[bytes] = set()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @staticmethod
    def _checker(stored: str) -> Callable[[bytes], bool]:
        if stored.startswith(_BCRYPT_PREFIXES):
            try:
                import bcrypt
            except ImportError:  # pragma: no cover - bcrypt is installed with fastpoll
                raise RuntimeError(
                    "metrics.basic_auth_password is a bcrypt hash but bcrypt is not installed"
                ) from None
            hashed = stored.encode()
            try:
                bcrypt.checkpw(b"", hashed)
            except ValueError:
                raise ValueError(
                    "metrics.basic_auth_password looks like bcrypt but is not a valid hash"
                ) from None
            return lambda given: bcrypt.checkpw(given, hashed)
        if stored.lower().startswith("sha256:"):
            try:
                digest = bytes.fromhex(stored[7:])
            except ValueError:
                digest = b""
            if len(digest) != 32:
                raise ValueError("metrics.basic_auth_password: sha256: must be followed by 64 hex digits")
            return lambda given: hmac.compare_digest(hashlib.sha256(given).digest(), digest)
        plain = hashlib.sha256(stored.encode()).digest()
        return lambda given: hmac.compare_digest(hashlib.sha256(given).digest(), plain)

    def allows(self, header: str | None) -> bool:
        if not header or header[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        if not sep:
            return False
        key = hashlib.sha256(user + b"\0" + password).digest()
        with self._lock:
            if key in self._verified:
                return True
        user_ok = hmac.compare_digest(hashlib.sha256(user).digest(), self._user)
        password_ok = self._check(password)  # always run: no early exit that would time the user name
        if not (user_ok and password_ok):
            return False
        with self._lock:
            if len(self._verified) >= self._cache_size:
                self._verified.clear()
            self._verified.add(key)
        return True


# ---------------------------------------------------------------------------------------- health


class Heartbeat:
    """A liveness callable: alive while :meth:`beat` was called within ``max_age`` seconds.

    E.g. the daemon beats from an asyncio task every second; if the event loop stalls, /health turns 503.
    """

    def __init__(self, max_age: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def __call__(self) -> bool:
        return self._clock() - self._last <= self.max_age


def health_report(checks: HealthChecks) -> tuple[bool, dict[str, Any]]:
    """Run each liveness callable; one that raises counts as dead (its exception type is reported)."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            results[name] = "alive" if check() else "dead"
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}"
    healthy = all(v == "alive" for v in results.values())
    return healthy, {"status": "ok" if healthy else "unhealthy", "checks": results}


# ---------------------------------------------------------------------------------------- the event loop

# How long a scrape waits for the event loop to render for it before its own thread renders what is left.
PREPARE_TIMEOUT = 8.0


class OnLoop:
    """Has the event loop do a scrape's rendering (:meth:`FleetCollector.prepare`) and waits for it.

    Called from the scrape's thread. Returns True when the loop did the work; False when it did not (no
    running loop, shutting down, or not done within ``timeout``: that work is cancelled), and the scrape's
    thread then renders what is left itself, as it does without a loop.
    """

    def __init__(
        self, collector: FleetCollector, loop: asyncio.AbstractEventLoop, *, timeout: float = PREPARE_TIMEOUT
    ) -> None:
        self.collector = collector
        self.loop = loop
        self.timeout = timeout
        self._warned = False

    def __call__(self) -> bool:
        if self.loop.is_closed() or not self.loop.is_running() or _running_loop() is self.loop:
            return False  # no loop to ask, or called on the loop's own thread: waiting would deadlock
        work = self.collector.prepare()
        try:
            future = asyncio.run_coroutine_threadsafe(work, self.loop)
        except RuntimeError:  # the loop closed since the check
            work.close()
            return False
        try:
            future.result(self.timeout)
        except TimeoutError:
            future.cancel()
            if not self._warned:
                log.warning(
                    "the event loop did not render a scrape within %gs; the scrape's thread renders the rest "
                    "(said once until the loop keeps up; a loop this busy also shows in "
                    "fastpoll_schedule_lag_seconds)",
                    self.timeout,
                )
                self._warned = True
            return False
        except CancelledError:  # the loop is shutting down
            return False
        self._warned = False
        return True


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# ---------------------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        if tls is not None:
            # The handshake happens on the first read in the request's own thread, so a slow or broken
            # client cannot stall accept() for everyone else.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.app: _App | None = None


class _App:
    def __init__(
        self,
        collector: FleetCollector,
        selfmetrics: SelfMetrics | None,
        health: HealthChecks,
        auth: BasicAuth | None,
        extra: Sequence[TextCollector] = (),
        prepare: OnLoop | None = None,
    ) -> None:
        self.collector = collector
        self.selfmetrics = selfmetrics
        self.health = health
        self.auth = auth
        self.extra = tuple(extra)
        self.prepare = prepare

    def metrics_body(self, *, gzip: bool = False) -> list[bytes | memoryview]:
        if self.prepare is not None:
            self.prepare()
        own = self.selfmetrics.render() if self.selfmetrics is not None else b""
        parts = self.collector.iter_gzip_parts() if gzip else self.collector.iter_parts()
        return metrics_chunks(own, chain(parts, (c.render() for c in self.extra)), gzip=gzip)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30  # seconds a client may take per read: a stalled client cannot hold a thread forever
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        app = self.server.app
        assert app is not None
        if app.auth is not None and not app.auth.allows(self.headers.get("Authorization")):
            self._send(401, b"Unauthorized\n", "text/plain", {"WWW-Authenticate": 'Basic realm="fastpoll"'})
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
            chunks = app.metrics_body(gzip=gzip)  # zlib releases the GIL while compressing
            self._send(200, chunks, CONTENT_TYPE, {"Content-Encoding": "gzip"} if gzip else None)
        elif path == "/health":
            healthy, report = health_report(app.health)
            self._send(200 if healthy else 503, json.dumps(report).encode() + b"\n", "application/json")
        elif path == "/":
            page = b'<html><body><h1>fastpoll</h1><a href="/metrics">metrics</a> <a href="/health">health</a>'
            self._send(200, page + b"</body></html>\n", "text/html")
        else:
            self._send(404, b"Not Found\n", "text/plain")

    def _send(
        self,
        status: int,
        body: bytes | list[bytes | memoryview],
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        chunks: list[bytes | memoryview] = [body] if isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(map(len, chunks))))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.writelines(chunks)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics http %s: " + format, self.client_address[0], *args)


def _tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"metrics.tls_cert/tls_key: cannot load {cert} / {key}: {exc}") from None
    return context


class MetricsServer:
    """A running endpoint; :meth:`stop` shuts it down and waits for its thread."""

    def __init__(self, server: _Server, thread: threading.Thread, scheme: str) -> None:
        self._server = server
        self._thread = thread
        self.scheme = scheme

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    settings: Config | MetricsSettings,
    state: FleetState,
    selfmetrics: SelfMetrics | None,
    health: HealthChecks,
    *,
    listen: str | None = None,
    extra: Sequence[TextCollector] = (),
    loop: asyncio.AbstractEventLoop | None = None,
) -> MetricsServer:
    """Listen on ``listen`` (``--metrics-listen``) or ``metrics.listen`` and serve in a background thread.

    ``health``: name -> callable returning True while that part (scheduler, writer, ...) is alive.
    ``extra``: more families rendered after the fleet's (e.g. poller/metrics/profiles.py's collector).
    ``loop``: the event loop updating ``state``; scrapes have it render the fleet's lines (:class:`OnLoop`).
    Raises OSError when the address cannot be bound and ValueError for unusable TLS/auth settings.
    """
    metrics = settings.metrics if isinstance(settings, Config) else settings
    host, port = parse_listen(listen) if listen is not None else (metrics.host, metrics.port)
    tls = _tls_context(metrics.tls_cert, metrics.tls_key) if metrics.tls_cert and metrics.tls_key else None
    auth = None
    if metrics.basic_auth_user is not None and metrics.basic_auth_password is not None:
        auth = BasicAuth(metrics.basic_auth_user, metrics.basic_auth_password.get_secret_value())
    server = _Server((host, port), tls)
    collector = FleetCollector(state, metrics)
    prepare = OnLoop(collector, loop) if loop is not None else None
    server.app = _App(collector, selfmetrics, health, auth, extra, prepare)
    thread = threading.Thread(target=server.serve_forever, name="fastpoll-metrics", daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    handle = MetricsServer(server, thread, scheme)
    if auth is None and host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("metrics endpoint %s is reachable beyond loopback without basic auth", handle.url)
    log.info("metrics endpoint listening on %s", handle.url)
    return handle
