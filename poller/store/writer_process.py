"""The store writer with its SQL in a process of its own (``database.writer_process = true``).

Why: the writer thread's SQL rendering and PyMySQL's protocol code are Python, so they hold the GIL that
the event loop needs. At 10,000 devices x 48 ports on 2 cores the writer held it 15% of the time, and
each ``sendto`` the event loop made handed the GIL to the writer for up to a switch interval
(docs/benchmarks.md, "where the event loop's time goes"). A process of its own gives that share back to
the event loop; its price is a second interpreter (~30-40 MB of its own: SQLAlchemy, PyMySQL, the writer)
and ~0.1 core at 10,000 devices (the batch is turned into tuples, pickled and unpickled).

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
back-off, so nothing is lost. The child runs in a session of its own and ignores SIGINT, SIGTERM and
SIGHUP: it stops when the parent closes its pipe (after the final flush) or dies (the pipe closes with it).

Why a hand-made child (``python -c`` with two pipes, multiprocessing's Connection framing) and not
``concurrent.futures.ProcessPoolExecutor``, which was the first version: the executor's two threads spent
8-17 CPU-s per 30,000 polls in the parent handing batches on, and its spawned worker imports the parent's
``__main__`` (the fastpoll script, so the whole daemon): 50-59 MB of the worker's own at the end of a
10,000-device run. Forking instead shares the modules at first, but every page the parent rewrites later
becomes the child's own copy. Here the writer thread itself pickles and sends, and the child imports only
this module.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from poller.checks.results import EventRow, PortRef, PortWrite
from poller.gc_policy import M_ARENA_MAX, M_MMAP_THRESHOLD, MMAP_THRESHOLD, _glibc_mallopt, _glibc_trim

from .librenms import LibreNMSWriter, Transition, _Pending, _port_key, release_frames

log = logging.getLogger(__name__)

# The child's heap: a batch's SQL text and PyMySQL's buffers are megabytes that come and go; glibc keeps
# freed heap pages until a trim, so the child trims every TRIM_EVERY seconds (after a batch) and maps big
# blocks apart (gc_policy.py does the same in the daemon).
TRIM_EVERY = 10.0
CHILD = "from poller.store.writer_process import child_main; child_main()"
START_TIMEOUT = 60.0  # seconds for a child to import and answer (a loaded machine is slow to start one)


class ChildWriteError(OSError):
    """A batch the writer process could not write. ``error_name`` is the child's exception type (e.g.
    ``OperationalError``); the message carries nothing else (statements and URLs may hold secrets)."""

    def __init__(self, error_name: str) -> None:
        super().__init__(f"the writer process failed to write a batch: {error_name}")
        self.error_name = error_name


# ---------------------------------------------------------------------------------------- the child


class _Child:
    """The writer process's side: its writer (never started: only ``write_batch`` runs here)."""

    def __init__(self, url: str, chunk_rows: int) -> None:
        for param, value in ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, MMAP_THRESHOLD)):  # one thread allocates
            mallopt = _glibc_mallopt(param)
            if mallopt is not None:
                mallopt(value)
        self.trim = _glibc_trim()
        self.trimmed = 0.0
        self.writer = LibreNMSWriter(url, chunk_rows=chunk_rows)

    def write(self, portable: Portable) -> tuple[int, list[tuple[int, int]]]:
        """Write a batch (as :func:`portable` made it); returns the rows written and (position in the
        batch's ports, port_id) per new port."""
        batch, refs = rebuilt(portable)
        rows = self.writer.stats.rows
        try:
            assigned = self.writer.write_batch(batch)
        except (DBAPIError, SQLAlchemyError, OSError) as exc:
            release_frames(exc)  # the batch, held by the failed attempt's frames (LibreNMSWriter)
            raise ChildWriteError(type(exc).__name__) from None
        finally:
            del batch
            self._trim_now_and_then()
        if not assigned:  # new ports are rare: most batches need no position by PortRef
            return self.writer.stats.rows - rows, []
        position = {id(ref): i for i, ref in enumerate(refs)}
        return self.writer.stats.rows - rows, [(position[id(ref)], port_id) for ref, port_id in assigned]

    def _trim_now_and_then(self) -> None:
        now = time.monotonic()
        if self.trim is not None and now - self.trimmed >= TRIM_EVERY:
            self.trim()
            self.trimmed = now


def child_main() -> None:
    """The writer process: (url, chunk_rows) first, then one batch at a time until the pipe closes.
    Stdin brings the requests; the answers go out on what was stdout, which becomes stderr's copy so that
    nothing printed here can corrupt them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent flushes first, then closes the pipe
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    requests = Connection(0, writable=False)
    try:
        url, chunk_rows = pickle.loads(requests.recv_bytes())
        child = _Child(url, chunk_rows)
        del url
        answers.send_bytes(pickle.dumps(("ready",)))
        while True:
            portable_batch = pickle.loads(requests.recv_bytes())
            try:
                answer: tuple[Any, ...] = ("ok", *child.write(portable_batch))
            except ChildWriteError as exc:
                answer = ("error", exc.error_name)
            except Exception as exc:  # a bug, not the database: reported by type, the parent backs off
                log.exception("writer process: batch failed")
                answer = ("error", type(exc).__name__)
            del portable_batch
            answers.send_bytes(pickle.dumps(answer))
    except (EOFError, BrokenPipeError):  # the parent closed the pipe, or is gone
        return


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
    pickles through Python code, 4.5 us a port write against 1.4 us for this and its pickling together (a
    batch of 672). An event naming a port of the batch names it by position, so the child's event and
    port write share one PortRef again (a new port's id, assigned by its insert, reaches the event)."""
    writes = batch.ports.values()
    ports = [
        (w.ref.device_id, w.ref.ifIndex, w.ref.port_id, w.ports, w.statistics, w.insert, w.counters)
        for w in writes
    ]
    transitions = list(batch.transitions)
    position: dict[int, int] | None = None  # built only for a batch with a port event (they are rare)
    for i, t in enumerate(transitions):
        if isinstance(t, EventRow) and isinstance(t.reference, PortRef):
            if position is None:
                position = {id(w.ref): n for n, w in enumerate(writes)}
            at = position.get(id(t.reference))
            if at is not None:
                transitions[i] = replace(t, reference=_BatchRef(at))  # type: ignore[arg-type]
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


class _Process:
    """The parent's side of one writer process: started, asked, closed."""

    def __init__(self, url: str, chunk_rows: int) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C is the parent's to handle, never the child's
        )
        assert self.popen.stdin is not None and self.popen.stdout is not None
        self.requests = Connection(os.dup(self.popen.stdin.fileno()), readable=False)
        self.answers = Connection(os.dup(self.popen.stdout.fileno()), writable=False)
        self.popen.stdin.close()
        self.popen.stdout.close()
        try:
            self.requests.send_bytes(pickle.dumps((url, chunk_rows)))  # the URL never rides on argv or env
            if not self.answers.poll(START_TIMEOUT) or pickle.loads(self.answers.recv_bytes()) != ("ready",):
                raise EOFError
        except (EOFError, OSError):
            self.close()
            raise ChildWriteError("WriterProcessDidNotStart") from None  # its own error is on stderr

    def ask(self, portable_batch: Portable) -> tuple[int, list[tuple[int, int]]]:
        try:
            self.requests.send_bytes(pickle.dumps(portable_batch, pickle.HIGHEST_PROTOCOL))
            answer = pickle.loads(self.answers.recv_bytes())
        except (EOFError, OSError):
            raise ChildWriteError("WriterProcessExited") from None
        if answer[0] == "error":
            raise ChildWriteError(answer[1])
        _, rows, assigned = answer
        return rows, assigned

    def close(self, timeout: float = 10.0) -> None:
        self.requests.close()  # end of requests: the child returns
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.answers.close()


class ProcessWriter(LibreNMSWriter):
    """A LibreNMSWriter whose batches are written by a child process. Same API, same guarantees."""

    def __init__(self, db: str | Engine, **options: Any) -> None:
        """``options`` as LibreNMSWriter's (write_set, max_transitions, retry_initial, retry_max,
        chunk_rows)."""
        super().__init__(db, **options)
        self._url = _url_of(db)  # held here only to start a child; never logged
        self._process: _Process | None = None
        self._process_lock = threading.Lock()  # the worker thread asks; close() ends

    @property
    def child_pid(self) -> int | None:
        """The writer process's pid while one runs (for its CPU and memory in benchmarks)."""
        process = self._process
        return process.popen.pid if process is not None else None

    def start(self) -> ProcessWriter:
        with self._process_lock:
            try:
                self._process = _Process(self._url, self.chunk_rows)  # up before the first poll
            except ChildWriteError:
                raise RuntimeError("the writer process did not start (see its error above)") from None
        super().start()
        return self

    def write_batch(self, batch: _Pending) -> list[tuple[PortRef, int]]:
        with self._process_lock:
            process = self._process
            if process is None:
                process = self._process = _Process(self._url, self.chunk_rows)
            try:
                rows, assigned = process.ask(portable(batch))
            except ChildWriteError as exc:
                if exc.error_name == "WriterProcessExited":
                    process.close(timeout=1.0)
                    if self._process is process:  # not already ended by close()
                        self._process = None  # the next attempt starts a new child
                        self.stats.process_restarts += 1
                raise
        self.stats.rows += rows
        if not assigned:  # new ports are rare: most batches need no PortRef by position
            return []
        refs = [w.ref for w in batch.ports.values()]
        return [(refs[i], port_id) for i, port_id in assigned]

    def close(self, timeout: float | None = 30.0) -> bool:
        flushed = super().close(timeout)
        process = self._process
        if process is not None:
            if self._process_lock.acquire(timeout=1.0):
                try:
                    process.close()
                finally:
                    self._process_lock.release()
            else:  # the worker thread still waits for the child (a database that hangs): end it
                process.popen.kill()
                process.popen.wait()
            self._process = None
        return flushed
