"""How the daemon runs CPython's cyclic garbage collector.

CPython runs a full (generation 2) collection whenever the objects promoted into the old generation since
the last one reach a quarter of it. fastpoll replaces every port's state and metrics on every poll, so its
old generation turns over once per poll interval, and a full collection follows about every quarter
interval. Each one walks every tracked object of the process with the event loop stopped. Measured with
``python -m benchmarks.gc_bench --devices 5000`` (5,000 devices x 48 ports polled against the simulator,
results kept as the daemon keeps them), the interpreter's thresholds spent 17.6% of the poll path's CPU in
the collector, 18 full collections in 25,000 polls, the longest a 0.82 s pause (it grows with the fleet);
with this policy 6.1% and 0.018 s, and 4.11 -> 3.57 ms CPU per poll. The full collections freed nothing:
what fastpoll keeps between polls (states, metrics, writes) holds no reference cycles; the cycles it makes
(exceptions with their tracebacks, task bookkeeping) die young and the young generations collect them.

So, while the daemon runs:

- the young generation keeps CPython's threshold (cheap; it catches the short-lived cycles);
- the middle generation is not collected automatically either. What survives a young collection is
  what a poll in flight holds and what fastpoll keeps until the next poll, and a middle collection (every
  tenth young one) walked it all again to find nothing: ``python -m benchmarks.gc_bench --devices 3000``
  gave the collector 5.0% of the poll path's CPU with CPython's middle threshold, 2.2-2.3% without
  (2.36-2.45 -> 2.29-2.30 ms a poll, two alternating pairs), the longest pause 14 -> 2 ms, and no
  collection in either run freed anything;
- automatic full collections are off; :class:`GcPolicy` runs one every ``full_every`` seconds (default
  10 minutes: a long-lived cycle, say a device's last error kept until its next poll, or a cycle still in
  use at a young collection, is freed at most that late), and logs how long it took and what it found;
- after start-up, ``gc.freeze()`` moves what lives as long as the process (modules, configuration,
  inventory, the state read from the database) out of the collector's sight.

Nothing here stops memory from being freed: objects are still freed by reference counting the moment the
last reference goes; only cycles wait for the next full collection.

After each timed full collection, and every ``trim_every`` seconds between them (default 20 s, in a
worker thread: the call releases the GIL), the C allocator is asked to hand its free pages back to the OS
(glibc's ``malloc_trim``, through ctypes: nothing in the standard library or a maintained package
exposes it). Every poll frees and reallocates each port's state and each scrape its text; glibc keeps the
pages those leave free inside its heap, so without a trim the RSS reports the high-water mark of the
heap rather than what the daemon holds. At 10,000 devices (frozen ports) the pipeline benchmark's RSS
climbed ~20 MB a minute between trims: 272-302 MB with a trim a minute, 263-293 MB with one every 20 s
in five runs of six (docs/benchmarks.md, "2026-12-06 (night)"), where a trim took at most 9-15 ms (the
allocator's lock is held meanwhile).

It is also told to keep at most ``ARENAS`` heaps (glibc's ``mallopt(M_ARENA_MAX)``, the knob behind the
``MALLOC_ARENA_MAX`` variable): glibc gives each thread that allocates concurrently a heap of its own, up to
8 per core, and each keeps its own free pages. fastpoll's threads (the database writer, one per metrics
request) allocate little and rarely at the same time; what they make (a scrape's port text, kept until the
device's next poll) stays in their heap, pinning pages there. At 10,000 devices the pipeline benchmark ended
at 764 MB with ``MALLOC_ARENA_MAX=2`` against 812 MB without (one run each).

And to serve every block of ``MMAP_THRESHOLD`` bytes or more from a mapping of its own
(``mallopt(M_MMAP_THRESHOLD)``, the knob behind ``MALLOC_MMAP_THRESHOLD_``), which goes back to the OS the
moment it is freed. glibc's default threshold starts there but rises to the size of each mapped block freed
(up to 32 MB): after the first scrape frees its gzip body (~20 MB at 10,000 devices) every later body, text
join and writer batch comes from the heap, whose freed pages stay until a trim. Setting it keeps it fixed.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

FULL_EVERY = 600.0  # seconds between full collections
TRIM_EVERY = 20.0  # seconds between the allocator's trims (see the docstring)
NEVER = 1 << 30  # collections of the generation below before an automatic one of this: never, in practice
ARENAS = 2  # glibc heaps at most (the main one and one its threads share)
MMAP_THRESHOLD = 128 * 1024  # bytes: blocks this large are mapped apart (glibc's default starting value)
M_ARENA_MAX = -8  # mallopt's parameter numbers (glibc's malloc.h)
M_MMAP_THRESHOLD = -3


def _glibc(function: str, *argtypes: Any) -> Any:
    """The C library's ``function`` with its argument types set (returning a C int); None where the C
    library has none (musl, macOS: nothing to call)."""
    name = ctypes.util.find_library("c")
    try:
        found = getattr(ctypes.CDLL(name), function) if name else None
    except (OSError, AttributeError):
        return None
    if found is not None:
        found.argtypes = list(argtypes)
        found.restype = ctypes.c_int
    return found


def _glibc_trim() -> Callable[[], bool] | None:
    """glibc's ``malloc_trim(0)`` as a callable returning whether pages were released; None elsewhere."""
    trim = _glibc("malloc_trim", ctypes.c_size_t)
    return None if trim is None else lambda: bool(trim(0))


def _glibc_mallopt(param: int) -> Callable[[int], bool] | None:
    """glibc's ``mallopt(param, n)`` as a callable of ``n`` returning whether it was taken; None elsewhere."""
    mallopt = _glibc("mallopt", ctypes.c_int, ctypes.c_int)
    return None if mallopt is None else lambda n: bool(mallopt(param, n))


def _chosen(option: bool | Callable[..., bool], default: Callable[[], Callable[..., bool] | None]) -> Any:
    """A GcPolicy allocator option: True = ``default()`` (glibc's, or None), False = None, or the callable."""
    if option is True:
        return default()
    return option if callable(option) else None


@dataclass
class FullCollection:
    seconds: float
    collected: int
    trim_seconds: float = 0.0


class GcPolicy:
    """Apply with :meth:`apply` (once the daemon has started), run :meth:`run` as a task, undo with
    :meth:`restore` (tests and embedding processes get the interpreter's settings back)."""

    def __init__(
        self,
        full_every: float = FULL_EVERY,
        *,
        trim_every: float = TRIM_EVERY,
        trim: bool | Callable[[], bool] = True,
        arena_max: bool | Callable[[int], bool] = True,
        mmap_threshold: bool | Callable[[int], bool] = True,
    ) -> None:
        """``trim``: True = glibc's malloc_trim where there is one, False = none, or a callable;
        ``arena_max``: True = glibc's mallopt(M_ARENA_MAX, ARENAS) on apply, False = none, or a callable
        given ARENAS; ``mmap_threshold`` likewise with M_MMAP_THRESHOLD and MMAP_THRESHOLD."""
        if full_every <= 0:
            raise ValueError("full_every must be positive")
        if trim_every <= 0:
            raise ValueError("trim_every must be positive")
        self.full_every = full_every
        self.trim_every = trim_every
        self.trim = _chosen(trim, _glibc_trim)
        self.arena_max = _chosen(arena_max, lambda: _glibc_mallopt(M_ARENA_MAX))
        self.mmap_threshold = _chosen(mmap_threshold, lambda: _glibc_mallopt(M_MMAP_THRESHOLD))
        self.trims = 0
        self.trim_seconds = 0.0  # all trims' wall time, and the longest's (the allocator's lock is held)
        self.trim_longest = 0.0
        self.last: FullCollection | None = None
        self.full_collections = 0
        self._saved: tuple[int, int, int] | None = None

    def apply(self) -> None:
        """Freeze what exists now, stop automatic middle and full collections, cap the allocator's heaps
        (threads started before keep the heap they have) and fix its mapping threshold (both stay after
        ``restore``: they change no result)."""
        if self.arena_max is not None:
            self.arena_max(ARENAS)
        if self.mmap_threshold is not None:
            self.mmap_threshold(MMAP_THRESHOLD)
        if self._saved is None:
            self._saved = gc.get_threshold()
        young = self._saved[0]
        gc.collect()  # start-up garbage goes now rather than being frozen with the rest
        gc.freeze()
        gc.set_threshold(young, NEVER, NEVER)

    def restore(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
        gc.unfreeze()

    def collect_full(self) -> FullCollection:
        """One full collection of everything not frozen; returns how long it took and what it freed."""
        started = time.perf_counter()
        collected = gc.collect()
        done = FullCollection(time.perf_counter() - started, collected)
        done.trim_seconds = self.trim_heap()
        self.last = done
        self.full_collections += 1
        log.debug(
            "full garbage collection: %.3f s, %d unreachable objects freed; allocator trim %.3f s",
            done.seconds, collected, done.trim_seconds,
        )  # fmt: skip
        return done

    async def run(self) -> None:
        """Run a full collection every ``full_every`` seconds and a trim every ``trim_every`` seconds
        between them, until cancelled."""
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.full_every
        while True:
            wait = next_full - loop.time()
            if self.trim is not None:
                wait = min(wait, self.trim_every)
            await asyncio.sleep(max(wait, 0.0))
            if loop.time() >= next_full:
                self.collect_full()
                next_full = loop.time() + self.full_every
            else:
                await asyncio.to_thread(self.trim_heap)

    def trim_heap(self) -> float:
        """Hand the allocator's free pages back to the OS now; returns the seconds it took (0 without a
        trim)."""
        if self.trim is None:
            return 0.0
        started = time.perf_counter()
        self.trim()
        took = time.perf_counter() - started
        self.trims += 1
        self.trim_seconds += took
        self.trim_longest = max(self.trim_longest, took)
        return took
