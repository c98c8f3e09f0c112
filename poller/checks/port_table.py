"""PortTable: one device's ports between polls, frozen into one ``bytes``.

The daemon keeps every port of the fleet between polls: its state (what the next poll compares with) and
its metrics (what a scrape reads). As Python objects (a PortState tuple, its counters and signature
``bytes``, ints, a PortMetrics, dict and tuple slots) a port cost ~700 bytes, and the 10,000-device
benchmark (480,000 ports) ended at 633 MB. Frozen, a device's ports are one compressed marshal encoding
of their state rows, their PortRefs' values and which rows its metrics read.

A PortRef whose ``port_id`` is still None stays an object: the writer fills the id in on that object when it
inserts the port, and every write and event of the port until then must name the same object. The others
are thawed as new PortRefs with the same values (the writer merges a port's pending writes by its
``port_id``).

- A poll thaws its device's table (:meth:`PortTable.states`), runs poll_ports on PortState objects as
  before, and freezes what came out (:meth:`PortTable.freeze`); the thawed objects live as long as the
  poll and its result.
- A scrape thaws the metrics (:meth:`PortTable.metrics`) of the devices it renders (the first scrape after
  each poll: the rendered text is cached) and drops them.

Why marshal (not pickle, not a hand-written layout): it encodes the state's core types (int, str, bytes,
tuple, None) in C, faster than pickle, shares within one encoding what is shared (a device's profile
tuples, its poll time) and interns on decoding what was interned (names, enum names), so the thawed
objects share as the live ones did. Its format is only stable within one Python version: a table never
leaves the process. A state marshal cannot encode (a database value of another type) leaves the table
live, holding the objects as they were.

The encoding is compressed (zstd level 1: libzstd called with the GIL held, see frozen_zstd.py, else the
zstandard package, which also decompresses) because port names, descriptions and
counter layouts repeat from port to port: see COMPRESSION. zstd rather than the standard library's zlib: on a
48-port device's encoding (13.7 KB) it takes 297k instructions against zlib level 1's 827k, to 2,631 bytes
against 3,780 (valgrind --tool=callgrind, 200 compressions). Thawing and freezing cost ~0.2-0.3 ms of CPU per
48-port device-poll (``python -m benchmarks.checks_bench``), a scrape's thaw of a device's metrics ~0.1 ms.
"""

from __future__ import annotations

import marshal
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import zstandard

from .frozen_zstd import compressor
from .ports import FROZEN_COUNTERS_AT, PortState, frozen_row, thawed_state
from .results import MISSING, PortMetrics, PortRef

_VERSION = 4  # marshal's current format: shares repeated objects (refs) and keeps interned strings interned
# zstd level for the frozen encoding; 0 = not compressed. Level 1: a port of the simulated fleet takes ~120
# bytes against ~290 marshalled and 140 with zlib level 1 (python -m benchmarks.memory_bench --freeze-ports).
COMPRESSION = 1
# A zstd frame's first four bytes. A marshalled tuple starts with its type byte, ( (0x28, as the frame
# does) or ) or those with marshal's reference flag, and then its length: never b"\xb5\x2f\xfd".
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# One compression and one decompression context per thread (polls freeze on the event loop, scrapes thaw in
# their own threads): zstandard's contexts must not be used by two threads at once, and making one per call
# would allocate its tables every time.
_CONTEXTS = threading.local()
_COMPRESS_HOLDING_GIL = compressor(COMPRESSION) if COMPRESSION else None  # None without libzstd


def _compress(data: bytes) -> bytes:
    if _COMPRESS_HOLDING_GIL is not None:  # the event loop keeps the GIL through its freezes (frozen_zstd.py)
        return _COMPRESS_HOLDING_GIL(data)
    compressor = getattr(_CONTEXTS, "compressor", None)
    if compressor is None:
        compressor = _CONTEXTS.compressor = zstandard.ZstdCompressor(level=COMPRESSION)
    # a copy: zstandard's result keeps the allocation of the largest possible output (more than the input)
    return bytes(memoryview(compressor.compress(data)))


def _decompress(data: bytes) -> bytes:
    decompressor = getattr(_CONTEXTS, "decompressor", None)
    if decompressor is None:
        decompressor = _CONTEXTS.decompressor = zstandard.ZstdDecompressor()
    return decompressor.decompress(data)  # type: ignore[no-any-return]


_SAME = None  # a metric's counters: the state's own object
_MISSING_FOR_NULL = 1  # a metric's counters: the state's counters tuple with MISSING where not an int


class PortTable(Mapping[Any, PortState]):
    """A device's port states by association key (a read-only mapping) and the metrics of the poll that
    made them. Immutable: build one with :meth:`freeze`.

    Reading one key thaws every state: code that reads several calls :meth:`states` once.
    """

    __slots__ = ("_frozen", "_live", "_pending", "_size")

    _frozen: bytes | None
    _pending: dict[int, PortRef] | None  # row -> its PortRef, for those not inserted yet (port_id None)
    _live: tuple[dict[Any, PortState], tuple[PortMetrics, ...]] | None
    _size: int

    @classmethod
    def freeze(cls, states: Mapping[Any, PortState], metrics: Sequence[PortMetrics] = ()) -> PortTable:
        """``states`` (association key -> PortState) and ``metrics`` (this poll's, each reading one of those
        states as poll_ports makes them) frozen; live instead when they cannot be encoded."""
        table = cls.__new__(cls)
        table._size = len(states)
        table._live = table._pending = None
        try:
            table._frozen, table._pending = _encode(states, metrics)
        except (ValueError, KeyError):  # a value marshal cannot encode, a metric not reading these states
            table._frozen = None
            table._live = (dict(states), tuple(metrics))
        return table

    def states(self) -> dict[Any, PortState]:
        """Association key -> PortState, new objects (the PortRefs are the ones frozen)."""
        if self._frozen is None:
            assert self._live is not None
            return dict(self._live[0])
        keys, rows, refs, _ = _decode(self._frozen)
        pending = self._pending
        device_id, if_indexes, port_ids = refs
        thawed = [PortRef(device_id, i, p) for i, p in zip(if_indexes, port_ids, strict=True)]
        if pending is not None:
            for i, ref in pending.items():
                thawed[i] = ref
        return dict(zip(keys, map(thawed_state, thawed, rows), strict=True))

    def metrics(self) -> tuple[PortMetrics, ...]:
        """The metrics frozen with the states, in their order, each reading its state's frozen row (which
        holds the values a state holds where PortMetrics reads them)."""
        if self._frozen is None:
            assert self._live is not None
            return self._live[1]
        _, rows, _, specs = _decode(self._frozen)
        if not specs:
            return ()
        out = []
        for i, counters_code, rates in specs:
            row = rows[i]
            counters = row[FROZEN_COUNTERS_AT]
            if counters_code == _MISSING_FOR_NULL:
                counters = tuple([v if isinstance(v, int) else MISSING for v in counters])
            out.append(PortMetrics.from_state_values(row, counters, rates))
        return tuple(out)

    @property
    def frozen_size(self) -> int:
        """Bytes of the frozen encoding (0: live)."""
        return len(self._frozen) if self._frozen is not None else 0

    def __getitem__(self, key: Any) -> PortState:
        return self.states()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.states())

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"PortTable({self._size} ports, {'frozen' if self._frozen is not None else 'live'})"


def _encode(
    states: Mapping[Any, PortState], metrics: Sequence[PortMetrics]
) -> tuple[bytes, dict[int, PortRef] | None]:
    """The encoding and the PortRefs it holds no port_id for, by row. Raises KeyError when a metric does
    not read one of ``states``, ValueError when marshal cannot encode a value."""
    listed = list(states.values())
    refs = [s.ref for s in listed]
    device_id = refs[0].device_id if refs else 0
    if any(r.device_id != device_id for r in refs):
        raise ValueError("the ports of more than one device")
    at = {id(s): i for i, s in enumerate(listed)}
    specs = []
    for m in metrics:
        i = at[id(m.values)]
        own = listed[i].counters
        counters = m.counters_packed
        if counters is own:
            code = _SAME
        elif type(own) is tuple and counters == tuple([v if isinstance(v, int) else MISSING for v in own]):
            code = _MISSING_FOR_NULL
        else:
            raise KeyError("metric counters not derived from the state's")
        specs.append((i, code, m.rate_values))
    # each port_id read once: the writer thread may fill one in meanwhile, and a ref frozen without its id
    # must be kept as the object it will be filled in on
    port_ids = tuple([r.port_id for r in refs])
    pending = {i: refs[i] for i, port_id in enumerate(port_ids) if port_id is None}
    frozen_refs = (device_id, tuple([r.ifIndex for r in refs]), port_ids)
    rows = tuple([frozen_row(s) for s in listed])
    encoded = marshal.dumps((tuple(states), rows, frozen_refs, tuple(specs)), _VERSION)
    if COMPRESSION:
        encoded = _compress(encoded)
    return encoded, pending or None


def _decode(frozen: bytes) -> tuple[Any, ...]:
    """(keys, rows, (device_id, ifIndexes, port_ids), metric specs)"""
    encoded = _decompress(frozen) if frozen.startswith(_ZSTD_MAGIC) else frozen
    return marshal.loads(encoded)  # type: ignore[no-any-return]
