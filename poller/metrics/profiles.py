"""Profile metrics: the latest samples of the user's check profiles (``[profiles]``), exported at scrape time.

The daemon runs the enabled profiles after a device's successful poll and hands the samples to
:meth:`ProfileState.update`; a failed poll, or a device the inventory dropped, takes them away
(:meth:`ProfileState.remove`), so a scrape never shows stale values. :class:`ProfileCollector` renders them
from the HTTP server's thread: one family per profile metric, ``fastpoll_profile_<metric>`` (counters
``..._total``, see :func:`poller.checks.profiles.family_name`), HELP from the profile, labels ``device_id``,
``hostname`` then the profile's index label and labels.

Series budget (``profiles.series_budget``, apart from ``metrics.series_budget``, which the fleet collector
applies to device and port series): whole devices in device_id order until it is used; the devices after
that export no profile series, and ``fastpoll_metrics_profile_series_dropped`` counts what was left out.

Concurrency is the same as :class:`~poller.metrics.state.FleetState`: each update stores one new immutable
snapshot with one dict assignment; a scrape copies the dict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from poller.checks.profiles import Profile, Sample, family_name
from poller.model import Device

from .budget import BudgetNotice
from .collector import escape_label, format_value

log = logging.getLogger(__name__)

META_SERIES = "fastpoll_metrics_profile_series"
META_DROPPED = "fastpoll_metrics_profile_series_dropped"


@dataclass(eq=False, slots=True)
class ProfileSnapshot:
    """One device's latest profile samples. Treated as immutable; ``cache`` holds its rendered lines."""

    device: Device
    samples: tuple[Sample, ...]
    cache: Any = field(default=None)


class ProfileState:
    """The latest samples of every profile, per device."""

    def __init__(self) -> None:
        self._devices: dict[int, ProfileSnapshot] = {}

    def update(self, device: Device, samples: Mapping[str, Sequence[Sample]]) -> None:
        """Record the samples each profile (name -> samples) just produced on ``device``. A profile that is
        not in ``samples`` keeps its previous samples (it was not due); one mapped to ``()`` loses them."""
        old = self._devices.get(device.device_id)
        kept = [s for s in old.samples if s.profile not in samples] if old is not None else []
        fresh = [s for name in sorted(samples) for s in samples[name]]
        self._devices[device.device_id] = ProfileSnapshot(device, tuple(kept + fresh))

    def remove(self, device_id: int) -> None:
        """Forget a device (dropped from the inventory, or its poll failed): its series vanish."""
        self._devices.pop(device_id, None)

    def retain_profiles(self, names: Iterable[str]) -> None:
        """Forget the samples of every profile not in ``names`` (profiles disabled by a reload)."""
        keep = set(names)
        for device_id, snap in self._devices.copy().items():
            if any(s.profile not in keep for s in snap.samples):
                samples = tuple(s for s in snap.samples if s.profile in keep)
                self._devices[device_id] = ProfileSnapshot(snap.device, samples)

    def snapshots(self) -> list[ProfileSnapshot]:
        """Every device's snapshot, ordered by device_id (safe from any thread)."""
        current = self._devices.copy()
        return [current[k] for k in sorted(current)]

    def __len__(self) -> int:
        return len(self._devices)


# ---------------------------------------------------------------------------------------------- rendering

Lines = tuple[tuple[str, str], ...]  # (family name, sample line)


def device_lines(device: Device, samples: Iterable[Sample]) -> Lines:
    """Pure: the exposition line of each sample, with the family it belongs to."""
    head = f'device_id="{device.device_id}",hostname="{escape_label(device.hostname)}"'
    out = []
    for s in samples:
        family = family_name(s.metric, s.type)
        extra = "".join(f',{k}="{escape_label(v)}"' for k, v in s.labels.items())
        out.append((family, f"{family}{{{head}{extra}}} {format_value(s.value)}\n"))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class FamilyInfo:
    kind: str  # gauge | counter
    help: str


def families_of(profiles: Iterable[Profile]) -> dict[str, FamilyInfo]:
    """Pure: family name -> type and HELP, from the profiles' metric fields."""
    out: dict[str, FamilyInfo] = {}
    for p in profiles:
        for f in p.fields():
            text = f.help or f"{f.metric} (profile {p.name}, OID {f.oid})"
            out.setdefault(family_name(f.metric, f.type), FamilyInfo(f.type, text))
    return out


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    exported: int
    dropped: int


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render_profiles(per_device: Sequence[Lines], families: Mapping[str, FamilyInfo], budget: int) -> Rendered:
    """Pure: the exposition text of the devices' lines (in the order given), each family once with its HELP
    and TYPE, whole devices kept until ``budget`` series; plus the series and dropped gauges."""
    grouped: dict[str, list[str]] = {}
    exported = dropped = 0
    full = False
    for lines in per_device:
        if full or exported + len(lines) > budget:
            full = True
            dropped += len(lines)
            continue
        exported += len(lines)
        for family, line in lines:
            grouped.setdefault(family, []).append(line)
    parts = []
    for family in sorted(grouped):
        info = families.get(family) or FamilyInfo(
            "counter" if family.endswith("_total") else "gauge", "Profile metric."
        )
        parts.append(f"# HELP {family} {_help(info.help)}\n# TYPE {family} {info.kind}\n")
        parts.extend(grouped[family])
    parts.append(
        f"# HELP {META_SERIES} Profile series in the last scrape.\n# TYPE {META_SERIES} gauge\n"
        f"{META_SERIES} {exported}\n"
        f"# HELP {META_DROPPED} Profile series left out of the last scrape because of "
        f"profiles.series_budget.\n# TYPE {META_DROPPED} gauge\n{META_DROPPED} {dropped}\n"
    )
    return Rendered("".join(parts), exported, dropped)


class ProfileCollector:
    """Renders ``state`` at scrape time. ``profiles()`` gives the enabled profiles (read on every scrape,
    so a configuration reload changes HELP and types at once); ``budget()`` gives profiles.series_budget."""

    def __init__(
        self,
        state: ProfileState,
        profiles: Callable[[], Sequence[Profile]],
        budget: Callable[[], int],
    ) -> None:
        self.state = state
        self._profiles = profiles
        self._budget = budget
        self._budget_notice = BudgetNotice(
            log,
            "profile series budget (profiles.series_budget = %d) exceeded: %d series not exported",
            "profile series budget no longer exceeded; every profile series is exported again",
        )

    def _lines(self, snap: ProfileSnapshot) -> Lines:
        if snap.cache is None:
            snap.cache = device_lines(snap.device, snap.samples)  # a benign race: same text either way
        lines: Lines = snap.cache
        return lines

    def render(self) -> str:
        """The profile families and the two budget gauges; nothing at all while no profile is enabled."""
        profiles = self._profiles()
        snapshots = self.state.snapshots()
        if not profiles and not snapshots:
            return ""
        budget = self._budget()
        rendered = render_profiles([self._lines(s) for s in snapshots], families_of(profiles), budget)
        self._budget_notice.observe(rendered.dropped, budget)
        return rendered.text
