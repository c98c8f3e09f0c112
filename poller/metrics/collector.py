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
at the first scrape that sees the new poll, in the scrape thread) with the port label string built once per
port, and cached on the device's snapshot; a scrape joins cached strings. prometheus_client still serves
fastpoll's own metrics (selfmetrics.py); :meth:`FleetCollector.collect` offers the same data as a Collector.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from poller.checks.ifmib import IF_STATUS
from poller.checks.results import COUNTER_INDEX, MISSING, PortMetrics
from poller.config import MetricsSettings
from poller.model import Device

from .budget import BudgetNotice
from .state import DeviceSnapshot, FleetState

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
    column: str | None = None  # counters: the PortMetrics.counters key (read inline on the hot path)


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
        port=lambda p: _status(p.oper_status),
    ),
    Family(
        "fastpoll_interface_admin_status",
        "gauge",
        "ifAdminStatus as IF-MIB numbers it: 1 up, 2 down, 3 testing.",
        "port_status",
        port=lambda p: _status(p.admin_status),
    ),
    Family(
        "fastpoll_interface_speed_bytes_per_second",
        "gauge",
        "Interface speed in bytes per second (ifHighSpeed * 1e6 / 8, else ifSpeed / 8).",
        "port_status",
        port=lambda p: _bytes_per_second(p.speed),
    ),
)

ALL_FAMILIES = DEVICE_FAMILIES + PORT_FAMILIES
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


Row = tuple[tuple[str, ...], Value]  # (label values, value)


@dataclass(slots=True)
class _Rendered:
    token: object  # the collector that rendered it (settings differ between collectors)
    text: tuple[str, ...]  # one chunk per family of ``_families``
    rows: tuple[list[Row], ...] | None  # label values + values, kept only for collect()
    device_series: int
    port_series: int


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
        self._headers = tuple(f"# HELP {f.name} {f.help}\n# TYPE {f.name} {f.kind}\n" for f in self._families)
        self._selection = settings.ports
        self._alias = settings.ports.ifalias_label
        self._budget_notice = BudgetNotice(
            log,
            "metrics series budget (metrics.series_budget = %d) exceeded: %d series not exported; "
            "raise the budget or export fewer ports/families (metrics.ports, metrics.families)",
            "metrics series budget no longer exceeded; every series is exported again",
        )
        self.last_render_seconds = 0.0

    # ------------------------------------------------------------------ per device (cached per poll)

    def _rendered(self, snap: DeviceSnapshot, *, rows: bool = False) -> _Rendered:
        cached = snap.cache
        if isinstance(cached, _Rendered) and cached.token is self and (cached.rows is not None or not rows):
            return cached
        rendered = self._render_device(snap, keep_rows=rows)
        snap.cache = rendered  # a benign race: two scrapes render the same text
        return rendered

    def _render_device(self, snap: DeviceSnapshot, *, keep_rows: bool) -> _Rendered:
        # The hot loop of a cold scrape: one list comprehension per family over the device's ports, the port
        # label string built once per port, port values (all ints) formatted by the f-string itself.
        device = snap.device
        dev_values = (str(device.device_id), device.hostname, device.sys_name or "")
        dev_labels = '{{device_id="{}",hostname="{}",sysname="{}"}} '.format(*map(escape_label, dev_values))
        text: list[str] = []
        table: list[list[Row]] = []
        device_series = 0
        for fam in self._device_families:
            value = fam.device(snap)  # type: ignore[misc]
            if value is None:
                text.append("")
                table.append([])
            else:
                text.append(f"{fam.name}{dev_labels}{format_value(value)}\n")
                table.append([(dev_values, value)] if keep_rows else [])
                device_series += 1
        admits = self._selection.admits
        ports = [p for p in snap.ports if admits(p.ifType, p.ifName, p.admin_status)]
        host = escape_label(device.hostname)
        head = f'{{device_id="{dev_values[0]}",hostname="{host}",ifindex="'
        if self._alias:
            labels = [
                f'{head}{p.ifIndex}",ifname="{escape_label(p.ifName or "")}",'
                f'ifalias="{escape_label(p.ifAlias or "")}"}} '
                for p in ports
            ]
        else:
            labels = [f'{head}{p.ifIndex}",ifname="{escape_label(p.ifName or "")}"}} ' for p in ports]
        pairs = list(zip(labels, ports, strict=True))
        port_series = 0
        for fam in self._port_families:
            name, column, get = fam.name, fam.column, fam.port
            if column is not None:  # the counter read straight from the CounterMap's tuple
                i = COUNTER_INDEX[column]
                lines = [
                    f"{name}{lbl}{v}\n"
                    for lbl, p in pairs
                    if (packed := p.counters.packed) and (v := packed[i]) is not None and v is not MISSING  # type: ignore[attr-defined]
                ]
            else:
                lines = [f"{name}{lbl}{v}\n" for lbl, p in pairs if (v := get(p)) is not None]  # type: ignore[misc]
            port_series += len(lines)
            text.append("".join(lines))
            if keep_rows:
                table.append([(self._port_values(device, p), v) for p in ports if (v := get(p)) is not None])  # type: ignore[misc]
        return _Rendered(self, tuple(text), tuple(table) if keep_rows else None, device_series, port_series)

    def _port_values(self, device: Device, port: PortMetrics) -> tuple[str, ...]:
        values = (str(device.device_id), device.hostname, str(port.ifIndex), port.ifName or "")
        return (*values, port.ifAlias or "") if self._alias else values

    # ------------------------------------------------------------------ budget

    def apply_budget(self, rendered: list[_Rendered]) -> BudgetOutcome:
        """Device series first (alerting needs them), then port series device by device in device_id order
        until the budget is used; the devices after that export no port series. Logs once per change."""
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
        self._budget_notice.observe(dropped, budget)
        return BudgetOutcome(kept, used, dropped)

    # ------------------------------------------------------------------ output

    def render(self) -> str:
        """The exposition text (format 0.0.4) of every enabled family plus the budget metrics."""
        started = time.perf_counter()
        rendered = [self._rendered(s) for s in self.state.snapshots()]
        outcome = self.apply_budget(rendered)
        parts: list[str] = []
        n_device = len(self._device_families)
        for i, header in enumerate(self._headers):
            parts.append(header)
            if i < n_device:
                parts.extend(r.text[i] for r, _ in outcome.kept)
            else:
                parts.extend(r.text[i] for r, ports in outcome.kept if ports)
        elapsed = time.perf_counter() - started
        self.last_render_seconds = elapsed
        parts.append(self._meta_text(outcome, elapsed))
        return "".join(parts)

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
        """The prometheus_client Collector protocol: the same families as :meth:`render` (slower)."""
        started = time.perf_counter()
        rendered = [self._rendered(s, rows=True) for s in self.state.snapshots()]
        outcome = self.apply_budget(rendered)
        n_device = len(self._device_families)
        port_labels = PORT_LABELS_WITH_ALIAS if self._alias else PORT_LABELS
        for i, fam in enumerate(self._families):
            labels = DEVICE_LABELS if i < n_device else port_labels
            metric: GaugeMetricFamily | CounterMetricFamily
            if fam.kind == "counter":
                metric = CounterMetricFamily(fam.name, fam.help, labels=labels)
            else:
                metric = GaugeMetricFamily(fam.name, fam.help, labels=labels)
            for r, ports in outcome.kept:
                if (i < n_device or ports) and r.rows is not None:
                    for values, value in r.rows[i]:
                        metric.add_metric(values, value)
            yield metric
        for name, help_, value in self._meta(outcome, time.perf_counter() - started):
            yield GaugeMetricFamily(name, help_, value=value)

    def describe(self) -> Iterator[Metric]:
        # Registering must not run a scrape (prometheus_client calls describe() or collect() on register).
        return iter(())
