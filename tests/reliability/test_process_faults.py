"""The fastpoll process killed: SIGKILL (no shutdown, no flush) and a restart.

State lives in LibreNMS's tables, so a restarted daemon must carry on from them: a device that was
down stays one outage with one Down event (no second one on restart), and every device is polled
again on its next interval.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from tests.support.librenms_rows import insert_device, query
from tests.support.net import free_tcp_port, free_udp_port

pytestmark = [pytest.mark.mariadb, pytest.mark.snmpsim, pytest.mark.slow]

INTERVAL = 2


@contextmanager
def daemon(url: str) -> Iterator[subprocess.Popen[str]]:
    env = dict(
        os.environ,
        FASTPOLL_DATABASE__URL=url,
        FASTPOLL_POLLING__DEFAULT_INTERVAL=str(INTERVAL),
        FASTPOLL_POLLING__DOWN_AFTER="1",
        FASTPOLL_METRICS__LISTEN=f"127.0.0.1:{free_tcp_port()}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "poller.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def last_polled(url: str, device_id: int) -> datetime | None:
    return query(url, "SELECT last_polled FROM devices WHERE device_id = :d", d=device_id)[0]["last_polled"]


def down_rows(url: str, device_id: int) -> tuple[int, int, int]:
    """(open outages, all outages, Down events) of a device."""
    outages = query(url, "SELECT up_again FROM device_outages WHERE device_id = :d", d=device_id)
    down_events = "SELECT COUNT(*) AS n FROM eventlog WHERE device_id = :d AND message LIKE :m"
    downs = query(url, down_events, d=device_id, m="Device status changed to Down%")[0]["n"]
    return sum(1 for o in outages if o["up_again"] is None), len(outages), downs


def test_a_sigkilled_daemon_restarts_without_a_second_outage_and_polls_on_its_next_interval(
    shared_snmpsim, librenms_url
):
    good = insert_device(librenms_url, community="linux_ntc", port=shared_snmpsim.port, hostname="127.0.0.1")
    dead = insert_device(librenms_url, community="dead", port=free_udp_port(), hostname="127.0.0.2")

    with daemon(librenms_url) as first:
        wait_for("the dead device's outage", lambda: down_rows(librenms_url, dead) == (1, 1, 1))
        wait_for("a poll of the good device", lambda: last_polled(librenms_url, good))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    before = last_polled(librenms_url, good)

    with daemon(librenms_url) as second:
        restarted = time.monotonic()
        wait_for("a poll after the restart", lambda: (p := last_polled(librenms_url, good)) and p > before)
        first_poll_after = time.monotonic() - restarted
        polled_again = last_polled(librenms_url, good)
        wait_for("the next interval's poll", lambda: last_polled(librenms_url, good) > polled_again)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0

    # The dead device was down before the kill and after it: still one outage, one Down event.
    assert down_rows(librenms_url, dead) == (1, 1, 1)
    # Start-up (imports, inventory, state from the database) plus at most one interval; generous for CI.
    assert first_poll_after < 30
