"""The store writer with its SQL in a process of its own (``database.writer_process = true``).

Why: the writer thread's SQL rendering and PyMySQL's protocol code are Python, so they hold the GIL that
the event loop needs. At 10,000 devices x 48 ports on 2 cores the writer held it 15% of the time, and
each ``sendto`` the event loop made handed the GIL to the writer for up to a switch interval (README,
"where the event loop's time goes"). A process of its own gives that share back to the event loop; its
price is a second interpreter (~45 MB of RSS: SQLAlchemy, PyMySQL, the writer).

``ProcessWriter`` is a ``LibreNMSWriter`` whose worker thread hands each batch to the child instead of
writing it: merging in ``submit()``, coalescing, the transition cap, retry with back-off, ``flush`` and
``close`` are the thread writer's, unchanged. Only ``write_batch`` differs: the batch crosses a pipe
as tuples and dicts (:func:`portable`: they pickle in C; the SQL text built from them is what cost the
GIL) and the child runs the thread writer's ``write_batch`` on it, in one transaction, with its own
connection. What comes back is the row count and the port ids of new ports, by position in the batch,
which the parent writes into its own PortRefs.

Failures map onto the thread writer's: a database error in the child comes back as ``ChildWriteError``
(an ``OSError``, named after the child's error type and nothing else, so no statement or URL reaches a log)
and a child that dies is replaced on the next attempt; either way the batch is merged back and retried with
back-off, so nothing is lost. The child ignores SIGINT and SIGTERM: it stops when the parent closes it
(after the final flush) or dies (its pipe closes), never before the parent's last batch.

``concurrent.futures.ProcessPoolExecutor`` (one worker: forked at start, spawned when replaced, see
``_pool``) carries the batches: it pickles, detects a
dead worker (``BrokenProcessPool``) and shuts down cleanly, which a hand-made pipe would have to redo.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import signal
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from poller.checks.results import EventRow, PortRef, PortWrite
from poller.gc_policy import M_ARENA_MAX, M_MMAP_THRESHOLD, MMAP_THRESHOLD, _glibc_mallopt, _glibc_trim

from .librenms import LibreNMSWriter, Transition, WriteSet, _Pending, _port_key

log = logging.getLogger(__name__)


class ChildWriteError(OSError):
    """A batch the writer process could not write. ``error_name`` is the child's exception type (e.g.
    ``OperationalError``); the message carries nothing else (statements and URLs may hold secrets)."""

    def __init__(self, error_name: str) -> None:
        super().__init__(f"the writer process failed to write a batch: {error_name}")
        self.error_name = error_name

    def __reduce__(self) -> tuple[Any, ...]:  # pickled back to the parent by its one argument
        return (type(self), (self.error_name,))


# ---------------------------------------------------------------------------------------- the child

_child_writer: LibreNMSWriter | None = None
# The child's heap: a batch's SQL text and PyMySQL's buffers are megabytes that come and go; glibc keeps
# freed heap pages until a trim, so the child trims every TRIM_EVERY seconds (after a batch) and maps big
# blocks apart (gc_policy.py does the same in the daemon).
TRIM_EVERY = 10.0
_trim: Callable[[], bool] | None = None
_last_trim = 0.0


def _start_child(url: str, chunk_rows: int) -> None:
    """The child's initializer: its own writer (never started: only ``write_batch`` runs here)."""
    global _child_writer, _trim
    # Forked: what the parent built stays shared and is never traversed by this process's collector (a
    # traversal would touch, and so copy, every page of it). Spawned: the imports, likewise.
    gc.freeze()
    signal.set_wakeup_fd(-1)  # forked: the parent's event loop's pipe, which a signal here must not reach
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the parent flushes
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # systemd signals the whole cgroup; likewise
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the parent reloads; there is nothing to reload here
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for param, value in ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, MMAP_THRESHOLD)):  # one thread allocates
        mallopt = _glibc_mallopt(param)
        if mallopt is not None:
            mallopt(value)
    _trim = _glibc_trim()
    _child_writer = LibreNMSWriter(url, chunk_rows=chunk_rows)


def _trim_now_and_then() -> None:
    global _last_trim
    now = time.monotonic()
    if _trim is not None and now - _last_trim >= TRIM_EVERY:
        _trim()
        _last_trim = now


def _write_in_child(portable: Portable) -> tuple[int, list[tuple[int, int]]]:
    """Write a batch (as :func:`portable` made it); returns the rows written and (position in the batch's
    ports, port_id) per new port."""
    writer = _child_writer
    assert writer is not None, "the writer process was not initialised"
    batch, refs = rebuilt(portable)
    position = {id(ref): i for i, ref in enumerate(refs)}
    rows = writer.stats.rows
    try:
        assigned = writer.write_batch(batch)
    except (DBAPIError, SQLAlchemyError, OSError) as exc:
        raise ChildWriteError(type(exc).__name__) from None
    finally:
        del batch
        _trim_now_and_then()
    return writer.stats.rows - rows, [(position[id(ref)], port_id) for ref, port_id in assigned]


# ---------------------------------------------------------------------------------------- the pipe

# (device_id, ifIndex, port_id, ports columns, ports_statistics columns, insert, counters) per port write
PortTuple = tuple[int, int, int | None, dict[str, Any], dict[str, Any], bool, bool]
Portable = tuple[list[PortTuple], dict[int, dict[str, Any]], list[Transition]]


@dataclass(frozen=True, slots=True)
class _BatchRef:
    """An event's reference to the PortRef of the batch's port write at ``position``."""

    position: int


def portable(batch: _Pending) -> Portable:
    """``batch`` as tuples, dicts and scalars, which pickle in C: a PortWrite (a dataclass with slots)
    pickles through Python code, ~12 us a port write, which put most of the writer's GIL time back in the
    parent. An event naming a port of the batch names it by position, so the child's event and port write
    share one PortRef again (a new port's id, assigned by its insert, reaches the event)."""
    writes = batch.ports.values()
    ports = [
        (w.ref.device_id, w.ref.ifIndex, w.ref.port_id, w.ports, w.statistics, w.insert, w.counters)
        for w in writes
    ]
    position = {id(w.ref): i for i, w in enumerate(writes)}
    transitions: list[Transition] = []
    for t in batch.transitions:
        if isinstance(t, EventRow) and isinstance(t.reference, PortRef) and id(t.reference) in position:
            t = replace(t, reference=_BatchRef(position[id(t.reference)]))  # type: ignore[arg-type]
        transitions.append(t)
    return ports, batch.devices, transitions


def rebuilt(portable: Portable) -> tuple[_Pending, list[PortRef]]:
    """The batch :func:`portable` encoded, and its port writes' PortRefs by position."""
    ports, devices, transitions = portable
    batch = _Pending(devices=devices)
    refs = []
    for device_id, if_index, port_id, columns, statistics, insert, counters in ports:
        ref = PortRef(device_id, if_index, port_id)
        refs.append(ref)
        batch.ports[_port_key(ref)] = PortWrite(ref, columns, statistics, insert=insert, counters=counters)
    for t in transitions:
        if isinstance(t, EventRow) and isinstance(t.reference, _BatchRef):
            t = replace(t, reference=refs[t.reference.position])
        batch.transitions.append(t)
    return batch, refs


# ---------------------------------------------------------------------------------------- the parent


def _url_of(db: str | Engine) -> str:
    url = make_url(db) if isinstance(db, str) else db.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError("an in-memory SQLite database cannot be shared with a writer process")
    return url.render_as_string(hide_password=False)


class ProcessWriter(LibreNMSWriter):
    """A LibreNMSWriter whose batches are written by a child process. Same API, same guarantees."""

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
        super().__init__(
            db,
            write_set=write_set,
            max_transitions=max_transitions,
            retry_initial=retry_initial,
            retry_max=retry_max,
            chunk_rows=chunk_rows,
        )
        self._url = _url_of(db)  # held here only to start a child; never logged
        self._executor: ProcessPoolExecutor | None = None
        self.child_start_method: str | None = None  # how the running child was started

    @property
    def child_pid(self) -> int | None:
        """The writer process's pid while one runs (for its CPU and memory in benchmarks)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return next(iter(processes), None)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # The first child (start(), early in the daemon's start-up) is forked: it shares the modules
            # the parent imported and keeps ~15 MB of its own, where a spawned one imports the parent's
            # __main__, and so the whole daemon, again (~50 MB). A replacement is spawned: forking a
            # process whose threads are busy can leave a lock held in the child.
            first = self.child_start_method is None
            method = "fork" if first and "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context(method),
                initializer=_start_child,
                initargs=(self._url, self.chunk_rows),
            )
            self.child_start_method = method
        return self._executor

    def start(self) -> ProcessWriter:
        try:
            self._pool().submit(int).result()  # the child is up (and imported) before the first poll
        except BrokenProcessPool:
            self._executor = None
            raise RuntimeError("the writer process did not start (see its error above)") from None
        super().start()
        return self

    def write_batch(self, batch: _Pending) -> list[tuple[PortRef, int]]:
        try:
            rows, assigned = self._pool().submit(_write_in_child, portable(batch)).result()
        except BrokenProcessPool:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._executor = None  # the next attempt starts a new child
            self.stats.process_restarts += 1
            raise ChildWriteError("WriterProcessExited") from None
        self.stats.rows += rows
        refs = [w.ref for w in batch.ports.values()]
        return [(refs[i], port_id) for i, port_id in assigned]

    def close(self, timeout: float | None = 30.0) -> bool:
        flushed = super().close(timeout)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        return flushed
