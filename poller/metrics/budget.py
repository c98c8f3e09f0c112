"""When a series budget drops series: said when it starts, every few minutes while it lasts, and when it ends.

The dropped count moves a little on every scrape of a large fleet, so "log on every change" warned every 15 s
(seen at 10,000 devices); an operator needs to know it is happening and roughly how much, not each wobble.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

REPEAT_EVERY = 600.0  # seconds between reminders while series stay dropped


class BudgetNotice:
    """A budget overrun on ``logger``: ``exceeded`` (%-format of budget, dropped) is a warning."""

    def __init__(
        self,
        logger: logging.Logger,
        exceeded: str,
        recovered: str,
        *,
        repeat_every: float = REPEAT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._exceeded = exceeded
        self._recovered = recovered
        self._repeat_every = repeat_every
        self._clock = clock
        self._lock = threading.Lock()  # scrapes may render concurrently
        self._dropping = False
        self._said_at = 0.0

    def observe(self, dropped: int, budget: int) -> None:
        now = self._clock()
        with self._lock:
            if dropped:
                due = not self._dropping or now - self._said_at >= self._repeat_every
                self._dropping = True
                if due:
                    self._said_at = now
            else:
                due = self._dropping
                self._dropping = False
        if not due:
            return
        if dropped:
            self._log.warning(self._exceeded, budget, dropped)
        else:
            self._log.info(self._recovered)
