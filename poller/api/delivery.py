"""Delivers queued alerts to Payload's crisis-events, in order, each exactly once.

Exactly once = at least once plus idempotent writes: a row is marked delivered only after Payload accepted
it, and a row delivered again (a crash between the write and the mark) finds its event already open, or
already resolved, through CrisisNotifier's dedupKey/openKey rules, so it changes nothing.

The relay uses a CrisisNotifier of its own, never started: only ``handle()`` is called, from this task, so
the notifier's counters tell what each alert did (opened, resolved or already so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sync.crisis import CrisisNotifier
from sync.payload import PayloadClient, PayloadError, PayloadUnavailable

from .queue import AlertQueue, QueuedAlert
from .relay import STATE_NAMES, transition

log = logging.getLogger("fastpoll.api.relay")

PRUNE_EVERY = 3600.0  # seconds between prunes of old delivered rows


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed: int = 0
    retries: int = 0


@dataclass
class AlertDelivery:
    queue: AlertQueue
    client: PayloadClient
    retry_delay: float = 5.0
    keep_delivered: timedelta = timedelta(days=30)
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _idle: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.notifier = CrisisNotifier(self.client)

    def wake(self) -> None:
        """Something was appended: deliver it now."""
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="alert-delivery")

    async def stop(self) -> None:
        """Stop delivering; what is pending stays in the queue for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_idle(self) -> None:
        """Until the queue has nothing pending (for tests and graceful shutdowns)."""
        await self._idle.wait()

    async def run(self) -> None:
        last_prune = -PRUNE_EVERY
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            batch = await self.queue.pending()
            if not batch:
                self._idle.set()
                if loop.time() - last_prune >= PRUNE_EVERY:
                    last_prune = loop.time()
                    pruned = await self.queue.prune(self.keep_delivered)
                    if pruned:
                        log.info("pruned %d delivered alerts from the queue", pruned)
                await self._wake.wait()
                continue
            for item in batch:
                if not await self.deliver(item):
                    self.stats.retries += 1
                    await asyncio.sleep(self.retry_delay)  # Payload away: the head waits, order is kept
                    break

    async def deliver(self, item: QueuedAlert) -> bool:
        """Send one alert. False = Payload unavailable, try again later; True = done with (either way)."""
        alert = item.alert
        t = transition(alert, item.received_at)
        if t is None:
            await self.queue.mark_delivered(item.seq, "acknowledged")
            log.info("alert %d on %s acknowledged", alert.alert_id, alert.hostname)
            self.stats.delivered += 1
            return True
        before = (self.notifier.stats.opened, self.notifier.stats.resolved)
        try:
            await self.notifier.handle(t)
        except PayloadUnavailable as exc:
            await self.queue.record_attempt(item.seq, str(exc))
            log.info("alert %d waits for Payload: %s", alert.alert_id, exc)
            return False
        except PayloadError as exc:  # refused for good: keep the row, marked failed, and go on
            await self.queue.mark_failed(item.seq, str(exc))
            self.stats.failed += 1
            log.error("alert %d on %s not delivered: %s", alert.alert_id, alert.hostname, exc)
            return True
        except Exception as exc:  # a bug must not lose the alert nor stop the relay: retry later
            await self.queue.record_attempt(item.seq, f"{type(exc).__name__}: {exc}")
            log.exception("alert %d: unexpected delivery error", alert.alert_id)
            return False
        after = (self.notifier.stats.opened, self.notifier.stats.resolved)
        outcome = "opened" if after[0] > before[0] else "resolved" if after[1] > before[1] else "already"
        await self.queue.mark_delivered(item.seq, outcome)
        self.stats.delivered += 1
        log.info("alert %d (%s) on %s: %s", alert.alert_id, STATE_NAMES[alert.state], alert.hostname, outcome)
        return True
