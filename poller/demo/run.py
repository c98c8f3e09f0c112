"""`fastpoll demo`: simulated ISP devices on loopback, an embedded SQLite database, the daemon, a live view.

    fastpoll demo                      # until Ctrl-C
    fastpoll demo --duration 60        # scripted runs; prints a summary and exits 0

Everything it starts (agents, daemon, metrics endpoint) lives in this process on 127.0.0.0/8 and
stops with it. The database is LibreNMS-shaped (the same tables and columns fastpoll writes in
MariaDB), so `sqlite3 var/demo.sqlite 'select * from eventlog'` shows what LibreNMS would show.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from sqlalchemy import func, select, update

from ..config import load_config
from ..daemon import Daemon
from ..discovery import discover, store
from ..logs import setup_logging
from ..sim.generate import FaultPlan, fleet_agents, generate_fleet
from ..sim.responder import Responder
from ..snmp.client import SnmpEngine
from ..store.embedded import create_embedded
from ..store.tables import device_outages, devices, eventlog, ports
from .view import Totals, render

BASE_ADDRESS = "127.20.0.1"
DEFAULT_DB = Path("var/demo.sqlite")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="run fastpoll against simulated ISP devices (nothing else needed)")
    p.add_argument("--devices", type=int, default=24, help="simulated devices (default 24)")
    p.add_argument("--ports", type=int, default=24, help="interfaces per device (default 24)")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between polls (default 10)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    p.add_argument("--metrics-listen", default="127.0.0.1:9877", metavar="HOST:PORT")
    p.add_argument("--no-live", action="store_true", help="plain log lines instead of the live view")
    p.set_defaults(func=run)
    return p


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def fault_plan(devices: int, interval: float) -> FaultPlan:
    """One device that dies and comes back every few polls, one slow one: enough to see the fast path work."""
    if devices < 3:
        return FaultPlan()
    period = max(60.0, interval * 8)
    return FaultPlan(
        slow=1,
        flap=1,
        slow_delay=(0.3, 0.6),
        flap_period=period,
        flap_down=period / 3,
        flap_phase=interval * 2,
    )


async def populate(db_url: str, fleet: list[Any]) -> int:
    """Add every simulated device the way `fastpoll device add` does (SNMP discovery into the database).

    A database from an earlier demo run keeps its history: its devices are pointed at this run's
    simulator port (a free port, so it changes from run to run) and only devices it lacks are discovered.
    """
    db = create_embedded(db_url)
    try:
        hosts = [dev.host for dev in fleet]
        port = fleet[0].port if fleet else None
        with db.begin() as conn:
            known = set(conn.scalars(select(devices.c.hostname).where(devices.c.hostname.in_(hosts))))
            if known:
                conn.execute(update(devices).where(devices.c.hostname.in_(known)).values(port=port))
        added = 0
        async with SnmpEngine() as engine:
            for dev in fleet:
                if dev.host in known or (dev.fault is not None and dev.fault.kind in ("timeout", "garbage")):
                    continue
                found = await discover(engine, dev.target())
                store(db, dev.host, dev.target(), found)
                added += 1
        return added
    finally:
        db.dispose()


def summary(db_url: str) -> dict[str, int]:
    db = create_embedded(db_url)
    try:
        with db.connect() as conn:
            count = lambda t, *w: conn.execute(select(func.count()).select_from(t).where(*w)).scalar() or 0  # noqa: E731
            return {
                "devices": count(devices),
                "devices_up": count(devices, devices.c.status == 1),
                "ports": count(ports),
                "eventlog_rows": count(eventlog),
                "outages": count(device_outages),
            }
    finally:
        db.dispose()


async def demo(args: argparse.Namespace, console: Console) -> int:
    args.db.parent.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{args.db}"
    port = free_port(BASE_ADDRESS)
    fleet = generate_fleet(
        args.devices,
        args.ports,
        base_address=BASE_ADDRESS,
        port=port,
        community="demo",
        faults=fault_plan(args.devices, args.interval),
    )
    async with Responder(fleet_agents(fleet)):
        console.print(
            f"[bold]fastpoll demo[/]: {args.devices} simulated devices on {BASE_ADDRESS}+ port {port}"
        )
        added = await populate(db_url, fleet)
        if added:
            console.print(f"discovered {added} devices into {args.db}")
        config = load_config(
            None,
            {
                "FASTPOLL_DATABASE__SQLITE_PATH": str(args.db),
                "FASTPOLL_POLLING__DEFAULT_INTERVAL": str(args.interval),
                "FASTPOLL_POLLING__DOWN_AFTER": "2",
                "FASTPOLL_METRICS__LISTEN": args.metrics_listen,
                "FASTPOLL_LOGGING__LEVEL": "WARNING" if not args.no_live else "INFO",
            },
        )
        daemon = Daemon(config, inventory_refresh=max(args.interval, 10.0))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, daemon.request_stop)
        task = asyncio.create_task(daemon.serve(install_signals=False))
        await daemon.wait_started()
        metrics_url = f"http://{config.metrics.listen}/metrics"
        console.print(f"metrics: {metrics_url}   health: http://{config.metrics.listen}/health")
        started = time.monotonic()
        await _watch(daemon, console, args, metrics_url, started, len(fleet))
        daemon.request_stop()
        status = await task
    result = summary(db_url)
    console.print(
        "summary: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result.items())
        + f"; database {args.db}"
    )
    return status


async def _watch(
    daemon: Daemon, console: Console, args: argparse.Namespace, url: str, started: float, n: int
) -> None:
    deadline = None if args.duration is None else started + args.duration

    def totals() -> Totals:
        elapsed = time.monotonic() - started
        sched = daemon.scheduler.stats if daemon.scheduler else None
        return Totals(
            polls=daemon.stats.polls,
            polls_per_second=daemon.stats.polls / elapsed if elapsed > 0 else 0.0,
            failed=daemon.stats.polls_failed,
            skipped_overrun=sched.skipped_overrun if sched else 0,
            metrics_url=url,
            elapsed=elapsed,
        )

    def finished() -> bool:
        return daemon.should_exit.is_set() or (deadline is not None and time.monotonic() >= deadline)

    if args.no_live or not console.is_terminal:
        last = 0.0
        while not finished():
            await asyncio.sleep(0.5)
            if time.monotonic() - last >= args.interval:
                last = time.monotonic()
                t = totals()
                snaps = daemon.fleet.snapshots()
                up = sum(1 for s in snaps if s.metrics and s.metrics.up)
                console.print(f"{t.elapsed:5.0f}s  polls {t.polls}  up {up}/{n}  failed {t.failed}")
        return
    with Live(console=console, refresh_per_second=2, screen=False) as live:
        while not finished():
            live.update(render(daemon.fleet.snapshots(), totals(), total_devices=n))
            await asyncio.sleep(0.5)


def run(args: argparse.Namespace) -> int:
    setup_logging("WARNING" if not args.no_live else "INFO", "text")
    console = Console()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(demo(args, console))
    return 0


if __name__ == "__main__":
    sys.exit(run(add_parser(argparse.ArgumentParser().add_subparsers()).parse_args()))
