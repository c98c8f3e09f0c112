"""The daemon end to end: snmpsim agents, the real LibreNMS schema in MariaDB, signals."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import weakref

import psutil
import pytest
from sqlalchemy import create_engine

from poller.checks.discovered import DiscoveredWrites
from poller.checks.port_table import PortTable
from poller.checks.results import EventRow, PollResult
from poller.cluster import LocalMembership
from poller.config import load_config
from poller.daemon import Daemon, on_result
from poller.gc_policy import NEVER, GcPolicy
from poller.model import Device, Target
from poller.scheduler import Scheduler, VirtualClock
from tests.support.librenms_rows import discovery_ports, execute, insert_device, insert_edgeos_bgp_peer, query
from tests.support.net import free_tcp_port, free_udp_port

pytestmark = [pytest.mark.mariadb, pytest.mark.snmpsim]
REDIS_URL = "redis://127.0.0.1:6379/0"


def config_for(url: str, **polling):
    env = {
        "FASTPOLL_DATABASE__URL": url,
        "FASTPOLL_POLLING__DOWN_AFTER": "1",
        "FASTPOLL_METRICS__LISTEN": f"127.0.0.1:{free_tcp_port()}",
    }
    env.update({f"FASTPOLL_POLLING__{k.upper()}": str(v) for k, v in polling.items()})
    return load_config(None, env)


async def run_for(daemon: Daemon, seconds: float) -> None:
    task = asyncio.create_task(daemon.serve(install_signals=False))
    await asyncio.sleep(seconds)
    daemon.request_stop()
    assert await asyncio.wait_for(task, 30) == 0


async def test_the_daemon_polls_every_device_on_its_interval_and_writes_librenms_rows(
    shared_snmpsim, librenms_url
):
    good = insert_device(
        librenms_url, community="linux_ntc", port=shared_snmpsim.port, ports_rows=discovery_ports("linux_ntc")
    )
    dead = insert_device(librenms_url, community="x", port=free_udp_port(), timeout=1, retries=0)
    starts: list[tuple[int, float]] = []  # when each poll began: a first poll walks more and ends later

    def started(device: Device, result: PollResult) -> None:
        assert result.metrics is not None
        starts.append((device.device_id, time.monotonic() - result.metrics.poll_duration))

    daemon = Daemon(config_for(librenms_url, default_interval=2), sinks=[on_result(started)])
    await run_for(daemon, 4.5)

    assert {d for d, _ in starts} == {good, dead}
    good_starts = [t for d, t in starts if d == good]
    assert len(good_starts) >= 2
    gaps = [b - a for a, b in itertools.pairwise(good_starts)]
    assert all(gap == pytest.approx(2, abs=0.5) for gap in gaps), gaps
    rows = {
        r["device_id"]: r
        for r in query(librenms_url, "SELECT device_id, status, status_reason, last_polled FROM devices")
    }
    assert rows[good]["status"] == 1 and rows[good]["last_polled"] is not None
    assert rows[dead]["status"] == 0 and rows[dead]["status_reason"] == "snmp"
    events = query(librenms_url, "SELECT message, type FROM eventlog WHERE device_id = :d", d=dead)
    assert {"message": "Device status changed to Down from snmp check.", "type": "down"} in events
    assert (
        query(
            librenms_url,
            "SELECT COUNT(*) AS n FROM device_outages WHERE device_id = :d AND up_again IS NULL",
            d=dead,
        )[0]["n"]
        == 1
    )


async def test_every_port_of_a_device_carries_the_same_poll_time_after_a_stop(shared_snmpsim, librenms_url):
    device = insert_device(
        librenms_url, community="routeros", port=shared_snmpsim.port, ports_rows=discovery_ports("routeros")
    )
    daemon = Daemon(config_for(librenms_url, default_interval=2))
    await run_for(daemon, 3.5)
    times = query(
        librenms_url, "SELECT DISTINCT poll_time FROM ports WHERE device_id = :d AND deleted = 0", d=device
    )
    assert len(times) == 1 and times[0]["poll_time"] is not None  # no half-written batch


@pytest.mark.parametrize("freeze", [None, False])
async def test_a_devices_ports_stay_frozen_between_polls_unless_configured_as_objects(
    shared_snmpsim, librenms_url, freeze
):
    device = insert_device(
        librenms_url, community="routeros", port=shared_snmpsim.port, ports_rows=discovery_ports("routeros")
    )
    settings = {"default_interval": 2} if freeze is None else {"default_interval": 2, "freeze_ports": freeze}
    daemon = Daemon(config_for(librenms_url, **settings))
    await run_for(daemon, 2.5)
    ports = daemon.states[device].ports
    if freeze is None:  # the default
        assert isinstance(ports, PortTable) and ports.frozen_size > 0 and len(ports) > 0
    else:
        assert type(ports) is dict and len(ports) > 0


def most_polls_at_once(daemon: Daemon, *, hold: float = 0.0) -> list[int]:
    """Wrap the daemon's poll: [the most polls running at once so far]; each poll held ``hold`` s first."""
    polling, most = [0], [0]
    poll = daemon._poll

    async def counted(device: Device) -> None:
        polling[0] += 1
        most[0] = max(most[0], polling[0])
        try:
            await asyncio.sleep(hold)
            await poll(device)
        finally:
            polling[0] -= 1

    daemon._poll = counted  # type: ignore[method-assign]
    return most


async def test_the_daemon_runs_no_more_polls_at_once_than_max_polls_in_flight(shared_snmpsim, librenms_url):
    # three devices that answer, each poll held 1.5 s, every 2 s: 4.5 s of polls per 2 s
    for _ in range(3):
        insert_device(librenms_url, community="linux_ntc", port=shared_snmpsim.port)
    daemon = Daemon(config_for(librenms_url, default_interval=2, max_polls_in_flight=1))
    most = most_polls_at_once(daemon, hold=1.5)
    await run_for(daemon, 4.5)
    assert daemon.scheduler is not None
    assert most[0] == 1
    assert daemon.scheduler.stats.waited > 0


async def test_polls_of_devices_whose_last_poll_failed_are_not_held_to_max_polls_in_flight(librenms_url):
    # three dead devices, each holding its poll for its 1 s timeout, every 2 s: once each has failed a
    # poll, two of them are polling at once at some point of every 2 s
    for _ in range(3):
        insert_device(librenms_url, community="x", port=free_udp_port(), timeout=1, retries=0)
    daemon = Daemon(config_for(librenms_url, default_interval=2, max_polls_in_flight=1))
    most = most_polls_at_once(daemon)
    await run_for(daemon, 8.0)
    assert daemon.scheduler is not None
    assert most[0] >= 2
    assert all(state.dark for state in daemon.states.values())


async def test_a_poll_leaves_max_polls_in_flight_at_its_first_timeout(librenms_url):
    # up in the database, so its first poll counts against the cap; its GET waits 1 s x 3 attempts
    insert_device(librenms_url, community="x", port=free_udp_port(), timeout=1, retries=2)
    daemon = Daemon(config_for(librenms_url, default_interval=4, max_polls_in_flight=1))
    capped: list[int] = []
    poll = daemon._poll

    async def watched(device: Device) -> None:
        async def look() -> None:
            assert daemon.scheduler is not None
            await asyncio.sleep(0.5)
            capped.append(daemon.scheduler.capped)
            await asyncio.sleep(1.0)  # past the first attempt's timeout
            capped.append(daemon.scheduler.capped)

        await asyncio.gather(poll(device), look())

    daemon._poll = watched  # type: ignore[method-assign]
    await run_for(daemon, 6.5)
    assert capped[:2] == [1, 0]


def test_the_default_cap_on_polls_is_the_daemons_polls_per_second_for_a_second_and_a_half(librenms_url):
    daemon = Daemon(config_for(librenms_url, default_interval=10))
    daemon.membership = LocalMembership(None)
    daemon.scheduler = Scheduler(
        VirtualClock(),
        daemon._poll,
        daemon.config.polling.interval_for,
        max_in_flight=daemon._max_polls_in_flight,
    )
    daemon.devices = {
        i: Device(device_id=i, hostname=f"d{i}", target=Target("127.0.0.1")) for i in range(1, 1001)
    }
    daemon._reschedule()  # as an inventory refresh or a membership change does
    assert daemon.scheduler.max_in_flight == 150  # 1,000 devices / 10 s x 1.5 s
    explicit = daemon.config.polling.model_copy(update={"max_polls_in_flight": 7})
    daemon.config = daemon.config.model_copy(update={"polling": explicit})  # what a SIGHUP reload does
    assert daemon.scheduler.max_in_flight == 7


def test_polls_waiting_for_the_cap_on_a_loop_on_time_log_a_warning_at_most_every_15_minutes(
    librenms_url, caplog
):
    daemon = Daemon(config_for(librenms_url))
    daemon.scheduler = Scheduler(VirtualClock(), daemon._poll, lambda d: 60.0, max_in_flight=lambda: 250)
    daemon.scheduler.stats.waited = 40
    daemon._check_cap(now=1000.0)
    daemon.scheduler.stats.waited = 80
    daemon._check_cap(now=1060.0)  # within 15 minutes of the first
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "40 polls waited for [polling] max_polls_in_flight (250) while the event loop was on time: "
        "the devices' polls take longer than it allows for; raise it"
    ]


def test_polls_waiting_for_the_cap_on_a_loop_behind_log_nothing(librenms_url, caplog):
    daemon = Daemon(config_for(librenms_url))
    daemon.scheduler = Scheduler(VirtualClock(), daemon._poll, lambda d: 60.0, max_in_flight=lambda: 250)
    daemon.scheduler.stats.waited = 40
    daemon.loop_lag.lateness.observe(0.5, now=10.0)  # a late wake-up: behind
    daemon._check_cap(now=1000.0)
    daemon.loop_lag.lateness.observe(0.0, now=13.0)  # on time again, after 3 s behind
    daemon.scheduler.stats.waited = 80
    daemon._check_cap(now=1060.0)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


class _Kept:
    """Something the test holds a weak reference to."""


async def test_sensor_updates_the_database_refused_keep_their_events_and_nothing_else(librenms_url, caplog):
    daemon = Daemon(config_for(librenms_url))
    daemon.db = create_engine(f"mysql+pymysql://root@127.0.0.1:{free_tcp_port()}/librenms")  # nobody there
    gauge = _Kept()
    gone = weakref.ref(gauge)
    event = EventRow(1, 1_700_000_000, "Sensor crossed its threshold", "sensor", 4)
    daemon._discovered = [
        DiscoveredWrites(1, 1_700_000_000, sensors=[gauge]),  # type: ignore[list-item]
        DiscoveredWrites(1, 1_700_000_000, events=[event]),
    ]
    del gauge
    gc.disable()  # the daemon collects cyclic garbage only every 10 minutes
    try:
        await daemon._flush_discovered()
        assert gone() is None
    finally:
        gc.enable()
        daemon.db.dispose()
    assert [w.events for w in daemon._discovered] == [[event]]
    assert "sensor updates not written (OperationalError); 1 with events kept" in caplog.text


def test_the_port_walk_slots_follow_the_polling_limits_across_reloads(librenms_url):
    daemon = Daemon(config_for(librenms_url, max_port_walks=2, max_port_walks_when_late=64))
    slots = daemon._port_walk_gate()
    assert slots is not None and (slots.limit, slots.when_late) == (2, 64)
    assert daemon._port_walk_gate() is slots and daemon.loop_lag.slots is slots
    unlimited = daemon.config.polling.model_copy(update={"max_port_walks": 0, "max_port_walks_when_late": 0})
    daemon.config = daemon.config.model_copy(update={"polling": unlimited})  # what a SIGHUP reload does
    assert daemon._port_walk_gate() is None and daemon.loop_lag.slots is None


async def test_the_gc_policy_holds_while_the_daemon_runs_and_the_interpreters_returns_after(
    shared_snmpsim, librenms_url
):
    insert_device(librenms_url, community="linux_ntc", port=shared_snmpsim.port)
    before = gc.get_threshold()
    policy = GcPolicy(full_every=0.5)
    daemon = Daemon(config_for(librenms_url, default_interval=1), gc_policy=policy)
    task = asyncio.create_task(daemon.serve(install_signals=False))
    await daemon.wait_started()
    assert gc.get_threshold()[1:] == (NEVER, NEVER) and gc.get_freeze_count() > 0
    await asyncio.sleep(1.3)
    daemon.request_stop()
    assert await asyncio.wait_for(task, 30) == 0
    assert policy.full_collections >= 1
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


async def test_inventory_changes_take_effect_without_a_restart(shared_snmpsim, librenms_url):
    first = insert_device(librenms_url, community="linux_ntc", port=shared_snmpsim.port)
    seen: set[int] = set()
    daemon = Daemon(
        config_for(librenms_url, default_interval=1),
        sinks=[on_result(lambda d, r: seen.add(d.device_id))],
        inventory_refresh=0.5,
    )
    task = asyncio.create_task(daemon.serve(install_signals=False))
    await asyncio.sleep(1.5)
    second = insert_device(librenms_url, community="routeros", port=shared_snmpsim.port)
    execute(librenms_url, "UPDATE devices SET disabled = 1 WHERE device_id = :d", d=first)
    await asyncio.sleep(0.6)
    seen.clear()
    await asyncio.sleep(2.0)
    daemon.request_stop()
    await asyncio.wait_for(task, 30)
    assert seen == {second}


def test_sigterm_stops_the_daemon_cleanly_with_exit_status_0(shared_snmpsim, librenms_url):
    insert_device(librenms_url, community="linux_ntc", port=shared_snmpsim.port)
    env = dict(
        os.environ,
        FASTPOLL_DATABASE__URL=librenms_url,
        FASTPOLL_POLLING__DEFAULT_INTERVAL="1",
        FASTPOLL_METRICS__LISTEN=f"127.0.0.1:{free_tcp_port()}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "poller.cli", "run"], env=env, stderr=subprocess.PIPE, text=True
    )
    # SIGTERM once the daemon has written a poll (not after a fixed sleep: start-up is slow under load)
    deadline = time.monotonic() + 60
    while query(librenms_url, "SELECT last_polled FROM devices")[0]["last_polled"] is None:
        assert proc.poll() is None and time.monotonic() < deadline, "the daemon wrote no poll"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "fastpoll started" in err and "stopped after" in err
    assert query(librenms_url, "SELECT last_polled FROM devices")[0]["last_polled"] is not None


def test_a_writer_process_outlives_ctrl_c_and_ends_with_the_daemon(shared_snmpsim, librenms_url):
    device = insert_device(
        librenms_url, community="linux_ntc", port=shared_snmpsim.port, ports_rows=discovery_ports("linux_ntc")
    )
    env = dict(
        os.environ,
        FASTPOLL_DATABASE__URL=librenms_url,
        FASTPOLL_DATABASE__WRITER_PROCESS="true",
        FASTPOLL_POLLING__DEFAULT_INTERVAL="1",
        FASTPOLL_METRICS__LISTEN=f"127.0.0.1:{free_tcp_port()}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "poller.cli", "run"], env=env, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while query(librenms_url, "SELECT last_polled FROM devices")[0]["last_polled"] is None:
        assert proc.poll() is None and time.monotonic() < deadline, "the daemon wrote no poll"
        time.sleep(0.2)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children  # the writer process (and multiprocessing's resource tracker)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: every process of the group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped after" in err and "could not flush" not in err, err
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    counted = "SELECT COUNT(*) AS n FROM ports WHERE device_id = :d AND ifInOctets IS NOT NULL"
    assert query(librenms_url, counted, d=device)[0]["n"] > 0


async def test_metrics_and_health_are_served_while_the_daemon_runs(shared_snmpsim, librenms_url):
    import httpx

    device = insert_device(
        librenms_url, community="linux_ntc", port=shared_snmpsim.port, ports_rows=discovery_ports("linux_ntc")
    )
    config = config_for(librenms_url, default_interval=1)
    daemon = Daemon(config)
    task = asyncio.create_task(daemon.serve(install_signals=False))
    await asyncio.sleep(2.5)
    async with httpx.AsyncClient(base_url=f"http://{config.metrics.listen}") as client:
        metrics = (await client.get("/metrics")).text
        health = await client.get("/health")
    assert daemon.metrics_server is not None
    on_loop = daemon.metrics_server._server.app.prepare  # type: ignore[union-attr]
    daemon.request_stop()
    await asyncio.wait_for(task, 30)
    assert on_loop is not None and on_loop.loop is asyncio.get_running_loop()  # the daemon's loop renders
    assert f'fastpoll_device_up{{device_id="{device}"' in metrics
    assert 'ifname="eth0"' in metrics
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {"scheduler": "alive", "writer": "alive"}}


async def test_device_communities_never_reach_the_log(shared_snmpsim, librenms_url):
    import io

    from poller.logs import setup_logging

    secret = "s3cr3t-c0mmunity-XYZ"
    insert_device(librenms_url, community=secret, port=shared_snmpsim.port, timeout=1, retries=0)
    stream = io.StringIO()
    redaction = setup_logging("DEBUG", "json", stream=stream)
    try:
        daemon = Daemon(config_for(librenms_url, default_interval=1), redaction=redaction)
        original = daemon._poll

        async def poll_and_log(device):
            logging.getLogger("test").warning(
                "polling %s with %s", device.hostname, device.target.credentials.community
            )
            await original(device)

        daemon._poll = poll_and_log
        await run_for(daemon, 2.5)
    finally:
        setup_logging("WARNING", "text")
    output = stream.getvalue()
    assert "polling 127.0.0.1 with ***" in output
    assert secret not in output


async def test_the_json_api_serves_the_latest_polls_when_a_token_is_set(shared_snmpsim, librenms_url):
    import httpx

    device = insert_device(
        librenms_url, community="linux_ntc", port=shared_snmpsim.port, ports_rows=discovery_ports("linux_ntc")
    )
    listen = f"127.0.0.1:{free_tcp_port()}"
    env = {
        "FASTPOLL_DATABASE__URL": librenms_url,
        "FASTPOLL_POLLING__DEFAULT_INTERVAL": "1",
        "FASTPOLL_METRICS__LISTEN": f"127.0.0.1:{free_tcp_port()}",
        "FASTPOLL_API__LISTEN": listen,
        "FASTPOLL_API__TOKEN": "t0ken-for-test",
        "FASTPOLL_PAYLOAD_API_KEY": "read by fastpoll sync only: must not stop the daemon",
    }
    daemon = Daemon(load_config(None, env))
    task = asyncio.create_task(daemon.serve(install_signals=False))
    await asyncio.sleep(3.0)
    async with httpx.AsyncClient(base_url=f"http://{listen}") as client:
        refused = await client.get("/api/v1/devices")
        ports = await client.get(
            f"/api/v1/devices/{device}/ports", headers={"Authorization": "Bearer t0ken-for-test"}
        )
    daemon.request_stop()
    await asyncio.wait_for(task, 30)
    assert refused.status_code == 401
    assert ports.status_code == 200
    body = ports.json()
    rows = body["ports"] if isinstance(body, dict) else body
    assert "eth0" in {p["name"] for p in rows}


class RecordingChecks:
    """Stands in for DiscoveredChecks: records which checks each device poll asked for."""

    def __init__(self) -> None:
        self.asked: list[set[str]] = []

    async def poll(self, engine, device, *, now, checks, deadline=None):
        from poller.checks.fastpath import FastPathWrites

        self.asked.append(set(checks))
        return FastPathWrites()

    def forget(self, device_id: int) -> None:
        return None


async def test_each_discovered_check_runs_at_its_own_interval(monkeypatch):
    from poller.model import Device, Target

    config = load_config(None, {"FASTPOLL_POLLING__CHECK_INTERVALS": '{"bgp": 15, "sensors": 30}'})
    daemon = Daemon(config, serve_metrics=False)
    daemon.sensors = RecordingChecks()  # type: ignore[assignment]
    device = Device(1, "r1", Target("127.0.0.1"))
    clock = [1000.0]
    monkeypatch.setattr("poller.daemon.time.time", lambda: clock[0])
    seconds = range(0, 90, 10)  # a device polled every 10 s
    for second in seconds:
        clock[0] = 1000.0 + second
        await daemon._poll_discovered(device)
    assert all({"processors", "mempools"} <= asked for asked in daemon.sensors.asked)  # no interval
    # a first run counts as made a share of the interval earlier (intervals.recorded_run: 9.3 s of bgp's
    # 15 and 18.5 s of sensors' 30 on device 1), so the second comes sooner; then at each interval
    ran = dict(zip(seconds, daemon.sensors.asked, strict=True))
    assert [s for s, asked in ran.items() if "bgp" in asked] == [0, 10, 30, 50, 70]
    assert [s for s, asked in ran.items() if "sensors" in asked] == [0, 20, 50, 80]
    await daemon.snmp.close()


async def test_the_daemon_polls_discovered_bgp_peers_and_logs_the_session_coming_up(
    shared_snmpsim, librenms_url
):
    device_id = insert_device(librenms_url, community="edgeos", port=shared_snmpsim.port, timeout=2)
    execute(librenms_url, "DELETE FROM bgpPeers")
    insert_edgeos_bgp_peer(librenms_url, device_id)
    daemon = Daemon(config_for(librenms_url, default_interval=1, check_intervals='{"bgp": 2}'))
    await run_for(daemon, 3.5)

    peer = query(librenms_url, "SELECT bgpPeerState, bgpPeerInTotalMessages FROM bgpPeers")[0]
    assert (peer["bgpPeerState"], peer["bgpPeerInTotalMessages"]) == ("established", 3134)
    events = query(
        librenms_url, "SELECT message FROM eventlog WHERE type = 'bgpPeer' AND device_id = :d", d=device_id
    )
    assert [e["message"] for e in events] == ["BGP Session Up: 172.16.200.1 (AS65000 )"]


EDGE_PROFILE = """\
# A user's profile: OIDs no built-in check reads, one by MIB name, one numeric.
name: edge_health
scalars:
  - oid: HOST-RESOURCES-MIB::hrSystemProcesses.0
    metric: edge_processes
    help: Processes running on the router
table:
  index_label: la_index
  columns:
    - oid: 1.3.6.1.4.1.2021.10.1.5    # UCD-SNMP-MIB::laLoadInt, load * 100
      metric: edge_load
      help: Load average
      scale: 0.01
"""


async def scrape_until(url: str, done, within: float = 30.0) -> str:
    """GET /metrics until ``done(text)`` holds (polls take their time on a loaded machine; the endpoint
    starts once the daemon has read its inventory)."""
    import httpx

    async with httpx.AsyncClient(base_url=url) as client:
        deadline = time.monotonic() + within
        while True:
            try:
                text = (await client.get("/metrics")).text
            except httpx.ConnectError:
                text = ""
            if done(text) or time.monotonic() > deadline:
                return text
            await asyncio.sleep(0.2)


async def test_a_user_profile_is_polled_and_its_samples_reach_metrics_until_the_device_goes(
    shared_snmpsim, librenms_url, tmp_path
):
    from prometheus_client.parser import text_string_to_metric_families

    (tmp_path / "edge.yaml").write_text(EDGE_PROFILE)
    device = insert_device(librenms_url, community="edgeos", port=shared_snmpsim.port, timeout=2)
    listen = f"127.0.0.1:{free_tcp_port()}"
    env = {
        "FASTPOLL_DATABASE__URL": librenms_url,
        "FASTPOLL_POLLING__DEFAULT_INTERVAL": "1",
        "FASTPOLL_METRICS__LISTEN": listen,
        "FASTPOLL_PROFILES__PATHS": f'["{tmp_path}"]',
        "FASTPOLL_PROFILES__ENABLED": '["edge_health"]',
    }
    daemon = Daemon(load_config(None, env), inventory_refresh=0.5)
    task = asyncio.create_task(daemon.serve(install_signals=False))
    try:
        await asyncio.wait_for(daemon.wait_started(), 30)
        polled = await scrape_until(f"http://{listen}", lambda t: "fastpoll_profile_edge_load{" in t)
        execute(librenms_url, "UPDATE devices SET disabled = 1 WHERE device_id = :d", d=device)
        gone = await scrape_until(f"http://{listen}", lambda t: "fastpoll_profile_edge_" not in t)
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 30) == 0

    families = {f.name: f for f in text_string_to_metric_families(polled)}
    processes = families["fastpoll_profile_edge_processes"]
    assert (processes.type, processes.documentation) == ("gauge", "Processes running on the router")
    assert [(s.labels, s.value) for s in processes.samples] == [
        ({"device_id": str(device), "hostname": "127.0.0.1"}, 94.0)
    ]
    load = {s.labels["la_index"]: s.value for s in families["fastpoll_profile_edge_load"].samples}
    assert load == {"1": pytest.approx(0.14), "2": pytest.approx(0.04), "3": pytest.approx(0.01)}
    assert "fastpoll_profile_edge_" not in gone


class ScriptedEngine:
    """Stands in for SnmpEngine in profile polls: answers GETs from a table, or raises what it is told."""

    def __init__(self, answers: dict[str, int], fail: Exception | None = None) -> None:
        self.answers = answers
        self.fail = fail
        self.gets = 0

    async def get(self, target, oids, *, deadline=None):
        from poller.snmp.values import Tag, VarBind

        self.gets += 1
        if self.fail is not None:
            raise self.fail
        return [VarBind(o, Tag.GAUGE32, self.answers[o]) for o in oids]

    async def close(self) -> None:
        return None


PROCESSES_PROFILE = "name: procs\nscalars:\n  - oid: 1.3.6.1.2.1.25.1.6.0\n    metric: host_processes\n"


def profile_daemon(
    tmp_path, engine: ScriptedEngine, profile: str = PROCESSES_PROFILE, **polling: str
) -> Daemon:
    (tmp_path / "procs.yaml").write_text(profile)
    env = {"FASTPOLL_PROFILES__PATHS": f'["{tmp_path}"]', "FASTPOLL_PROFILES__ENABLED": '["procs"]'}
    env.update({f"FASTPOLL_POLLING__{k.upper()}": v for k, v in polling.items()})
    return Daemon(load_config(None, env), serve_metrics=False, snmp=engine)  # type: ignore[arg-type]


def processes_of(daemon: Daemon) -> list[float]:
    return [s.value for snap in daemon.profile_samples.snapshots() for s in snap.samples]


async def test_profiles_run_at_their_own_check_interval(tmp_path, monkeypatch):
    from poller.model import Device, Target

    engine = ScriptedEngine({"1.3.6.1.2.1.25.1.6.0": 94})
    daemon = profile_daemon(tmp_path, engine, check_intervals='{"profiles": 30}')
    clock = [1000.0]
    monkeypatch.setattr("poller.daemon.time.time", lambda: clock[0])
    device = Device(1, "r1", Target("127.0.0.1"))
    runs = []
    for second in range(0, 70, 10):  # a device polled every 10 s
        clock[0] = 1000.0 + second
        before = engine.gets
        await daemon._poll_profiles(device, deadline=1e12)
        runs.append(engine.gets > before)
    # the first run counts as made 18.5 s earlier (intervals.recorded_run on device 1), then every 30 s
    assert runs == [True, False, True, False, False, True, False]
    assert processes_of(daemon) == [94.0]


async def test_a_failing_profile_loses_its_samples_and_is_logged_once_for_the_device(tmp_path, caplog):
    from poller.model import Device, Target
    from poller.snmp.errors import SnmpTimeout

    engine = ScriptedEngine({"1.3.6.1.2.1.25.1.6.0": 94})
    daemon = profile_daemon(tmp_path, engine)
    device = Device(7, "edge7", Target("127.0.0.1"))
    await daemon._poll_profiles(device, deadline=1e12)
    assert processes_of(daemon) == [94.0]

    engine.fail = SnmpTimeout("no answer")
    with caplog.at_level(logging.DEBUG, logger="fastpoll.daemon"):
        for _ in range(3):
            await daemon._poll_profiles(device, deadline=1e12)
    assert processes_of(daemon) == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["profile procs not polled: timeout"]
    assert warnings[0].device_id == 7  # type: ignore[attr-defined]

    engine.fail = None
    await daemon._poll_profiles(device, deadline=1e12)
    assert processes_of(daemon) == [94.0]


async def test_a_profile_for_other_operating_systems_sends_nothing_to_the_device(tmp_path):
    from poller.model import Device, Target

    engine = ScriptedEngine({"1.3.6.1.2.1.25.1.6.0": 94})
    daemon = profile_daemon(tmp_path, engine, PROCESSES_PROFILE + "os: [linux]\n")
    await daemon._poll_profiles(Device(1, "sw1", Target("127.0.0.1"), os="ios"), deadline=1e12)
    await daemon._poll_profiles(Device(2, "srv2", Target("127.0.0.1"), os="linux"), deadline=1e12)
    assert engine.gets == 1
    assert [snap.device.device_id for snap in daemon.profile_samples.snapshots()] == [2]


async def test_a_cluster_member_claims_its_polls_in_redis_and_exports_how_they_went(
    shared_snmpsim, librenms_url
):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail("Redis at 127.0.0.1:6379 is required in CI")
        pytest.skip("Redis at 127.0.0.1:6379 not available")
    insert_device(
        librenms_url, community="linux_ntc", port=shared_snmpsim.port, ports_rows=discovery_ports("linux_ntc")
    )
    prefix = f"fastpoll-test-{uuid.uuid4().hex[:12]}"
    listen = f"127.0.0.1:{free_tcp_port()}"
    config = load_config(
        None,
        {
            "FASTPOLL_DATABASE__URL": librenms_url, "FASTPOLL_METRICS__LISTEN": listen,
            "FASTPOLL_POLLING__DEFAULT_INTERVAL": "2", "FASTPOLL_CLUSTER__REDIS_URL": REDIS_URL,
            "FASTPOLL_CLUSTER__LEASE_TTL": "1", "FASTPOLL_CLUSTER__KEY_PREFIX": prefix,
            "FASTPOLL_CLUSTER__INSTANCE_NAME": "member-1",
        },
    )  # fmt: skip
    daemon = Daemon(config)
    task = asyncio.create_task(daemon.serve(install_signals=False))
    won = re.compile(r'fastpoll_cluster_claims_total\{result="won"\} [1-9]')
    try:
        metrics = await scrape_until(f"http://{listen}", won.search)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    assert won.search(metrics), metrics
    assert "fastpoll_cluster_active 1.0" in metrics
    assert "fastpoll_cluster_instances 1.0" in metrics
    assert 'fastpoll_cluster_claims_total{result="failed"} 0.0' in metrics
