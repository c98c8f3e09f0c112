"""poller/api/queue.py: alerts kept on disk, in order, until marked delivered."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from poller.api.queue import AlertQueue
from poller.api.relay import parse_alert


def alert(alert_id: int, state: int = 1):
    body = {
        "alert_id": alert_id,
        "device_id": 1,
        "hostname": "r1",
        "state": state,
        "severity": "ok",
        "title": "t",
    }
    return parse_alert(json.dumps(body).encode())


async def test_appended_alerts_survive_a_reopen_in_arrival_order(tmp_path: Path):
    path = tmp_path / "q.sqlite3"
    async with AlertQueue(path) as queue:
        for n in (3, 1, 2):
            await queue.append(alert(n))
    async with AlertQueue(path) as queue:
        assert [p.alert.alert_id for p in await queue.pending()] == [3, 1, 2]


async def test_the_file_is_in_wal_mode(tmp_path: Path):
    async with AlertQueue(tmp_path / "q.sqlite3") as queue:
        await queue.append(alert(1))
        with sqlite3.connect(tmp_path / "q.sqlite3") as other:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_delivered_and_failed_alerts_are_no_longer_pending_but_kept(queue: AlertQueue):
    one, two, three = [await queue.append(alert(n)) for n in (1, 2, 3)]
    await queue.mark_delivered(one, "opened")
    await queue.mark_failed(two, "refused")
    assert [p.seq for p in await queue.pending()] == [three]
    assert [(r["status"], r["outcome"]) for r in await queue.rows()] == [
        ("delivered", "opened"),
        ("failed", "failed"),
        ("pending", None),
    ]


async def test_a_failed_attempt_is_counted_and_stays_pending(queue: AlertQueue):
    seq = await queue.append(alert(1))
    await queue.record_attempt(seq, "Payload unreachable")
    (row,) = await queue.rows()
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "Payload unreachable")


async def test_prune_removes_only_delivered_rows(queue: AlertQueue):
    delivered, failed = await queue.append(alert(1)), await queue.append(alert(2))
    await queue.mark_delivered(delivered, "opened")
    await queue.mark_failed(failed, "refused")
    assert await queue.prune(timedelta(0)) == 1
    assert [r["seq"] for r in await queue.rows()] == [failed]
