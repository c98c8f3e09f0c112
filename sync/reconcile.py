"""The diff between LibreNMS's devices and Payload's ``network-devices`` documents: pure functions, no I/O.

``plan(devices, docs)`` returns a :class:`Plan` of typed actions. Matching, in order:

1. by ``librenmsId`` (the document that carries the device's id);
2. else by hostname (case-insensitive, as DNS and LibreNMS's MariaDB collation are), among documents that no
   current device claims by id: those without ``librenmsId`` and those whose id LibreNMS no longer has
   (a device deleted and re-added gets a new id). The matched document is adopted (its librenmsId PATCHed).

A device without a match is created. A matched device gets a PATCH with only the fields that differ. A
document whose device is gone is marked ``removedFromLibrenms`` (or deleted with ``prune=True``); a document
without ``librenmsId`` that matches nothing is left alone
(a device added in Payload: see sync/librenms_api.py).

Nothing ambiguous is guessed: two LibreNMS devices with one hostname, two documents claiming one device, two
documents matching one hostname, or a hostname held by a document that stays, become :class:`Conflict` entries
and no write for the devices concerned. A plan applied in full and then re-planned is empty (no writes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from .models import LibreDevice, parse_payload_time, to_payload_time

# Fields sync owns on a network-devices document, and their kinds (for comparing with what Payload returns).
TEXT_FIELDS = ("hostname", "ip", "statusReason", "os", "hardware", "version", "serial", "location", "sysName")
NUMBER_FIELDS = ("librenmsId", "uptime", "pollerGroup")
BOOL_FIELDS = ("disabled", "ignore", "removedFromLibrenms")
DATE_FIELDS = ("lastPolled",)
SELECT_FIELDS = ("status",)
SYNCED_FIELDS = TEXT_FIELDS + NUMBER_FIELDS + BOOL_FIELDS + DATE_FIELDS + SELECT_FIELDS
# Change at every poll; see Plan's volatile_window.
VOLATILE_FIELDS = frozenset({"uptime", "lastPolled"})


@dataclass(frozen=True, slots=True)
class Create:
    librenms_id: int
    hostname: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Update:
    doc_id: int
    librenms_id: int
    hostname: str
    changes: Mapping[str, Any]  # field -> new value
    before: Mapping[str, Any]  # field -> value in Payload now (for display)


@dataclass(frozen=True, slots=True)
class MarkRemoved:
    doc_id: int
    hostname: str
    librenms_id: int | None


@dataclass(frozen=True, slots=True)
class Delete:
    doc_id: int
    hostname: str
    librenms_id: int | None


Action = Create | Update | MarkRemoved | Delete

ConflictKind = Literal["duplicate_hostname", "duplicate_librenms_id", "ambiguous_hostname", "hostname_taken"]


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: ConflictKind
    hostname: str
    librenms_ids: tuple[int, ...]
    doc_ids: tuple[int, ...]
    detail: str


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    pending_librenms_add: tuple[int, ...] = ()  # doc ids without librenmsId that match no device
    unchanged: int = 0  # devices matched with nothing to write

    @property
    def writes(self) -> int:
        return len(self.actions)

    @property
    def is_empty(self) -> bool:
        return not self.actions

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]

    def summary(self) -> dict[str, int]:
        return {
            "create": len(self.of(Create)),
            "update": len(self.of(Update)),
            "mark_removed": len(self.of(MarkRemoved)),
            "delete": len(self.of(Delete)),
            "conflicts": len(self.conflicts),
            "unchanged": self.unchanged,
        }


# --------------------------------------------------------------------------------------- normalising


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def desired_fields(device: LibreDevice) -> dict[str, Any]:
    """The network-devices field values for a LibreNMS device (Python values; dates aware UTC, ms)."""
    # A disabled device is not polled, so its status column is stale.
    status = "unknown" if device.disabled else "up" if device.status else "down"
    return {
        "hostname": device.hostname.strip(),
        "ip": _text(device.ip),
        "librenmsId": device.device_id,
        "status": status,
        "statusReason": _text(device.status_reason),
        "uptime": device.uptime,
        "os": _text(device.os),
        "hardware": _text(device.hardware),
        "version": _text(device.version),
        "serial": _text(device.serial),
        "location": _text(device.location),
        "sysName": _text(device.sys_name),
        "lastPolled": to_payload_time(device.last_polled) if device.last_polled else None,
        "pollerGroup": device.poller_group,
        "disabled": bool(device.disabled),
        "ignore": bool(device.ignore),
        "removedFromLibrenms": False,
    }


def doc_value(doc: Mapping[str, Any], name: str) -> Any:
    """A document's field as a comparable Python value ("" and absent text = None, null checkbox = False)."""
    value = doc.get(name)
    if name in BOOL_FIELDS:
        return bool(value)
    if value is None:
        return None
    if name in TEXT_FIELDS:
        return _text(value)
    if name in NUMBER_FIELDS:
        if isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if name in DATE_FIELDS:
        try:
            return parse_payload_time(value) if isinstance(value, str) else value
        except ValueError:
            return value
    return value


def doc_librenms_id(doc: Mapping[str, Any]) -> int | None:
    value = doc_value(doc, "librenmsId")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _host_key(hostname: Any) -> str:
    return str(hostname or "").strip().casefold()


def diff_fields(
    desired: Mapping[str, Any], doc: Mapping[str, Any], *, volatile_window: timedelta = timedelta(0)
) -> dict[str, Any]:
    """The fields of ``desired`` that differ from ``doc``.

    With a ``volatile_window``, uptime and lastPolled alone (they move at every poll) do not make a write
    while lastPolled moved forward by less than the window and uptime did not go back (no reboot); when
    anything else changed they ride along in the same PATCH.
    """
    changes = {name: value for name, value in desired.items() if doc_value(doc, name) != value}
    if changes and volatile_window > timedelta(0) and set(changes) <= VOLATILE_FIELDS:
        old_polled, new_polled = doc_value(doc, "lastPolled"), desired.get("lastPolled")
        old_uptime, new_uptime = doc_value(doc, "uptime"), desired.get("uptime")
        polled_ok = (
            isinstance(old_polled, datetime)
            and isinstance(new_polled, datetime)
            and timedelta(0) <= new_polled - old_polled < volatile_window
        ) or "lastPolled" not in changes
        uptime_ok = (
            isinstance(old_uptime, int) and isinstance(new_uptime, int) and new_uptime >= old_uptime
        ) or "uptime" not in changes
        if polled_ok and uptime_ok:
            return {}
    return changes


# ------------------------------------------------------------------------------------------- the plan


@dataclass
class _Work:
    conflicts: list[Conflict] = field(default_factory=list)
    claimed: set[int] = field(default_factory=set)


def plan(
    devices: Iterable[LibreDevice],
    docs: Iterable[Mapping[str, Any]],
    *,
    prune: bool = False,
    volatile_window: timedelta = timedelta(0),
) -> Plan:
    """Diff LibreNMS ``devices`` against Payload ``docs`` (as returned with depth=0). Pure."""
    devices = sorted({d.device_id: d for d in devices}.values(), key=lambda d: d.device_id)
    docs = sorted(docs, key=lambda d: d["id"])
    work = _Work()
    current_ids = {d.device_id for d in devices}

    docs_by_lid: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    docs_by_host: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for doc in docs:
        lid = doc_librenms_id(doc)
        if lid is not None:
            docs_by_lid[lid].append(doc)
        docs_by_host[_host_key(doc.get("hostname"))].append(doc)

    devices_by_host: dict[str, list[LibreDevice]] = defaultdict(list)
    for device in devices:
        devices_by_host[_host_key(device.hostname)].append(device)

    skip: set[int] = set()
    for host, group in devices_by_host.items():
        if len(group) > 1:
            ids = tuple(d.device_id for d in group)
            holders = {doc["id"] for d in group for doc in docs_by_lid.get(d.device_id, [])}
            holders |= {doc["id"] for doc in docs_by_host.get(host, [])}
            work.claimed |= holders
            skip |= set(ids)
            work.conflicts.append(
                Conflict(
                    "duplicate_hostname",
                    group[0].hostname,
                    ids,
                    tuple(sorted(holders)),
                    f"LibreNMS has {len(group)} devices named {group[0].hostname!r} "
                    f"(ids {', '.join(map(str, ids))})",
                )
            )
    for lid, claimants in docs_by_lid.items():
        if len(claimants) > 1:
            doc_ids = tuple(doc["id"] for doc in claimants)
            work.claimed |= set(doc_ids)
            skip.add(lid)
            work.conflicts.append(
                Conflict(
                    "duplicate_librenms_id",
                    str(claimants[0].get("hostname")),
                    (lid,),
                    doc_ids,
                    f"documents {', '.join(map(str, doc_ids))} all claim LibreNMS device {lid}",
                )
            )

    creates: list[Create] = []
    updates: list[Update] = []
    unchanged = 0
    for device in devices:
        if device.device_id in skip:
            continue
        desired = desired_fields(device)
        matched = docs_by_lid.get(device.device_id)
        doc = matched[0] if matched else None
        if doc is None:
            candidates = [
                d
                for d in docs_by_host.get(_host_key(device.hostname), [])
                if d["id"] not in work.claimed and doc_librenms_id(d) not in current_ids
            ]
            if len(candidates) > 1:
                doc_ids = tuple(d["id"] for d in candidates)
                work.claimed |= set(doc_ids)
                work.conflicts.append(
                    Conflict(
                        "ambiguous_hostname",
                        device.hostname,
                        (device.device_id,),
                        doc_ids,
                        f"documents {', '.join(map(str, doc_ids))} all match hostname {device.hostname!r}",
                    )
                )
                continue
            doc = candidates[0] if candidates else None
        if doc is None:
            creates.append(Create(device.device_id, desired["hostname"], desired))
            continue
        work.claimed.add(doc["id"])
        changes = diff_fields(desired, doc, volatile_window=volatile_window)
        if changes:
            before = {name: doc.get(name) for name in changes}
            updates.append(Update(doc["id"], device.device_id, desired["hostname"], changes, before))
        else:
            unchanged += 1

    removals: list[Action] = []
    pending: list[int] = []
    for doc in docs:
        if doc["id"] in work.claimed:
            continue
        lid = doc_librenms_id(doc)
        hostname = str(doc.get("hostname") or "")
        if lid is None:
            pending.append(doc["id"])
        elif prune:
            removals.append(Delete(doc["id"], hostname, lid))
        elif not doc_value(doc, "removedFromLibrenms"):
            removals.append(MarkRemoved(doc["id"], hostname, lid))

    creates, updates = _drop_hostname_collisions(docs, creates, updates, removals, work)
    return Plan(
        actions=(*removals, *updates, *creates),
        conflicts=tuple(work.conflicts),
        pending_librenms_add=tuple(pending),
        unchanged=unchanged,
    )


def _drop_hostname_collisions(
    docs: Sequence[Mapping[str, Any]],
    creates: list[Create],
    updates: list[Update],
    removals: list[Action],
    work: _Work,
) -> tuple[list[Create], list[Update]]:
    """Keep Payload's unique hostname (exact, case-sensitive in its index) true once the plan is applied.

    A rename or a create onto a hostname that a staying document keeps (e.g. a device renamed in LibreNMS to
    the name of a document marked removed) is dropped and reported; repeated until nothing collides, since
    dropping a rename puts its old name back. Renames that swap two names are not split here; Payload
    refuses the first PATCH and apply reports it.
    """
    deleted = {a.doc_id for a in removals if isinstance(a, Delete)}
    while True:
        final: dict[str, list[int]] = defaultdict(list)  # hostname -> doc ids holding it after the plan
        renamed = {u.doc_id: u.changes["hostname"] for u in updates if "hostname" in u.changes}
        for doc in docs:
            if doc["id"] not in deleted:
                final[renamed.get(doc["id"], str(doc.get("hostname")))].append(doc["id"])
        bad_updates = [
            u for u in updates if "hostname" in u.changes and len(final[u.changes["hostname"]]) > 1
        ]
        bad_creates = [c for c in creates if final.get(c.hostname)]
        for c in bad_creates:
            holders = tuple(final[c.hostname])
            work.conflicts.append(
                Conflict(
                    "hostname_taken",
                    c.hostname,
                    (c.librenms_id,),
                    holders,
                    f"hostname {c.hostname!r} is held by document(s) {', '.join(map(str, holders))}",
                )
            )
        creates = [c for c in creates if c not in bad_creates]
        if not bad_updates:
            return creates, updates
        kept: list[Update] = []
        for u in updates:
            if u not in bad_updates:
                kept.append(u)
                continue
            holders = tuple(i for i in final[u.changes["hostname"]] if i != u.doc_id)
            work.conflicts.append(
                Conflict(
                    "hostname_taken",
                    str(u.changes["hostname"]),
                    (u.librenms_id,),
                    (u.doc_id, *holders),
                    f"cannot rename document {u.doc_id} to {u.changes['hostname']!r}: held by {holders}",
                )
            )
            rest = {k: v for k, v in u.changes.items() if k != "hostname"}
            if rest:
                kept.append(Update(u.doc_id, u.librenms_id, u.hostname, rest, {k: u.before[k] for k in rest}))
        updates = kept
