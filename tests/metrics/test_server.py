"""The HTTP endpoint: /metrics, /health, TLS, basic auth, the listen option."""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest
from pydantic import SecretStr

from poller.config import Config, MetricsSettings
from poller.metrics import FleetState, Heartbeat, SelfMetrics, start_metrics_server
from poller.metrics.collector import FleetCollector
from poller.metrics.gzip_body import deflate_piece
from poller.metrics.server import (
    BasicAuth,
    OnLoop,
    add_listen_argument,
    health_report,
    metrics_chunks,
    parse_listen,
)
from tests.support.net import free_tcp_port

from .fleet import populated_state, scrape_text, self_signed_cert


def listen() -> str:
    return f"127.0.0.1:{free_tcp_port()}"


@pytest.fixture
def server() -> Iterator:
    handle = start_metrics_server(
        MetricsSettings(listen=listen()), populated_state(), SelfMetrics(), {"scheduler": lambda: True}
    )
    yield handle
    handle.stop()


def test_metrics_serves_fleet_and_self_metrics_as_text_format(server):
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "fastpoll_build_info{" in response.text
    assert 'fastpoll_interface_in_octets_total{device_id="2"' in response.text


def test_metrics_is_gzipped_when_the_client_accepts_it(server):
    response = httpx.get(f"{server.url}/metrics", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "fastpoll_device_up{" in response.text  # httpx decompressed it


def test_the_gzipped_body_is_the_same_text_as_the_plain_one(server):
    plain = httpx.get(f"{server.url}/metrics", headers={"Accept-Encoding": "identity"})
    zipped = httpx.get(f"{server.url}/metrics", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert int(zipped.headers["content-length"]) < len(plain.content)
    # the render-time gauge differs between two scrapes; every other line is the same
    assert [x for x in zipped.text.splitlines() if "render_seconds " not in x] == [
        x for x in plain.text.splitlines() if "render_seconds " not in x
    ]


def test_metrics_chunks_encode_and_compress_the_pieces_in_order():
    texts = ["# HELP a x\n", 'a{l="été"} 1\n', "", "b 2\n" * 5000]
    expected = b"own 1\n" + "".join(texts).encode("utf-8")
    assert b"".join(metrics_chunks(b"own 1\n", texts, gzip=False)) == expected
    zipped = metrics_chunks(b"own 1\n", texts, gzip=True)
    assert all(zipped) and gzip.decompress(b"".join(zipped)) == expected


def test_unknown_path_is_404(server):
    assert httpx.get(f"{server.url}/nope").status_code == 404


@pytest.mark.prometheus
def test_promtool_check_metrics_is_clean_on_a_real_scrape():
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.skip("promtool not installed")
    text = scrape_text()
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert done.stdout.decode().strip() == "" and done.stderr.decode().strip() == ""


def test_health_is_200_with_json_when_every_part_is_alive():
    handle = start_metrics_server(
        MetricsSettings(listen=listen()),
        FleetState(),
        None,
        {"scheduler": lambda: True, "writer": lambda: True},
    )
    try:
        response = httpx.get(f"{handle.url}/health")
    finally:
        handle.stop()
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"scheduler": "alive", "writer": "alive"}}


def test_health_is_503_when_a_part_is_dead():
    handle = start_metrics_server(
        MetricsSettings(listen=listen()),
        FleetState(),
        None,
        {"scheduler": lambda: True, "writer": lambda: False},
    )
    try:
        response = httpx.get(f"{handle.url}/health")
    finally:
        handle.stop()
    assert response.status_code == 503
    assert response.json()["checks"]["writer"] == "dead"


def test_a_liveness_callable_that_raises_counts_as_dead():
    def broken() -> bool:
        raise RuntimeError("boom")

    healthy, report = health_report({"scheduler": broken})
    assert not healthy and report["checks"]["scheduler"] == "error: RuntimeError"


def test_heartbeat_is_alive_only_while_beaten():
    now = [0.0]
    beat = Heartbeat(5.0, clock=lambda: now[0])
    now[0] = 4.0
    assert beat()
    now[0] = 6.0
    assert not beat()
    beat.beat()
    assert beat()


def test_config_object_and_listen_override_are_accepted():
    port = free_tcp_port()
    handle = start_metrics_server(Config(), FleetState(), None, {}, listen=f"127.0.0.1:{port}")
    try:
        assert handle.address == ("127.0.0.1", port)
        assert httpx.get(f"{handle.url}/health").status_code == 200
    finally:
        handle.stop()


def test_listen_default_is_loopback():
    assert parse_listen(MetricsSettings().listen) == ("127.0.0.1", 9877)


def test_metrics_listen_option_parses_and_rejects():
    parser = argparse.ArgumentParser()
    add_listen_argument(parser)
    assert parser.parse_args(["--metrics-listen", "[::1]:9100"]).metrics_listen == "[::1]:9100"
    assert parser.parse_args([]).metrics_listen is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--metrics-listen", "nonsense"])
    assert parse_listen("[::1]:9100") == ("::1", 9100)


def test_ipv6_loopback_listens():
    port = free_tcp_port("127.0.0.1")
    try:
        handle = start_metrics_server(MetricsSettings(listen=f"[::1]:{port}"), FleetState(), None, {})
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert httpx.get(f"{handle.url}/health").status_code == 200
    finally:
        handle.stop()


# ---------------------------------------------------------------------------------------- auth and TLS


PASSWORD = "s3cret-pass"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "stored",
    [
        bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode(),
        "sha256:" + hashlib.sha256(PASSWORD.encode()).hexdigest(),
        PASSWORD,
    ],
    ids=["bcrypt", "sha256", "plain"],
)
def test_basic_auth_accepts_the_password_in_each_stored_form(stored):
    auth = BasicAuth("prometheus", stored)
    assert auth.allows(_basic("prometheus", PASSWORD))
    assert auth.allows(_basic("prometheus", PASSWORD))  # second time from the verified cache
    assert not auth.allows(_basic("prometheus", PASSWORD + "x"))
    assert not auth.allows(_basic("someone", PASSWORD))
    assert not auth.allows(None)
    assert not auth.allows("Basic !!!notbase64")
    assert not auth.allows("Bearer abc")


def test_a_malformed_hash_is_refused_at_start():
    with pytest.raises(ValueError, match="64 hex digits"):
        BasicAuth("u", "sha256:abcd")


@pytest.fixture
def secured(tmp_path: Path) -> Iterator:
    cert, key = self_signed_cert(tmp_path)
    settings = MetricsSettings(
        listen=listen(),
        tls_cert=cert,
        tls_key=key,
        basic_auth_user="prometheus",
        basic_auth_password=SecretStr(bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()),
    )
    handle = start_metrics_server(settings, populated_state(), SelfMetrics(), {"scheduler": lambda: True})
    yield handle, ssl.create_default_context(cafile=str(cert))
    handle.stop()


def test_tls_with_basic_auth_serves_an_authenticated_scrape(secured):
    handle, tls = secured
    assert handle.url.startswith("https://")
    response = httpx.get(f"{handle.url}/metrics", verify=tls, auth=("prometheus", PASSWORD))
    assert response.status_code == 200 and "fastpoll_device_up{" in response.text


def test_unauthenticated_scrape_is_refused_with_401(secured):
    handle, tls = secured
    for path in ("/metrics", "/health"):
        response = httpx.get(f"{handle.url}{path}", verify=tls)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="fastpoll"'
        assert "fastpoll_" not in response.text


def test_wrong_password_is_refused_with_401(secured):
    handle, tls = secured
    assert httpx.get(f"{handle.url}/metrics", verify=tls, auth=("prometheus", "wrong")).status_code == 401


def test_plain_http_to_the_tls_port_gets_no_metrics(secured):
    handle, _ = secured
    host, port = handle.address
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{host}:{port}/metrics", auth=("prometheus", PASSWORD), timeout=5)


def test_a_kept_piece_goes_into_the_gzip_body_as_it_is():
    piece = deflate_piece("cached 2\n")
    chunks = metrics_chunks(b"own 1\n", ["text 3\n", piece, piece, "text 4\n"], gzip=True)
    assert gzip.decompress(b"".join(chunks)) == b"own 1\ntext 3\ncached 2\ncached 2\ntext 4\n"
    assert sum(1 for c in chunks if bytes(c) == piece[8:]) == 2  # its deflate bytes, not compressed again


def test_a_kept_piece_is_decompressed_for_a_plain_body():
    chunks = metrics_chunks(b"own 1\n", ["text 3\n", deflate_piece("cached 2\n")], gzip=False)
    assert b"".join(chunks) == b"own 1\ntext 3\ncached 2\n"


# ---------------------------------------------------------------------------------------- the event loop


async def test_a_scrape_has_the_event_loop_render_the_fleet():
    state = populated_state(devices=3, ports=2)
    handle = start_metrics_server(
        MetricsSettings(listen=listen()), state, None, {}, loop=asyncio.get_running_loop()
    )
    try:
        collector = handle._server.app.collector  # type: ignore[union-attr]
        rendered_on: set[int] = set()
        original = collector._render_device
        collector._render_device = lambda s, p: rendered_on.add(threading.get_ident()) or original(s, p)
        response = await asyncio.to_thread(httpx.get, f"{handle.url}/metrics")
    finally:
        handle.stop()
    assert response.status_code == 200 and 'device_id="3"' in response.text
    assert rendered_on == {threading.get_ident()}  # this test's thread runs the loop


def test_on_loop_leaves_the_render_to_the_scrape_when_the_loop_is_not_running():
    loop = asyncio.new_event_loop()
    try:
        on_loop = OnLoop(FleetCollector(populated_state(), MetricsSettings()), loop, timeout=5.0)
        started = time.monotonic()
        assert on_loop() is False
        assert time.monotonic() - started < 1.0
    finally:
        loop.close()
    assert on_loop() is False  # closed


async def test_on_loop_gives_up_on_a_loop_busy_past_the_timeout(caplog):
    collector = FleetCollector(populated_state(), MetricsSettings())
    on_loop = OnLoop(collector, asyncio.get_running_loop(), timeout=0.2)
    loop_stuck = threading.Event()

    def scrape() -> bool:
        loop_stuck.wait()
        return on_loop()

    outcome = asyncio.create_task(asyncio.to_thread(scrape))
    await asyncio.sleep(0.05)
    loop_stuck.set()
    time.sleep(0.5)  # noqa: ASYNC251 - the loop stuck in a callback past the timeout is the point
    assert await outcome is False
    await asyncio.sleep(0.05)  # the cancellation reaches the render's task (it stops at its next break)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert "did not render a scrape within 0.2s" in caplog.text


async def test_on_loop_reports_a_render_done_by_the_loop():
    collector = FleetCollector(populated_state(), MetricsSettings())
    assert await asyncio.to_thread(OnLoop(collector, asyncio.get_running_loop())) is True
    assert all(s.cache is not None for s in collector.state.snapshots())


async def test_on_loop_called_on_the_loops_own_thread_renders_nothing_and_returns_at_once():
    collector = FleetCollector(populated_state(), MetricsSettings())
    started = time.monotonic()
    assert OnLoop(collector, asyncio.get_running_loop(), timeout=5.0)() is False
    assert time.monotonic() - started < 1.0
