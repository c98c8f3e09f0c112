"""The poll unit the daemon repeats: one device -> one PollResult; plus ``fastpoll poll --once``.

``poll_device``: GET sysUpTime/sysObjectID/sysName (+ snmpEngineTime, hrSystemUptime); SNMP reachability
decides availability (LibreNMS's DeviceIsSnmpable: an answer to the GET); when up, uptime/reboot and the
IF-MIB walk. The per-device ``DeviceState`` keeps what the next poll needs (availability, uptime, ports with
their last written values), so the daemon reads the database only at start (``load_state``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import create_engine

from poller.checks.availability import AvailabilityState, initial_state, observe
from poller.checks.ifmib import (
    EXTRA_COLUMNS,
    IF_COLUMNS,
    IF_COLUMNS_WITH_IFX,
    IF_X_COLUMNS,
    OID_TO_NAME,
)
from poller.checks.intervals import recorded_run
from poller.checks.port_table import PortTable
from poller.checks.ports import (
    PortState,
    carry_details,
    needs_full_if_entry,
    poll_ports,
    rows_from_walks,
)
from poller.checks.results import DeviceMetrics, PollResult
from poller.checks.uptime import compute_uptime, observe_uptime
from poller.model import Device
from poller.snmp.client import SnmpEngine
from poller.snmp.errors import SnmpError, SnmpTimeout
from poller.snmp.values import Tag

log = logging.getLogger(__name__)

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SNMP_ENGINE_TIME = "1.3.6.1.6.3.10.2.1.3.0"
HR_SYSTEM_UPTIME = "1.3.6.1.2.1.25.1.1.0"
DEVICE_GET = (SYS_UPTIME, SYS_OBJECT_ID, SYS_NAME, SNMP_ENGINE_TIME, HR_SYSTEM_UPTIME)
DETAILS_SLACK = 5.0  # s: a poll started a little early does not push the details walk a whole interval later

FIRST_WALK = (
    *IF_X_COLUMNS.values(),
    *(IF_COLUMNS[c] for c in IF_COLUMNS_WITH_IFX),
    *EXTRA_COLUMNS.values(),
)
REST_OF_IF_ENTRY = tuple(oid for name, oid in IF_COLUMNS.items() if name not in IF_COLUMNS_WITH_IFX)
# What changes from one poll to the next: status and counters (ifHighSpeed too, as needs_full_if_entry reads
# it). The rest of FIRST_WALK describes the port and is walked every ``details_interval`` (see poll_device).
_MEASURED = (
    "ifAdminStatus", "ifOperStatus", "ifLastChange", "ifHighSpeed", "ifInErrors", "ifOutErrors",
    "ifInDiscards", "ifOutDiscards", "ifHCInOctets", "ifHCOutOctets", "ifHCInUcastPkts", "ifHCOutUcastPkts",
    "ifHCInMulticastPkts", "ifHCOutMulticastPkts", "ifHCInBroadcastPkts", "ifHCOutBroadcastPkts",
)  # fmt: skip
MEASURED_WALK = tuple(oid for oid in FIRST_WALK if OID_TO_NAME[oid] in _MEASURED)
DETAILS_WALK = tuple(oid for oid in FIRST_WALK if oid not in MEASURED_WALK)


@dataclass
class DeviceState:
    """What one device's next poll needs, kept in memory between polls."""

    availability: AvailabilityState
    uptime: int | None = None
    last_sample: float | None = None  # epoch of the last successful poll
    # association key -> state; a PortTable between polls with polling.freeze_ports (~5x smaller)
    ports: Mapping[Any, PortState] = field(default_factory=dict)
    has_ports: bool = False  # LibreNMS polls ports only once discovery created some
    details_walked: float | None = None  # epoch of the last walk of the ports' descriptive columns

    @property
    def dark(self) -> bool:
        """Its last poll got no answer (it is down only after ``polling.down_after`` such polls)."""
        return self.availability.failures > 0


def new_state(
    status: bool,
    status_reason: str,
    *,
    threshold: int = 1,
    uptime: int | None = None,
    last_polled: float | None = None,
    ports: Mapping[Any, PortState] | None = None,
    freeze: bool = False,
) -> DeviceState:
    """``freeze``: keep the ports as a PortTable (``polling.freeze_ports``), else as objects."""
    return DeviceState(
        availability=initial_state(status, status_reason, threshold=threshold),
        uptime=uptime,
        last_sample=last_polled,
        ports=PortTable.freeze(ports or {}) if freeze else dict(ports or {}),
        has_ports=bool(ports),
    )


def _thawed(ports: Mapping[Any, PortState]) -> Mapping[Any, PortState]:
    """A device's port states as objects, for one poll (poll_ports and carry_details only read them)."""
    return ports.states() if isinstance(ports, PortTable) else ports


def _int_value(vb: Any) -> int | None:
    return (
        vb.value
        if vb.tag in (Tag.TIMETICKS, Tag.INTEGER, Tag.COUNTER32, Tag.GAUGE32) and isinstance(vb.value, int)
        else None
    )


async def poll_device(
    engine: SnmpEngine,
    device: Device,
    state: DeviceState,
    *,
    now: float,
    down_threshold: int = 1,
    deadline: float | None = None,
    details_interval: float | None = None,
    freeze_ports: bool = False,
    walk_gate: WalkGate | None = None,
) -> PollResult:
    """Poll one device, update ``state`` in place, and return what to write and report.

    ``details_interval``: seconds between walks of the ports' descriptive columns (ifName, ifAlias, ifType,
    ...; None = every poll, as LibreNMS). Between those walks only status and counters are walked and each
    port keeps its last descriptive values; a new port, or a state read from the database, walks them at once.
    The first walk counts as made a per-device share of the interval earlier (intervals.recorded_run), so a
    fleet started at once walks its details spread over the cycles rather than all in one.
    ``freeze_ports`` (``polling.freeze_ports``): keep the ports' states as a PortTable between polls, else
    as objects. ``walk_gate`` (``polling.max_port_walks`` and ``max_port_walks_when_late``, a
    loop_lag.WalkSlots): the ports walk waits for one of its slots, within ``deadline``; a walk that gets none
    in time fails as a timeout and leaves the ports as they were.
    """
    started = time.monotonic()
    polled = int(now)
    result = PollResult(device_id=device.device_id, polled=polled)
    error: str | None = None
    try:
        varbinds = await engine.get(device.target, DEVICE_GET, deadline=deadline)
        reachable = True
    except SnmpError as exc:
        reachable = False
        error = exc.kind
        varbinds = []

    if not reachable:
        outcome = observe(
            state.availability, False, now=polled, device_id=device.device_id, threshold=down_threshold
        )
        _apply_availability(result, outcome)
        state.availability = outcome.state
        result.metrics = DeviceMetrics(
            up=outcome.state.status,
            reachable=False,
            uptime=state.uptime,
            poll_duration=time.monotonic() - started,
            consecutive_failures=outcome.state.failures,
            error=error,
        )
        return result

    values = {vb.oid.lstrip("."): vb for vb in varbinds}
    uptime = compute_uptime(
        _int_value(values[SYS_UPTIME]) if SYS_UPTIME in values else None,
        _int_value(values[SNMP_ENGINE_TIME]) if SNMP_ENGINE_TIME in values else None,
        _int_value(values[HR_SYSTEM_UPTIME]) if HR_SYSTEM_UPTIME in values else None,
    )
    elapsed = now - state.last_sample if state.last_sample is not None else None
    up = observe_uptime(state.uptime, uptime, elapsed=elapsed, now=polled, device_id=device.device_id)

    # The ports walk. A failed or empty walk leaves the ports alone (never marks them all deleted).
    if state.has_ports or state.ports:
        stored: Mapping[Any, PortState] = {}
        try:
            async with _slot(walk_gate, deadline):
                rows, stored = await _walk_ports(
                    engine, device, state, now=now, every=details_interval, deadline=deadline
                )
        except SnmpError as exc:
            error = f"ports:{exc.kind}"
            rows = {}
        if rows:
            ports = poll_ports(
                device.device_id,
                stored,
                rows,
                polled=polled,
                rebooted=up.rebooted,
                association_mode=device.port_association_mode,
            )
            result.ports = ports.writes
            result.events.extend(ports.events)
            result.port_metrics = ports.metrics
            if freeze_ports:
                state.ports = result.port_table = PortTable.freeze(ports.states, ports.metrics)
            else:
                state.ports = ports.states

    outcome = observe(
        state.availability, True, now=polled, device_id=device.device_id, threshold=down_threshold
    )
    _apply_availability(result, outcome)
    if up.event:
        result.events.insert(0, up.event)
    state.availability = outcome.state
    if up.uptime is not None:
        result.device["uptime"] = up.uptime
        state.uptime = up.uptime
    state.last_sample = now
    duration = time.monotonic() - started
    result.device["last_polled"] = _db_time(now)
    result.device["last_polled_timetaken"] = round(duration, 3)
    result.metrics = DeviceMetrics(
        up=True,
        reachable=True,
        uptime=state.uptime,
        poll_duration=duration,
        consecutive_failures=0,
        error=error,
    )
    return result


class WalkGate(Protocol):
    """What holds the port walks back: an asyncio.Semaphore, or loop_lag.WalkSlots."""

    async def acquire(self) -> bool: ...

    def release(self) -> None: ...


@contextlib.asynccontextmanager
async def _slot(gate: WalkGate | None, deadline: float | None) -> AsyncIterator[None]:
    """One of ``gate``'s slots for the block (none needed without a gate); SnmpTimeout when none comes
    free by ``deadline`` (event-loop time)."""
    if gate is None:
        yield
        return
    try:
        async with asyncio.timeout_at(deadline):
            await gate.acquire()
    except TimeoutError:
        raise SnmpTimeout("no port walk slot came free before the poll's deadline") from None
    try:
        yield
    finally:
        gate.release()


async def _walk_ports(
    engine: SnmpEngine,
    device: Device,
    state: DeviceState,
    *,
    now: float,
    every: float | None,
    deadline: float | None,
) -> tuple[dict[int, dict[str, Any]], Mapping[Any, PortState]]:
    """The IF-MIB walk: {ifIndex: {column name: raw value}}, every column poll_ports reads; and the
    device's stored port states, thawed once the walk has answered (frozen ports: see below)."""
    target = device.target
    full = (
        every is None
        or state.details_walked is None
        or now - state.details_walked >= every - DETAILS_SLACK
        or device.port_association_mode != 1  # other modes find ports by ifName/ifDescr/ifAlias
    )
    walks = [await engine.walk_columns(target, FIRST_WALK if full else MEASURED_WALK, deadline=deadline)]
    rows = rows_from_walks(walks)
    if rows and needs_full_if_entry(rows):
        walks.append(await engine.walk_columns(target, REST_OF_IF_ENTRY, deadline=deadline))
        rows = rows_from_walks(walks)
    # Thawed after the walk, not before it: the objects live for the ports check's microseconds rather than
    # the walk's round trips, so the collector's young generations see them die instead of promoting them
    # (and a failed walk thaws nothing).
    stored = _thawed(state.ports) if rows else {}
    if rows and not full and not carry_details(rows, stored):
        walks.append(await engine.walk_columns(target, DETAILS_WALK, deadline=deadline))
        rows = rows_from_walks(walks)  # made anew: carry_details filled the rows above
        full = True
    if rows and full:
        # the first walk spread over the interval, as intervals.recorded_run spreads the other checks' first
        # runs: a fleet started at once would otherwise walk every device's details in the same cycle
        state.details_walked = recorded_run(state.details_walked, now, every, device.device_id)
    return rows, stored


def _db_time(epoch: float) -> Any:
    from poller.store.librenms import epoch_to_db

    return epoch_to_db(epoch)


def _apply_availability(result: PollResult, outcome: Any) -> None:
    if outcome.changed:
        result.device["status"] = int(outcome.state.status)
        result.device["status_reason"] = outcome.state.status_reason
    if outcome.event:
        result.events.append(outcome.event)
    result.outage_open = outcome.outage_open
    result.outage_close = outcome.outage_close


# ---------------------------------------------------------------------- poll --once


def load_state(
    conn: Any, records: list[Any], *, down_threshold: int = 1, freeze: bool = False
) -> dict[int, DeviceState]:
    """Build every device's in-memory state from the database (done once at start); ``freeze`` as
    new_state's."""
    from poller.store.inventory import load_ports

    states: dict[int, DeviceState] = {}
    for rec in records:
        ports = load_ports(conn, rec.device.device_id, rec.device.port_association_mode)
        states[rec.device.device_id] = new_state(
            rec.status,
            rec.status_reason,
            threshold=down_threshold,
            uptime=rec.uptime,
            last_polled=rec.last_polled,
            ports=ports,
            freeze=freeze,
        )
    return states


async def poll_once(
    db_url: str,
    selectors: list[str] | None = None,
    *,
    write_set: str = "full",
    down_threshold: int = 1,
    concurrency: int = 200,
    default_timeout: float = 1.0,
    default_retries: int = 5,
    engine: SnmpEngine | None = None,
) -> tuple[list[PollResult], list[str]]:
    """Poll the selected devices (all pollable ones when None) once and write the results.

    Returns (results, problems); problems name devices that were skipped or not found.
    """
    from poller.checks.bgp import BgpWrites
    from poller.checks.discovered import DiscoveredWrites
    from poller.checks.fastpath import DiscoveredChecks
    from poller.store.discovered_writer import write_discovered
    from poller.store.inventory import load_devices
    from poller.store.librenms import LibreNMSWriter

    db = create_engine(db_url, pool_pre_ping=True)
    try:
        with db.connect() as conn:
            records, problems = load_devices(
                conn, selectors, default_timeout=default_timeout, default_retries=default_retries
            )
            states = load_state(conn, records, down_threshold=down_threshold)
        writer = LibreNMSWriter(db, write_set=write_set).start()
        own_engine = engine is None
        snmp = engine or SnmpEngine()
        sem = asyncio.Semaphore(concurrency)
        results: list[PollResult] = []
        checks = DiscoveredChecks(db)  # sensors, processors, mempools and BGP peers, as the daemon polls them
        discovered: list[DiscoveredWrites | BgpWrites] = []

        async def one(rec: Any) -> None:
            async with sem:
                res = await poll_device(
                    snmp,
                    rec.device,
                    states[rec.device.device_id],
                    now=time.time(),
                    down_threshold=down_threshold,
                )
                if write_set == "full" and res.metrics is not None and res.metrics.reachable:
                    try:
                        writes = await checks.poll(snmp, rec.device, now=time.time())
                        discovered.extend(writes.batch())
                    except SnmpError as err:
                        log.warning("device %s: sensors/BGP poll failed (%s)", rec.device.device_id, err.kind)
            writer.submit(res)
            results.append(res)

        try:
            await asyncio.gather(*(one(r) for r in records))
        finally:
            if own_engine:
                await snmp.close()
            flushed = await asyncio.to_thread(writer.close, 60.0)
            if discovered:

                def write_sensors() -> None:
                    with db.begin() as conn:
                        write_discovered(conn, discovered)

                await asyncio.to_thread(write_sensors)
        if not flushed:
            problems.append("some results could not be written to the database (see log)")
        return results, problems
    finally:
        db.dispose()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """The ``poll`` subcommand: ``fastpoll poll --db URL --once [--device ID_OR_HOSTNAME ...]``."""
    p = subparsers.add_parser(
        "poll", help="poll devices from the LibreNMS database once and write the results"
    )
    p.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. mysql+pymysql://user:pw@host/librenms")
    p.add_argument("--once", action="store_true", help="poll each device once and exit (required)")
    p.add_argument(
        "--device",
        action="append",
        default=None,
        metavar="ID_OR_HOSTNAME",
        help="only this device (repeatable)",
    )
    p.add_argument("--write-set", choices=("full", "status"), default="full")
    p.add_argument(
        "--down-threshold",
        type=int,
        default=1,
        help="consecutive failed polls before a device is declared down (LibreNMS: 1)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    if not args.once:
        print(
            "fastpoll poll: only --once is supported here; use the daemon for continuous polling",
            file=sys.stderr,
        )
        return 2
    if args.down_threshold < 1:
        print("fastpoll poll: --down-threshold must be >= 1", file=sys.stderr)
        return 2
    results, problems = asyncio.run(
        poll_once(args.db, args.device, write_set=args.write_set, down_threshold=args.down_threshold)
    )
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    for r in sorted(results, key=lambda r: r.device_id):
        m = r.metrics
        state = "up" if m and m.up else "down"
        err = f" ({m.error})" if m and m.error else ""
        print(
            f"device {r.device_id}: {state}{err}, {len(r.ports)} ports, {len(r.events)} events,"
            f" {m.poll_duration * 1000 if m else 0:.0f} ms"
        )
    if not results and problems:
        return 1
    return 0
