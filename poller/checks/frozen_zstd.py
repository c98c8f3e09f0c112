"""zstd compression that keeps the GIL, for the event loop's freezes of port tables.

Why by hand: the zstandard package releases the GIL around every ``compress()`` (its decompress keeps it),
and so does the standard library's zlib. For a large input that lets other threads run; for a frozen port
table (~14 KB, ~0.1 ms of work) it hands the GIL to whichever thread wants it, the metrics scrape or the
writer, and the event loop then waits for that thread's switch interval (5 ms) before it can go on:
a freeze per device-poll became a chance per poll for a 5 ms stall. No maintained binding offers a
compress that keeps the GIL, so this calls libzstd's one-shot ``ZSTD_compressCCtx`` through ctypes.PyDLL
(which holds the GIL during the call). The frame is standard zstd with its content size, as zstandard
writes it, so zstandard's decompressor reads it. Measured: byte-identical frames, the same speed; the
10,000-device pipeline ran no differently either way (docs/benchmarks.md, 2026-12-06, run F9), so what it
buys is one GIL hand-off less per poll, not a figure.

``compressor(level)`` returns None where libzstd cannot be loaded (the caller falls back to zstandard).
A context and an output buffer are kept per thread: a ZSTD_CCtx must not be used by two threads at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable
from typing import Any

_LIBRARIES = ("libzstd.so.1", "libzstd.so")  # Debian's libzstd1 (dpkg depends on it), then any


def _library() -> Any:
    names = [*_LIBRARIES, ctypes.util.find_library("zstd")]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.PyDLL(name)  # PyDLL: the call keeps the GIL (CDLL would release it)
        except OSError:
            continue
        try:
            lib.ZSTD_createCCtx.restype = ctypes.c_void_p
            lib.ZSTD_createCCtx.argtypes = []
            lib.ZSTD_freeCCtx.restype = ctypes.c_size_t
            lib.ZSTD_freeCCtx.argtypes = [ctypes.c_void_p]
            lib.ZSTD_compressBound.restype = ctypes.c_size_t
            lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
            lib.ZSTD_isError.restype = ctypes.c_uint
            lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
            lib.ZSTD_compressCCtx.restype = ctypes.c_size_t
            size, pointer = ctypes.c_size_t, ctypes.c_void_p
            # (context, destination, its capacity, source, its size, level)
            lib.ZSTD_compressCCtx.argtypes = [pointer, pointer, size, ctypes.c_char_p, size, ctypes.c_int]
        except AttributeError:  # not a zstd library after all
            continue
        return lib
    return None


class _Context:
    """One thread's ZSTD_CCtx and output buffer (freed with the thread's locals)."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self.cctx = lib.ZSTD_createCCtx()
        if not self.cctx:
            raise MemoryError("ZSTD_createCCtx failed")
        self.buffer = ctypes.create_string_buffer(0)

    def __del__(self) -> None:
        if getattr(self, "cctx", None):
            self.lib.ZSTD_freeCCtx(self.cctx)


def compressor(level: int) -> Callable[[bytes], bytes] | None:
    """A function compressing ``bytes`` to one zstd frame at ``level`` with the GIL held; None without
    libzstd."""
    lib = _library()
    if lib is None:
        return None
    local = threading.local()

    def compress(data: bytes) -> bytes:
        context: _Context | None = getattr(local, "context", None)
        if context is None:
            context = local.context = _Context(lib)
        bound = lib.ZSTD_compressBound(len(data))
        if len(context.buffer) < bound:
            context.buffer = ctypes.create_string_buffer(bound)
        size = lib.ZSTD_compressCCtx(context.cctx, context.buffer, bound, data, len(data), level)
        if lib.ZSTD_isError(size):
            raise ValueError("zstd compression failed")
        return ctypes.string_at(context.buffer, size)

    return compress
