"""One gzip stream made of text compressed at scrape time and pieces compressed ahead of it.

The fleet collector keeps each exported device's interface lines compressed between its polls (~1/10 of the
text: 28 MB kept instead of 174 MB at 10,000 devices x 48 ports). A gzip scrape could send those as gzip
members one after the other (RFC 1952 allows it), but not every client reads past the first member:
Prometheus (Go's gzip reader) does, httpx for one does not, and would show a truncated page without an error.
So the body is one member, made the way pigz joins blocks compressed apart:

- a kept piece is raw deflate of its text ending in a full flush: byte-aligned, not final, and referring to
  nothing before it; its text's CRC-32 and length are kept with it (``deflate_piece``);
- the text around the pieces is compressed by one running compressor, full-flushed before each piece so that
  nothing after a piece refers back across it;
- the trailer's CRC-32 is the pieces' CRCs combined with the text's. zlib's ``crc32_combine`` is not in
  Python's zlib module, so ``crc32_combine`` below calls the system zlib's through ``ctypes.PyDLL`` (a few
  matrix products: ~1 us whatever the length, and it keeps the GIL). Where that library cannot be loaded it
  gets the same from ``zlib.crc32`` over zero bytes (CRC-32 is affine in its start value), at about the
  cost of a CRC of the piece: ~7 us for a piece, 0.15 s of the 20,000 pieces of a 10,000-device scrape, and
  every CRC over 5 KB releases the GIL, a hand-off to the event loop and back.

Nothing here does I/O: the HTTP endpoint writes what ``GzipBody.chunks`` gives.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
import zlib
from collections.abc import Callable

_HEAD = struct.Struct("<II")  # a piece's CRC-32 and length of its text (UTF-8 bytes, below 4 GiB)
_RAW = -zlib.MAX_WBITS  # raw deflate: no zlib or gzip header
# A kept piece (one family of one device's ports, a few KB) is compressed with an 8 KB window and 96 KB of
# state instead of 256 KB: glibc maps and unmaps a block that large on every call once poller/gc_policy.py
# fixes its mmap threshold at 128 KB. The gzip reader's 32 KB window reads it as any other deflate.
_PIECE_WBITS, _PIECE_MEM_LEVEL = -13, 7
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, unknown OS
_ZEROS = bytes(1 << 16)


def deflate_piece(text: str) -> bytes:
    """``text`` as a piece ``GzipBody.add_piece`` takes (b"" for no text): CRC-32 and length, then raw deflate
    (level 1, as the endpoint compresses) that ends byte-aligned with a full flush."""
    if not text:
        return b""
    data = text.encode("utf-8")
    z = zlib.compressobj(1, zlib.DEFLATED, _PIECE_WBITS, _PIECE_MEM_LEVEL)
    return _HEAD.pack(zlib.crc32(data), len(data)) + z.compress(data) + z.flush(zlib.Z_FULL_FLUSH)


def inflate_piece(piece: bytes) -> str:
    """The text ``deflate_piece`` was given."""
    if not piece:
        return ""
    return zlib.decompressobj(_RAW).decompress(memoryview(piece)[_HEAD.size :]).decode("utf-8")


def piece_size(piece: bytes) -> int:
    """The length of the text (UTF-8 bytes) a piece holds."""
    return _HEAD.unpack_from(piece)[1] if piece else 0


def _system_crc32_combine() -> Callable[[int, int, int], int] | None:
    for name in ("libz.so.1", ctypes.util.find_library("z")):
        if not name:
            continue
        try:
            combine = ctypes.PyDLL(name).crc32_combine64  # PyDLL: the call keeps the GIL
        except (OSError, AttributeError):
            continue
        combine.restype = ctypes.c_ulong
        combine.argtypes = [ctypes.c_ulong, ctypes.c_ulong, ctypes.c_int64]  # the length is a z_off64_t
        return combine  # type: ignore[no-any-return]
    return None


def crc32_combine_by_zeros(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A + B from crc32(A), crc32(B) and len(B), from Python's zlib alone.

    ``zlib.crc32(B, start)`` is affine in ``start``: crc32(B, c) = crc32(B, 0) ^ crc32(Z, c) ^ crc32(Z, 0)
    for Z = len(B) zero bytes, and crc32(A + B) = crc32(B, crc32(A)).
    """
    shifted, zero = crc1, 0
    zeros = memoryview(_ZEROS)
    while len2 > 0:
        n = min(len2, len(_ZEROS))
        shifted = zlib.crc32(zeros[:n], shifted)
        zero = zlib.crc32(zeros[:n], zero)
        len2 -= n
    return crc2 ^ shifted ^ zero


# The CRC-32 of A + B from crc32(A), crc32(B) and len(B).
crc32_combine: Callable[[int, int, int], int] = _system_crc32_combine() or crc32_combine_by_zeros


class GzipBody:
    """Builds one gzip member from text (``add_text``) and kept pieces (``add_piece``), in order."""

    def __init__(self) -> None:
        self._chunks: list[bytes | memoryview] = [_GZIP_HEADER]
        self._z = zlib.compressobj(1, zlib.DEFLATED, _RAW)
        self._pending = False  # text given to the compressor since its last flush
        self._crc = 0
        self._size = 0

    def add_text(self, data: bytes) -> None:
        if not data:
            return
        self._chunks.append(self._z.compress(data))
        self._pending = True
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)

    def add_piece(self, piece: bytes) -> None:
        if not piece:
            return
        if self._pending:  # the text so far ends here, byte-aligned and referred to by nothing after it
            self._chunks.append(self._z.flush(zlib.Z_FULL_FLUSH))
            self._pending = False
        crc, size = _HEAD.unpack_from(piece)
        self._chunks.append(memoryview(piece)[_HEAD.size :])  # the kept bytes themselves, not a copy
        self._crc = crc32_combine(self._crc, crc, size)
        self._size += size

    def chunks(self) -> list[bytes | memoryview]:
        """The body: header, deflate (ended by a final block), CRC-32 and length. Ends the builder."""
        self._chunks.append(self._z.flush(zlib.Z_FINISH))
        self._chunks.append(_HEAD.pack(self._crc, self._size & 0xFFFFFFFF))
        return [c for c in self._chunks if len(c)]
