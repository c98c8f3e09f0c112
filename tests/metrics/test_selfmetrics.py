"""SelfMetrics: fastpoll's own metrics from hooks and from the engine/scheduler/writer read at scrape time."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from poller import __version__
from poller.cluster_redis import ClusterStats
from poller.loop_lag import Lateness, LoopLag, WalkSlots
from poller.metrics.selfmetrics import DEVICE_SNMP_FAMILIES, SelfMetrics, device_snmp_text, poll_outcome
from poller.model import Device, Target
from poller.scheduler import Scheduler, VirtualClock
from poller.snmp.client import SnmpEngine
from tests.support.agents import Agent

from .fleet import _idle_writer, device, result


def sample(own: SelfMetrics, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(own.render().decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "ok"),
        ({"up": False, "error": "timeout"}, "timeout"),
        ({"up": False, "error": "auth"}, "auth"),
        ({"up": False, "error": "decode"}, "error"),
        ({"reachable": True, "error": "ports:timeout"}, "timeout"),
        ({"up": True, "reachable": False, "error": "timeout"}, "timeout"),  # below down_after: still up
    ],
)
def test_poll_outcome_names_the_result(kwargs, expected):
    assert poll_outcome(result(1, **kwargs)) == expected


def test_polls_are_counted_by_result_and_every_result_exists_from_the_start():
    own = SelfMetrics()
    assert sample(own, "fastpoll_polls_total", result="auth") == 0
    own.observe_poll(result(1))
    own.observe_poll(result(1))
    own.observe_poll(result(2, up=False, error="timeout"))
    assert sample(own, "fastpoll_polls_total", result="ok") == 2
    assert sample(own, "fastpoll_polls_total", result="timeout") == 1
    assert sample(own, "fastpoll_poll_duration_seconds_count") == 3


def test_schedule_lag_is_a_histogram_fed_by_the_scheduler_hook():
    own = SelfMetrics()
    own.on_poll_start(device(1), 0.003)
    own.on_poll_start(device(2), 7.0)
    assert sample(own, "fastpoll_schedule_lag_seconds_bucket", le="0.005") == 1
    assert sample(own, "fastpoll_schedule_lag_seconds_bucket", le="10.0") == 2
    assert sample(own, "fastpoll_schedule_lag_seconds_sum") == pytest.approx(7.003)


def test_sync_runs_and_last_success():
    own = SelfMetrics()
    own.observe_sync("devices", True, when=1_700_000_000)
    own.observe_sync("devices", False)
    assert sample(own, "fastpoll_sync_runs_total", kind="devices", result="ok") == 1
    assert sample(own, "fastpoll_sync_runs_total", kind="devices", result="error") == 1
    assert sample(own, "fastpoll_sync_last_success_timestamp_seconds", kind="devices") == 1_700_000_000


def test_write_batches_are_a_histogram():
    own = SelfMetrics()
    own.observe_write_batch(0.02)
    assert sample(own, "fastpoll_writer_batch_duration_seconds_bucket", le="0.025") == 1


def test_build_info_names_the_version():
    assert sample(SelfMetrics(), "fastpoll_build_info", version=__version__) == 1


def test_disabled_exports_only_build_info_and_hooks_do_nothing():
    own = SelfMetrics(enabled=False)
    own.attach_engine(_Engine({"127.0.0.1": _Stats(5, 1, 0)}), lambda: [device(1)])
    own.observe_poll(result(1))
    own.on_poll_start(device(1), 1.0)
    own.observe_sync("devices", True)
    families = {f.name for f in text_string_to_metric_families(own.render().decode())}
    assert families == {"fastpoll_build_info"}


def test_scheduler_counters_are_read_at_scrape_time():
    async def never(_):  # the scheduler is not run: its inventory and counters are read
        return None

    own = SelfMetrics()
    scheduler = Scheduler(VirtualClock(), never, lambda d: 30.0)
    own.attach_scheduler(scheduler)
    scheduler.update_inventory([device(1), device(2), device(3)])
    scheduler.stats.skipped_overrun = 4
    assert sample(own, "fastpoll_scheduler_devices") == 3
    assert sample(own, "fastpoll_scheduler_overrun_skips_total") == 4
    assert sample(own, "fastpoll_scheduler_polls_in_flight") == 0


async def test_polls_waiting_for_the_cap_are_read_at_scrape_time():
    clock = VirtualClock()

    async def endless(_):
        await clock.sleep(10_000)

    own = SelfMetrics()
    scheduler = Scheduler(
        clock, endless, lambda d: 30.0, max_in_flight=lambda: 1, uncapped=lambda d: d.device_id == 4
    )
    own.attach_scheduler(scheduler)
    scheduler.update_inventory([device(1), device(2), device(3), device(4)])
    task = asyncio.create_task(scheduler.run())
    await clock.advance(30)  # each falls due once: one runs, two wait, the uncapped one runs
    assert sample(own, "fastpoll_scheduler_polls_waiting") == 2
    assert sample(own, "fastpoll_scheduler_polls_waited_total") == 2
    assert sample(own, "fastpoll_scheduler_max_polls_in_flight") == 1
    assert sample(own, "fastpoll_scheduler_polls_in_flight") == 2
    assert sample(own, "fastpoll_scheduler_polls_in_flight_capped") == 1
    await scheduler.stop(grace=0)
    await task


def test_writer_queue_and_errors_are_read_at_scrape_time():
    own = SelfMetrics()
    writer = _idle_writer()
    own.attach_writer(writer)
    polled = result(1)
    polled.device["uptime"] = 3600
    writer.submit(polled)
    writer.stats.failures = 2
    writer.stats.connected = False
    assert sample(own, "fastpoll_writer_queue_depth", kind="devices") == 1
    assert sample(own, "fastpoll_writer_db_errors_total") == 2
    assert sample(own, "fastpoll_writer_connected") == 0


def test_writer_process_restarts_are_counted():
    own = SelfMetrics()
    writer = _idle_writer()
    own.attach_writer(writer)
    assert sample(own, "fastpoll_writer_process_restarts_total") == 0  # a thread writer: always 0
    writer.stats.process_restarts = 3
    assert sample(own, "fastpoll_writer_process_restarts_total") == 3


@pytest.mark.snmpsim
async def test_snmp_requests_timeouts_and_retries_by_device_from_the_engine(shared_snmpsim: Agent):
    from dataclasses import replace

    from poller.model import Credentials, Target
    from poller.snmp.errors import SnmpTimeout

    good = replace(
        device(1),
        target=Target(shared_snmpsim.host, shared_snmpsim.port, credentials=Credentials("2c", "linux_ntc")),
    )
    silent = replace(
        device(2),
        target=Target(
            shared_snmpsim.host,
            shared_snmpsim.port,
            credentials=Credentials("2c", "nosuch"),
            timeout=0.2,
            retries=1,
        ),
    )
    own = SelfMetrics()
    async with SnmpEngine() as engine:
        own.attach_engine(engine, lambda: [good, silent])
        await engine.get(good.target, ["1.3.6.1.2.1.1.3.0"])
        with pytest.raises(SnmpTimeout):
            await engine.get(silent.target, ["1.3.6.1.2.1.1.3.0"])
        assert sample(own, "fastpoll_snmp_requests_total", device_id="1") == 1
        assert sample(own, "fastpoll_snmp_timeouts_total", device_id="1") == 0
        assert sample(own, "fastpoll_snmp_requests_total", device_id="2") == 2
        assert sample(own, "fastpoll_snmp_retries_total", device_id="2") == 1
        assert sample(own, "fastpoll_snmp_timeouts_total", device_id="2") == 1
        assert sample(own, "fastpoll_snmp_packets_received_total") >= 1
        assert sample(own, "fastpoll_snmp_in_flight_requests") == 0
        assert sample(own, "fastpoll_snmp_throttle_wait_seconds_total") == 0


LABELS = ["device_id", "hostname"]


class _Stats:
    def __init__(self, requests: int, retries: int, timeouts: int) -> None:
        self.requests, self.retries, self.timeouts = requests, retries, timeouts


class _Engine:
    """device_stats by target host; no stats for a device the engine never asked."""

    def __init__(self, stats: dict[str, _Stats]) -> None:
        self.stats_by_host = stats

    def device_stats(self, target: Target) -> _Stats | None:
        return self.stats_by_host.get(target.host)


def test_per_device_snmp_counters_read_as_prometheus_clients_own_exposition():
    devices = [
        Device(2, 'we"ird\\host\nname', Target("127.0.0.2")),
        Device(1, "sw1.example.net", Target("127.0.0.1")),
        Device(3, "never-asked.example.net", Target("127.0.0.3")),
    ]
    engine = _Engine({"127.0.0.1": _Stats(5, 1, 0), "127.0.0.2": _Stats(9, 4, 2)})
    reference = CollectorRegistry(auto_describe=False)

    class Reference:
        def describe(self):
            return iter(())

        def collect(self):
            for name, help_, attr in DEVICE_SNMP_FAMILIES:
                family = CounterMetricFamily(name.removesuffix("_total"), help_, labels=LABELS)
                for d in sorted(devices[:2], key=lambda d: d.device_id):
                    value = getattr(engine.device_stats(d.target), attr)
                    family.add_metric([str(d.device_id), d.hostname], value)
                yield family

    reference.register(Reference())
    ours = text_string_to_metric_families(device_snmp_text(engine, devices).decode())
    theirs = text_string_to_metric_families(generate_latest(reference).decode())
    assert [(f.name, f.type, f.documentation, f.samples) for f in ours] == [
        (f.name, f.type, f.documentation, f.samples) for f in theirs
    ]


class _Member:
    """A Redis cluster member as SelfMetrics reads it: its stats, whether it owns its share, the live set."""

    def __init__(self) -> None:
        self.stats = ClusterStats()
        self.active = True
        self.live = {"a": None, "b": None}


def test_a_cluster_members_claims_and_heartbeats_are_read_at_scrape_time():
    own, member = SelfMetrics(), _Member()
    own.attach_cluster(member)
    member.stats.claims_won, member.stats.claims_lost, member.stats.claims_failed = 7, 2, 3
    member.stats.heartbeat_failures = 1
    assert sample(own, "fastpoll_cluster_claims_total", result="won") == 7
    assert sample(own, "fastpoll_cluster_claims_total", result="lost") == 2
    assert sample(own, "fastpoll_cluster_claims_total", result="failed") == 3
    assert sample(own, "fastpoll_cluster_heartbeat_failures_total") == 1
    assert (sample(own, "fastpoll_cluster_active"), sample(own, "fastpoll_cluster_instances")) == (1, 2)
    member.active = False
    assert sample(own, "fastpoll_cluster_active") == 0


def test_a_single_instance_exports_no_cluster_metrics():
    assert sample(SelfMetrics(), "fastpoll_cluster_active") is None


def test_the_event_loops_lateness_and_the_port_walks_slots_are_read_at_scrape_time():
    own, lateness = SelfMetrics(), Lateness(late_after=0.25, calm_after=2.0)
    probe = LoopLag(lateness)
    probe.slots = WalkSlots(0, 64)
    own.attach_loop_lag(probe)
    lateness.observe(0.0, now=0.0)
    lateness.observe(0.6, now=1.0)
    lateness.observe(0.1, now=4.0)  # behind from 1.0 to 4.0 (calm after 3.0, counted up to this wake-up)
    probe.slots.taken, probe.slots.waited = 5, 3
    assert sample(own, "fastpoll_event_loop_lag_seconds") == 0.6
    assert sample(own, "fastpoll_event_loop_behind_seconds_total") == 3.0
    assert sample(own, "fastpoll_port_walks_running") == 5
    assert sample(own, "fastpoll_port_walks_waiting") == 0
    assert sample(own, "fastpoll_port_walks_waited_total") == 3
