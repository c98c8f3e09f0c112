"""Crisis events in Payload: opened when a device goes down, reboots or loses an uplink; resolved on recovery.

The poller feeds transitions to a :class:`CrisisNotifier`; its methods never block and never await (a bounded
queue; a full queue drops and counts), so polling never waits on Payload. One worker task writes them.

Idempotent across restarts and racing notifiers: each condition has a ``dedupKey`` (``device_down:42``,
``port_down:42:xe-0/0/1``). Opening looks for an event with that key and no ``resolvedAt`` first, and the
open event also carries ``openKey`` = dedupKey, which is unique in the collection and cleared on resolve, so
a second open event for one condition is refused by Payload itself. Resolving sets ``resolvedAt`` on every
open event with the key. A reboot is a point event: created already resolved, keyed by its time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .models import (
    CRISIS_EVENTS,
    NETWORK_DEVICES,
    CrisisEventCreate,
    CrisisEventResolve,
    Severity,
    format_payload_time,
    to_payload_time,
)
from .payload import (
    PayloadClient,
    PayloadError,
    PayloadServerError,
    PayloadUnavailable,
    PayloadValidationError,
)

log = logging.getLogger(__name__)

DEVICE_DOWN = "device_down"
DEVICE_REBOOTED = "device_rebooted"
PORT_DOWN = "port_down"


@dataclass(frozen=True, slots=True)
class CrisisConfig:
    """Which transitions make events, and how severe they are."""

    device_down: bool = True
    device_down_severity: Severity = "critical"
    reboot: bool = True
    reboot_severity: Severity = "warning"
    # Ports whose ifName/ifAlias matches open a port_down event (e.g. r"(?i)uplink|^xe-|^et-"); None = off.
    uplink_pattern: re.Pattern[str] | None = None
    port_down_severity: Severity = "critical"


@dataclass(frozen=True, slots=True)
class Transition:
    kind: Literal["open", "resolve", "point"]
    type: str
    device_id: int
    hostname: str
    at: datetime
    reason: str = ""
    subject: str | None = None  # port name for port events
    severity: Severity = "warning"

    @property
    def dedup_key(self) -> str:
        key = f"{self.type}:{self.device_id}"
        if self.subject:
            key += f":{self.subject}"
        if self.kind == "point":
            key += f"@{format_payload_time(self.at)}"
        return key


@dataclass
class NotifierStats:
    queued: int = 0
    dropped: int = 0
    opened: int = 0
    resolved: int = 0
    already: int = 0  # transitions that found Payload already in the wanted state
    failed: int = 0


@dataclass
class CrisisNotifier:
    """Feed it status transitions; it keeps crisis-events in step. ``async with CrisisNotifier(client):``."""

    client: PayloadClient
    config: CrisisConfig = field(default_factory=CrisisConfig)
    queue_size: int = 10_000
    retry_delay: float = 2.0  # while Payload is unavailable, the head transition is retried after this
    stats: NotifierStats = field(default_factory=NotifierStats)
    _sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _queue: asyncio.Queue[Transition | None] = field(init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.queue_size)

    # -- feeding (never blocks) ---------------------------------------------------------------------

    def device_down(self, device_id: int, hostname: str, at: datetime, reason: str = "") -> bool:
        if not self.config.device_down:
            return False
        sev = self.config.device_down_severity
        return self._put(Transition("open", DEVICE_DOWN, device_id, hostname, at, reason, severity=sev))

    def device_up(self, device_id: int, hostname: str, at: datetime) -> bool:
        if not self.config.device_down:
            return False
        return self._put(Transition("resolve", DEVICE_DOWN, device_id, hostname, at))

    def device_rebooted(self, device_id: int, hostname: str, at: datetime, reason: str = "") -> bool:
        if not self.config.reboot:
            return False
        sev = self.config.reboot_severity
        return self._put(Transition("point", DEVICE_REBOOTED, device_id, hostname, at, reason, severity=sev))

    def port_down(self, device_id: int, hostname: str, port: str, at: datetime, reason: str = "") -> bool:
        if not self._uplink(port):
            return False
        sev = self.config.port_down_severity
        return self._put(Transition("open", PORT_DOWN, device_id, hostname, at, reason, port, sev))

    def port_up(self, device_id: int, hostname: str, port: str, at: datetime) -> bool:
        if not self._uplink(port):
            return False
        return self._put(Transition("resolve", PORT_DOWN, device_id, hostname, at, subject=port))

    def _uplink(self, port: str) -> bool:
        pattern = self.config.uplink_pattern
        return pattern is not None and pattern.search(port) is not None

    def _put(self, transition: Transition) -> bool:
        try:
            self._queue.put_nowait(transition)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning("crisis queue full: dropped %s for %s", transition.type, transition.hostname)
            return False
        self.stats.queued += 1
        return True

    # -- lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> CrisisNotifier:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="crisis-notifier")

    async def drain(self) -> None:
        """Wait until every queued transition has been handled."""
        await self._queue.join()

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Handle what is queued (for up to ``drain_seconds``), then stop the worker."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        except TimeoutError:
            log.warning("crisis notifier closed with %d transitions unsent", self._queue.qsize())
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def _run(self) -> None:
        while True:
            transition = await self._queue.get()
            try:
                if transition is not None:
                    await self._handle_until_done(transition)
            finally:
                self._queue.task_done()

    async def _handle_until_done(self, t: Transition) -> None:
        while True:
            try:
                await self.handle(t)
                return
            except PayloadUnavailable as exc:
                log.info("crisis %s for %s waits for Payload: %s", t.type, t.hostname, exc)
                await self._sleep(self.retry_delay)
            except PayloadError as exc:
                self.stats.failed += 1
                log.error("crisis %s for %s failed: %s", t.type, t.hostname, exc)
                return

    # -- the writes ---------------------------------------------------------------------------------

    async def handle(self, t: Transition) -> None:
        """Apply one transition to Payload (also usable directly, without the queue)."""
        if t.kind == "resolve":
            await self._resolve(t)
        else:
            await self._open(t)

    async def _open_events(self, key: str) -> list[dict]:
        where = {"and": [{"dedupKey": {"equals": key}}, {"resolvedAt": {"exists": False}}]}
        return await self.client.find_all(CRISIS_EVENTS, where=where)

    async def _device_doc_id(self, device_id: int) -> int | None:
        page = await self.client.find(NETWORK_DEVICES, where={"librenmsId": {"equals": device_id}}, limit=1)
        return page.docs[0]["id"] if page.docs else None

    async def _open(self, t: Transition) -> None:
        key = t.dedup_key
        at = to_payload_time(t.at)
        if t.kind == "point":
            page = await self.client.find(CRISIS_EVENTS, where={"dedupKey": {"equals": key}}, limit=1)
            already = bool(page.docs)
        else:
            already = bool(await self._open_events(key))
        if already:
            self.stats.already += 1
            return
        what = {DEVICE_DOWN: "is down", DEVICE_REBOOTED: "rebooted", PORT_DOWN: f"port {t.subject} is down"}
        message = f"{t.hostname} {what.get(t.type, t.type)}" + (f": {t.reason}" if t.reason else "")
        event = CrisisEventCreate(
            device=await self._device_doc_id(t.device_id),
            type=t.type,
            severity=t.severity,
            message=message,
            startedAt=at,
            resolvedAt=at if t.kind == "point" else None,
            librenmsId=t.device_id,
            hostname=t.hostname,
            subject=t.subject,
            dedupKey=key,
            openKey=None if t.kind == "point" else key,
        )
        try:
            try:
                doc = await self.client.create(CRISIS_EVENTS, event)
            except PayloadServerError:
                if event.device is None:
                    raise
                # The device document went away since the lookup: Payload answers a dangling relationship
                # with 500 (SQLite foreign key). Keep the event, without the link.
                doc = await self.client.create(CRISIS_EVENTS, event.model_copy(update={"device": None}))
        except PayloadValidationError as exc:
            if "openKey" in exc.unique_violations:  # another notifier (or a lost answer) opened it already
                self.stats.already += 1
                return
            raise
        self.stats.opened += 1
        log.info("opened %s/%s %s for %s", CRISIS_EVENTS, doc["id"], key, t.hostname)

    async def _resolve(self, t: Transition) -> None:
        key = t.dedup_key
        events = await self._open_events(key)
        if not events:
            self.stats.already += 1
            return
        for event in events:
            body = CrisisEventResolve(resolvedAt=to_payload_time(t.at))
            await self.client.update(CRISIS_EVENTS, event["id"], body)
            self.stats.resolved += 1
            log.info("resolved %s/%s %s for %s", CRISIS_EVENTS, event["id"], key, t.hostname)
