"""Carry out a reconcile Plan against Payload, and the whole sync step (read, diff, write).

A document Payload refuses is reported and the rest go on. When Payload itself goes away (unreachable,
breaker open, API key refused) the run stops and says so; the next run re-reads Payload and re-diffs, so it
resumes where this one stopped without duplicates (hostname and librenmsId are unique in the collection, and
a POST whose answer was lost is found again by its librenmsId).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import reconcile
from .models import NETWORK_DEVICES, LibreDevice, NetworkDeviceCreate, NetworkDevicePatch
from .payload import PayloadAuthError, PayloadClient, PayloadError, PayloadUnavailable, PayloadValidationError
from .reconcile import Action, Create, Delete, MarkRemoved, Plan, Update

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Failure:
    action: Action
    error: str
    fields: tuple[str, ...] = ()


@dataclass
class ApplyReport:
    created: list[int] = field(default_factory=list)  # doc ids
    updated: list[int] = field(default_factory=list)
    marked_removed: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    not_attempted: int = 0
    aborted: str | None = None  # why the run stopped early (Payload gone, key refused)

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.marked_removed) + len(self.deleted)

    @property
    def ok(self) -> bool:
        return not self.failures and self.aborted is None


def _patch(data: dict[str, object], now: datetime) -> NetworkDevicePatch:
    return NetworkDevicePatch.model_validate({**data, "lastSyncedAt": now})


async def _apply_one(client: PayloadClient, action: Action, now: datetime, report: ApplyReport) -> None:
    if isinstance(action, Create):
        body = NetworkDeviceCreate.model_validate({**action.data, "lastSyncedAt": now})
        try:
            doc = await client.create(NETWORK_DEVICES, body)
        except PayloadValidationError as exc:
            # A POST whose answer was lost (Payload died after committing) comes back as "must be unique":
            # it is there already, so it counts as created; the next diff fills in any difference.
            found = await _find_by_librenms_id(client, action.librenms_id) if exc.unique_violations else None
            if found is None:
                raise
            doc = found
        report.created.append(doc["id"])
        log.info(
            "created %s/%s hostname=%s librenmsId=%s",
            NETWORK_DEVICES,
            doc["id"],
            action.hostname,
            action.librenms_id,
        )
    elif isinstance(action, Update):
        await client.update(NETWORK_DEVICES, action.doc_id, _patch(dict(action.changes), now))
        report.updated.append(action.doc_id)
        log.info(
            "updated %s/%s hostname=%s fields=%s",
            NETWORK_DEVICES,
            action.doc_id,
            action.hostname,
            ",".join(sorted(action.changes)),
        )
    elif isinstance(action, MarkRemoved):
        await client.update(NETWORK_DEVICES, action.doc_id, _patch({"removedFromLibrenms": True}, now))
        report.marked_removed.append(action.doc_id)
        log.info(
            "marked %s/%s hostname=%s removed from LibreNMS", NETWORK_DEVICES, action.doc_id, action.hostname
        )
    elif isinstance(action, Delete):
        await client.delete(NETWORK_DEVICES, action.doc_id)
        report.deleted.append(action.doc_id)
        log.info("deleted %s/%s hostname=%s", NETWORK_DEVICES, action.doc_id, action.hostname)


async def _find_by_librenms_id(client: PayloadClient, librenms_id: int) -> dict | None:
    page = await client.find(NETWORK_DEVICES, where={"librenmsId": {"equals": librenms_id}}, limit=1)
    return page.docs[0] if page.docs else None


def _phases(plan: Plan) -> list[list[Action]]:
    """Removals first (a delete frees a hostname), then updates (a rename frees one), then creates."""
    removals = [a for a in plan.actions if isinstance(a, MarkRemoved | Delete)]
    updates = [a for a in plan.actions if isinstance(a, Update)]
    creates = [a for a in plan.actions if isinstance(a, Create)]
    return [p for p in (removals, updates, creates) if p]


async def apply_plan(
    client: PayloadClient,
    plan: Plan,
    *,
    now: datetime | None = None,
    concurrency: int = 8,
    on_progress: Callable[[int], None] | None = None,
) -> ApplyReport:
    """Write ``plan`` with up to ``concurrency`` requests in flight; never raises for a single document."""
    now = now or datetime.now(UTC)
    report = ApplyReport()
    stop = asyncio.Event()
    total = 0

    async def worker(queue: asyncio.Queue[Action]) -> None:
        nonlocal total
        while not queue.empty():
            action = queue.get_nowait()
            if stop.is_set():
                report.not_attempted += 1
                continue
            try:
                await _apply_one(client, action, now, report)
            except (PayloadUnavailable, PayloadAuthError) as exc:
                report.not_attempted += 1
                if not stop.is_set():
                    report.aborted = str(exc)
                    log.error("sync stopped: %s", exc)
                stop.set()
            except PayloadError as exc:
                report.failures.append(Failure(action, str(exc), exc.paths))
                log.warning("%s failed: %s", type(action).__name__, exc)
            total += 1
            if on_progress:
                on_progress(total)

    for phase in _phases(plan):
        queue: asyncio.Queue[Action] = asyncio.Queue()
        for action in phase:
            queue.put_nowait(action)
        async with asyncio.TaskGroup() as tg:
            for _ in range(max(1, min(concurrency, len(phase)))):
                tg.create_task(worker(queue))
    return report


@dataclass(frozen=True, slots=True)
class SyncResult:
    plan: Plan
    report: ApplyReport | None  # None for a dry run


async def sync_once(
    client: PayloadClient,
    devices: Iterable[LibreDevice],
    *,
    prune: bool = False,
    dry_run: bool = False,
    volatile_window: timedelta = timedelta(0),
    concurrency: int = 8,
    now: datetime | None = None,
) -> SyncResult:
    """Read every network-devices document, diff against ``devices``, and (unless ``dry_run``) apply."""
    docs = await client.find_all(NETWORK_DEVICES)
    the_plan = reconcile.plan(devices, docs, prune=prune, volatile_window=volatile_window)
    for conflict in the_plan.conflicts:
        log.warning("sync conflict (%s): %s", conflict.kind, conflict.detail)
    if dry_run:
        return SyncResult(the_plan, None)
    report = await apply_plan(client, the_plan, now=now, concurrency=concurrency)
    return SyncResult(the_plan, report)
