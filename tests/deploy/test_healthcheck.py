"""deploy/docker/healthcheck.py: the container's health check against fastpoll's /health."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.deploy.conftest import load_script

health = load_script("docker/healthcheck.py")


def test_default_is_fastpolls_default_listener():
    assert health.health_url({}) == "http://127.0.0.1:9877/health"


def test_wildcard_ipv4_listener_is_checked_on_loopback():
    assert health.health_url({"FASTPOLL_METRICS__LISTEN": "0.0.0.0:9100"}) == "http://127.0.0.1:9100/health"


def test_wildcard_ipv6_listener_is_checked_on_ipv6_loopback():
    assert health.health_url({"FASTPOLL_METRICS__LISTEN": "[::]:9877"}) == "http://[::1]:9877/health"


def test_tls_listener_is_checked_over_https():
    env = {"FASTPOLL_METRICS__LISTEN": "127.0.0.1:9877", "FASTPOLL_METRICS__TLS_CERT": "/c.pem"}
    assert health.health_url(env).startswith("https://")


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, int]]]:
    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(state["status"] if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_healthy_when_health_answers_200(server):
    listen, _ = server
    assert health.check(health.health_url({"FASTPOLL_METRICS__LISTEN": listen}))


def test_unhealthy_when_health_answers_an_error(server):
    listen, state = server
    state["status"] = 503
    assert not health.check(health.health_url({"FASTPOLL_METRICS__LISTEN": listen}))


def test_unhealthy_when_nothing_listens():
    from tests.support.net import free_tcp_port

    assert not health.check(f"http://127.0.0.1:{free_tcp_port()}/health", timeout=1)
