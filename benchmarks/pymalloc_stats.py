"""How much memory CPython's small-object allocator (pymalloc) holds, and how much of it is in use.

pymalloc serves every object of 512 bytes or less from 16 KB pools in 1 MiB arenas, and gives an arena
back to the OS only once every pool in it is empty; glibc's ``malloc_trim`` never sees them. At 10,000
devices about 60 MB of the pipeline's ~275 MB floor was free space in such arenas (docs/benchmarks.md,
"2026-12-06 (late)"). The RSS cannot tell that apart from memory in use, so the pipeline benchmark reports
these figures at the end of its window.

Why by parsing text: CPython has no API for its arenas but ``sys._debugmallocstats()``, which prints to the
C-level stderr. :func:`read` calls the function behind it, ``_PyObject_DebugMallocStats(FILE *)``, on a
glibc ``open_memstream`` stream instead, so nothing is printed and no file descriptor is swapped under the
other threads. Both are CPython's and glibc's own: :func:`read` returns None where either is missing, and
when pymalloc is not in use (``PYTHONMALLOC=malloc``).
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass

_MB = 2**20
# the lines of _PyObject_DebugMallocStats's report read here, as CPython 3.11 prints them
_FIELDS = {
    "arenas": r"^# arenas allocated current\s*=\s*([\d,]+)$",
    "arena_bytes": r"^\d+ arenas \* \d+ bytes/arena\s*=\s*([\d,]+)$",
    "allocated_bytes": r"^# bytes in allocated blocks\s*=\s*([\d,]+)$",
    "free_block_bytes": r"^# bytes in available blocks\s*=\s*([\d,]+)$",
    "free_pool_bytes": r"^\d+ unused pools \* \d+ bytes\s*=\s*([\d,]+)$",
}


@dataclass(frozen=True, slots=True)
class PymallocStats:
    arenas: int  # arenas allocated now
    arena_bytes: int  # what they span
    allocated_bytes: int  # blocks in use
    free_block_bytes: int  # free blocks in pools that hold some in use
    free_pool_bytes: int  # pools wholly free inside arenas that are not

    def figures(self) -> dict[str, float]:
        """The sizes in MB, one decimal, as the benchmark's results name them."""
        return {
            "pymalloc_arenas_mb": round(self.arena_bytes / _MB, 1),
            "pymalloc_allocated_mb": round(self.allocated_bytes / _MB, 1),
            "pymalloc_free_blocks_mb": round(self.free_block_bytes / _MB, 1),
            "pymalloc_free_pools_mb": round(self.free_pool_bytes / _MB, 1),
        }


def parse(report: str) -> PymallocStats:
    """The figures of one ``sys._debugmallocstats()`` report. ValueError when a line is missing."""
    values = {}
    for name, pattern in _FIELDS.items():
        match = re.search(pattern, report, re.MULTILINE)
        if match is None:
            raise ValueError(f"no {name.replace('_', ' ')} in the allocator's report")
        values[name] = int(match.group(1).replace(",", ""))
    return PymallocStats(**values)


def read() -> PymallocStats | None:
    """This process's pymalloc figures now; None where they cannot be read (see the module's docstring).
    Holds the GIL while it walks the arenas: 0.2 ms for 237 arenas here."""
    try:
        libc = ctypes.CDLL(None)
        open_memstream, fclose, free = libc.open_memstream, libc.fclose, libc.free
        stats = ctypes.pythonapi._PyObject_DebugMallocStats
    except (AttributeError, OSError):
        return None
    open_memstream.restype = ctypes.c_void_p
    open_memstream.argtypes = (ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t))
    fclose.argtypes = free.argtypes = stats.argtypes = (ctypes.c_void_p,)
    stats.restype = ctypes.c_int
    buffer, size = ctypes.c_void_p(), ctypes.c_size_t()
    stream = open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    if not stream:
        return None
    try:
        in_use = stats(stream)  # 0: pymalloc is not the object allocator
    finally:
        fclose(stream)  # sets buffer and size to the whole text
    try:
        text = ctypes.string_at(buffer.value, size.value).decode("ascii", "replace") if buffer.value else ""
    finally:
        free(buffer)
    if not in_use:
        return None
    try:
        return parse(text)
    except ValueError:  # another CPython's wording
        return None
