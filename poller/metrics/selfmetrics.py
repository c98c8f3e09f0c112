"""fastpoll's own metrics (prometheus_client): how polling, the SNMP engine, the writer and sync are doing.

Two kinds of input:

- hooks the daemon calls as things happen: :meth:`SelfMetrics.observe_poll` (every PollResult),
  :meth:`SelfMetrics.on_poll_start` (the Scheduler's ``on_start`` hook: schedule lag),
  :meth:`SelfMetrics.observe_write_batch`, :meth:`SelfMetrics.observe_sync`;
- objects read at scrape time (so nothing is counted twice and the hot path pays nothing):
  :meth:`attach_engine` (SnmpEngine.stats / in_flight / throttle_wait_seconds / device_stats per device),
  :meth:`attach_scheduler` (SchedulerStats, in-flight polls, devices), :meth:`attach_writer` (WriterStats,
  queue depth), :meth:`attach_cluster` (a Redis cluster member's ClusterStats, live instances),
  :meth:`attach_loop_lag` (the event loop's lateness and the port walks' slots, poller/loop_lag.py).

With ``metrics.families.poller = false`` only ``fastpoll_build_info`` is exported and the hooks do nothing.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from poller import __version__
from poller.checks.results import PollResult
from poller.loop_lag import LoopLag
from poller.model import Device, Target

from .collector import escape_label

POLL_RESULTS = ("ok", "timeout", "auth", "error")
SYNC_RESULTS = ("ok", "error")
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
POLL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# What is read at scrape time, structurally (SnmpEngine, Scheduler, LibreNMSWriter fit these).
class _DeviceStats(Protocol):
    requests: int
    retries: int
    timeouts: int


class _TransportStats(Protocol):
    sent: int
    received: int
    dropped_unknown_id: int
    dropped_wrong_source: int
    dropped_malformed: int
    send_errors: int


class EngineLike(Protocol):
    stats: _TransportStats
    throttle_wait_seconds: float

    @property
    def in_flight(self) -> int: ...

    def device_stats(self, target: Target) -> _DeviceStats | None: ...


class SchedulerLike(Protocol):
    stats: Any  # SchedulerStats: started, finished, failed, skipped_overrun, waited, missed

    @property
    def in_flight(self) -> int: ...

    @property
    def capped(self) -> int: ...

    @property
    def waiting(self) -> int: ...

    @property
    def max_in_flight(self) -> int: ...

    @property
    def devices(self) -> int: ...


class WriterLike(Protocol):
    stats: Any  # WriterStats: batches, rows, failures, dropped_transitions, last_batch_seconds, connected

    def pending_counts(self) -> dict[str, int]: ...


class ClusterLike(Protocol):
    stats: Any  # ClusterStats: heartbeats, heartbeat_failures, claims_won, claims_lost, claims_failed

    @property
    def active(self) -> bool: ...

    @property
    def live(self) -> Mapping[str, Any]: ...


def poll_outcome(result: PollResult) -> str:
    """ok / timeout / auth / error for one poll (a port walk that failed counts by its error)."""
    m = result.metrics
    if m is None:
        return "error"
    if m.reachable and not m.error:
        return "ok"
    kind = (m.error or "").rsplit(":", 1)[-1]
    return kind if kind in ("timeout", "auth") else "error"


class SelfMetrics:
    """fastpoll's own metrics in their own registry; :meth:`render` gives the exposition text."""

    def __init__(self, *, enabled: bool = True, version: str = __version__) -> None:
        # No *_created series: they double the series of every counter and histogram and no rule needs them.
        # (A process-wide prometheus_client switch; fastpoll has no other registry that wants them.)
        disable_created_metrics()
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        Info("fastpoll_build", "fastpoll version and Python it runs on.", registry=self.registry).info(
            {"version": version, "python_version": platform.python_version()}
        )
        self._engine: EngineLike | None = None
        self._devices: Callable[[], Iterable[Device]] | None = None
        self._scheduler: SchedulerLike | None = None
        self._writer: WriterLike | None = None
        self._cluster: ClusterLike | None = None
        self._loop_lag: LoopLag | None = None
        if not enabled:
            return
        r = self.registry
        self.polls = Counter("fastpoll_polls", "Device polls by result.", ["result"], registry=r)
        for result in POLL_RESULTS:
            self.polls.labels(result)
        self.poll_duration = Histogram(
            "fastpoll_poll_duration_seconds",
            "Seconds each device poll took.",
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.schedule_lag = Histogram(
            "fastpoll_schedule_lag_seconds",
            "Seconds each poll started after its scheduled instant.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.write_batch = Histogram(
            "fastpoll_writer_batch_duration_seconds",
            "Seconds each database write batch took.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.syncs = Counter(
            "fastpoll_sync_runs", "Sync runs by kind and result.", ["kind", "result"], registry=r
        )
        self.sync_last_success = Gauge(
            "fastpoll_sync_last_success_timestamp_seconds",
            "Unix time of the last successful sync of each kind.",
            ["kind"],
            registry=r,
        )
        r.register(_AttachedCollector(self))

    # ------------------------------------------------------------------ hooks (event loop)

    def observe_poll(self, result: PollResult) -> None:
        """Count one finished poll by result and observe its duration."""
        if not self.enabled:
            return
        self.polls.labels(poll_outcome(result)).inc()
        if result.metrics is not None:
            self.poll_duration.observe(result.metrics.poll_duration)

    def on_poll_start(self, device: Device, lag: float) -> None:
        """The Scheduler's ``on_start`` hook: observe how late the poll started."""
        self.observe_schedule_lag(lag)

    def observe_schedule_lag(self, seconds: float) -> None:
        if self.enabled:
            self.schedule_lag.observe(max(0.0, seconds))

    def observe_write_batch(self, seconds: float) -> None:
        """One database write batch finished (called by the writer's owner, from any thread)."""
        if self.enabled:
            self.write_batch.observe(seconds)

    def observe_sync(self, kind: str, ok: bool, *, when: float | None = None) -> None:
        """One sync run of ``kind`` ("devices", "crisis", ...) finished; ``when`` = its Unix time if ok."""
        if not self.enabled:
            return
        self.syncs.labels(kind, "ok" if ok else "error").inc()
        self.syncs.labels(kind, "error" if ok else "ok")  # both results present from the first run on
        if ok:
            if when is None:
                self.sync_last_success.labels(kind).set_to_current_time()
            else:
                self.sync_last_success.labels(kind).set(when)

    # ------------------------------------------------------------------ read at scrape time

    def attach_engine(
        self, engine: EngineLike, devices: Callable[[], Iterable[Device]] | None = None
    ) -> None:
        """Export the engine's counters; ``devices()`` (e.g. ``FleetState.devices``) lists whose per-device
        request/retry/timeout counters to export."""
        self._engine = engine
        self._devices = devices

    def attach_scheduler(self, scheduler: SchedulerLike) -> None:
        self._scheduler = scheduler

    def attach_writer(self, writer: WriterLike) -> None:
        self._writer = writer

    def attach_cluster(self, membership: ClusterLike) -> None:
        """Export a Redis cluster member's claims and heartbeats (a single instance has none)."""
        self._cluster = membership

    def attach_loop_lag(self, probe: LoopLag) -> None:
        self._loop_lag = probe

    def render(self) -> bytes:
        text = generate_latest(self.registry)
        if not self.enabled or self._engine is None or self._devices is None:
            return text
        return text + device_snmp_text(self._engine, self._devices())


class _AttachedCollector:
    """Reads the attached engine/scheduler/writer at scrape time."""

    def __init__(self, owner: SelfMetrics) -> None:
        self.owner = owner

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        o = self.owner
        if o._engine is not None:
            yield from _engine_metrics(o._engine)
        if o._scheduler is not None:
            yield from _scheduler_metrics(o._scheduler)
        if o._writer is not None:
            yield from _writer_metrics(o._writer)
        if o._cluster is not None:
            yield from _cluster_metrics(o._cluster)
        if o._loop_lag is not None:
            yield from _loop_lag_metrics(o._loop_lag)


def _counter(name: str, help_: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_, value=value)


def _gauge(name: str, help_: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_, value=value)


def _engine_metrics(engine: EngineLike) -> Iterator[Metric]:
    try:
        in_flight = engine.in_flight
    except RuntimeError:  # the endpoint dict grew on the loop thread while we summed it; next scrape
        in_flight = 0
    yield _gauge("fastpoll_snmp_in_flight_requests", "SNMP requests awaiting an answer.", in_flight)
    yield _counter(
        "fastpoll_snmp_throttle_wait_seconds",
        "Seconds requests waited for the global rate limit (polling.rate_limit).",
        engine.throttle_wait_seconds,
    )
    t = engine.stats
    yield _counter("fastpoll_snmp_packets_sent", "SNMP packets sent.", t.sent)
    yield _counter("fastpoll_snmp_packets_received", "SNMP packets received.", t.received)
    yield _counter("fastpoll_snmp_send_errors", "SNMP packets the socket refused to send.", t.send_errors)
    dropped = CounterMetricFamily(
        "fastpoll_snmp_packets_dropped", "SNMP packets received and dropped, by reason.", labels=["reason"]
    )
    dropped.add_metric(["unknown_id"], t.dropped_unknown_id)
    dropped.add_metric(["wrong_source"], t.dropped_wrong_source)
    dropped.add_metric(["malformed"], t.dropped_malformed)
    yield dropped


DEVICE_SNMP_FAMILIES = (
    ("fastpoll_snmp_requests_total", "SNMP request attempts by device.", "requests"),
    ("fastpoll_snmp_retries_total", "SNMP retries (attempts after the first).", "retries"),
    ("fastpoll_snmp_timeouts_total", "SNMP requests that got no answer after every retry.", "timeouts"),
)


def device_snmp_text(engine: EngineLike, devices: Iterable[Device]) -> bytes:
    """The per-device request, retry and timeout counters as exposition text, written by hand.

    prometheus_client's exposition builds a Sample and a label dict per series and formats each: at 10,000
    devices these 30,000 series took ~0.3 s of CPU per scrape (as much as the whole fleet's kept text), in
    the scrape's thread, holding the GIL the event loop needs. Here the label string is built once per
    device and each line is one f-string: the same text as prometheus_client gives, but the values as
    integers (``7``, not ``7.0``).
    """
    rows = []
    for device in sorted(devices, key=lambda d: d.device_id):
        s = engine.device_stats(device.target)
        if s is not None:
            labels = f'{{device_id="{device.device_id}",hostname="{escape_label(device.hostname)}"}} '
            rows.append((labels, s))
    out = []
    for name, help_, attr in DEVICE_SNMP_FAMILIES:
        out.append(f"# HELP {name} {help_}\n# TYPE {name} counter\n")
        out.extend([f"{name}{labels}{getattr(s, attr)}\n" for labels, s in rows])
    return "".join(out).encode()


def _scheduler_metrics(scheduler: SchedulerLike) -> Iterator[Metric]:
    s = scheduler.stats
    yield _gauge("fastpoll_scheduler_devices", "Devices scheduled for polling.", scheduler.devices)
    yield _gauge("fastpoll_scheduler_polls_in_flight", "Polls running now.", scheduler.in_flight)
    yield _gauge(
        "fastpoll_scheduler_max_polls_in_flight",
        "The cap on polls running at once in force (polling.max_polls_in_flight; 0: none).",
        scheduler.max_in_flight,
    )
    yield _gauge(
        "fastpoll_scheduler_polls_in_flight_capped",
        "Polls running now that count against polling.max_polls_in_flight (polls of devices whose last "
        "poll failed do not, nor polls after a request timed out).",
        scheduler.capped,
    )
    yield _gauge(
        "fastpoll_scheduler_polls_waiting",
        "Polls due that wait for one running to end (polling.max_polls_in_flight).",
        scheduler.waiting,
    )
    yield _counter(
        "fastpoll_scheduler_polls_waited",
        "Polls that waited for one running to end before they started (polling.max_polls_in_flight).",
        s.waited,
    )
    yield _counter("fastpoll_scheduler_polls_started", "Polls started.", s.started)
    yield _counter("fastpoll_scheduler_polls_finished", "Polls finished.", s.finished)
    yield _counter(
        "fastpoll_scheduler_poll_exceptions", "Polls that ended with an unexpected exception.", s.failed
    )
    yield _counter(
        "fastpoll_scheduler_overrun_skips",
        "Poll starts skipped because the device's previous poll was still running.",
        s.skipped_overrun,
    )
    yield _counter(
        "fastpoll_scheduler_missed_starts",
        "Poll starts missed because the scheduler itself could not run (event loop blocked).",
        s.missed,
    )


def _writer_metrics(writer: WriterLike) -> Iterator[Metric]:
    s = writer.stats
    depth = GaugeMetricFamily(
        "fastpoll_writer_queue_depth", "Items waiting for the database writer, by kind.", labels=["kind"]
    )
    for kind, n in sorted(writer.pending_counts().items()):
        depth.add_metric([kind], n)
    yield depth
    yield _counter("fastpoll_writer_batches", "Database write batches done.", s.batches)
    yield _counter("fastpoll_writer_rows", "Rows written to the database.", s.rows)
    yield _counter(
        "fastpoll_writer_db_errors", "Database write batches that failed (and were retried).", s.failures
    )
    yield _counter(
        "fastpoll_writer_dropped_transitions",
        "State transitions dropped because the writer's queue was full.",
        s.dropped_transitions,
    )
    yield _gauge(
        "fastpoll_writer_connected", "1 when the last database write succeeded.", int(bool(s.connected))
    )
    yield _counter(
        "fastpoll_writer_process_restarts",
        "Writer processes started again after one exited (database.writer_process).",
        s.process_restarts,
    )
    yield _gauge(
        "fastpoll_writer_last_batch_duration_seconds",
        "Seconds the last write batch took.",
        s.last_batch_seconds,
    )


def _cluster_metrics(member: ClusterLike) -> Iterator[Metric]:
    s = member.stats
    claims = CounterMetricFamily(
        "fastpoll_cluster_claims",
        "Poll slots claimed in Redis before polling, by result: won (polled), lost (another instance had "
        "the slot), failed (Redis unreachable or late to answer; the poll was skipped).",
        labels=["result"],
    )
    claims.add_metric(["won"], s.claims_won)
    claims.add_metric(["lost"], s.claims_lost)
    claims.add_metric(["failed"], s.claims_failed)
    yield claims
    yield _counter("fastpoll_cluster_heartbeats", "Heartbeats written to Redis.", s.heartbeats)
    yield _counter(
        "fastpoll_cluster_heartbeat_failures", "Heartbeats that could not reach Redis.", s.heartbeat_failures
    )
    yield _gauge(
        "fastpoll_cluster_active",
        "1 while this instance owns its share of the devices (joined, and in touch with Redis).",
        int(member.active),
    )
    yield _gauge(
        "fastpoll_cluster_instances", "Live instances in the cluster, this one included.", len(member.live)
    )


def _loop_lag_metrics(probe: LoopLag) -> Iterator[Metric]:
    lateness = probe.lateness
    yield _gauge(
        "fastpoll_event_loop_lag_seconds",
        "How late the event loop ran: the largest lateness of its probe's wake-ups (every 0.1 s) "
        "over the last 10 s.",
        lateness.recent_max(),
    )
    yield _counter(
        "fastpoll_event_loop_behind_seconds",
        "Seconds the event loop counted as behind: from a probe wake-up 0.1 s late or more (each halves "
        "the port walks' bound, down to polling.max_port_walks_when_late) until 2 s pass without one.",
        lateness.behind_seconds,
    )
    slots = probe.slots
    if slots is not None:
        yield _gauge("fastpoll_port_walks_running", "Port walks holding a slot now.", slots.taken)
        yield _gauge("fastpoll_port_walks_waiting", "Port walks waiting for a slot now.", slots.waiting)
        yield _counter("fastpoll_port_walks_waited", "Port walks that had to wait for a slot.", slots.waited)
