"""The fastpoll daemon: startup, main loop, shutdown (the shape of uvicorn's Server).

    startup    database engine, writer thread, inventory + per-device state, scheduler, membership
    main loop  the scheduler starts polls; inventory is re-read every `inventory_refresh` seconds
    shutdown   first SIGTERM/SIGINT: no new polls, in-flight polls get `shutdown_grace` seconds, the
               writer is flushed, exit 0. A second signal skips the waiting. SIGHUP reloads the config.

Data flows one way: inventory -> scheduler -> poll_device (SNMP engine + checks) -> PollResult ->
the writer, then every ResultSink (metrics state, crisis events, the demo's live view). A sink
that fails is logged and never stops polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import Engine, create_engine

from .checks.bgp import BgpWrites
from .checks.discovered import DiscoveredWrites
from .checks.fastpath import DiscoveredChecks
from .checks.intervals import due, due_checks, recorded_run
from .checks.profiles import CHECK_NAME as PROFILES_CHECK
from .checks.profiles import Sample, poll_profile
from .checks.results import PollResult
from .cluster import Membership, membership
from .config import Config, database_url, load_config
from .gc_policy import GcPolicy
from .logs import RedactionFilter, device_logger, setup_logging
from .loop_lag import Lateness, LoopLag, WalkSlots
from .metrics import FleetState, Heartbeat, MetricsServer, SelfMetrics, start_metrics_server
from .metrics.profiles import ProfileCollector, ProfileState
from .model import Device
from .poll import DeviceState, load_state, new_state, poll_device
from .scheduler import DUE, MIN_CAP, Clock, Scheduler, WallClock, default_max_in_flight, release_cap
from .snmp.client import SnmpEngine
from .snmp.errors import SnmpError
from .store.discovered_writer import write_discovered
from .store.inventory import DeviceRecord, load_devices
from .store.librenms import LibreNMSWriter, release_frames
from .store.writer_process import ProcessWriter

if TYPE_CHECKING:
    from .cluster_redis import RedisMembership

log = logging.getLogger("fastpoll.daemon")

INVENTORY_REFRESH = 60.0  # seconds between re-reads of the devices table
SHUTDOWN_GRACE = 10.0  # seconds in-flight polls get on the first signal
WRITER_FLUSH_TIMEOUT = 30.0  # seconds the writer gets to flush at shutdown
DEADLINE_SHARE = 0.9  # a poll must finish within this share of the device's interval
DISCOVERED_FLUSH = 5.0  # seconds between writes of sensor/processor/mempool/BGP peer updates
DUE_SLACK = 1.0  # seconds a per-check interval forgives, so scheduler jitter never skips a whole poll
CAP_CHECK_EVERY = 60.0  # seconds between looks at whether max_polls_in_flight held polls on a loop on time
CAP_WARN_EVERY = 900.0  # seconds between such warnings
DISCOVERED_KEEP = 10_000  # device-polls with threshold events kept while the database is away


class ResultSink(Protocol):
    """Something that wants every poll result (metrics state, crisis events, a live view)."""

    def on_result(self, device: Device, result: PollResult) -> None: ...

    def on_remove(self, device_id: int) -> None: ...


@dataclass
class DaemonStats:
    polls: int = 0
    polls_failed: int = 0  # device unreachable (timeout, auth, ...)
    inventory_reloads: int = 0
    inventory_errors: int = 0
    sink_errors: int = 0
    started_at: float = 0.0


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        snmp: SnmpEngine | None = None,
        sinks: Sequence[ResultSink] = (),
        inventory_refresh: float = INVENTORY_REFRESH,
        shutdown_grace: float = SHUTDOWN_GRACE,
        db: Engine | None = None,
        serve_metrics: bool = True,
        metrics_listen: str | None = None,
        redaction: RedactionFilter | None = None,
        gc_policy: GcPolicy | None = None,
    ) -> None:
        self.config = config
        self._config_path = config_path
        self._env = dict(env or {})
        self.clock = clock or WallClock()
        self.snmp = snmp or SnmpEngine(max_rate=config.polling.rate_limit or None)
        self.sinks: list[ResultSink] = list(sinks)
        self.inventory_refresh = inventory_refresh
        self.shutdown_grace = shutdown_grace
        self.db = db
        self.redaction = redaction
        self.gc_policy = gc_policy  # None: the interpreter's own settings (tests, embedding)
        self.serve_metrics = serve_metrics
        self.metrics_listen = metrics_listen
        self.metrics_server: MetricsServer | None = None
        self.fleet = FleetState(interval_of=lambda d: self.config.polling.interval_for(d))
        self.own_metrics = SelfMetrics(enabled=config.metrics.families.poller)
        self.heartbeat = Heartbeat(max_age=10.0)
        self.stats = DaemonStats()
        self.devices: dict[int, Device] = {}
        self.states: dict[int, DeviceState] = {}
        # how late the event loop runs (a probe task measures it), and the port walks' slots that tighten then
        self.loop_lag = LoopLag(Lateness())
        self._walk_limits = (0, 0)  # (max_port_walks, max_port_walks_when_late) the slots were made for
        self._walk_gate: WalkSlots | None = None
        self._default_max_polls = MIN_CAP  # max_polls_in_flight's default, set with the inventory
        self._cap_seen = (0, 0.0)  # (polls waited, seconds the loop was behind) at the last look
        self._cap_warned = -CAP_WARN_EVERY  # loop time of the last warning that the cap holds polls
        self.writer: LibreNMSWriter | None = None
        self.scheduler: Scheduler | None = None
        self.membership: Membership | None = None
        self.should_exit = asyncio.Event()
        self.force_exit = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = asyncio.Event()
        self._stopping: asyncio.Future[None] | None = None
        self._crisis: Any = None  # (PayloadClient, CrisisNotifier) when Payload is configured
        self.api: Any = None  # the JSON API / alert relay when a token or relay secret is set
        # sensors/processors/mempools/BGP peers LibreNMS discovered, each check at its own interval
        self.sensors: DiscoveredChecks | None = None
        self._check_runs: dict[int, dict[str, float]] = {}  # device_id -> check -> when it last ran
        self._discovered: list[DiscoveredWrites | BgpWrites] = []
        # the latest samples of the enabled check profiles ([profiles]), per device
        self.profile_samples = ProfileState()
        self._profile_failures: dict[int, dict[str, str]] = {}  # device_id -> profile -> failure kind

    # ------------------------------------------------------------------ lifecycle

    async def serve(self, *, install_signals: bool = True) -> int:
        """Run until told to stop; return the process exit status."""
        if install_signals:
            self._install_signal_handlers()
        await self.startup()
        try:
            await self.main_loop()
        finally:
            await self.shutdown()
        return 0

    async def startup(self) -> None:
        cfg = self.config
        self.stats.started_at = time.time()
        if self.db is None:
            self.db = create_engine(database_url(cfg.database), pool_pre_ping=True, pool_recycle=3600)
        writer = ProcessWriter if cfg.database.writer_process else LibreNMSWriter
        # a writer process takes a second or so to start (a fresh interpreter imports SQLAlchemy)
        self.writer = await asyncio.to_thread(writer(self.db, write_set=cfg.database.write_set).start)
        if cfg.database.write_set == "full":
            self.sensors = DiscoveredChecks(self.db)
        self.membership = membership(
            cfg.cluster.redis_url.get_secret_value() if cfg.cluster.redis_url else None,
            cfg.polling.poller_groups,
            instance_name=cfg.cluster.instance_name,
            lease_ttl=cfg.cluster.lease_ttl,
            prefix=cfg.cluster.key_prefix,
        )
        # Through self.config, so a SIGHUP reload changes intervals from each device's next start.
        self.scheduler = Scheduler(
            self.clock,
            self._poll,
            lambda d: self.config.polling.interval_for(d),
            on_start=self.own_metrics.on_poll_start,
            max_in_flight=self._max_polls_in_flight,
            uncapped=self._dark,
        )
        self.snmp.on_timeout = release_cap  # a poll waiting on timeouts leaves the cap (poller.scheduler)
        self.own_metrics.attach_engine(self.snmp, self.fleet.devices)
        self.own_metrics.attach_scheduler(self.scheduler)
        self.own_metrics.attach_writer(self.writer)
        self.own_metrics.attach_loop_lag(self.loop_lag)
        if cfg.cluster.redis_url is not None:  # a Redis cluster member: its claims and heartbeats
            self.own_metrics.attach_cluster(cast("RedisMembership", self.membership))
        self._start_crisis_events()
        await self._start_api()
        await self.refresh_inventory()
        if self.serve_metrics:
            profiles = ProfileCollector(
                self.profile_samples,
                lambda: self.config.profiles.profiles,
                lambda: self.config.profiles.series_budget,
            )
            self.metrics_server = start_metrics_server(
                cfg,
                self.fleet,
                self.own_metrics,
                self._health_checks(),
                listen=self.metrics_listen,
                extra=[profiles],
                loop=asyncio.get_running_loop(),
            )
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._watch_cap(), name="cap-watch"),
            asyncio.create_task(self.loop_lag.run(), name="loop-lag"),
            asyncio.create_task(self._discovered_loop(), name="discovered-writer"),
            asyncio.create_task(self.scheduler.run(), name="scheduler"),
            asyncio.create_task(self._inventory_loop(), name="inventory"),
            asyncio.create_task(self.membership.run(self._membership_changed), name="membership"),
        ]
        if self.gc_policy is not None:  # last: what start-up built lives as long as the process
            self.gc_policy.apply()
            self._tasks.append(asyncio.create_task(self.gc_policy.run(), name="gc"))
        log.info(
            "fastpoll started: %d devices, default interval %gs, database %s",
            len(self.devices),
            cfg.polling.default_interval,
            database_url(cfg.database),  # str() of the URL hides the password
        )
        self._started.set()

    async def main_loop(self) -> None:
        """Wait for a stop request; a background task that fails (or the scheduler ending) stops us too."""
        watch = asyncio.ensure_future(self.should_exit.wait())
        pending: set[asyncio.Future[Any]] = {watch, *self._tasks}
        try:
            while not self.should_exit.is_set():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is watch or task.cancelled():
                        continue
                    if task.exception() is not None:
                        log.error("%s failed; stopping", task.get_name(), exc_info=task.exception())
                        return
                    if task.get_name() == "scheduler":
                        return
        finally:
            watch.cancel()

    async def shutdown(self) -> None:
        log.info("shutting down: no new polls")
        if self.scheduler is not None:
            grace = 0.0 if self.force_exit else self.shutdown_grace
            self._stopping = asyncio.ensure_future(self.scheduler.stop(grace))
            try:
                await self._stopping
            except asyncio.CancelledError:
                if not self.force_exit:
                    raise
                await self.scheduler.stop(0.0)  # a second signal: cancel the polls still running
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.membership is not None:
            with contextlib.suppress(Exception):
                await self.membership.leave()
        if self.api is not None:  # before the Payload client it delivers alerts with is closed
            await self.api.stop(grace=1.0 if self.force_exit else 5.0)
        if self._crisis is not None:
            client, notifier = self._crisis
            await notifier.close(drain_seconds=0.0 if self.force_exit else 5.0)
            await client.aclose()
        await self._flush_discovered()
        if self.writer is not None:
            timeout = 1.0 if self.force_exit else WRITER_FLUSH_TIMEOUT
            if not await asyncio.to_thread(self.writer.close, timeout):
                log.error(
                    "the writer could not flush everything before exit: %s", self.writer.pending_counts()
                )
        await self.snmp.close()
        if self.metrics_server is not None:
            self.metrics_server.stop()
        if self.gc_policy is not None:
            self.gc_policy.restore()
        log.info("stopped after %d polls", self.stats.polls)

    def request_stop(self) -> None:
        """First call: graceful stop. Second call: stop without waiting for polls or the writer."""
        if self.should_exit.is_set():
            self.force_exit = True
            log.warning("second signal: stopping without waiting")
            if self._stopping is not None:
                self._stopping.cancel()
        self.should_exit.set()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))

    def _start_crisis_events(self) -> None:
        """With Payload configured, device outages (and uplink ports, if enabled) open crisis events."""
        payload = self.config.payload
        if payload.url is None or payload.api_key is None:
            return
        from sync.crisis import CrisisConfig, CrisisNotifier  # only deployments with Payload import httpx
        from sync.events import CrisisSink
        from sync.payload import PayloadClient

        client = PayloadClient(str(payload.url), payload.api_key)
        uplinks = payload.uplink_pattern if payload.crisis_events else None
        notifier = CrisisNotifier(client, CrisisConfig(uplink_pattern=uplinks))
        notifier.start()
        self._crisis = (client, notifier)
        self.sinks.append(CrisisSink(notifier))
        log.info("crisis events go to Payload at %s", payload.url)

    async def _start_api(self) -> None:
        """The live JSON API and LibreNMS alert relay, served on this event loop when configured."""
        from .api import ApiServer, ApiSettings

        settings = ApiSettings.from_config(self.config.api)
        if settings.token is None and settings.relay_secret is None:
            return
        self.api = ApiServer(settings, self.fleet, self._crisis[0] if self._crisis else None)
        await self.api.start()

    # ------------------------------------------------------------------ polling

    async def _poll(self, device: Device) -> None:
        assert self.membership is not None and self.writer is not None
        interval = self.config.polling.interval_for(device)
        if not await self.membership.claim(device, interval, DUE.get(None)):
            return
        state = self.states.get(device.device_id)
        if state is None:  # removed from the inventory since it was scheduled
            return
        deadline = asyncio.get_running_loop().time() + interval * DEADLINE_SHARE
        result = await poll_device(
            self.snmp,
            device,
            state,
            now=time.time(),
            down_threshold=self.config.polling.down_after,
            deadline=deadline,
            details_interval=self.config.polling.port_details_interval,
            freeze_ports=self.config.polling.freeze_ports,
            walk_gate=self._port_walk_gate(),
        )
        self.stats.polls += 1
        reachable = result.metrics is not None and result.metrics.reachable
        if result.metrics is not None and not reachable:
            self.stats.polls_failed += 1
        self.writer.submit(result)
        if self.sensors is not None and reachable:
            await self._poll_discovered(device)
        if reachable:
            await self._poll_profiles(device, deadline)
        elif result.metrics is not None:
            self.profile_samples.remove(device.device_id)  # no stale values from a device that is away
        self.fleet.update(device, result)
        self.own_metrics.observe_poll(result)
        if result.events:
            dlog = device_logger(log, device)
            for event in result.events:
                # device transitions (down, up, reboot) for people; per-interface changes at debug level
                level = logging.DEBUG if event.type == "interface" else logging.INFO
                dlog.log(level, "%s", event.message, extra={"event_type": event.type})
        for sink in self.sinks:
            try:
                sink.on_result(device, result)
            except Exception:
                self.stats.sink_errors += 1
                log.exception("result sink %s failed", type(sink).__name__)

    def _port_walk_gate(self) -> WalkSlots | None:
        """The slots of ``polling.max_port_walks`` and ``max_port_walks_when_late`` (None: neither is set),
        made again when a reload changes them; walks holding a slot of the old ones give it back there."""
        polling = self.config.polling
        limits = (polling.max_port_walks, polling.max_port_walks_when_late)
        if limits != self._walk_limits:
            self._walk_limits = limits
            self._walk_gate = WalkSlots(*limits) if any(limits) else None
            self.loop_lag.slots = self._walk_gate
        return self._walk_gate

    # ------------------------------------------------------------------ discovered entities

    async def _poll_discovered(self, device: Device) -> None:
        """The stored OIDs of the sensors, processors, mempools and BGP peers LibreNMS discovered on the
        device, for the checks due on this poll (``[polling] check_intervals``)."""
        assert self.sensors is not None
        now = time.time()
        runs = self._check_runs.setdefault(device.device_id, {})
        due = due_checks(runs, now, self.config.polling.check_intervals, slack=DUE_SLACK)
        if not due:
            return
        try:
            writes = await self.sensors.poll(self.snmp, device, now=now, checks=due)
        except SnmpError as exc:
            device_logger(log, device).debug("sensors not polled: %s", exc.kind)
            return
        except Exception as exc:  # e.g. the database user may not read the sensors table
            log.warning("sensors polling switched off: %s", type(exc).__name__)
            log.debug("sensors error", exc_info=True)
            self.sensors = None
            return
        intervals = self.config.polling.check_intervals
        for name in due:
            runs[name] = recorded_run(runs.get(name), now, intervals.get(name), device.device_id)
        self._discovered.extend(writes.batch())

    # ------------------------------------------------------------------ check profiles

    async def _poll_profiles(self, device: Device, deadline: float) -> None:
        """The enabled profiles ([profiles]) that apply to the device, when due
        (``check_intervals.profiles``), concurrently through the shared engine within the poll's deadline.
        A profile that fails loses its samples, the others keep theirs; a failure is logged for the device
        when it starts or changes (then at debug level, so a device that never answers one does not flood)."""
        profiles = [p for p in self.config.profiles.profiles if p.applies_to(device.os)]
        if not profiles:
            return
        now = time.time()
        runs = self._check_runs.setdefault(device.device_id, {})
        interval = self.config.polling.check_intervals.get(PROFILES_CHECK)
        if not due(runs.get(PROFILES_CHECK), now, interval, slack=DUE_SLACK):
            return
        runs[PROFILES_CHECK] = recorded_run(runs.get(PROFILES_CHECK), now, interval, device.device_id)
        answers = await asyncio.gather(
            *(poll_profile(self.snmp, device.target, p, deadline=deadline) for p in profiles),
            return_exceptions=True,
        )
        samples: dict[str, list[Sample]] = {}
        dlog = device_logger(log, device)
        failing = self._profile_failures.setdefault(device.device_id, {})
        for profile, answer in zip(profiles, answers, strict=True):
            if isinstance(answer, asyncio.CancelledError):
                raise answer
            if not isinstance(answer, BaseException):
                samples[profile.name] = answer
                if failing.pop(profile.name, None) is not None:
                    dlog.info("profile %s polled again", profile.name)
                continue
            samples[profile.name] = []
            kind = answer.kind if isinstance(answer, SnmpError) else type(answer).__name__
            level = logging.DEBUG if failing.get(profile.name) == kind else logging.WARNING
            failing[profile.name] = kind
            dlog.log(level, "profile %s not polled: %s", profile.name, kind)
            if not isinstance(answer, SnmpError):
                dlog.debug("profile %s error", profile.name, exc_info=answer)
        self.profile_samples.update(device, samples)

    # ------------------------------------------------------------------ discovered entities (writes)

    async def _discovered_loop(self) -> None:
        while True:
            await asyncio.sleep(DISCOVERED_FLUSH)
            await self._flush_discovered()

    async def _flush_discovered(self) -> None:
        """Write the collected sensor/processor/mempool/BGP updates in one transaction, off the loop."""
        batch, self._discovered = self._discovered, []
        if not batch or self.db is None:
            return
        try:
            await asyncio.to_thread(_write_discovered, self.db, batch)
        except Exception as exc:
            release_frames(exc)  # the failed attempt's frames hold the batch (as the writer's do)
            # Values are gauges (the next poll brings fresh ones); threshold events are kept for the next try.
            kept = [w for w in batch if w.events][:DISCOVERED_KEEP]
            self._discovered[:0] = kept
            log.warning("sensor updates not written (%s); %d with events kept", type(exc).__name__, len(kept))

    # ------------------------------------------------------------------ inventory

    async def _inventory_loop(self) -> None:
        while True:
            await asyncio.sleep(self.inventory_refresh)
            await self.refresh_inventory()

    async def refresh_inventory(self) -> None:
        """Re-read the devices table: added, removed, disabled devices and new credentials take effect now."""
        try:
            records, problems, new_states = await asyncio.to_thread(self._read_inventory)
        except Exception as exc:  # the database may be away: keep polling what we have
            self.stats.inventory_errors += 1
            log.warning("inventory not re-read (%s); polling the devices already known", type(exc).__name__)
            if not self.devices:
                log.debug("inventory error", exc_info=True)
            return
        for problem in problems:
            log.warning("%s", problem)
        self._apply_inventory(records, new_states)
        self.stats.inventory_reloads += 1

    def _read_inventory(self) -> tuple[list[DeviceRecord], list[str], dict[int, DeviceState]]:
        """Devices from the database, and the stored state of those not polled yet (in a thread)."""
        assert self.db is not None
        polling = self.config.polling
        with self.db.connect() as conn:
            records, problems = load_devices(
                conn,
                poller_groups=polling.poller_groups,
                default_timeout=polling.snmp_timeout,
                default_retries=polling.snmp_retries,
            )
            new = [r for r in records if r.device.device_id not in self.states]
            return (
                records,
                problems,
                load_state(conn, new, down_threshold=polling.down_after, freeze=polling.freeze_ports),
            )

    def _apply_inventory(self, records: list[DeviceRecord], new_states: dict[int, DeviceState]) -> None:
        cap = self.config.polling.max_in_flight_per_device
        fresh = {
            r.device.device_id: replace(r.device, target=replace(r.device.target, max_in_flight=cap))
            for r in records
        }
        for device_id in self.devices.keys() - fresh.keys():
            old = self.devices.pop(device_id)
            self.states.pop(device_id, None)
            self.snmp.forget(old.target)
            self.fleet.remove(device_id)
            self.profile_samples.remove(device_id)
            self._profile_failures.pop(device_id, None)
            self._check_runs.pop(device_id, None)
            if self.sensors is not None:
                self.sensors.forget(device_id)
            for sink in self.sinks:
                with contextlib.suppress(Exception):
                    sink.on_remove(device_id)
        if self.redaction is not None:  # communities and v3 passwords never reach a log line
            for device in fresh.values():
                self.redaction.register(*device.target.credentials.secrets())
        for device_id, device in fresh.items():
            old = self.devices.get(device_id)
            if old is not None and old.target != device.target:
                self.snmp.forget(old.target)  # new credentials: new session, new v3 discovery
            self.devices[device_id] = device
            if device_id not in self.states:
                self.states[device_id] = new_states.get(device_id) or new_state(
                    True, "", threshold=self.config.polling.down_after
                )
        self._reschedule()

    def _reschedule(self) -> None:
        if self.scheduler is None or self.membership is None:
            return
        ours = self.membership.select(self.devices.values())
        self._default_max_polls = default_max_in_flight(ours, self.config.polling.interval_for)
        self.scheduler.update_inventory(ours)

    def _max_polls_in_flight(self) -> int:
        """``polling.max_polls_in_flight``, unset: our devices' polls per second x 1.5 s (at least 100)."""
        configured = self.config.polling.max_polls_in_flight
        return self._default_max_polls if configured is None else configured

    async def _watch_cap(self) -> None:
        while True:
            await asyncio.sleep(CAP_CHECK_EVERY)
            self._check_cap(asyncio.get_running_loop().time())

    def _check_cap(self, now: float) -> None:
        """Warn when polls waited for ``max_polls_in_flight`` since the last look while the event loop was on
        time throughout: then the devices' polls take longer than the cap allows for, and it holds back
        polls the CPU could run (on a loop behind, holding them back is what the cap is for)."""
        assert self.scheduler is not None
        lateness = self.loop_lag.lateness
        seen = (self.scheduler.stats.waited, lateness.behind_seconds)
        waited = seen[0] - self._cap_seen[0]
        on_time = seen[1] == self._cap_seen[1] and not lateness.behind
        self._cap_seen = seen
        if waited and on_time and now - self._cap_warned >= CAP_WARN_EVERY:
            self._cap_warned = now
            log.warning(
                "%d polls waited for [polling] max_polls_in_flight (%d) while the event loop was on time: "
                "the devices' polls take longer than it allows for; raise it",
                waited,
                self.scheduler.max_in_flight,
            )

    def _dark(self, device: Device) -> bool:
        """Its last poll got no answer: its next is not held to max_polls_in_flight (Scheduler)."""
        state = self.states.get(device.device_id)
        return state is not None and state.dark

    def _membership_changed(self) -> None:
        self._reschedule()

    # ------------------------------------------------------------------ reload

    async def reload(self) -> None:
        """SIGHUP: read the configuration again; polling settings and logging apply at once."""
        try:
            new = load_config(self._config_path, self._env)
        except Exception as exc:
            log.error("configuration not reloaded: %s", exc)
            return
        restart_needed = [
            name
            for name in ("database", "metrics", "cluster", "api")
            if getattr(new, name) != getattr(self.config, name)
        ]
        if restart_needed:
            log.warning("changes to [%s] take effect after a restart", "], [".join(restart_needed))
            new = new.model_copy(update={name: getattr(self.config, name) for name in restart_needed})
        self.config = new
        self.profile_samples.retain_profiles(p.name for p in new.profiles.profiles)
        self.redaction = setup_logging(new.logging.level, new.logging.format, secrets=new.secrets())
        await self.refresh_inventory()  # re-reads intervals too
        log.info("configuration reloaded")

    # ------------------------------------------------------------------ health

    def _health_checks(self) -> dict[str, Callable[[], bool]]:
        """Liveness of the parts that must keep running (for /health, read from the server's thread)."""

        def scheduler_alive() -> bool:
            task = next((t for t in self._tasks if t.get_name() == "scheduler"), None)
            return task is not None and not task.done() and self.heartbeat()

        def writer_alive() -> bool:
            thread = getattr(self.writer, "_thread", None)
            return thread is not None and thread.is_alive()

        return {"scheduler": scheduler_alive, "writer": writer_alive}

    async def _heartbeat(self) -> None:
        """Beats while the event loop runs; a stalled loop turns /health to 503."""
        while True:
            self.heartbeat.beat()
            await asyncio.sleep(1.0)

    async def wait_started(self) -> None:
        await self._started.wait()


def _write_discovered(db: Engine, batch: list[DiscoveredWrites | BgpWrites]) -> None:
    """One transaction of discovered entities' updates (in a thread: Daemon._flush_discovered). Not a
    closure: a failed attempt's frames hold the batch only as locals, which release_frames clears."""
    with db.begin() as conn:
        write_discovered(conn, batch)


def run_daemon(config: Config, *, config_path: Path | None, env: Mapping[str, str], **kwargs: Any) -> int:
    """Set up logging and run the daemon in a fresh event loop (what `fastpoll run` does)."""
    redaction = setup_logging(config.logging.level, config.logging.format, secrets=config.secrets())
    for warning in config.warnings:
        log.warning("%s", warning)

    async def main() -> int:
        daemon = Daemon(
            config, config_path=config_path, env=env, redaction=redaction, gc_policy=GcPolicy(), **kwargs
        )
        return await daemon.serve()

    return asyncio.run(main())


def on_result(fn: Callable[[Device, PollResult], None]) -> ResultSink:
    """A ResultSink from a function (for small consumers and tests)."""

    class _FnSink:
        def on_result(self, device: Device, result: PollResult) -> None:
            fn(device, result)

        def on_remove(self, device_id: int) -> None:
            return None

    return _FnSink()
