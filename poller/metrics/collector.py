"""The fleet collector: device and interface metrics built at scrape time from :class:`FleetState`.

A scrape never triggers SNMP: it reads the latest poll of each device, so removed devices and ports simply
vanish. Families (``metrics.families`` switches, series per port in brackets):

- ``device``      per device (6): fastpoll_device_up, _uptime_seconds, _last_poll_timestamp_seconds,
                  _poll_duration_seconds, _consecutive_failures, _poll_interval_seconds
- ``ports``       per port (4): fastpoll_interface_{in,out}_octets_total, _{in,out}_packets_total (unicast)
- ``port_errors`` per port (4): fastpoll_interface_{in,out}_errors_total, _{in,out}_discards_total
- ``port_status`` per port (3): fastpoll_interface_oper_status, _admin_status (IF-MIB numbers: 1 up, 2 down,
                  3 testing, 4 unknown, 5 dormant, 6 notPresent, 7 lowerLayerDown), _speed_bytes_per_second
                  (bytes, the Prometheus base unit: utilisation = rate(..._octets_total) / speed)

So a 48-port switch costs 6 + 48 * 11 = 534 series with everything on, 198 with ``ports`` only; each series
is ~180 bytes of exposition text. Counters are the raw device counters (HC when the device has them):
Prometheus's ``rate()`` turns them into rates and handles wraps and reboots as resets.

Why the text is produced here and not by prometheus_client: its generic exposition builds a Metric, a Sample
namedtuple and a label dict per series and escapes every label on every scrape (measured ~20 s for 1,000
devices x 48 ports, benchmarks/metrics_bench.py). Here each device's lines are rendered once per poll (lazily,
at the first scrape that sees the new poll: on the daemon's event loop, a slice at a time, by
:meth:`FleetCollector.prepare`, else in the scrape's thread) with the port label string built once per port,
and cached on the device's snapshot; a scrape joins cached strings. The series budget is decided on
counts alone (counted by the rules the rendering follows, without formatting any line), so port lines are
rendered only for the devices whose ports the budget exports: ~2,900 of 10,000 devices x 48 ports under the
default budget (rendering them all cached ~600 MB of text that was never served: benchmarks/metrics_bench.py
--budget 1000000). prometheus_client still serves fastpoll's own metrics (selfmetrics.py);
:meth:`FleetCollector.collect` offers the same data as a Collector.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from poller.checks.ifmib import IF_STATUS
from poller.checks.port_table import PortTable
from poller.checks.results import COUNTER_INDEX, MISSING, PortMetrics
from poller.config import MetricsSettings
from poller.model import Device

from .budget import BudgetNotice
from .gzip_body import deflate_piece, inflate_piece
from .state import DeviceSnapshot, FleetState, thawed_metrics

log = logging.getLogger(__name__)

STATUS_NUMBER = {name: number for number, name in IF_STATUS.items()}
DEVICE_LABELS = ("device_id", "hostname", "sysname")
PORT_LABELS = ("device_id", "hostname", "ifindex", "ifname")
PORT_LABELS_WITH_ALIAS = (*PORT_LABELS, "ifalias")

Value = int | float
DeviceGetter = Callable[[DeviceSnapshot], Value | None]
PortGetter = Callable[[PortMetrics], Value | None]


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # the sample name (counters end in _total)
    kind: Literal["gauge", "counter"]
    help: str
    switch: str  # the MetricFamilies flag that turns it on
    device: DeviceGetter | None = None
    port: PortGetter | None = None
    column: str | None = None  # counters: the key (read from PortMetrics.counter_values on the hot path)


@dataclass(frozen=True, slots=True)
class PortField:
    """A port family's value: ``convert`` of one PortMetrics attribute. A device's ports hold few distinct
    values of such an attribute (up and down, one or two speeds), so the collector converts each distinct
    value once per device rather than once per port."""

    attr: str
    convert: Callable[[Any], Value | None]  # None: the port gets no series

    def __call__(self, port: PortMetrics) -> Value | None:
        return self.convert(getattr(port, self.attr))


def _counter(column: str) -> PortGetter:
    def get(p: PortMetrics) -> Value | None:
        return p.counters.get(column)

    return get


def _status(value: str | None) -> int | None:
    if value is None:
        return None
    number = STATUS_NUMBER.get(value)
    if number is None and value.isdigit():  # an enum number IF-MIB does not name
        return int(value)
    return number


def _bytes_per_second(bits: int | None) -> Value | None:
    # Prometheus's base unit is bytes (promtool lints *_bits_*); speeds are multiples of 8 bit/s in practice.
    if bits is None:
        return None
    return bits // 8 if bits % 8 == 0 else bits / 8


def _uptime(s: DeviceSnapshot) -> Value | None:
    return s.metrics.uptime if s.metrics else None


DEVICE_FAMILIES: tuple[Family, ...] = (
    Family(
        "fastpoll_device_up",
        "gauge",
        "1 when the device is up (answers SNMP; down after polling.down_after failed polls), else 0.",
        "device",
        device=lambda s: (1 if s.metrics.up else 0) if s.metrics else None,
    ),
    Family(
        "fastpoll_device_uptime_seconds", "gauge", "Device uptime from its last answer.", "device", _uptime
    ),
    Family(
        "fastpoll_device_last_poll_timestamp_seconds",
        "gauge",
        "Unix time of the device's last poll (successful or not).",
        "device",
        device=lambda s: s.polled,
    ),
    Family(
        "fastpoll_device_poll_duration_seconds",
        "gauge",
        "Seconds the device's last poll took.",
        "device",
        device=lambda s: s.metrics.poll_duration if s.metrics else None,
    ),
    Family(
        "fastpoll_device_consecutive_failures",
        "gauge",
        "Polls in a row that got no SNMP answer.",
        "device",
        device=lambda s: s.metrics.consecutive_failures if s.metrics else None,
    ),
    Family(
        "fastpoll_device_poll_interval_seconds",
        "gauge",
        "Seconds between polls of the device.",
        "device",
        device=lambda s: s.interval,
    ),
)

PORT_FAMILIES: tuple[Family, ...] = (
    Family(
        "fastpoll_interface_in_octets_total",
        "counter",
        "Octets received (ifHCInOctets, else ifInOctets).",
        "ports",
        port=_counter("ifInOctets"),
        column="ifInOctets",
    ),
    Family(
        "fastpoll_interface_out_octets_total",
        "counter",
        "Octets sent (ifHCOutOctets, else ifOutOctets).",
        "ports",
        port=_counter("ifOutOctets"),
        column="ifOutOctets",
    ),
    Family(
        "fastpoll_interface_in_packets_total",
        "counter",
        "Unicast packets received (ifHCInUcastPkts, else ifInUcastPkts).",
        "ports",
        port=_counter("ifInUcastPkts"),
        column="ifInUcastPkts",
    ),
    Family(
        "fastpoll_interface_out_packets_total",
        "counter",
        "Unicast packets sent (ifHCOutUcastPkts, else ifOutUcastPkts).",
        "ports",
        port=_counter("ifOutUcastPkts"),
        column="ifOutUcastPkts",
    ),
    Family(
        "fastpoll_interface_in_errors_total",
        "counter",
        "Inbound packets with errors (ifInErrors).",
        "port_errors",
        port=_counter("ifInErrors"),
        column="ifInErrors",
    ),
    Family(
        "fastpoll_interface_out_errors_total",
        "counter",
        "Outbound packets with errors (ifOutErrors).",
        "port_errors",
        port=_counter("ifOutErrors"),
        column="ifOutErrors",
    ),
    Family(
        "fastpoll_interface_in_discards_total",
        "counter",
        "Inbound packets discarded (ifInDiscards).",
        "port_errors",
        port=_counter("ifInDiscards"),
        column="ifInDiscards",
    ),
    Family(
        "fastpoll_interface_out_discards_total",
        "counter",
        "Outbound packets discarded (ifOutDiscards).",
        "port_errors",
        port=_counter("ifOutDiscards"),
        column="ifOutDiscards",
    ),
    Family(
        "fastpoll_interface_oper_status",
        "gauge",
        "ifOperStatus as IF-MIB numbers it: 1 up, 2 down, 3 testing, 4 unknown, 5 dormant, 6 notPresent, "
        "7 lowerLayerDown.",
        "port_status",
        port=PortField("oper_status", _status),
    ),
    Family(
        "fastpoll_interface_admin_status",
        "gauge",
        "ifAdminStatus as IF-MIB numbers it: 1 up, 2 down, 3 testing.",
        "port_status",
        port=PortField("admin_status", _status),
    ),
    Family(
        "fastpoll_interface_speed_bytes_per_second",
        "gauge",
        "Interface speed in bytes per second (ifHighSpeed * 1e6 / 8, else ifSpeed / 8).",
        "port_status",
        port=PortField("speed", _bytes_per_second),
    ),
)

ALL_FAMILIES = DEVICE_FAMILIES + PORT_FAMILIES
# The ports table columns that become counter series (the others never make one).
EXPORTED_COUNTERS: tuple[str, ...] = tuple(f.column for f in PORT_FAMILIES if f.column)
# How long the event loop renders for a scrape between breaks (FleetCollector.prepare): as long as it spent
# on everything else since the last slice, so that each gets half while both have work, within these bounds.
PREPARE_SLICE = 0.002
PREPARE_SLICE_MAX = 0.02
META_NAMES = (
    "fastpoll_metrics_series",
    "fastpoll_metrics_series_dropped",
    "fastpoll_metrics_series_budget",
    "fastpoll_metrics_render_seconds",
)


def escape_label(value: str) -> str:
    """A label value as the text format wants it (backslash, double quote and newline escaped)."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))  # shortest round-trip form: 0.25, 1e+20, inf, nan (repr gives "inf", "nan")


@dataclass(slots=True)
class _Rendered:
    """One poll of one device under one collector's settings, cached on its snapshot until the next poll.

    Built in two steps, because the budget needs only counts: at the first scrape that sees the poll, the
    device text and both series counts (the port series counted, not formatted); the port text only at the
    first scrape whose budget exports this device's ports. At 10,000 devices x 48 ports the default budget
    exports the ports of ~2,900 devices: the other ~7,100 never pay for port text (~60 KB each). A device
    whose ports stop being exported (devices added before it) keeps its port text until its next poll.
    """

    token: object  # the collector that built it (settings differ between collectors)
    device: Device
    device_text: tuple[str, ...]  # one chunk per device family of ``_device_families``
    device_series: int
    port_series: int  # the lines ``port_text`` has, or will have once rendered
    # the snapshot's ports (a PortTable's are thawed when rendered, not kept) and the selection's test
    port_source: tuple[PortMetrics, ...] | PortTable
    admits: Callable[[str | None, str | None, str | None], bool]
    # One deflate_piece per port family (b"": no lines), once the budget exported them (cache_port_text)
    port_text: tuple[bytes, ...] | None = None

    @property
    def ports(self) -> tuple[PortMetrics, ...]:
        """The admitted ports (thawed on each read: read once per use)."""
        return _admitted(thawed_metrics(self.port_source), self.admits)


def _admitted(
    ports: tuple[PortMetrics, ...], admits: Callable[[str | None, str | None, str | None], bool]
) -> tuple[PortMetrics, ...]:
    admitted = [p for p in ports if admits(p.ifType, p.ifName, p.admin_status)]
    return ports if len(admitted) == len(ports) else tuple(admitted)


@dataclass(frozen=True, slots=True)
class BudgetOutcome:
    kept: list[tuple[_Rendered, bool]]  # (a device's rendering, with its port series)
    exported: int
    dropped: int


class FleetCollector:
    """Builds the device and interface families from ``state`` at scrape time, under ``settings`` (the metrics
    section: families switches, port selection, series budget).

    :meth:`render` gives the exposition text (fast path, used by the server); :meth:`collect` makes this a
    prometheus_client Collector (``registry.register(collector)``) yielding the same data.
    """

    def __init__(self, state: FleetState, settings: MetricsSettings) -> None:
        self.state = state
        self.settings = settings
        switches = settings.families
        self._families = tuple(f for f in ALL_FAMILIES if getattr(switches, f.switch))
        self._device_families = tuple(f for f in self._families if f.device is not None)
        self._port_families = tuple(f for f in self._families if f.port is not None)
        # The port families by how _count_port_series counts them.
        self._counter_columns = tuple(COUNTER_INDEX[f.column] for f in self._port_families if f.column)
        self._field_getters = tuple(f.port for f in self._port_families if isinstance(f.port, PortField))
        self._other_getters = tuple(
            f.port for f in self._port_families if f.column is None and not isinstance(f.port, PortField)
        )
        self._headers = tuple(f"# HELP {f.name} {f.help}\n# TYPE {f.name} {f.kind}\n" for f in self._families)
        self._selection = settings.ports
        self._alias = settings.ports.ifalias_label
        self._cache_ports = settings.cache_port_text
        self._budget_notice = BudgetNotice(
            log,
            "metrics series budget (metrics.series_budget = %d) exceeded: %d series not exported; "
            "raise the budget or export fewer ports/families (metrics.ports, metrics.families)",
            "metrics series budget no longer exceeded; every series is exported again",
        )
        self.last_render_seconds = 0.0
        self._prepared_seconds = 0.0  # the last prepare's, until a scrape reports it
        # the devices whose ports the last scrape exported: prepare renders their port text with the counts
        self._exported_last: frozenset[int] = frozenset()

    # ------------------------------------------------------------------ per device (cached per poll)

    def _rendered(self, snap: DeviceSnapshot, *, port_text: bool = False) -> _Rendered:
        """The snapshot's rendering, made at its first use; ``port_text``: with its port text too, from the
        same thaw of its ports (for a device the budget will most likely export)."""
        cached = snap.cache
        if isinstance(cached, _Rendered) and cached.token is self:
            return cached
        ports = _admitted(snap.ports, self._selection.admits)
        rendered = self._render_device(snap, ports)
        if port_text and self._cache_ports:
            self._port_text(rendered, ports)
        snap.cache = rendered  # a benign race: two scrapes build the same thing
        return rendered

    def _render_device(self, snap: DeviceSnapshot, ports: tuple[PortMetrics, ...]) -> _Rendered:
        """The device text and the series counts (of ``ports``, the snapshot's admitted ports): what every
        device costs, exported ports or not."""
        device = snap.device
        labels = self._device_labels(device)
        text: list[str] = []
        device_series = 0
        for fam in self._device_families:
            value = fam.device(snap)  # type: ignore[misc]
            if value is None:
                text.append("")
            else:
                text.append(f"{fam.name}{labels}{format_value(value)}\n")
                device_series += 1
        return _Rendered(
            self,
            device,
            tuple(text),
            device_series,
            self._count_port_series(ports),
            snap.port_source,
            self._selection.admits,
        )

    def _device_labels(self, device: Device) -> str:
        return '{{device_id="{}",hostname="{}",sysname="{}"}} '.format(
            *map(escape_label, self._device_values(device))
        )

    @staticmethod
    def _device_values(device: Device) -> tuple[str, str, str]:
        return (str(device.device_id), device.hostname, device.sys_name or "")

    def _count_port_series(self, ports: tuple[PortMetrics, ...]) -> int:
        # The lines _render_ports would write, by the same tests (a counter: neither None nor MISSING; a
        # PortField: its conversion is not None; any other getter: it returns a value), counted in C loops
        # (list.count, set) with no string built and no Python call per port: 10,000 devices of 48 ports in
        # ~0.3 s of CPU, where rendering their ports costs ~2 s.
        n = 0
        if self._counter_columns:
            packs = [k for p in ports if (k := p.counter_values)]
            if len(self._counter_columns) == 1:  # itemgetter of one index gives the value, not a tuple
                (i,) = self._counter_columns
                values = [k[i] for k in packs]
            else:
                values = list(chain.from_iterable(map(itemgetter(*self._counter_columns), packs)))
            n += len(values) - values.count(None) - values.count(MISSING)
        for get in self._field_getters:
            raw = list(map(attrgetter(get.attr), ports))
            n += len(raw) - sum(raw.count(r) for r in set(raw) if get.convert(r) is None)
        for get in self._other_getters:
            n += sum(1 for p in ports if get(p) is not None)
        return n

    def _port_text(self, r: _Rendered, ports: tuple[PortMetrics, ...] | None = None) -> tuple[bytes, ...]:
        """``r``'s port lines, one kept piece per family; ``ports``: its admitted ports, if the caller has
        them thawed already."""
        text = r.port_text
        if text is None:
            text = tuple([deflate_piece(t) for t in self._render_ports(r, ports)])
            r.port_text = text  # a benign race: two scrapes render the same text
        return text

    def _render_ports(self, r: _Rendered, ports: tuple[PortMetrics, ...] | None = None) -> tuple[str, ...]:
        # The hot loop of a cold scrape: one list comprehension per family over the device's ports, the port
        # label string built once per port, port values (all ints) formatted by the f-string itself.
        if ports is None:
            ports = r.ports
        labels = self._port_labels(r, ports)
        counted = self._counted(labels, ports)  # (label, counter tuple): the counters read once per port
        return tuple(self._family_text(fam, labels, ports, counted) for fam in self._port_families)

    def _port_labels(self, r: _Rendered, ports: tuple[PortMetrics, ...]) -> list[str]:
        device = r.device
        head = f'{{device_id="{device.device_id}",hostname="{escape_label(device.hostname)}",ifindex="'
        if self._alias:
            return [
                f'{head}{p.ifIndex}",ifname="{escape_label(p.ifName or "")}",'
                f'ifalias="{escape_label(p.ifAlias or "")}"}} '
                for p in ports
            ]
        return [f'{head}{p.ifIndex}",ifname="{escape_label(p.ifName or "")}"}} ' for p in ports]

    @staticmethod
    def _counted(labels: list[str], ports: tuple[PortMetrics, ...]) -> list[tuple[str, tuple[Any, ...]]]:
        return [(lbl, values) for lbl, p in zip(labels, ports, strict=True) if (values := p.counter_values)]

    def _family_text(
        self,
        fam: Family,
        labels: list[str],
        ports: tuple[PortMetrics, ...],
        counted: list[tuple[str, tuple[Any, ...]]] | None = None,
    ) -> str:
        """One port family's lines for one device; ``counted`` (from _counted) when the caller has it."""
        name, column, get = fam.name, fam.column, fam.port
        if column is not None:  # the counter read straight from the CounterMap's tuple
            if counted is None:
                counted = self._counted(labels, ports)
            i = COUNTER_INDEX[column]
            lines = [
                f"{name}{lbl}{v}\n"
                for lbl, values in counted
                if (v := values[i]) is not None and v is not MISSING
            ]
        elif isinstance(get, PortField):
            raw = list(map(attrgetter(get.attr), ports))
            value_of = {r: get.convert(r) for r in set(raw)}  # each distinct value converted once
            lines = [
                f"{name}{lbl}{v}\n"
                for lbl, r in zip(labels, raw, strict=True)
                if (v := value_of[r]) is not None
            ]
        else:
            lines = [
                f"{name}{lbl}{v}\n"
                for lbl, p in zip(labels, ports, strict=True)
                if (v := get(p)) is not None  # type: ignore[misc]
            ]
        return "".join(lines)

    def _port_values(self, device: Device, port: PortMetrics) -> tuple[str, ...]:
        values = (str(device.device_id), device.hostname, str(port.ifIndex), port.ifName or "")
        return (*values, port.ifAlias or "") if self._alias else values

    # ------------------------------------------------------------------ budget

    def apply_budget(self, rendered: list[_Rendered]) -> BudgetOutcome:
        """Device series first (alerting needs them), then port series device by device in device_id order
        until the budget is used; the devices after that export no port series. Logs once per change."""
        outcome = self._budget(rendered)
        self._budget_notice.observe(outcome.dropped, self.settings.series_budget)
        return outcome

    def _budget(self, rendered: list[_Rendered]) -> BudgetOutcome:
        budget = self.settings.series_budget
        kept: list[tuple[_Rendered, bool]] = []
        dropped = 0
        used = 0
        for r in rendered:
            if used + r.device_series <= budget:
                used += r.device_series
                kept.append((r, False))
            else:
                dropped += r.device_series + r.port_series
        full = False
        for n, (r, _) in enumerate(kept):
            if not full and used + r.port_series <= budget:
                used += r.port_series
                kept[n] = (r, True)
            else:
                full = True
                dropped += r.port_series
        return BudgetOutcome(kept, used, dropped)

    # ------------------------------------------------------------------ on the event loop

    async def prepare(
        self, slice_seconds: float = PREPARE_SLICE, longest_slice: float = PREPARE_SLICE_MAX
    ) -> None:
        """Render on the event loop, a slice at a time, what the next scrape would render in its thread.

        A scrape's Python work (the devices polled since the last one: their text, their series counts and,
        with ``cache_port_text``, their port text) in a thread of its own fights the event loop for the GIL:
        each socket call of the loop's releases it, and the loop then waits up to the switch interval (5 ms)
        to get it back (``benchmarks/gil_convoy.py``). At 10,000 devices a scrape took 9-10 s that way for
        ~2 s of CPU, and was what remained of the schedule lag. Here the same work runs between the loop's
        own callbacks, and no GIL changes hands. A slice lasts as long as the loop's other work took since
        the previous one, from ``slice_seconds`` to ``longest_slice``: on a busy loop the render gets half of
        it instead of a fixed 2 ms per loop iteration, which made a scrape wait up to 7.6 s at 7,500
        devices. A device whose ports the last scrape exported gets its port text from the same thaw of its
        ports as its counts (a second thaw was 10-20% of this work: ``benchmarks/prepare_bench.py``). What
        this leaves for the scrape's thread is joining kept pieces and zlib (which releases the GIL). A device
        polled after this returned is rendered by the scrape as before.
        """
        clock = time.perf_counter
        started = clock()
        until = started + slice_seconds
        spent = 0.0  # the time in slices, reported with the scrape's own (fastpoll_metrics_render_seconds)

        async def pause() -> None:
            nonlocal started, until, spent
            left = clock()
            spent += left - started
            await asyncio.sleep(0)
            started = clock()
            until = started + min(max(started - left, slice_seconds), longest_slice)

        rendered: list[_Rendered] = []
        exported_last = self._exported_last
        for snap in self.state.snapshots():
            rendered.append(self._rendered(snap, port_text=snap.device.device_id in exported_last))
            if clock() >= until:
                await pause()
        if self._cache_ports:  # otherwise the port text is rendered as the scrape sends it, never kept
            for r, ports in self._budget(rendered).kept:
                if ports and r.port_text is None:  # exported now, not last time: thawed once more
                    self._port_text(r)
                    if clock() >= until:
                        await pause()
        self._prepared_seconds = spent + clock() - started

    # ------------------------------------------------------------------ output

    def render(self) -> str:
        """The exposition text (format 0.0.4) of every enabled family plus the budget metrics."""
        return "".join(self.iter_parts())

    def iter_parts(self) -> Iterator[str]:
        """``render``'s text as the pieces it is joined from (headers, each device's lines per family).

        A caller that encodes the pieces one at a time never holds the whole text, which at 10,000 devices x
        48 ports is ~150 MB.
        """
        for piece in self._parts():
            yield piece if type(piece) is str else inflate_piece(piece)  # type: ignore[arg-type]

    def iter_gzip_parts(self) -> Iterator[str | bytes]:
        """``iter_parts``, but with each kept port piece as it is kept: ``bytes`` from ``deflate_piece``,
        which ``GzipBody.add_piece`` puts in a gzip body without decompressing or compressing it again."""
        return self._parts()

    def _parts(self) -> Iterator[str | bytes]:
        # With metrics.cache_port_text each exported device's port lines are rendered once per poll and kept
        # compressed (~1/10 of the text: 28 MB kept instead of 174 MB at 10,000 devices x 48 ports under
        # the default budget). Without it they are rendered as they are asked for, one family of one device
        # at a time, so that a scrape holds the port label strings (~15 MB at 10,000 devices), the exported
        # devices' ports thawed from their PortTables, and one piece rather than the whole port text.
        clock = time.perf_counter
        started = clock()
        rendered = [self._rendered(s) for s in self.state.snapshots()]
        outcome = self.apply_budget(rendered)
        exported = [r for r, ports in outcome.kept if ports]  # the devices whose port series are exported
        self._exported_last = frozenset([r.device.device_id for r in exported])
        if self._cache_ports:
            port_text = [self._port_text(r) for r in exported]
        else:
            # per exported device, its ports and their labels once its first family is asked for
            thawed: list[tuple[tuple[PortMetrics, ...], list[str]] | None] = [None] * len(exported)
        # the time spent here, not the caller's between pieces, and the event loop's for this scrape
        elapsed = clock() - started + self._prepared_seconds
        self._prepared_seconds = 0.0
        n_device = len(self._device_families)
        for i, header in enumerate(self._headers):
            yield header
            if i < n_device:  # one piece per family: 10,000 pieces of ~100 bytes would cost a call each
                yield "".join([r.device_text[i] for r, _ in outcome.kept])
            elif self._cache_ports:
                yield from (piece for text in port_text if (piece := text[i - n_device]))
            else:
                fam = self._families[i]
                for n, r in enumerate(exported):
                    started = clock()
                    device_ports = thawed[n]
                    if device_ports is None:
                        ports = r.ports
                        device_ports = thawed[n] = (ports, self._port_labels(r, ports))
                    piece = self._family_text(fam, device_ports[1], device_ports[0])
                    elapsed += clock() - started
                    yield piece
        self.last_render_seconds = elapsed
        yield self._meta_text(outcome, elapsed)

    def _meta_text(self, outcome: BudgetOutcome, elapsed: float) -> str:
        return "".join(
            f"# HELP {name} {help_}\n# TYPE {name} gauge\n{name} {format_value(value)}\n"
            for name, help_, value in self._meta(outcome, elapsed)
        )

    def _meta(self, outcome: BudgetOutcome, elapsed: float) -> list[tuple[str, str, Value]]:
        return [
            ("fastpoll_metrics_series", "Device and interface series in the last scrape.", outcome.exported),
            (
                "fastpoll_metrics_series_dropped",
                "Series left out of the last scrape because of metrics.series_budget.",
                outcome.dropped,
            ),
            ("fastpoll_metrics_series_budget", "metrics.series_budget.", self.settings.series_budget),
            (
                "fastpoll_metrics_render_seconds",
                "Seconds the device and interface families took to build in the last scrape.",
                elapsed,
            ),
        ]

    def collect(self) -> Iterator[Metric]:
        """The prometheus_client Collector protocol: the same families as :meth:`render` (slower).

        The budget is decided on the same cached counts; the samples are built afresh from the snapshots
        (this path serves registries and tests, not the daemon's scrapes, so nothing more is cached for it).
        """
        started = time.perf_counter()
        pairs = [(s, self._rendered(s)) for s in self.state.snapshots()]
        outcome = self.apply_budget([r for _, r in pairs])
        kept = {id(r): ports for r, ports in outcome.kept}
        port_lists = {id(r): r.ports for r, ports in outcome.kept if ports}
        n_device = len(self._device_families)
        port_labels = PORT_LABELS_WITH_ALIAS if self._alias else PORT_LABELS
        for i, fam in enumerate(self._families):
            labels = DEVICE_LABELS if i < n_device else port_labels
            metric: GaugeMetricFamily | CounterMetricFamily
            if fam.kind == "counter":
                metric = CounterMetricFamily(fam.name, fam.help, labels=labels)
            else:
                metric = GaugeMetricFamily(fam.name, fam.help, labels=labels)
            for snap, r in pairs:
                with_ports = kept.get(id(r))
                if with_ports is None:
                    continue
                if fam.device is not None:
                    if (value := fam.device(snap)) is not None:
                        metric.add_metric(self._device_values(r.device), value)
                elif with_ports:
                    get = fam.port
                    for p in port_lists[id(r)]:
                        if (value := get(p)) is not None:  # type: ignore[misc]
                            metric.add_metric(self._port_values(r.device, p), value)
            yield metric
        for name, help_, value in self._meta(outcome, time.perf_counter() - started):
            yield GaugeMetricFamily(name, help_, value=value)

    def describe(self) -> Iterator[Metric]:
        # Registering must not run a scrape (prometheus_client calls describe() or collect() on register).
        return iter(())
