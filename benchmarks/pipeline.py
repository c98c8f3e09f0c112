"""The full fastpoll pipeline in the benchmark: engine -> checks -> LibreNMS writer -> metrics state.

`build_pipeline_poller(spec)` returns (poll, close) for the harness, which drives it by the daemon's scheduler
(benchmarks.workload.run_scheduled; `concurrency`, when set, is its polling.max_polls_in_flight):

setup (not measured)  a fresh MariaDB database with LibreNMS's real schema (tests.support.mariadb, the
                      same loader the test-suite uses; dropped at close), the simulated fleet's devices and
                      their ports bulk-inserted as LibreNMS's discovery leaves them (ifIndex, ifDescr,
                      ifName, ifAlias, ifType; one empty ports_statistics row each; by a child process,
                      so the rows never weigh on this process's memory figures), then the daemon's own
                      start path: load_devices + load_state from that database, a LibreNMSWriter thread
                      (with `writer_process`, a ProcessWriter: its child's CPU and memory are reported),
                      FleetState + SelfMetrics, and a "scraper" thread rendering the FleetCollector and the
                      self metrics every `scrape_interval` s (15 by default, as Prometheus would) into
                      the gzip body the HTTP endpoint answers with (poller.metrics.server.metrics_chunks).
poll(device)          what Daemon._poll does: poll_device (deadline 0.9 x interval, the ports' descriptive
                      columns every 300 s as the daemon's default) -> writer.submit ->
                      FleetState.update -> SelfMetrics.observe_poll (+ the schedule lag the load loop
                      measured); raises when the device was unreachable or its ports walk failed (after
                      the result went through the pipeline, as the daemon would have written it).
close()               flush the writer (its time and CPU are counted), read per-thread and MariaDB CPU,
                      stop everything, drop the database. `Pipeline.report()` adds those figures to the
                      driver's result.

MariaDB CPU is the whole mariadbd process (psutil): anything else using that server during the run
(other test-suites) is counted too; the report says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

import psutil

from poller.scheduler import DUE, default_max_in_flight, release_cap

from . import pymalloc_stats
from .workload import SCHEDULE_LAG, DeviceRef, PollFn, run_scheduled

DEADLINE_SHARE = 0.9  # as poller.daemon: a poll must finish within this share of the interval
SCRAPE_INTERVAL = 15.0
BACKLOG_SAMPLE = 0.5  # seconds between samples of the writer's pending rows
INSERT_CHUNK = 5000
MEMORY_HEADER = (
    "t_s", "phase", "rss_mb", "pymalloc_arenas_mb", "pymalloc_allocated_mb", "pymalloc_free_pools_mb",
    "polls_in_flight", "writer_pending_ports", "scraping", "scrapes", "cpu_s",
    "loop_cpu_s", "lag_max_ms", "sim_cpu_s", "mariadb_cpu_s", "loop_behind", "walks_running", "walks_waiting",
)  # fmt: skip
# The columns after cpu_s say where a lag spike comes from: the event loop's own CPU so far (its thread), the
# longest schedule lag of the polls started since the row before, and the simulator's and MariaDB's CPU so
# far (the other processes on the machine's cores: a niced simulator that gets no core answers late); then
# whether the event loop counts as behind (poller/loop_lag.py) and the port walks holding and awaiting a slot.
_RECEIVED: ContextVar[list[int]] = ContextVar("fastpoll_bench_received")


class PipelineUnavailable(RuntimeError):
    """The pipeline cannot run here (no MariaDB, no schema): the harness reports it as skipped."""


class PollFailed(RuntimeError):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class CountingEngine:
    """Delegates to the SnmpEngine and counts the varbinds each poll received (per task, via a ContextVar)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def get(self, target: Any, oids: Sequence[str], *, deadline: float | None = None) -> list[Any]:
        vbs = await self.engine.get(target, oids, deadline=deadline)
        _count(len(vbs))
        return cast(list[Any], vbs)

    async def walk_table(
        self, target: Any, columns: Sequence[str], *, max_repetitions: int = 25, deadline: float | None = None
    ) -> dict[str, dict[tuple[int, ...], Any]]:
        table = await self.engine.walk_table(
            target, columns, max_repetitions=max_repetitions, deadline=deadline
        )
        _count(sum(len(c) for c in table.values()))
        return cast(dict[str, dict[tuple[int, ...], Any]], table)

    async def walk_columns(
        self, target: Any, columns: Sequence[str], *, max_repetitions: int = 25, deadline: float | None = None
    ) -> Any:
        walked = await self.engine.walk_columns(
            target, columns, max_repetitions=max_repetitions, deadline=deadline
        )
        _count(len(walked))
        return walked

    async def walk(self, target: Any, roots: Sequence[str], **kw: Any) -> list[Any]:
        vbs = await self.engine.walk(target, roots, **kw)
        _count(len(vbs))
        return cast(list[Any], vbs)


def _count(n: int) -> None:
    box = _RECEIVED.get(None)
    if box is not None:
        box[0] += n


def device_rows(fleet: Sequence[Any], *, timeout: float, retries: int) -> list[dict[str, Any]]:
    """`devices` rows for the simulated fleet (v2c, ids 1..N in fleet order)."""
    return [
        {
            "device_id": i, "hostname": d.host, "community": d.community, "port": d.port, "snmpver": "v2c",
            "transport": "udp", "status": 1, "status_reason": "", "timeout": int(timeout), "retries": retries,
            "sysName": d.sys_name, "sysDescr": d.sys_descr, "sysObjectID": d.sys_object_id, "os": "generic",
        }
        for i, d in enumerate(fleet, start=1)
    ]  # fmt: skip


def port_rows(fleet: Sequence[Any], *, polled: bool = False) -> list[dict[str, Any]]:
    """`ports` rows as LibreNMS's discovery creates them: identity columns only, the poller fills the rest.

    ``polled``: as LibreNMS's poller then leaves them (status, speed, MTU, MAC, ... and their ``_prev``, the
    ifAlias-parsed port_descr_*), the state fastpoll meets beside a running LibreNMS: its first poll changes
    counters only. The data columns come from the ports check itself (poll_ports on the simulated values);
    counters stay NULL, so the first poll is a first sample rather than a spike.
    """
    from poller.checks.ifmib import IANA_IFTYPE

    rows = []
    port_id = 0
    for device_id, d in enumerate(fleet, start=1):
        specs = d.ports()
        start = len(rows)
        for p in specs:
            port_id += 1
            if_type = IANA_IFTYPE.get(p.if_type, str(p.if_type))
            rows.append(
                {
                    "port_id": port_id, "device_id": device_id, "ifIndex": p.if_index, "ifDescr": p.descr,
                    "ifName": p.name, "ifAlias": p.alias, "ifType": if_type,
                    "ignore": 0, "disabled": 0, "deleted": 0,
                }
            )  # fmt: skip
        if polled:
            _as_polled(device_id, specs, rows[start:])
    return rows


def seed_database(
    url: str,
    n: int,
    ports: int,
    seed: int,
    base_address: str,
    port: int,
    polled: bool,
    timeout: float,
    retries: int,
) -> int:
    """Insert the simulated fleet's devices and ports (as discovery, or LibreNMS's poller, left them) into
    the database at ``url``; returns the ports inserted. Runs in a child process (Pipeline._database)."""
    from sqlalchemy import create_engine

    from poller.sim.generate import generate_fleet
    from poller.store.tables import devices, ports_statistics
    from poller.store.tables import ports as ports_table

    fleet = generate_fleet(n, ports, seed=seed, base_address=base_address, port=port)
    port_list = port_rows(fleet, polled=polled)
    db = create_engine(url)
    try:
        with db.begin() as conn:
            conn.execute(devices.insert(), device_rows(fleet, timeout=timeout, retries=retries))
            for i in range(0, len(port_list), INSERT_CHUNK):
                chunk = port_list[i : i + INSERT_CHUNK]
                conn.execute(ports_table.insert(), chunk)
                conn.execute(ports_statistics.insert(), [{"port_id": r["port_id"]} for r in chunk])
    finally:
        db.dispose()
    return len(port_list)


def simulated_raw(p: Any) -> dict[str, Any]:
    """A simulated port's (poller.sim PortSpec) data columns as the SNMP engine decodes them."""
    return {
        "ifDescr": p.descr.encode(), "ifName": p.name.encode(), "ifAlias": p.alias.encode(),
        "ifType": p.if_type, "ifMtu": p.mtu, "ifHighSpeed": p.speed_bps // 1_000_000,
        "ifPhysAddress": p.mac, "ifAdminStatus": p.admin, "ifOperStatus": p.oper,
        "ifLastChange": p.last_change, "ifConnectorPresent": 1 if p.if_type in (6, 117, 71) else 2,
    }  # fmt: skip


def _as_polled(device_id: int, specs: Sequence[Any], rows: list[dict[str, Any]]) -> None:
    """Fill the data columns as the ports check writes them (port_values, parse_port_descr) from the
    simulated values, with ``_prev`` equal to the current value as after an unchanged poll."""
    from poller.checks.ports import DATA_COLUMNS, PREV_TRACKED, parse_port_descr, port_values

    for row, p in zip(rows, specs, strict=True):
        values = port_values(simulated_raw(p))
        row.update({c: values[c] for c in DATA_COLUMNS})
        row.update({f"{c}_prev": values[c] for c in PREV_TRACKED})
        row.update(parse_port_descr(values["ifAlias"]), ifLastChange=values["ifLastChange"])


def process_named(*names: str) -> psutil.Process | None:
    """The first process with one of ``names`` (MariaDB's server, Redis's), or None."""
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in names:
            return p
    return None


def _mariadb_process() -> psutil.Process | None:
    return process_named("mariadbd", "mysqld")


def proc_cpu(p: psutil.Process | None) -> float | None:
    """A process's CPU seconds so far (user + system), or None when it is gone or unknown."""
    if p is None:
        return None
    try:
        t = p.cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return None


def _child_memory(p: psutil.Process) -> dict[str, float]:
    """A writer process's RSS now and at its peak (VmHWM), and its USS: the pages no other process
    maps (its share of the interpreter's shared libraries left out)."""
    try:
        status = Path(f"/proc/{p.pid}/status").read_text()
        peak = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:"))
        full = p.memory_full_info()
    except (OSError, StopIteration, psutil.Error):
        return {}
    return {
        "writer_process_rss_end_mb": round(full.rss / 2**20, 1),
        "writer_process_uss_end_mb": round(full.uss / 2**20, 1),
        "writer_process_peak_rss_mb": round(peak / 2**20, 1),
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _thread_cpu() -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}


class Pipeline:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.interval = float(spec["interval"])
        self.freeze_ports = bool(spec.get("freeze_ports", True))  # polling.freeze_ports, as the daemon
        duration = float(spec.get("duration") or 60.0)
        self.scrape_interval = float(
            spec.get("scrape_interval") or min(SCRAPE_INTERVAL, max(0.5, duration / 4))
        )
        self.stack = contextlib.ExitStack()
        self.by_ref: dict[tuple[str, int], Any] = {}
        self.states: dict[int, Any] = {}
        self.stop = threading.Event()
        self.backlog_max = {"ports": 0, "devices": 0, "transitions": 0}
        # the largest RSS sampled in the measured window (peak_rss_mb is the process's whole life, set-up
        # and warm-up included): this process's, and the writer process's beside it
        self.rss_window_max = 0
        self.child_rss_window_max = 0
        self.scrapes = 0
        self.scrape_seconds: list[float] = []
        self.prepare_seconds: list[float] = []  # the event loop's part of each scrape, waited for
        self.prepare_fallbacks = 0  # scrapes the loop did not render for in time
        self.scrape_bytes = 0
        self.scrape_gzip_bytes = 0
        self.scrape_errors = 0
        self.unreachable = 0
        self.port_walk_failed = 0
        self.figures: dict[str, Any] = {}
        self.scrape_cpu = 0.0
        self.scrape_cpu0 = 0.0  # the scrape thread's CPU before the measured window
        # --memory-samples: a row of MEMORY_HEADER every BACKLOG_SAMPLE s (a thread of its own), to this file
        self.memory_path: str | None = spec.get("memory_samples")
        self.memory_samples: list[tuple[Any, ...]] = []
        self.phase = "setup"
        self.in_flight = 0  # polls started and not finished
        self.lag_since_sample = 0.0  # --memory-samples: the longest schedule lag since the last row
        self.loop_thread = -1  # the event loop's thread (native id), once set up
        self.mariadb: psutil.Process | None = None  # found once set up
        self.scraping = False  # a scrape is being rendered or assembled

    # ------------------------------------------------------------------ setup (not measured)

    async def setup(self) -> None:
        t0 = time.perf_counter()
        await asyncio.to_thread(self._database)
        self.figures["setup_s"] = round(time.perf_counter() - t0, 2)

        from poller.config import MetricsSettings, PollingSettings
        from poller.metrics import FleetState, SelfMetrics
        from poller.metrics.collector import FleetCollector
        from poller.metrics.server import OnLoop
        from poller.snmp.client import SnmpEngine
        from poller.store.librenms import LibreNMSWriter

        self.details_interval = PollingSettings().port_details_interval  # the daemon's default
        self.snmp = SnmpEngine(max_rate=self.spec.get("rate_limit") or None)  # as the daemon
        self.snmp.on_timeout = release_cap  # as the daemon: a poll waiting on timeouts leaves the cap
        self.engine = CountingEngine(self.snmp)
        # polling.max_port_walks (0 = none, the default) and max_port_walks_when_late (None: the daemon's),
        # with the daemon's probe of the event loop's lateness running from here to the end
        from poller.loop_lag import Lateness, LoopLag, WalkSlots

        walks = int(self.spec.get("max_port_walks") or 0)
        when_late = self.spec.get("max_port_walks_when_late")
        when_late = PollingSettings().max_port_walks_when_late if when_late is None else int(when_late)
        self.loop_lag = LoopLag(Lateness())
        self.walk_gate = WalkSlots(walks, when_late) if walks or when_late else None
        self.loop_lag.slots = self.walk_gate
        self.lag_task = asyncio.create_task(self.loop_lag.run())
        self.figures["max_port_walks"] = walks
        self.figures["max_port_walks_when_late"] = when_late
        if self.spec.get("writer_process"):  # database.writer_process = true
            from poller.store.writer_process import ProcessWriter

            self.writer = await asyncio.to_thread(ProcessWriter(self.db).start)
        else:
            self.writer = LibreNMSWriter(self.db).start()
        self.fleet = FleetState(interval_of=lambda d: self.interval)
        self.own_metrics = SelfMetrics()
        self.own_metrics.attach_engine(self.snmp, self.fleet.devices)
        self.own_metrics.attach_writer(self.writer)
        self.collector = FleetCollector(
            self.fleet, MetricsSettings(cache_port_text=self.spec.get("cache_port_text", True))
        )
        self.figures["cache_port_text"] = self.collector.settings.cache_port_text
        self.figures["freeze_ports"] = self.freeze_ports
        self.figures["scrape_interval_s"] = self.scrape_interval
        self.on_loop: OnLoop | None = None
        if self.spec.get("scrape_on_loop", True):  # as the daemon's endpoint does
            self.on_loop = OnLoop(self.collector, asyncio.get_running_loop())
        self.figures["scrape_on_loop"] = self.on_loop is not None
        self.scraper = threading.Thread(target=self._scrape_loop, name="bench-scraper", daemon=True)
        self.scraper.start()
        self.memory_thread: threading.Thread | None = None
        self.loop_thread = threading.get_native_id()
        if self.memory_path:
            self.memory_thread = threading.Thread(target=self._memory_loop, name="bench-memory", daemon=True)
            self.memory_thread.start()
        # the daemon's garbage-collector policy (poller/gc_policy.py), applied after start-up as it does
        from poller.gc_policy import TRIM_EVERY, GcPolicy

        self.gc_policy = GcPolicy(trim_every=float(self.spec.get("trim_every") or TRIM_EVERY))
        self.figures["trim_every_s"] = self.gc_policy.trim_every
        self.gc_policy.apply()
        self.gc_task = asyncio.create_task(self.gc_policy.run())
        self.mariadb = _mariadb_process()
        self.membership = self._membership()
        self._start_window()

    def _membership(self) -> Any:
        """benchmarks.instances: this instance's RedisMembership, which claims each poll's slot as a cluster
        member does before it polls; None when the pipeline runs alone (a daemon without Redis)."""
        cluster = self.spec.get("cluster")
        if not cluster:
            return None
        from poller.cluster import membership

        member = membership(
            cluster["redis_url"], None, instance_name=cluster["instance"], prefix=cluster["prefix"]
        )
        return member

    def _start_window(self) -> None:
        """The baselines the measured window's figures are taken against (after set-up, again after a
        warm-up)."""
        self.mariadb_cpu0 = proc_cpu(self.mariadb)
        self.threads0 = _thread_cpu()
        self.scrape_cpu0 = self.threads0.get(self.scraper.native_id or -1, 0.0)
        self.process_cpu0 = proc_cpu(psutil.Process()) or 0.0
        self.trims0, self.trim_seconds0 = self.gc_policy.trims, self.gc_policy.trim_seconds
        self.gc_policy.trim_longest = 0.0
        self.child_cpu0 = proc_cpu(self._writer_child()) or 0.0
        self.behind0 = self.loop_lag.lateness.behind_seconds
        self.waited0 = self.walk_gate.waited if self.walk_gate is not None else 0
        self.t_start = time.perf_counter()
        self.phase = "window"

    def _writer_child(self) -> psutil.Process | None:
        """The writer's own process (``--writer-process``), else None."""
        pid = getattr(self.writer, "child_pid", None)
        try:
            return psutil.Process(pid) if pid else None
        except psutil.Error:
            return None

    def _database(self) -> None:
        from sqlalchemy import create_engine

        from poller.poll import load_state
        from poller.store.inventory import load_devices

        try:
            from tests.support import mariadb
        except ImportError as exc:  # the schema loader lives with the tests (run from the repository)
            raise PipelineUnavailable(f"tests.support.mariadb not importable: {exc}") from None
        if not mariadb.available():
            raise PipelineUnavailable(f"no MariaDB at {mariadb.HOST}:{mariadb.PORT}")
        if not mariadb.SCHEMA_SQL.is_file():
            raise PipelineUnavailable(f"LibreNMS schema not found: {mariadb.SCHEMA_SQL}")
        refs = [DeviceRef(h, int(p), c) for h, p, c in self.spec["devices"]]
        polled = self.spec.get("ports_as") == "polled"
        self.figures["ports_as"] = "polled" if polled else "discovered"
        from .drivers import RETRIES, TIMEOUT

        # benchmarks.instances: a database the harness made and seeded with the whole fleet, which this
        # instance shares with the others (left for the harness to drop)
        name = self.spec.get("database")
        if name is None:
            name = self.stack.enter_context(mariadb.librenms_database(prefix="fastpoll_bench"))
            self._seed(mariadb.url(name), refs, polled, TIMEOUT, RETRIES)
        self.figures["database"] = name
        self.db = create_engine(mariadb.url(name), pool_pre_ping=True, pool_recycle=3600)
        self.stack.callback(self.db.dispose)
        # the daemon's start path: inventory and per-device state from the database, of this instance's
        # devices only (the spec's: all of them, or its share as a cluster member's select leaves it)
        wanted = {(r.host, r.port) for r in refs}
        with self.db.connect() as conn:
            records, problems = load_devices(conn, default_timeout=TIMEOUT, default_retries=RETRIES)
            records = [r for r in records if (r.device.target.host, r.device.target.port) in wanted]
            self.states = load_state(conn, records, freeze=self.freeze_ports)
        if problems or len(records) != len(refs):
            raise RuntimeError(f"inventory: {len(records)} of {len(refs)} devices loaded; {problems[:3]}")
        self.by_ref = {(r.device.target.host, r.device.target.port): r.device for r in records}
        # the scheduler's cap: --max-polls-in-flight, else the daemon's default for these devices
        cap = self.spec.get("concurrency")
        self.max_polls_in_flight = (
            default_max_in_flight(self.by_ref.values(), lambda _d: self.interval) if cap is None else int(cap)
        )
        self.figures["max_polls_in_flight"] = self.max_polls_in_flight
        self.figures["rss_after_setup_mb"] = round(psutil.Process().memory_info().rss / 2**20, 1)

    def _seed(self, url: str, refs: Sequence[DeviceRef], polled: bool, timeout: float, retries: int) -> None:
        """Insert the fleet's devices and ports into this run's own database."""
        from poller.sim.generate import generate_fleet

        fleet = generate_fleet(
            len(refs), int(self.spec.get("ports") or 48), seed=int(self.spec.get("seed") or 1),
            base_address=refs[0].host, port=refs[0].port,
        )  # fmt: skip
        if [(d.host, d.port, d.community) for d in fleet] != [(r.host, r.port, r.community) for r in refs]:
            raise RuntimeError(
                "the spec's devices are not the simulated fleet (seed/ports/base address differ)"
            )
        del fleet
        # The rows are built and inserted in a child process: at 10,000 devices they are ~480,000 dicts,
        # and freed in this process they would stay in its peak RSS (and its heap), which is the daemon's
        # figure here. The daemon never builds them: LibreNMS's discovery did.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            self.figures["ports_inserted"] = pool.submit(
                seed_database, url, len(refs), int(self.spec.get("ports") or 48),
                int(self.spec.get("seed") or 1), refs[0].host, refs[0].port, polled, timeout, retries,
            ).result()  # fmt: skip

    async def warm_up(self, refs: Sequence[DeviceRef]) -> None:
        """Poll every device once, on the measured window's schedule, before the measured window.

        A daemon's first poll of a device walks every port column and compares every value with the
        database's; later polls walk status and counters, and the descriptive columns every
        ``details_interval`` (a fifth of the devices each cycle at 300 s against 60 s polls: the first walks
        count as made a per-device share of it earlier). The window after this measures the polls of a
        daemon that has been running; this cycle's own cost is reported apart
        (``warmup_*``). The baselines of every measured figure are taken again afterwards.

        The first polls are started by the daemon's scheduler, each at its phase within one interval (a
        first cycle made as fast as the concurrency allowed also put a coroutine per device, ~14 MB of small
        objects at 10,000 devices, at a semaphore at once). A first cycle that costs more than a core runs
        late and its polls in flight climb to the cap (polling.max_polls_in_flight);
        pymalloc's arenas grow to hold them and stay that size for the run (docs/benchmarks.md, 2026-12-06
        (evening)).
        """
        self.phase = "warmup"
        t0, cpu0 = time.perf_counter(), proc_cpu(psutil.Process()) or 0.0
        stats = await run_scheduled(
            self.poll,
            list(refs),
            interval=self.interval,
            duration=self.interval,
            max_in_flight=self.max_polls_in_flight,
            device_ids=self.device_ids(refs),
            uncapped=self.dark,
        )
        await asyncio.to_thread(self.writer.flush, 600.0)
        # The first polls write every column. The heap pages their writes leave free go back now, as the
        # daemon's trim timer would return them within trim_every, so the window does not start with them.
        await asyncio.to_thread(self.gc_policy.trim_heap)
        self.figures["warmup_polls"] = len(refs)
        self.figures["warmup_failed"] = stats.failed
        self.figures["warmup_errors"] = dict(stats.errors)
        self.figures["warmup_lag_p99_ms"] = round(1000 * (stats.percentile(0.99, stats.lags) or 0.0), 1)
        self.figures["warmup_s"] = round(time.perf_counter() - t0, 2)
        self.figures["warmup_cpu_s"] = round((proc_cpu(psutil.Process()) or 0.0) - cpu0, 2)
        self.unreachable = self.port_walk_failed = 0
        self.backlog_max = dict.fromkeys(self.backlog_max, 0)
        self.rss_window_max = self.child_rss_window_max = 0
        self.scrapes, self.scrape_seconds = 0, []
        self.prepare_seconds, self.prepare_fallbacks = [], 0
        # A device's second poll comes an interval after its first, as in a daemon: the warm-up of a few
        # devices ends soon after it starts, and a cluster member would not get a second claim of one slot.
        await asyncio.sleep(max(0.0, t0 + self.interval - time.perf_counter()))
        self._start_window()

    def device_ids(self, refs: Sequence[DeviceRef]) -> list[int]:
        """The devices' ids in the database: the daemon's scheduler places each by its id (phase_of)."""
        return [self.by_ref[(r.host, r.port)].device_id for r in refs]

    def dark(self, device_id: int) -> bool:
        """Its last poll got no answer: the daemon does not hold its next to the cap (Daemon._dark)."""
        state = self.states.get(device_id)
        return state is not None and state.dark

    # ------------------------------------------------------------------ the measured path

    async def poll(self, ref: DeviceRef) -> int:
        from poller.poll import poll_device

        device = self.by_ref[(ref.host, ref.port)]
        member = self.membership
        if member is not None and not await member.claim(device, self.interval, DUE.get(None)):
            raise PollFailed("slot not claimed")  # another instance had it, or Redis did not answer
        box = [0]
        _RECEIVED.set(box)
        lag = SCHEDULE_LAG.get(None)
        if lag is not None:
            self.own_metrics.observe_schedule_lag(lag)
            if lag > self.lag_since_sample:
                self.lag_since_sample = lag
        loop = asyncio.get_running_loop()
        self.in_flight += 1
        try:
            result = await poll_device(
                cast(Any, self.engine), device, self.states[device.device_id], now=time.time(),
                deadline=loop.time() + self.interval * DEADLINE_SHARE, details_interval=self.details_interval,
                freeze_ports=self.freeze_ports, walk_gate=self.walk_gate,
            )  # fmt: skip
        finally:
            self.in_flight -= 1
        self.writer.submit(result)
        self.fleet.update(device, result)
        self.own_metrics.observe_poll(result)
        m = result.metrics
        if m is not None and not m.reachable:
            self.unreachable += 1
            raise PollFailed(m.error or "unreachable")
        if m is not None and m.error:
            self.port_walk_failed += 1
            raise PollFailed(m.error)
        return box[0]

    def _scrape_loop(self) -> None:
        next_scrape = time.monotonic() + self.scrape_interval
        try:
            while not self.stop.wait(BACKLOG_SAMPLE):
                self._sample_backlog()
                if time.monotonic() >= next_scrape:
                    self._scrape()
                    next_scrape += self.scrape_interval
        finally:
            self.scrape_cpu = time.thread_time()  # this thread's CPU (psutil no longer sees it once it ends)

    def _sample_backlog(self) -> None:
        for k, v in self.writer.pending_counts().items():
            self.backlog_max[k] = max(self.backlog_max.get(k, 0), v)
        self.rss_window_max = max(self.rss_window_max, psutil.Process().memory_info().rss)
        child = self._writer_child()
        if child is not None:
            with contextlib.suppress(psutil.Error):
                self.child_rss_window_max = max(self.child_rss_window_max, child.memory_info().rss)

    def _memory_loop(self) -> None:
        """A row of MEMORY_HEADER every BACKLOG_SAMPLE s until the pipeline stops: what the RSS and
        pymalloc's arenas do, beside what the pipeline is doing at that moment."""
        me, t0 = psutil.Process(), time.perf_counter()
        sim = [psutil.Process(pid) for pid in self.spec.get("sim_pids") or ()]
        while not self.stop.wait(BACKLOG_SAMPLE):
            stats = pymalloc_stats.read()
            figures = stats.figures() if stats is not None else {}
            # read, then reset: a lag the loop records between the two (a few bytecodes, if the GIL changes
            # hands there) is lost to the rows; the result's lag_max_ms still counts it
            lag, self.lag_since_sample = self.lag_since_sample, 0.0
            sim_cpu = [proc_cpu(p) for p in sim]
            gate = self.walk_gate
            self.memory_samples.append(
                (
                    round(time.perf_counter() - t0, 2), self.phase, round(me.memory_info().rss / 2**20, 1),
                    figures.get("pymalloc_arenas_mb"), figures.get("pymalloc_allocated_mb"),
                    figures.get("pymalloc_free_pools_mb"), self.in_flight,
                    self.writer.pending_counts().get("ports", 0), int(self.scraping), self.scrapes,
                    proc_cpu(me), _round(_thread_cpu().get(self.loop_thread)), round(lag * 1000, 1),
                    _round(sum(sim_cpu)) if sim and None not in sim_cpu else None,
                    _round(proc_cpu(self.mariadb)), int(self.loop_lag.lateness.behind),
                    gate.taken if gate else None, gate.waiting if gate else None,
                )
            )  # fmt: skip

    def _scrape(self) -> None:
        self.scraping = True
        try:
            self._scrape_once()
        finally:
            self.scraping = False

    def _scrape_once(self) -> None:
        from poller.metrics.gzip_body import piece_size
        from poller.metrics.server import metrics_chunks

        t0 = time.perf_counter()
        if self.on_loop is not None:  # as the endpoint's _App.metrics_body
            if not self.on_loop():
                self.prepare_fallbacks += 1
            self.prepare_seconds.append(time.perf_counter() - t0)
        try:  # as the HTTP endpoint answers Prometheus, which asks for gzip
            text_bytes = [0]

            def pieces() -> Iterator[str | bytes]:  # as the endpoint's gzip body takes them
                for piece in self.collector.iter_gzip_parts():
                    text_bytes[0] += len(piece) if type(piece) is str else piece_size(piece)  # type: ignore[arg-type]
                    yield piece

            chunks = metrics_chunks(self.own_metrics.render(), pieces(), gzip=True)
        except Exception:
            self.scrape_errors += 1
            return
        self.scrape_seconds.append(time.perf_counter() - t0)
        self.scrape_bytes = text_bytes[0]  # the text (characters: ASCII but for ifAlias labels)
        self.scrape_gzip_bytes = sum(map(len, chunks))
        self.scrapes += 1

    async def close(self) -> None:
        try:
            if hasattr(self, "writer"):
                await self._finish()
        finally:
            await asyncio.to_thread(self.stack.close)  # drops the database

    async def _finish(self) -> None:
        self.phase = "close"
        pending = self.writer.pending_counts()
        t0 = time.perf_counter()
        flushed = await asyncio.to_thread(self.writer.flush, 120.0)
        flush_s = time.perf_counter() - t0
        threads = _thread_cpu()  # while the writer thread lives
        self.stop.set()
        self.scraper.join(timeout=30)
        if self.memory_thread is not None:
            self.memory_thread.join(timeout=30)
            self._write_memory_samples()
        # the scrape after the last poll: every device rendered at least once
        await asyncio.to_thread(self._scrape)
        wall = time.perf_counter() - self.t_start
        main_tid = threading.main_thread().native_id
        threads[main_tid] = _thread_cpu().get(main_tid, 0.0)
        writer_tid = self.writer._thread.native_id if self.writer._thread else None

        def delta(tid: int | None) -> float:
            return threads.get(tid, 0.0) - self.threads0.get(tid, 0.0) if tid is not None else 0.0

        total = (proc_cpu(psutil.Process()) or 0.0) - self.process_cpu0
        self.figures["rss_end_mb"] = round(psutil.Process().memory_info().rss / 2**20, 1)
        pymalloc = pymalloc_stats.read()  # what of that RSS is small-object arenas, and how full they are
        if pymalloc is not None:
            self.figures.update(pymalloc.figures())
        main, writer, scraper = delta(main_tid), delta(writer_tid), self.scrape_cpu - self.scrape_cpu0
        db_cpu0, db_cpu = self.mariadb_cpu0, proc_cpu(self.mariadb)
        self.figures.update(await asyncio.to_thread(self._written))
        stats = self.writer.stats
        child = self._writer_child()
        if child is not None:  # before close() ends it: its CPU over the window and its memory
            self.figures["writer_process_cpu_s"] = round((proc_cpu(child) or 0.0) - self.child_cpu0, 3)
            self.figures.update(_child_memory(child))
        self.writer.close(timeout=30.0)
        await self.snmp.close()
        if self.membership is not None:
            claims = self.membership.stats
            self.figures.update(
                claims_won=claims.claims_won,
                claims_lost=claims.claims_lost,
                claims_failed=claims.claims_failed,
            )
            await self.membership.redis.aclose()
        self.gc_task.cancel()
        self.lag_task.cancel()
        # the window's time with the event loop behind, and the port walks that waited for a slot meanwhile
        self.figures["loop_behind_s"] = round(self.loop_lag.lateness.behind_seconds - self.behind0, 1)
        self.figures["port_walks_waited"] = (self.walk_gate.waited if self.walk_gate else 0) - self.waited0
        # What the daemon's 10-minute timer does (a full collection, then the allocator's free pages given
        # back): the RSS after it is what the pipeline holds, the one before includes glibc's free pages.
        collections, last = self.gc_policy.full_collections, self.gc_policy.last  # those during the run
        self.figures["gc_trims"] = self.gc_policy.trims - self.trims0  # the allocator's, in the window
        self.figures["gc_trim_s"] = round(self.gc_policy.trim_seconds - self.trim_seconds0, 6)
        self.figures["gc_trim_max_ms"] = round(self.gc_policy.trim_longest * 1000, 3)
        final = self.gc_policy.collect_full()
        self.figures["rss_end_trimmed_mb"] = round(psutil.Process().memory_info().rss / 2**20, 1)
        self.figures["gc_timer_pause_s"] = round(final.seconds + final.trim_seconds, 3)  # the loop waits
        self.figures["gc_end_collected"] = final.collected  # cyclic garbage left for the timed collection
        self.gc_policy.restore()
        renders = sorted(self.scrape_seconds)
        self.figures.update(
            {
                "pipeline_wall_s": round(wall, 2),
                "cpu_main_s": round(main, 3),
                "cpu_writer_s": round(writer, 3),
                "cpu_scrape_s": round(scraper, 3),
                "cpu_other_threads_s": round(max(0.0, total - main - writer - scraper), 3),
                "mariadb_cpu_s": round(db_cpu - db_cpu0, 3)
                if db_cpu is not None and db_cpu0 is not None
                else None,
                "writer_pending_at_end": pending,
                "writer_backlog_max": dict(self.backlog_max),
                "rss_window_max_mb": round(self.rss_window_max / 2**20, 1),
                "writer_process_rss_window_max_mb": round(self.child_rss_window_max / 2**20, 1)
                if child is not None
                else None,
                "writer_flush_s": round(flush_s, 3),
                "writer_flushed": flushed,
                "writer_batches": stats.batches,
                "writer_rows": stats.rows,
                "writer_failures": stats.failures,
                "writer_dropped_transitions": stats.dropped_transitions,  # eventlog/outage rows over the cap
                "writer_last_error": stats.last_error,
                "unreachable": self.unreachable,
                "port_walk_failed": self.port_walk_failed,
                "scrapes": self.scrapes,
                "scrape_errors": self.scrape_errors,
                "scrape_render_max_ms": round(renders[-1] * 1000, 1) if renders else None,
                "scrape_on_loop_max_ms": round(max(self.prepare_seconds) * 1000, 1)
                if self.prepare_seconds
                else None,
                "scrape_on_loop_fallbacks": self.prepare_fallbacks,
                "scrape_bytes": self.scrape_bytes,
                "scrape_gzip_bytes": self.scrape_gzip_bytes,
                "gc_full_collections": collections,
                "gc_full_last_s": round(last.seconds, 3) if last else None,
            }
        )

    def _write_memory_samples(self) -> None:
        assert self.memory_path
        rows = ["\t".join(MEMORY_HEADER)]
        rows += ["\t".join("" if v is None else str(v) for v in row) for row in self.memory_samples]
        Path(self.memory_path).write_text("\n".join(rows) + "\n")
        self.figures["memory_samples"] = self.memory_path

    def _written(self) -> dict[str, int]:
        """What reached the database (read after the flush, outside the measured CPU window)."""
        from sqlalchemy import text

        with self.db.connect() as conn:
            polled = conn.execute(text("SELECT COUNT(*) FROM devices WHERE last_polled IS NOT NULL")).scalar()
            ported = conn.execute(text("SELECT COUNT(*) FROM ports WHERE ifInOctets IS NOT NULL")).scalar()
        return {"db_devices_polled": int(polled or 0), "db_ports_with_counters": int(ported or 0)}

    def report(self) -> dict[str, Any]:
        return dict(self.figures)


BARRIER_TIMEOUT = 1800.0  # seconds an instance waits for the others (a 10,000-device warm-up runs late)


def _arrivals(where: Path) -> Counter[str]:
    """How many instances have left a file of each stage (``<stage>.<instance>``) in the barrier."""
    return Counter(name.partition(".")[0] for name in os.listdir(where))


async def barrier(spec: dict[str, Any] | None, stage: str) -> None:
    """benchmarks.instances: wait until every instance has reached ``stage`` (a file each in the barrier's
    directory), so the instances' measured windows start together; raise if one of them failed."""
    if not spec:
        return
    where = Path(spec["dir"])
    (where / f"{stage}.{spec['name']}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while (arrived := _arrivals(where))[stage] < int(spec["parties"]):
        if arrived["failed"]:
            raise RuntimeError(f"another instance failed before {stage}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the other instances did not reach {stage} within {BARRIER_TIMEOUT:.0f} s")
        await asyncio.sleep(0.02)


async def build_pipeline_poller(spec: dict[str, Any]) -> tuple[PollFn, Callable[[], Awaitable[None]]]:
    pipe = Pipeline(spec)
    try:
        await pipe.setup()
        await barrier(spec.get("barrier"), "setup")
        if spec.get("warmup"):
            await pipe.warm_up([DeviceRef(h, int(p), c) for h, p, c in spec["devices"]])
        if spec.get("barrier"):
            await barrier(spec["barrier"], "window")
            pipe._start_window()  # the time spent waiting for the other instances is not the window's
    except BaseException:
        if spec.get("barrier"):  # the others stop waiting for this instance
            (Path(spec["barrier"]["dir"]) / f"failed.{spec['barrier']['name']}").touch()
        await pipe.close()
        raise
    return pipe.poll, pipe.close
