"""The durable alert queue: a SQLite file in WAL mode, written before the relay answers 202.

Rows are appended in arrival order and delivered in that order (an open before its resolve). ``status``:
pending -> delivered (with ``outcome``) or failed (Payload refused it for good; kept with ``last_error``,
nothing is thrown away). All SQLite work runs on one worker thread that owns the connection, so the event
loop never waits on a disk write, and the connection is never shared across threads.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from .relay import LibreNMSAlert

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at  TEXT    NOT NULL,
    alert_id     INTEGER NOT NULL,
    state        INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    outcome      TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    finished_at  TEXT
);
CREATE INDEX IF NOT EXISTS alerts_pending ON alerts (seq) WHERE status = 'pending';
"""


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    seq: int
    received_at: datetime
    alert: LibreNMSAlert
    attempts: int


def _now() -> datetime:
    return datetime.now(UTC)


class AlertQueue:
    """``async with AlertQueue(path) as queue:``; or ``await open()`` / ``await close()``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def __aenter__(self) -> AlertQueue:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[[], T]) -> T:
        assert self._executor is not None, "queue not open"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert-queue")
        await self._run(self._connect)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None)  # autocommit; explicit statements only
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a 202 means the alert is on disk
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        if self._executor is None:
            return
        await self._run(self._disconnect)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None, "queue not open"
        return self._conn

    # -- writes ---------------------------------------------------------------------------------------

    async def append(self, alert: LibreNMSAlert, received_at: datetime | None = None) -> int:
        """Store an accepted alert durably; returns its sequence number."""
        at = (received_at or _now()).isoformat()
        body = alert.model_dump_json()

        def insert() -> int:
            cur = self._db().execute(
                "INSERT INTO alerts (received_at, alert_id, state, body) VALUES (?, ?, ?, ?)",
                (at, alert.alert_id, alert.state, body),
            )
            return int(cur.lastrowid or 0)

        return await self._run(insert)

    async def mark_delivered(self, seq: int, outcome: str) -> None:
        await self._finish(seq, "delivered", outcome, None)

    async def mark_failed(self, seq: int, error: str) -> None:
        await self._finish(seq, "failed", "failed", error)

    async def _finish(self, seq: int, status: str, outcome: str, error: str | None) -> None:
        at = _now().isoformat()
        await self._run(
            lambda: self._db().execute(
                "UPDATE alerts SET status = ?, outcome = ?, last_error = coalesce(?, last_error),"
                " attempts = attempts + 1, finished_at = ? WHERE seq = ?",
                (status, outcome, error, at, seq),
            )
        )

    async def record_attempt(self, seq: int, error: str) -> None:
        await self._run(
            lambda: self._db().execute(
                "UPDATE alerts SET attempts = attempts + 1, last_error = ? WHERE seq = ?", (error, seq)
            )
        )

    async def prune(self, older_than: timedelta) -> int:
        """Delete delivered alerts finished before now - older_than (failed ones are kept)."""
        cutoff = (_now() - older_than).isoformat()

        def delete() -> int:
            cur = self._db().execute(
                "DELETE FROM alerts WHERE status = 'delivered' AND finished_at < ?", (cutoff,)
            )
            return cur.rowcount

        return await self._run(delete)

    # -- reads ----------------------------------------------------------------------------------------

    async def pending(self, limit: int = 100) -> list[QueuedAlert]:
        def select() -> list[tuple[Any, ...]]:
            return (
                self._db()
                .execute(
                    "SELECT seq, received_at, body, attempts FROM alerts WHERE status = 'pending'"
                    " ORDER BY seq LIMIT ?",
                    (limit,),
                )
                .fetchall()
            )

        return [
            QueuedAlert(seq, datetime.fromisoformat(at), LibreNMSAlert.model_validate(json.loads(body)), n)
            for seq, at, body, n in await self._run(select)
        ]

    async def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first (for tests and inspection)."""

        def select() -> list[dict[str, Any]]:
            cur = self._db().execute("SELECT * FROM alerts ORDER BY seq")
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

        return await self._run(select)
