"""The store writer: PollResults -> LibreNMS's tables, batched, in a worker thread.

- ``submit()`` never blocks on the database: it merges the result into in-memory pending state under a lock.
  Pending state is bounded by construction: port column values coalesce per port (the newest value of each
  column wins, so a counter sample replaces the older one), device columns coalesce per device, and state
  transitions (eventlog rows, outage open/close) are kept in order in a deque capped at ``max_transitions``.
  Hitting that cap drops a per-port eventlog row first (device status events and outages are dropped only
  when nothing else is left), counts it in ``stats.dropped_transitions`` and logs an error: never silently.
- A worker thread takes everything pending and writes it in ONE transaction: new ports (+ their
  ports_statistics rows), devices, ports and ports_statistics updates as multi-row statements, eventlog as a
  multi-row INSERT, outages in order. On a database error the batch is merged back under anything newer and
  retried with backoff, so a database restart loses no eventlog or outage row.
- Write set ``full`` (default) writes every owned column; ``status`` writes only availability (devices
  status/status_reason, outages, up/down events) and port status (ifOperStatus/ifAdminStatus and their
  ``_prev``, deleted, new ports).
- Never creates or alters tables (``embedded.py`` does that for SQLite only).
"""

from __future__ import annotations

import logging
import operator
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, exists, literal, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from poller.checks.results import EventRow, OutageClose, OutageOpen, PollResult, PortRef, PortWrite

from .tables import OWNED_COLUMNS, device_outages, devices, eventlog, ports, ports_statistics

log = logging.getLogger(__name__)


class WriteSet(StrEnum):
    FULL = "full"
    STATUS = "status"


STATUS_DEVICE_COLUMNS = frozenset({"status", "status_reason"})
STATUS_PORT_COLUMNS = frozenset(
    {"ifOperStatus", "ifOperStatus_prev", "ifAdminStatus", "ifAdminStatus_prev", "deleted"}
)
Transition = EventRow | OutageOpen | OutageClose


def _is_port_event(t: Transition) -> bool:
    return isinstance(t, EventRow) and t.type == "interface"


def epoch_to_db(ts: float) -> datetime:
    """Epoch -> naive UTC datetime, as LibreNMS's Carbon::now() lands in DATETIME/TIMESTAMP columns."""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


@dataclass
class WriterStats:
    batches: int = 0
    rows: int = 0  # rows written (inserted + updated, as sent)
    failures: int = 0  # failed batch attempts
    dropped_transitions: int = 0
    last_error: str | None = None
    last_batch_seconds: float = 0.0
    connected: bool = True
    process_restarts: int = 0  # writer processes started again after one exited (writer_process.py)


@dataclass
class _Pending:
    ports: dict[Any, PortWrite] = field(default_factory=dict)  # _port_key(ref) -> merged write
    devices: dict[int, dict[str, Any]] = field(default_factory=dict)
    transitions: deque[Transition] = field(default_factory=deque)

    def empty(self) -> bool:
        return not (self.ports or self.devices or self.transitions)


def _port_key(ref: PortRef) -> Any:
    """What a port's pending writes are merged by: its port_id once known, else its PortRef (the object its
    insert fills in). A port's state is thawed with a new PortRef each poll (poller/checks/port_table.py),
    so the object alone would no longer merge a port's writes from one poll to the next."""
    return ref.port_id if ref.port_id is not None else ref


def release_frames(exc: BaseException) -> None:
    """Clear the locals of the frames a failed batch's exception holds, its context's and its cause's too.

    SQLAlchemy's error handling leaves the exception in a reference cycle with its traceback's frames, and
    one of them (write_batch's) holds the batch: every failed attempt kept the whole pending state of its
    moment alive until a full collection, which the daemon runs every 10 minutes (poller/gc_policy.py). A
    45 s database outage at 3,000 devices x 48 ports left ~150 MB of such garbage (docs/benchmarks.md,
    "2026-12-07 08:30"). The exceptions lose their tracebacks: callers log a failure by its type only."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)  # the running frame at its top is left as it is ...
        current.__traceback__ = None  # ... and no longer referenced from here (it holds the batch too)
        current = current.__cause__ or current.__context__


def _error_name(exc: BaseException) -> str:
    """What a failed batch is logged and counted as: the error's type (a writer process's error carries
    the name of the child's, poller/store/writer_process.py), never its message, which may hold secrets."""
    return getattr(exc, "error_name", None) or type(exc).__name__


def _merge_port(older: PortWrite, newer: PortWrite) -> PortWrite:
    return PortWrite(
        newer.ref,
        {**older.ports, **newer.ports},
        {**older.statistics, **newer.statistics},
        insert=older.insert or newer.insert,
        counters=older.counters or newer.counters,
    )


class LibreNMSWriter:
    """Batched writer for one database. Use ``start()`` / ``close()`` (or a ``with`` block)."""

    def __init__(
        self,
        db: str | Engine,
        *,
        write_set: WriteSet | str = WriteSet.FULL,
        max_transitions: int = 100_000,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
        chunk_rows: int = 200,
    ) -> None:
        self.engine = create_engine(db, pool_pre_ping=True, pool_recycle=3600) if isinstance(db, str) else db
        self.write_set = WriteSet(write_set)
        self.max_transitions = max_transitions
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.chunk_rows = chunk_rows
        self.stats = WriterStats()
        self._pending = _Pending()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._stop = False
        self._stopping = threading.Event()  # set by close(): ends a retry back-off
        self._thread: threading.Thread | None = None
        self._is_mysql = self.engine.dialect.name in ("mysql", "mariadb")
        self._column_sets: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}

    # ------------------------------------------------------------------ public API

    def start(self) -> LibreNMSWriter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fastpoll-writer", daemon=True)
            self._thread.start()
        return self

    def __enter__(self) -> LibreNMSWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, result: PollResult) -> None:
        """Queue a poll result for writing. Never blocks on the database."""
        with self._lock:
            self._merge(result)
            self._wake.notify()

    def pending_counts(self) -> dict[str, int]:
        with self._lock:
            p = self._pending
            return {"ports": len(p.ports), "devices": len(p.devices), "transitions": len(p.transitions)}

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is written. False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._wake.notify()
            while not self._pending.empty() or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining if remaining is not None else 1.0)
        return True

    def close(self, timeout: float | None = 30.0) -> bool:
        """Flush (up to ``timeout``) and stop the worker. Returns False if something was left unwritten."""
        flushed = self.flush(timeout) if self._thread else self._pending.empty()
        with self._lock:
            self._stop = True
            self._stopping.set()
            self._wake.notify_all()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None
        if not flushed:
            counts = self.pending_counts()
            log.error("writer closed with unwritten data: %s", counts)
        return flushed

    # ------------------------------------------------------------------ merging (lock held)

    def _filter(self, result: PollResult) -> tuple[dict[str, Any], list[PortWrite], list[Transition]]:
        events: list[Transition] = list(result.events)
        device_cols = dict(result.device)
        writes = result.ports
        if self.write_set is WriteSet.STATUS:
            device_cols = {k: v for k, v in device_cols.items() if k in STATUS_DEVICE_COLUMNS}
            writes = []
            for w in result.ports:
                if w.insert:
                    writes.append(w)
                    continue
                cols = {k: v for k, v in w.ports.items() if k in STATUS_PORT_COLUMNS}
                if cols:
                    writes.append(PortWrite(w.ref, cols, {}, counters=False))
            events = [
                e
                for e in events
                if e.type in ("up", "down", "reboot")
                or e.message.startswith(("ifOperStatus:", "ifAdminStatus:"))
            ]
        if result.outage_open:
            events.append(result.outage_open)
        if result.outage_close:
            events.append(result.outage_close)
        return device_cols, writes, events

    def _merge(self, result: PollResult) -> None:
        device_cols, writes, transitions = self._filter(result)
        p = self._pending
        if device_cols:
            p.devices[result.device_id] = {**p.devices.get(result.device_id, {}), **device_cols}
        for w in writes:
            key = _port_key(w.ref)
            old = p.ports.get(key)
            p.ports[key] = _merge_port(old, w) if old else w
        for t in transitions:
            self._append_transition(p.transitions, t)

    def _append_transition(self, queue: deque[Transition], t: Transition) -> None:
        """Queue ``t``; at the cap, per-port eventlog rows give way first, so the device transitions
        (status events, outages) that alerting and the outage history rest on are the last to be dropped."""
        if len(queue) >= self.max_transitions:
            if _is_port_event(t):
                self._dropped()
                return  # the newest port event is dropped: it is one of those that give way
            for i, queued in enumerate(queue):
                if _is_port_event(queued):
                    del queue[i]  # O(n), only while over the cap and only for a device transition
                    break
            else:
                queue.popleft()
            self._dropped()
        queue.append(t)

    def _dropped(self) -> None:
        self.stats.dropped_transitions += 1
        if self.stats.dropped_transitions in (1, 10, 100) or self.stats.dropped_transitions % 1000 == 0:
            log.error(
                "writer transition cap %d hit: %d eventlog/outage rows dropped so far (database down or "
                "behind?); port events are dropped before device transitions",
                self.max_transitions,
                self.stats.dropped_transitions,
            )

    def _restore(self, batch: _Pending) -> None:
        """Put a failed batch back under whatever arrived meanwhile (lock held)."""
        newer = self._pending
        merged = _Pending()
        for key, w in batch.ports.items():
            merged.ports[key] = _merge_port(w, newer.ports[key]) if key in newer.ports else w
        for key, w in newer.ports.items():
            merged.ports.setdefault(key, w)
        for dev, cols in batch.devices.items():
            merged.devices[dev] = {**cols, **newer.devices.get(dev, {})}
        for dev, cols in newer.devices.items():
            merged.devices.setdefault(dev, cols)
        for t in (*batch.transitions, *newer.transitions):
            self._append_transition(merged.transitions, t)
        self._pending = merged

    # ------------------------------------------------------------------ worker

    def _run(self) -> None:
        delay = self.retry_initial
        while True:
            with self._lock:
                while self._pending.empty() and not self._stop:
                    self._idle.notify_all()
                    self._wake.wait()
                if self._pending.empty() and self._stop:
                    self._idle.notify_all()
                    return
                batch, self._pending = self._pending, _Pending()
                self._busy = True
            started = time.monotonic()
            try:
                assigned = self.write_batch(batch)
            except (DBAPIError, SQLAlchemyError, OSError) as exc:
                release_frames(exc)
                with self._lock:
                    self._restore(batch)
                    self._busy = False
                    self.stats.failures += 1
                    self.stats.connected = False
                    self.stats.last_error = _error_name(exc)
                    self._idle.notify_all()
                log.warning("database write failed (%s); retrying in %.1fs", _error_name(exc), delay)
                if self._stopping.wait(timeout=delay):
                    return
                delay = min(delay * 2, self.retry_max)
                continue
            for ref, port_id in assigned:
                ref.port_id = port_id
            delay = self.retry_initial
            with self._lock:
                self._busy = False
                self.stats.batches += 1
                self.stats.connected = True
                self.stats.last_batch_seconds = time.monotonic() - started
                self._idle.notify_all()

    # ------------------------------------------------------------------ SQL

    def write_batch(self, batch: _Pending) -> list[tuple[PortRef, int]]:
        """Write one batch in one transaction; returns the port ids assigned to new ports."""
        assigned: dict[int, int] = {}
        rows = 0
        with self.engine.begin() as conn:
            # 1. new ports first: later statements (and events) refer to their port_id
            for w in batch.ports.values():
                if w.insert and w.ref.port_id is None:
                    assigned[id(w.ref)] = self._insert_port(conn, w)
                    rows += 2

            def pid(ref: PortRef) -> int | None:
                return ref.port_id if ref.port_id is not None else assigned.get(id(ref))

            # 2. devices
            dev_rows = [(d, cols) for d, cols in batch.devices.items()]
            rows += self._bulk_update(conn, devices.name, "device_id", dev_rows)
            # 3. ports / ports_statistics updates
            port_rows: list[tuple[int, dict[str, Any]]] = []
            stat_rows: list[tuple[int, dict[str, Any]]] = []
            for w in batch.ports.values():
                if w.insert and id(w.ref) in assigned:
                    continue  # inserted with these values
                port_id = pid(w.ref)
                if port_id is None:
                    continue
                if w.ports:
                    port_rows.append((port_id, w.ports))
                if w.statistics:
                    stat_rows.append((port_id, w.statistics))
            rows += self._bulk_update(conn, ports.name, "port_id", port_rows)
            rows += self._bulk_update(conn, ports_statistics.name, "port_id", stat_rows)
            # 4. transitions, in order (consecutive events become one multi-row INSERT)
            pending_events: list[dict[str, Any]] = []
            for t in batch.transitions:
                if isinstance(t, EventRow):
                    pending_events.append(self._event_row(t, pid))
                    continue
                rows += self._insert_events(conn, pending_events)
                pending_events = []
                rows += self._outage(conn, t)
            rows += self._insert_events(conn, pending_events)
        self.stats.rows += rows
        refs = {id(w.ref): w.ref for w in batch.ports.values()}
        return [(refs[key], port_id) for key, port_id in assigned.items()]

    def _insert_port(self, conn: Connection, w: PortWrite) -> int:
        values = {**_owned(w.ports, "ports"), "device_id": w.ref.device_id, "ifIndex": w.ref.ifIndex}
        result = conn.execute(ports.insert().values(**values))
        port_id = int(result.inserted_primary_key[0])
        conn.execute(
            ports_statistics.insert().values(port_id=port_id, **_owned(w.statistics, "ports_statistics"))
        )
        return port_id

    @staticmethod
    def _event_row(e: EventRow, pid: Any) -> dict[str, Any]:
        ref = e.reference
        if isinstance(ref, PortRef):
            ref = pid(ref)
        return {
            "device_id": e.device_id,
            "datetime": epoch_to_db(e.datetime),
            "message": e.message,
            "type": e.type,
            "reference": None if ref is None else str(ref),
            "username": e.username,
            "severity": e.severity,
        }

    def _insert_events(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        escape = _pymysql_escape(conn) if self._is_mysql else None
        if escape is None:
            conn.execute(eventlog.insert(), rows)
            return len(rows)
        # One multi-row INSERT per chunk, values rendered as in update_join_sql (PyMySQL's escape for text).
        cols = tuple(rows[0])
        head = f"INSERT INTO `{eventlog.name}` (" + ", ".join(f"`{c}`" for c in cols) + ") VALUES ("
        get = operator.itemgetter(*cols)
        for start in range(0, len(rows), self.chunk_rows):
            chunk = rows[start : start + self.chunk_rows]
            sql = head + "), (".join([sql_values(get(r), escape) for r in chunk]) + ")"
            conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
        return len(rows)

    def _outage(self, conn: Connection, t: OutageOpen | OutageClose) -> int:
        if isinstance(t, OutageClose):
            conn.execute(
                update(device_outages)
                .where(device_outages.c.device_id == t.device_id, device_outages.c.up_again.is_(None))
                .values(up_again=t.up_again)
            )
            return 1
        open_exists = exists().where(
            device_outages.c.device_id == t.device_id, device_outages.c.up_again.is_(None)
        )
        stmt = (
            device_outages.insert()
            .from_select(
                ["device_id", "going_down"],
                select(literal(t.device_id), literal(t.going_down)).where(~open_exists),
            )
            .prefix_with("IGNORE", dialect="mysql")
            .prefix_with("IGNORE", dialect="mariadb")
            .prefix_with("OR IGNORE", dialect="sqlite")
        )
        conn.execute(stmt)
        return 1

    def _columns(self, table: str, keys: tuple[str, ...]) -> tuple[str, ...]:
        """The owned columns among ``keys``, in a canonical order (so equal column sets share a group).
        Cached: the check emits the same few key tuples over and over."""
        cache = self._column_sets
        cols = cache.get((table, keys))
        if cols is None:
            owned = OWNED_COLUMNS[table]
            cols = tuple(sorted(k for k in keys if k in owned))
            if len(cache) >= 4096:  # column sets are few in practice; a pathological mix must not grow it
                cache.clear()
            cache[(table, keys)] = cols
        return cols

    def _bulk_update(
        self, conn: Connection, table: str, key: str, rows: Sequence[tuple[int, dict[str, Any]]]
    ) -> int:
        """UPDATE many rows by primary key: ``rows`` are (key value, {column: value}); columns fastpoll does
        not own are left out. Rows are grouped by column set; on MariaDB each group is sent as multi-row
        ``UPDATE t JOIN (SELECT .. UNION ALL SELECT ..) v`` statements (one round trip per ``chunk_rows``
        rows); elsewhere as an executemany."""
        by_keys: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}
        for row in rows:
            same = by_keys.get(keys := tuple(row[1]))
            if same is None:
                by_keys[keys] = [row]
            else:
                same.append(row)
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for keys, same in by_keys.items():
            cols = self._columns(table, keys)
            if cols:
                get = operator.itemgetter(*cols) if len(cols) > 1 else (lambda d, c=cols[0]: (d[c],))
                groups.setdefault(cols, []).extend([(key_value, *get(values)) for key_value, values in same])
        if not groups:
            return len(rows)
        literal = _pymysql_escape(conn) if self._is_mysql else None
        for cols, group in groups.items():
            for start in range(0, len(group), self.chunk_rows):
                chunk = group[start : start + self.chunk_rows]
                if literal is not None:  # values rendered here, not by the driver: see update_join_sql
                    sql = update_join_sql(table, key, cols, chunk, literal)
                    conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
                elif self._is_mysql:
                    conn.exec_driver_sql(*_mysql_update_join(table, key, cols, chunk))
                else:
                    tbl = {"devices": devices, "ports": ports, "ports_statistics": ports_statistics}[table]
                    stmt = (
                        update(tbl)
                        .where(tbl.c[key] == bindparam("_key"))
                        .values({c: bindparam(c) for c in cols})
                    )
                    conn.execute(stmt, [{"_key": r[0], **dict(zip(cols, r[1:], strict=True))} for r in chunk])
        return len(rows)


def _owned(cols: dict[str, Any], table: str) -> dict[str, Any]:
    owned = OWNED_COLUMNS[table]
    return {k: v for k, v in cols.items() if k in owned}


_INT_OR_NONE = frozenset({int, type(None)})
_TUPLE = frozenset({tuple})


def _pymysql_escape(conn: Connection) -> Callable[[Any], str] | None:
    """PyMySQL's escape for this connection (charset / NO_BACKSLASH_ESCAPES aware); None for other drivers."""
    driver = conn.connection.driver_connection
    escape = getattr(driver, "escape", None)
    return escape if type(driver).__module__.startswith("pymysql") and escape else None


def sql_literal(value: Any, escape: Callable[[Any], str]) -> str:
    """One SQL literal: an int as decimal text, None as NULL, anything else as ``escape`` renders it."""
    if value is None:
        return "NULL"
    return str(value) if type(value) is int else escape(value)


def sql_values(values: Sequence[Any], escape: Callable[[Any], str]) -> str:
    """``1, NULL, 'x'``: a row of SQL literals (see ``sql_literal``) separated by ", "."""
    if len(values) > 1 and set(map(type, values)) <= _INT_OR_NONE:
        # The common row: only ints and NULLs. The repr of such a tuple is built in C, "(1, None, 3)", and
        # no other text in it can contain "None".
        return repr(tuple(values))[1:-1].replace("None", "NULL")
    return ", ".join([sql_literal(v, escape) for v in values])


def update_join_sql(
    table: str, key: str, cols: tuple[str, ...], rows: Sequence[Sequence[Any]], escape: Callable[[Any], str]
) -> str:
    """``UPDATE t JOIN (SELECT .. UNION ALL SELECT ..) v ON key SET ..`` with the values as literals.

    Each row is the key value, then ``cols`` in order. The same SQL text as ``_mysql_update_join`` once
    PyMySQL has substituted its parameters, built without PyMySQL's per-value escaping (most of the writer's
    CPU before): ints become text in C, anything else still goes through PyMySQL's ``escape``.
    """
    names = (key, *cols)
    head = "SELECT " + ", ".join(
        [f"{sql_literal(v, escape)} AS `{c}`" for v, c in zip(rows[0], names, strict=True)]
    )
    rest = list(rows[1:])  # a list, whatever sequence came: its repr is what is taken apart below
    tuples = bool(rest and cols) and set(map(type, rest)) == _TUPLE
    if tuples and set(map(type, chain.from_iterable(rest))) <= _INT_OR_NONE:
        # The steady state (counters, rates, times): every later row is a tuple of ints and NULLs. The repr
        # of their list is built in C, "[(1, None), (2, 3)]"; its only text is digits, "-", "None" and the
        # tuples' punctuation, so the rows' separators and the NULLs are found by plain replacement. Rows
        # have two values or more (the key and a column): no "(1,)" one-tuple.
        text = repr(rest)[2:-2].replace("), (", " UNION ALL SELECT ").replace("None", "NULL")
        derived = f"{head} UNION ALL SELECT {text}"
    else:
        derived = " UNION ALL SELECT ".join([head, *[sql_values(r, escape) for r in rest]])
    sets = ", ".join([f"t.`{c}` = v.`{c}`" for c in cols])
    return f"UPDATE `{table}` AS t JOIN ({derived}) AS v ON t.`{key}` = v.`{key}` SET {sets}"


def _mysql_update_join(
    table: str, key: str, cols: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> tuple[str, tuple[Any, ...]]:
    """``UPDATE t JOIN (SELECT .. UNION ALL SELECT ..) v USING key SET ..`` with positional %s params
    (for MySQL drivers other than PyMySQL; each row is the key value, then ``cols`` in order)."""
    names = (key, *cols)
    first = "SELECT " + ", ".join(f"%s AS `{c}`" for c in names)
    other = " UNION ALL SELECT " + ", ".join("%s" for _ in names)
    derived = first + other * (len(rows) - 1)
    sets = ", ".join(f"t.`{c}` = v.`{c}`" for c in cols)
    sql = f"UPDATE `{table}` AS t JOIN ({derived}) AS v ON t.`{key}` = v.`{key}` SET {sets}"
    params = tuple(v for row in rows for v in row)
    return sql, params
