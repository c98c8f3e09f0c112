"""FleetState: the latest poll of every device, kept for the Prometheus collector.

The daemon calls :meth:`FleetState.update` with every PollResult (on the event loop, ~170 times a second
at 10,000 devices every 60 s) and :meth:`FleetState.remove` when the inventory drops a device. The collector
reads :meth:`FleetState.snapshots` at scrape time, from the HTTP server's thread and, in the daemon, from the
event loop (``FleetCollector.prepare``).

Concurrency: replace-per-device. Each update builds a new immutable :class:`DeviceSnapshot` and stores it with
one dict assignment; a scrape takes a shallow copy of the dict (``dict.copy`` runs in C without releasing the
GIL, and the keys are ints, so no Python code runs during it: the copy is atomic). Nothing the poll path
writes is ever mutated in place, so a reader sees each device either before or after an update, never half of
one, and neither side waits on a lock. The one mutable part, a snapshot's ``cache``, is the collector's and
only scrapes touch it: they fill it in steps (the device text and series counts, later the port text if the
series budget exports the ports), each one attribute store of a finished object, so two concurrent scrapes at
worst render the same thing twice and either copy serves (a benign race).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from poller.checks.port_table import PortTable
from poller.checks.results import DeviceMetrics, PollResult, PortMetrics
from poller.model import Device

IntervalFn = Callable[[Device], float]


@dataclass(eq=False, slots=True)
class DeviceSnapshot:
    """One device's latest poll. Treated as immutable; ``cache`` belongs to the collector (rendered text and
    series counts, filled in by scrapes)."""

    device: Device
    polled: int  # epoch second of the poll
    metrics: DeviceMetrics | None
    # the ports' metrics, or the poll's PortTable holding them frozen (a port costs ~5x less at rest)
    port_source: tuple[PortMetrics, ...] | PortTable
    interval: float | None  # seconds between polls, when known
    cache: Any = field(default=None)

    @property
    def device_id(self) -> int:
        return self.device.device_id

    @property
    def ports(self) -> tuple[PortMetrics, ...]:
        """The ports' metrics (thawed on each read from a PortTable: read once per use)."""
        return thawed_metrics(self.port_source)


def thawed_metrics(source: tuple[PortMetrics, ...] | PortTable) -> tuple[PortMetrics, ...]:
    """The ports of a DeviceSnapshot's ``port_source`` that are not deleted."""
    if isinstance(source, PortTable):
        return tuple([p for p in source.metrics() if not p.deleted])
    return source


class FleetState:
    """Latest DeviceMetrics/PortMetrics per device, plus identity (device_id, hostname, sysName).

    ``interval_of(device)`` (e.g. ``config.polling.interval_for``) adds each device's poll interval, which the
    "last poll too old" alert compares with.
    """

    def __init__(self, interval_of: IntervalFn | None = None) -> None:
        self._devices: dict[int, DeviceSnapshot] = {}
        self._interval_of = interval_of

    def update(self, device: Device, result: PollResult) -> None:
        """Record ``result`` as ``device``'s latest poll. O(1): a PortTable stays frozen. Never blocks.

        The ports are those of this poll: a poll without port data (device unreachable, port walk failed)
        leaves the device with no port series rather than with stale counters that would read as zero traffic.
        """
        interval = self._interval_of(device) if self._interval_of is not None else device.interval
        table = result.port_table
        ports = table if table is not None else tuple(p for p in result.port_metrics if not p.deleted)
        self._devices[device.device_id] = DeviceSnapshot(
            device, result.polled, result.metrics, ports, interval
        )

    def remove(self, device_id: int) -> None:
        """Forget a device the inventory dropped: its series vanish from the next scrape."""
        self._devices.pop(device_id, None)

    def retain(self, device_ids: set[int] | frozenset[int]) -> None:
        """Forget every device not in ``device_ids`` (an inventory reload that hands over the full set)."""
        for device_id in self._devices.keys() - device_ids:
            self._devices.pop(device_id, None)

    def snapshots(self) -> list[DeviceSnapshot]:
        """Every device's latest snapshot, ordered by device_id (safe from any thread)."""
        current = self._devices.copy()
        return [current[k] for k in sorted(current)]

    def devices(self) -> list[Device]:
        """The devices held (for per-device SNMP statistics)."""
        return [s.device for s in self._devices.copy().values()]

    def __len__(self) -> int:
        return len(self._devices)
