"""Soak: the daemon's pipeline for a long time with faults injected, and what it lost and how fast it healed.

    nice python -m benchmarks.soak --minutes 60 --devices 500          # the default is one hour
    python -m benchmarks.soak --minutes 8 --devices 300 --interval 30 --fault-every 1.5 --fault-length 45

Setup (reused, not copied): the simulated fleet served by `python -m poller.sim serve`
(benchmarks.harness.SimProcess) on 127.26.x.y; a UDP fault proxy (tests.support.udp_faults, in its own
process) listening on 127.27.x.y, one route per device; the full pipeline of benchmarks.pipeline (engine ->
checks -> LibreNMS writer into a fresh MariaDB database -> metrics state and scrapes) whose devices rows
point at the proxy, its writer connected through a TCP proxy (tests.support.tcp_proxy) that can be cut;
the daemon's scheduler through benchmarks.workload.run_scheduled (each device once per interval at the phase
of its id, overruns skipped, `[polling] max_polls_in_flight` the daemon's default unless
`--max-polls-in-flight` says otherwise, devices whose last poll failed not held to it).

Every `--fault-every` minutes the next fault of the cycle starts and lasts `--fault-length` seconds:
  blackhole  `--fault-share` of the devices answer nothing, then come back
  loss       the same share of devices lose 30% of datagrams both ways
  db_outage  the database connection is cut (listener and open connections), then restored; the same
             share of devices is black-holed meanwhile, so availability transitions queue during the outage
  latency    the same share of devices answer 2.5 s late (the timeout is 2 s, 1 retry)
RSS of this process (the pipeline's) is sampled every `--sample` seconds. A fault shorter than the interval
plus the pipeline's timeout x attempts (2 s x 2) may pass unseen: the retry lands after it (that is measured
too, not hidden: such a window shows no failed poll).

Reported (JSON in --out, a summary on stdout): RSS first/last/max; slots missed outside fault windows (a
slot is in a window when its device was faulted between the slot and the poll's deadline); availability
transitions the pipeline observed vs eventlog and device_outages rows written; per fault, what was lost and
the recovery time (SNMP faults: from the end of the window until every affected device that had failed
was polled successfully; db_outage: until the writer was connected again with no transition pending); and
the engine's requests per successful poll of the affected devices before and after each SNMP fault.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from poller.scheduler import DUE, next_start

from . import pymalloc_stats
from .harness import REPO, SimProcess, free_udp_port
from .pipeline import DEADLINE_SHARE, Pipeline, PollFailed
from .workload import DeviceRef, run_scheduled

SIM_BASE = "127.26.0.1"
PROXY_BASE = "127.27.0.1"
FAULT_CYCLE = ("blackhole", "loss", "db_outage", "latency")
LOSS = 0.3
LATENCY = 2.5  # seconds, above the pipeline's 2 s timeout
DOWN_MESSAGE = "Device status changed to Down from snmp check."
UP_MESSAGE = "Device status changed to Up from snmp check."
DB_RECOVERY_CAP = 300.0


@dataclass
class Options:
    minutes: float = 60.0
    devices: int = 500
    ports: int = 48
    interval: float = 60.0
    fault_every: float = 5.0  # minutes
    fault_length: float = 120.0  # seconds
    fault_share: float = 0.02
    sample: float = 10.0  # seconds between RSS samples
    seed: int = 1
    max_polls_in_flight: int | None = None  # None: the daemon's default for the devices
    out: Path = REPO / "benchmarks" / "results" / "soak.json"
    quiet: bool = False


@dataclass
class PollRecord:
    index: int  # device index in the fleet
    due: float  # seconds since the start of the load: the slot the scheduler started it for
    start: float
    end: float
    ok: bool
    error: str | None
    went_down: bool
    came_up: bool
    requests: int  # SNMP requests this poll sent (retries included)


@dataclass
class FaultWindow:
    kind: str
    devices: list[int]  # fleet indices of the devices faulted (black-holed too during a db_outage)
    start: float
    end: float
    recovered_at: float | None = None  # db_outage: measured live


# ---------------------------------------------------------------------------------------- analysis (pure)


def window_covers(window: FaultWindow, index: int, t0: float, t1: float) -> bool:
    """True when device `index` was under this SNMP fault at some moment of [t0, t1]."""
    return index in window.devices and window.start <= t1 and t0 <= window.end


def slot_accounting(
    records: Sequence[PollRecord],
    first_dues: Sequence[float],
    interval: float,
    duration: float,
    windows: Sequence[FaultWindow],
) -> dict[str, Any]:
    """Every scheduled slot: polled ok, or missed (failed or skipped) inside or outside a fault window.

    ``first_dues[k]``: device k's first slot, seconds since the start of the load (its phase)."""
    deadline = interval * DEADLINE_SHARE
    ok_slots: set[tuple[int, int]] = set()
    for r in records:
        if r.ok:
            ok_slots.add((r.index, round((r.due - first_dues[r.index]) / interval)))
    slots = missed_in = 0
    missed_out: list[tuple[int, float]] = []
    cycle = 0
    while True:
        any_due = False
        for k, first in enumerate(first_dues):
            due = cycle * interval + first
            if due >= duration:
                continue
            any_due = True
            slots += 1
            if (k, cycle) in ok_slots:
                continue
            if any(window_covers(w, k, due, due + deadline) for w in windows):
                missed_in += 1
            else:
                missed_out.append((k, round(due, 1)))
        if not any_due:
            break
        cycle += 1
    return {
        "slots": slots,
        "ok": len(ok_slots),
        "missed_in_fault_windows": missed_in,
        "missed_outside_fault_windows": len(missed_out),
        "missed_outside_examples": missed_out[:10],
    }


def observed_transitions(records: Sequence[PollRecord]) -> dict[str, int]:
    return {"down": sum(r.went_down for r in records), "up": sum(r.came_up for r in records)}


def fault_report(window: FaultWindow, records: Sequence[PollRecord], interval: float) -> dict[str, Any]:
    """What one fault cost and how long its devices (or the writer) took to recover."""
    out: dict[str, Any] = {
        "kind": window.kind,
        "start_s": round(window.start, 1),
        "length_s": round(window.end - window.start, 1),
        "devices": len(window.devices),
    }
    if window.kind == "db_outage":
        out["recovery_s"] = round(window.recovered_at - window.end, 2) if window.recovered_at else None
    affected = set(window.devices)
    deadline = interval * DEADLINE_SHARE
    inside = [
        r for r in records if r.index in affected and r.due <= window.end and window.start <= r.due + deadline
    ]
    out["polls_in_window"] = len(inside)
    out["polls_failed_in_window"] = sum(not r.ok for r in inside)
    out["went_down"] = sum(r.went_down for r in inside)
    recoveries = []
    unrecovered = 0
    for k in affected:
        mine = sorted((r for r in records if r.index == k), key=lambda r: r.end)
        before_end = [r for r in mine if r.end <= window.end]
        if before_end and before_end[-1].ok:
            continue  # its last poll under the fault succeeded: nothing to recover from
        healed = next((r for r in mine if r.ok and r.end > window.end), None)
        if healed is None:
            unrecovered += 1
        else:
            recoveries.append(healed.end - window.end)
    out["devices_that_failed"] = len(recoveries) + unrecovered
    out["unrecovered"] = unrecovered
    out["recovery_s_max"] = round(max(recoveries), 2) if recoveries else None
    out["recovery_s_median"] = round(statistics.median(recoveries), 2) if recoveries else None
    before = [r.requests for r in records if r.index in affected and r.ok and r.end < window.start]
    after = [r.requests for r in records if r.index in affected and r.ok and r.start > window.end + interval]
    out["requests_per_ok_poll_before"] = round(statistics.mean(before), 2) if before else None
    out["requests_per_ok_poll_after"] = round(statistics.mean(after), 2) if after else None
    return out


def rss_summary(samples: Sequence[tuple[float, float]]) -> dict[str, float | None]:
    values = [mb for _, mb in samples]
    if not values:
        return {"first_mb": None, "last_mb": None, "max_mb": None}
    return {"first_mb": values[0], "last_mb": values[-1], "max_mb": max(values)}


# ------------------------------------------------------------------------------ the fault proxy process


def _proxy_child(
    listen: list[tuple[str, int]], upstreams: list[tuple[str, int]], seed: int, lifetime: float, conn
) -> None:
    asyncio.run(_proxy_serve(listen, upstreams, seed, lifetime, conn))


async def _proxy_serve(listen, upstreams, seed: int, lifetime: float, conn) -> None:
    from tests.support.udp_faults import Faults, UdpFaultProxy

    # A listening socket per device and one upstream socket per client of each: 20,000+ descriptors at
    # 10,000 devices, past this machine's hard limit of 20,000, so root raises the hard limit too.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max(soft, 4 * len(listen) + 256)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(hard, needed)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
        if hard < 2 * len(listen) + 256:
            print(f"fault proxy: {hard} descriptors for {len(listen)} devices; some will fail", flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    proxy = UdpFaultProxy(upstreams, listen=listen, seed=seed, lifetime=lifetime, max_clients=4)
    await proxy.start()

    def command() -> None:
        try:
            op, *args = conn.recv()
        except (EOFError, OSError):
            done.set()
            return
        if op == "set":
            proxy.set_faults(Faults(**args[0]), args[1])
        elif op == "stats":
            conn.send(asdict(proxy.stats))
        else:
            done.set()

    loop.add_reader(conn.fileno(), command)
    conn.send("ready")
    closed = asyncio.ensure_future(proxy.closed.wait())
    stop = asyncio.ensure_future(done.wait())
    await asyncio.wait([closed, stop], return_when=asyncio.FIRST_COMPLETED)
    for f in (closed, stop):
        f.cancel()
    loop.remove_reader(conn.fileno())
    proxy.close()


class FaultProxyProcess:
    """The UDP fault proxy in a child process (its work is not the pipeline's); faults set over a pipe."""

    def __init__(
        self, listen: list[tuple[str, int]], upstreams: list[tuple[str, int]], seed: int, lifetime: float
    ):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_proxy_child, args=(listen, upstreams, seed, lifetime, child), daemon=True
        )
        self.proc.start()
        if not self.conn.poll(120) or self.conn.recv() != "ready":
            self.proc.kill()
            raise RuntimeError("the UDP fault proxy did not start")

    def set(self, indices: list[int] | None, **faults: Any) -> None:
        self.conn.send(("set", faults, indices))

    def stats(self) -> dict[str, int]:
        self.conn.send(("stats",))
        return self.conn.recv() if self.conn.poll(10) else {}

    def stop(self) -> None:
        try:
            self.conn.send(("stop",))
        except OSError:
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()


class FaultProxies:
    """The routes sharded over several FaultProxyProcess, ``per_process`` each: a proxy holds two sockets per
    route (listening, upstream), and a process here may not open more than 20,000 descriptors (the hard
    limit, which root cannot raise in this container). Device indices stay fleet-wide."""

    def __init__(
        self,
        listen: list[tuple[str, int]],
        upstreams: list[tuple[str, int]],
        seed: int,
        lifetime: float,
        per_process: int = 4000,
    ):
        self.shards: list[tuple[range, FaultProxyProcess]] = []
        try:
            for start in range(0, len(listen), per_process):
                span = range(start, min(start + per_process, len(listen)))
                proc = FaultProxyProcess(
                    listen[span.start : span.stop], upstreams[span.start : span.stop], seed + start, lifetime
                )
                self.shards.append((span, proc))
        except BaseException:
            self.stop()
            raise

    def set(self, indices: list[int] | None, **faults: Any) -> None:
        for span, proc in self.shards:
            if indices is None:
                proc.set(None, **faults)
            elif local := [i - span.start for i in indices if i in span]:
                proc.set(local, **faults)

    def stats(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for _, proc in self.shards:
            for key, value in proc.stats().items():
                total[key] = total.get(key, 0) + value
        return total

    def stop(self) -> None:
        for _, proc in self.shards:
            proc.stop()


# ------------------------------------------------------------------------------ the pipeline, cuttable


class SoakPipeline(Pipeline):
    """benchmarks.pipeline.Pipeline whose writer reaches MariaDB through a TCP proxy that can be cut, and
    which also counts the availability rows written before its database is dropped."""

    def _database(self) -> None:
        super()._database()
        from sqlalchemy import create_engine

        from tests.support import mariadb
        from tests.support.tcp_proxy import TcpProxy

        self.tcp = TcpProxy((mariadb.HOST, mariadb.PORT))
        self.stack.callback(self.tcp.cut)
        direct = mariadb.url(self.figures["database"])
        self.db = create_engine(
            direct.replace(f"@{mariadb.HOST}:{mariadb.PORT}/", f"@127.0.0.1:{self.tcp.port}/"),
            pool_pre_ping=True, pool_recycle=3600,
        )  # fmt: skip
        self.stack.callback(self.db.dispose)

    def _written(self) -> dict[str, int]:
        from sqlalchemy import text

        out = super()._written()
        q = {
            "eventlog_down": ("SELECT COUNT(*) FROM eventlog WHERE message = :m", {"m": DOWN_MESSAGE}),
            "eventlog_up": ("SELECT COUNT(*) FROM eventlog WHERE message = :m", {"m": UP_MESSAGE}),
            "outages": ("SELECT COUNT(*) FROM device_outages", {}),
            "outages_closed": ("SELECT COUNT(*) FROM device_outages WHERE up_again IS NOT NULL", {}),
        }
        with self.db.connect() as conn:
            for key, (sql, params) in q.items():
                out[key] = int(conn.execute(text(sql), params).scalar() or 0)
        return out


# ---------------------------------------------------------------------------------------- the run


def _addresses(base: str, n: int) -> list[str]:
    first = ipaddress.IPv4Address(base)
    return [str(first + i) for i in range(n)]


def _log(opts: Options, msg: str) -> None:
    if not opts.quiet:
        print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def soak(opts: Options) -> dict[str, Any]:
    from poller.sim.generate import generate_fleet

    duration = opts.minutes * 60.0
    n = opts.devices
    sim_port = free_udp_port(SIM_BASE)
    proxy_port = free_udp_port(PROXY_BASE)
    fleet = generate_fleet(n, opts.ports, seed=opts.seed, base_address=PROXY_BASE, port=proxy_port)
    refs = [DeviceRef(d.host, d.port, d.community) for d in fleet]
    sim_hosts = _addresses(SIM_BASE, n)
    _log(opts, f"simulator: {n} devices x {opts.ports} ports on {SIM_BASE}+ :{sim_port}")
    sim = SimProcess(
        ["--devices", str(n), "--ports", str(opts.ports), "--seed", str(opts.seed),
         "--base-address", SIM_BASE, "--port", str(sim_port)]
    )  # fmt: skip
    proxy: FaultProxies | None = None
    pipe: SoakPipeline | None = None
    try:
        proxy = FaultProxies(
            [(r.host, r.port) for r in refs], [(h, sim_port) for h in sim_hosts], opts.seed, duration + 900
        )
        spec = {
            "devices": [[r.host, r.port, r.community] for r in refs], "interval": opts.interval,
            "duration": duration, "ports": opts.ports, "seed": opts.seed, "scrape_interval": 15.0,
            "ports_as": "polled",  # as fastpoll finds them beside a running LibreNMS (first poll: counters)
            "concurrency": opts.max_polls_in_flight,  # None: the daemon's default (Pipeline._database)
        }  # fmt: skip
        pipe = SoakPipeline(spec)
        await pipe.setup()
        figures = pipe.figures
        _log(opts, f"pipeline ready (database {figures.get('database')}, setup {figures.get('setup_s')} s)")
        report = await _run(opts, pipe, proxy, refs, duration)
        report["proxy"] = proxy.stats()
    finally:
        if pipe is not None:
            await pipe.close()
        if proxy is not None:
            proxy.stop()
        sim.stop()
    written = pipe.report()
    observed = report["transitions_observed"]
    report["transitions_written"] = {
        "eventlog_down": written.get("eventlog_down"),
        "eventlog_up": written.get("eventlog_up"),
        "outages_opened": written.get("outages"),
        "outages_closed": written.get("outages_closed"),
    }
    report["transitions_match"] = written.get("eventlog_down") == observed["down"] == written.get(
        "outages"
    ) and written.get("eventlog_up") == observed["up"] == written.get("outages_closed")
    report["pipeline"] = {
        k: written.get(k)
        for k in ("writer_flushed", "writer_batches", "writer_rows", "writer_failures", "writer_last_error",
                  "writer_backlog_max", "unreachable", "port_walk_failed", "scrapes", "scrape_errors",
                  "db_devices_polled")
    }  # fmt: skip
    return report


async def _run(
    opts: Options, pipe: SoakPipeline, proxy: FaultProxies, refs: list[DeviceRef], duration: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    index = {(r.host, r.port): i for i, r in enumerate(refs)}
    records: list[PollRecord] = []
    windows: list[FaultWindow] = []
    samples: list[tuple[float, float]] = []
    me = psutil.Process()
    t0, t0_wall = loop.time(), time.time()  # the load's start; the scheduler's slots are on the wall clock
    ids = pipe.device_ids(refs)
    first_dues = [next_start(i, opts.interval, t0_wall) - t0_wall for i in ids]

    async def poll(ref: DeviceRef) -> int:
        device = pipe.by_ref[(ref.host, ref.port)]
        state = pipe.states[device.device_id]
        stats = pipe.snmp.device_stats(device.target)
        sent0 = stats.requests if stats else 0
        was_up = state.availability.status
        start = loop.time() - t0
        due = DUE.get() - t0_wall
        error: str | None = None
        try:
            return await pipe.poll(ref)
        except PollFailed as exc:
            error = exc.kind
            raise
        finally:
            stats = pipe.snmp.device_stats(device.target)
            now_up = state.availability.status
            records.append(
                PollRecord(
                    index[(ref.host, ref.port)], due, start, loop.time() - t0, error is None, error,
                    was_up and not now_up, now_up and not was_up, (stats.requests if stats else 0) - sent0,
                )
            )  # fmt: skip

    async def sampler() -> None:
        while True:
            rss = me.memory_info().rss / 2**20
            samples.append((round(loop.time() - t0, 1), round(rss, 1)))
            ok = sum(r.ok for r in records)
            pending = pipe.writer.pending_counts()
            failed, in_flight = len(records) - ok, pipe.snmp.in_flight
            py = pymalloc_stats.read()  # how much of the RSS is pymalloc's arenas, and in use
            held = (
                ""
                if py is None
                else f" (pymalloc {py.arena_bytes >> 20} MB, {py.allocated_bytes >> 20} in use)"
            )
            _log(opts, f"t={loop.time() - t0:6.0f}s rss={rss:.0f} MB{held} polls ok={ok} "
                       f"failed={failed} in_flight={in_flight} writer_pending={pending}")  # fmt: skip
            await asyncio.sleep(opts.sample)

    async def faults() -> None:
        rng = random.Random(opts.seed)
        k = max(1, round(len(refs) * opts.fault_share))
        length = min(opts.fault_length, opts.fault_every * 60.0)
        for i in range(10_000):
            start_at = t0 + (i + 0.5) * opts.fault_every * 60.0
            if start_at - t0 + length > duration - opts.interval:
                return  # leave one interval after the last fault to see the recovery
            await asyncio.sleep(max(0.0, start_at - loop.time()))
            kind = FAULT_CYCLE[i % len(FAULT_CYCLE)]
            chosen = sorted(rng.sample(range(1, len(refs)), k))
            window = FaultWindow(kind, chosen, loop.time() - t0, 0.0)
            windows.append(window)
            _log(opts, f"fault {kind} on {len(chosen) or 'the database'} for {length:.0f} s")
            if kind == "db_outage":
                pipe.tcp.cut()
            if kind in ("blackhole", "db_outage"):
                proxy.set(chosen, blackhole=True)
            elif kind == "loss":
                proxy.set(chosen, loss=LOSS)
            else:
                proxy.set(chosen, delay=LATENCY, direction="reply")
            try:
                await asyncio.sleep(length)
            finally:
                if kind == "db_outage":
                    pipe.tcp.restore()
                proxy.set(chosen)
                window.end = loop.time() - t0
            if kind == "db_outage":
                batches = pipe.writer.stats.batches
                give_up = loop.time() + DB_RECOVERY_CAP
                while loop.time() < give_up:
                    w = pipe.writer
                    if (
                        w.stats.connected
                        and w.stats.batches > batches
                        and w.pending_counts()["transitions"] == 0
                    ):
                        window.recovered_at = loop.time() - t0
                        break
                    await asyncio.sleep(0.1)
                _log(
                    opts,
                    f"database recovered after {window.recovered_at and window.recovered_at - window.end}",
                )

    side = [asyncio.ensure_future(sampler()), asyncio.ensure_future(faults())]
    try:
        stats = await run_scheduled(
            poll, refs, interval=opts.interval, duration=duration, max_in_flight=pipe.max_polls_in_flight,
            device_ids=ids, uncapped=pipe.dark, start=t0_wall,
            error_kind=lambda e: getattr(e, "kind", None) or type(e).__name__,
        )  # fmt: skip
    finally:
        for task in side:
            task.cancel()
        await asyncio.gather(*side, return_exceptions=True)
        for w in windows:  # a fault cut short by the end of the run is undone too
            if w.end == 0.0:
                w.end = loop.time() - t0
        proxy.set(None)
    samples.append((round(loop.time() - t0, 1), round(me.memory_info().rss / 2**20, 1)))
    engine = pipe.snmp.stats
    return {
        "meta": {
            "devices": len(refs), "ports": opts.ports, "interval_s": opts.interval, "minutes": opts.minutes,
            "fault_every_min": opts.fault_every, "fault_length_s": opts.fault_length,
            "fault_share": opts.fault_share, "seed": opts.seed, "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "polls": {"ok": stats.ok, "failed": stats.failed, "skipped": stats.skipped,
                  "scheduled": stats.scheduled, "errors": dict(stats.errors),
                  "max_polls_in_flight": pipe.max_polls_in_flight, "waited": stats.waited,
                  "lag_p99_ms": _ms(stats.percentile(0.99, stats.lags))},
        "slots": slot_accounting(records, first_dues, opts.interval, duration, windows),
        "rss": rss_summary(samples),
        "rss_samples": samples,
        "faults": [fault_report(w, records, opts.interval) for w in windows],
        "transitions_observed": observed_transitions(records),
        "engine": {"sent": engine.sent, "received": engine.received,
                   "dropped_unknown_id": engine.dropped_unknown_id,
                   "dropped_wrong_source": engine.dropped_wrong_source,
                   "dropped_malformed": engine.dropped_malformed, "in_flight_at_end": pipe.snmp.in_flight},
    }  # fmt: skip


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def render(report: dict[str, Any]) -> str:
    m, rss, slots = report["meta"], report["rss"], report["slots"]
    obs, wr = report["transitions_observed"], report["transitions_written"]
    lines = [
        f"# fastpoll soak: {m['devices']} devices x {m['ports']} ports every {m['interval_s']:g} s, "
        f"{m['minutes']:g} min ({m['when']})",
        "",
        f"RSS first / last / max: {rss['first_mb']} / {rss['last_mb']} / {rss['max_mb']} MB",
        f"slots: {slots['slots']}, ok {slots['ok']}, missed in fault windows "
        f"{slots['missed_in_fault_windows']}, missed outside fault windows "
        f"{slots['missed_outside_fault_windows']}",
        f"polls waited for max_polls_in_flight ({report['polls'].get('max_polls_in_flight')}): "
        f"{report['polls'].get('waited')}; schedule lag p99 {report['polls'].get('lag_p99_ms')} ms",
        f"transitions observed down/up {obs['down']}/{obs['up']}; written eventlog {wr['eventlog_down']}/"
        f"{wr['eventlog_up']}, outages opened/closed {wr['outages_opened']}/{wr['outages_closed']} "
        f"({'match' if report['transitions_match'] else 'MISMATCH'})",
        "",
        "| fault | at s | length s | devices | polls failed / in window | went down "
        "| recovery s (max / median) | requests per ok poll before / after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in report["faults"]:
        db = f"; writer {f['recovery_s']} s" if f["kind"] == "db_outage" else ""
        lines.append(
            f"| {f['kind']} | {f['start_s']} | {f['length_s']} | {f['devices']} "
            f"| {f['polls_failed_in_window']} / {f['polls_in_window']} | {f['went_down']} "
            f"| {f['recovery_s_max']} / {f['recovery_s_median']}{db} "
            f"| {f['requests_per_ok_poll_before']} / {f['requests_per_ok_poll_after']} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> Options:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--ports", type=int, default=48)
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between polls of a device")
    ap.add_argument("--fault-every", type=float, default=5.0, help="minutes between fault starts")
    ap.add_argument("--fault-length", type=float, default=120.0, help="seconds each fault lasts")
    ap.add_argument("--fault-share", type=float, default=0.02, help="share of devices a device fault hits")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--max-polls-in-flight", type=int, default=None,
        help="polling.max_polls_in_flight (default the daemon's for the devices; 0: no cap)",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, default=Options.out)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.devices < 2:
        ap.error("--devices must be at least 2 (device 0 is never faulted)")
    return Options(
        minutes=a.minutes, devices=a.devices, ports=a.ports, interval=a.interval, fault_every=a.fault_every,
        fault_length=a.fault_length, fault_share=a.fault_share, sample=a.sample, seed=a.seed,
        max_polls_in_flight=a.max_polls_in_flight, out=a.out, quiet=a.quiet,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    report = asyncio.run(soak(opts))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(report, indent=1) + "\n")
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
