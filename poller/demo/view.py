"""The demo's live terminal view: a pure function of the fleet's latest polls and the daemon's counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..metrics.state import DeviceSnapshot


@dataclass(frozen=True, slots=True)
class Totals:
    """Counters the view shows beside the fleet (from Daemon.stats and the scheduler)."""

    polls: int
    polls_per_second: float
    failed: int
    skipped_overrun: int
    metrics_url: str
    elapsed: float


def human_bps(bits_per_second: float) -> str:
    for unit, scale in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if bits_per_second >= scale:
            return f"{bits_per_second / scale:.1f} {unit}"
    return f"{bits_per_second:.0f} b/s"


def top_interfaces(snapshots: Sequence[DeviceSnapshot], n: int = 8) -> list[tuple[str, str, float, float]]:
    """(device, interface, in b/s, out b/s) of the n busiest interfaces by total traffic."""
    rows = []
    for snap in snapshots:
        name = snap.device.sys_name or snap.device.hostname
        for port in snap.ports:
            rin = port.rates.get("ifInOctets")
            rout = port.rates.get("ifOutOctets")
            if rin is None or rout is None:
                continue
            rows.append((name, port.ifName or str(port.ifIndex), rin * 8, rout * 8))
    rows.sort(key=lambda r: r[2] + r[3], reverse=True)
    return rows[:n]


def render(snapshots: Sequence[DeviceSnapshot], totals: Totals, *, total_devices: int) -> Group:
    up = [s for s in snapshots if s.metrics is not None and s.metrics.up]
    down = [s for s in snapshots if s.metrics is not None and not s.metrics.up]
    head = Text.assemble(
        ("fastpoll demo", "bold"),
        f"  {total_devices} devices: ",
        (f"{len(up)} up", "green"),
        ", ",
        (f"{len(down)} down", "red" if down else "dim"),
        f"  |  {totals.polls} polls ({totals.polls_per_second:.1f}/s), {totals.failed} failed,"
        f" {totals.skipped_overrun} overruns  |  {totals.elapsed:.0f} s  |  metrics: {totals.metrics_url}",
    )

    slow = Table(title="Slowest devices", expand=True)
    for col in ("device", "state", "poll ms", "uptime", "error"):
        slow.add_column(col)
    ranked = sorted(
        (s for s in snapshots if s.metrics is not None), key=lambda s: s.metrics.poll_duration, reverse=True
    )
    for snap in ranked[:8]:
        m = snap.metrics
        assert m is not None
        state = Text("up", "green") if m.up else Text("down", "red")
        uptime = f"{m.uptime // 86400}d {m.uptime % 86400 // 3600}h" if m.uptime is not None else "-"
        slow.add_row(
            snap.device.sys_name or snap.device.hostname,
            state,
            f"{m.poll_duration * 1000:.0f}",
            uptime,
            m.error or "",
        )

    busy = Table(title="Top interfaces by traffic", expand=True)
    for col in ("device", "interface", "in", "out"):
        busy.add_column(col)
    for device, ifname, rin, rout in top_interfaces(snapshots):
        busy.add_row(device, ifname, human_bps(rin), human_bps(rout))

    down_list = ", ".join(s.device.sys_name or s.device.hostname for s in down) or "none"
    return Group(
        Panel(head),
        slow,
        busy,
        Text(f"Down: {down_list}   (Ctrl-C stops everything the demo started)", style="dim"),
    )
