"""PollResult: everything one device poll produced, handed from the checks to the consumers.

Consumers: the store writer (poller/store/librenms.py) turns it into SQL; a metrics collector and the
Payload sync read the ``metrics`` part. Plain dataclasses only: no I/O, no callbacks. Times are epoch
seconds (int) unless a field says otherwise.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar


@dataclass(eq=False, slots=True)
class PortRef:
    """Identity of a port across polls. ``port_id`` is None until the writer has inserted a new port;
    the writer fills it in (the same object is shared with the poll state, so later updates find it)."""

    device_id: int
    ifIndex: int
    port_id: int | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One ``eventlog`` row. ``datetime`` is the epoch second the event happened (written as UTC)."""

    device_id: int
    datetime: int
    message: str
    type: str
    severity: int
    reference: str | int | PortRef | None = None  # a PortRef is resolved to its port_id by the writer
    username: str = ""


@dataclass(frozen=True, slots=True)
class OutageOpen:
    """Insert ``device_outages(device_id, going_down)`` unless an outage is already open."""

    device_id: int
    going_down: int


@dataclass(frozen=True, slots=True)
class OutageClose:
    """Set ``up_again`` on every open outage of the device."""

    device_id: int
    up_again: int


@dataclass(slots=True)
class PortWrite:
    """Column values for one port: ``ports`` columns and ``ports_statistics`` columns.

    ``insert`` = the port is new: INSERT both rows (with these values) instead of UPDATE.
    ``counters`` = True when the counter columns are part of this write (False for the statistics-skip
    rule and for the ``status`` write set): such writes may be coalesced to the newest per port.
    """

    ref: PortRef
    ports: dict[str, Any]
    statistics: dict[str, Any]
    insert: bool = False
    counters: bool = True


# The counter columns a port reports, in the order CounterMap packs them (poller/checks/ports.py's
# ALL_COUNTERS: the ``ports`` counters, then the ``ports_statistics`` ones).
COUNTER_COLUMNS: tuple[str, ...] = (
    "ifInOctets",
    "ifOutOctets",
    "ifInErrors",
    "ifOutErrors",
    "ifInUcastPkts",
    "ifOutUcastPkts",
    "ifInNUcastPkts",
    "ifOutNUcastPkts",
    "ifInDiscards",
    "ifOutDiscards",
    "ifInUnknownProtos",
    "ifInBroadcastPkts",
    "ifOutBroadcastPkts",
    "ifInMulticastPkts",
    "ifOutMulticastPkts",
)
COUNTER_INDEX: dict[str, int] = {name: i for i, name in enumerate(COUNTER_COLUMNS)}


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # a CounterMap entry that is absent (None is a value: "no rate yet")
V = TypeVar("V")

# A port's counters as the ports check keeps them between polls (in its state and in PortMetrics, one shared
# object): a header of two uint16 masks, the counters wider than 32 bits and the absent ones, then every
# counter in COUNTER_COLUMNS order as an unsigned integer of 64 bits where wide, of 32 bits elsewhere (0 where
# absent). One ``bytes`` instead of 15 int objects (~32 bytes each for the large values traffic counters hold)
# and their 15 tuple slots; most counters (errors, discards, small packet counts) stay below 2**32, so ~110
# bytes per port instead of 155 with every counter 64 bits wide.
_HEADER = struct.Struct("<HH")
_WIDE = struct.Struct("<H")  # the header's first mask
_N_COUNTERS = len(COUNTER_COLUMNS)
_NARROW_MAX = 2**32 - 1
_ALL_WIDE = 2**_N_COUNTERS - 1
_LAYOUTS: dict[int, struct.Struct] = {}  # wide mask -> the layout of the counters after the header
_LAYOUTS_MAX = 512  # past this many distinct masks, a new one is packed as _ALL_WIDE (bounded memory)


def _layout(wide: int) -> struct.Struct:
    layout = _LAYOUTS.get(wide)
    if layout is None:
        layout = struct.Struct("<" + "".join("Q" if wide >> i & 1 else "I" for i in range(_N_COUNTERS)))
        if len(_LAYOUTS) < _LAYOUTS_MAX or wide == _ALL_WIDE:
            _LAYOUTS[wide] = layout
    return layout


def pack_counters(values: Sequence[Any], wide: int | None = None) -> bytes | None:
    """``values`` (one per counter column, in order; None or MISSING = absent) packed, or None when one is
    neither absent nor an integer in [0, 2**64) (an agent's negative INTEGER, say): keep the tuple then.

    ``wide``: the caller's mask of the values above 2**32 - 1 (bit i for values[i]), when it knows them; a
    wrong or missing mask costs a pass over the values, never a wrong result.
    """
    if wide is not None:
        if len(_LAYOUTS) >= _LAYOUTS_MAX and wide not in _LAYOUTS:
            wide = _ALL_WIDE
        try:
            return _HEADER.pack(wide, 0) + _layout(wide).pack(*values)
        except struct.error:
            pass  # an absent value, or one wider than the mask says
    absent = wide = 0
    present = []
    for i, v in enumerate(values):
        if v is None or v is MISSING:
            absent |= 1 << i
            v = 0
        elif isinstance(v, int) and v > _NARROW_MAX:
            wide |= 1 << i
        present.append(v)
    if len(_LAYOUTS) >= _LAYOUTS_MAX and wide not in _LAYOUTS:
        wide = _ALL_WIDE
    try:
        return _HEADER.pack(wide, absent) + _layout(wide).pack(*present)
    except struct.error:
        return None


def unpack_counters(packed: bytes, absent: Any = None) -> tuple[Any, ...]:
    """The values pack_counters packed, ``absent`` where one was absent."""
    wide, mask = _HEADER.unpack_from(packed)
    values = _layout(wide).unpack_from(packed, _HEADER.size)
    if not mask:
        return values
    return tuple([absent if mask >> i & 1 else v for i, v in enumerate(values)])


class CounterMap(Mapping[str, V], Generic[V]):
    """A read-only {counter column: value} held as one tuple in COUNTER_COLUMNS order.

    A view: PortMetrics keeps only the tuple (a dict of 15 entries would cost ~640 bytes per port of the
    fleet; the tuple's values are shared with the poll state) and makes one of these when asked.
    ``packed`` is empty (nothing present) or starts with one entry per column, MISSING where a column is
    absent; entries after those are not part of the map (the ports check hands its state tuple, which starts
    with the counters, so a port's metrics and its poll state share one tuple).
    """

    __slots__ = ("packed",)

    def __init__(self, packed: tuple[Any, ...] = ()) -> None:
        self.packed = packed

    @classmethod
    def of(cls, values: Mapping[str, V]) -> CounterMap[V]:
        """From a {column: value} mapping (unknown columns are an error)."""
        if isinstance(values, CounterMap):
            return values
        unknown = values.keys() - COUNTER_INDEX.keys()
        if unknown:
            raise KeyError(f"not a counter column: {', '.join(sorted(unknown))}")
        if not values:
            return cls()
        return cls(tuple(values.get(c, MISSING) for c in COUNTER_COLUMNS))

    def __getitem__(self, key: str) -> V:
        i = COUNTER_INDEX[key]
        packed = self.packed
        if not packed or (value := packed[i]) is MISSING:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def get(self, key: str, default: Any = None) -> Any:
        i = COUNTER_INDEX.get(key)
        packed = self.packed
        if i is None or not packed or (value := packed[i]) is MISSING:
            return default
        return value

    def __contains__(self, key: object) -> bool:
        i = COUNTER_INDEX.get(key)  # type: ignore[call-overload]
        return i is not None and bool(self.packed) and self.packed[i] is not MISSING

    def __iter__(self) -> Iterator[str]:
        if not self.packed:
            return iter(())
        return (c for c, v in zip(COUNTER_COLUMNS, self.packed, strict=False) if v is not MISSING)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CounterMap({dict(self.items())!r})"


class RateMap(CounterMap[float | None]):
    """Per-second rates of every counter column, held as doubles in COUNTER_COLUMNS order (an ``array('d')``
    or a memoryview of PortMetrics' bytes: 8 bytes a rate instead of a float object and a tuple slot); NaN
    stands for None (no rate yet: a rate computed from two samples is always finite). ``packed`` is empty
    when no rate is present at all."""

    __slots__ = ()

    def __getitem__(self, key: str) -> float | None:
        i = COUNTER_INDEX[key]
        if not self.packed:
            raise KeyError(key)
        value: float = self.packed[i]
        return None if value != value else value

    def get(self, key: str, default: Any = None) -> Any:
        i = COUNTER_INDEX.get(key)
        if i is None or not self.packed:
            return default
        value: float = self.packed[i]
        return None if value != value else value

    def __contains__(self, key: object) -> bool:
        return key in COUNTER_INDEX and bool(self.packed)

    def __iter__(self) -> Iterator[str]:
        return iter(COUNTER_COLUMNS if self.packed else ())

    def __len__(self) -> int:
        return len(COUNTER_COLUMNS) if self.packed else 0


_NO_RATES = b""
# PortMetrics.rate_values as the ports check hands them: not the rates but what it divided to get them, the
# poll period (uint32), a mask of the counters without a rate (uint16) and each counter's delta (uint32):
# 66 bytes instead of 120 bytes of doubles, and the same double on reading (an int divided by an int is
# correctly rounded, as the check's own ``delta / period`` was). Told apart from the doubles by its length.
_RATE_DELTAS = struct.Struct(f"<IH{len(COUNTER_COLUMNS)}I")
_RATE_DOUBLES_SIZE = 8 * len(COUNTER_COLUMNS)
assert _RATE_DELTAS.size != _RATE_DOUBLES_SIZE


def pack_rate_deltas(period: int, no_rate: int, deltas: Sequence[int]) -> bytes | None:
    """Rates as ``deltas[i] / period`` (``no_rate``: a mask of the counters without one, their delta 0),
    packed for PortMetrics, or None when a delta or the period does not fit 32 bits."""
    try:
        return _RATE_DELTAS.pack(period, no_rate, *deltas)
    except struct.error:
        return None


# A port's counters and the rates its poll computed, in one ``bytes``: pack_counters' bytes, then
# pack_rate_deltas' (the ports check's state keeps it for the counters, its metrics read both: one object per
# port instead of two, a ``bytes`` header and its allocator rounding less). Per wide mask, as _layout.
_WITH_RATES: dict[int, struct.Struct] = {}


def pack_counters_and_rates(
    values: Sequence[int], wide: int, period: int, no_rate: int, deltas: Sequence[int]
) -> bytes | None:
    """pack_counters(values, wide) + pack_rate_deltas(period, no_rate, deltas) in one pack, for every value
    present; None when one of them does not pack (the caller packs them apart)."""
    if len(_LAYOUTS) >= _LAYOUTS_MAX and wide not in _LAYOUTS:
        wide = _ALL_WIDE
    with_rates = _WITH_RATES.get(wide)
    if with_rates is None:
        with_rates = struct.Struct(_HEADER.format + _layout(wide).format[1:] + _RATE_DELTAS.format[1:])
        if wide in _LAYOUTS:
            _WITH_RATES[wide] = with_rates
    try:
        return with_rates.pack(wide, 0, *values, period, no_rate, *deltas)
    except struct.error:
        return None


def _rates_after_counters(packed: bytes) -> bytes:
    """The pack_rate_deltas part of pack_counters_and_rates' bytes."""
    (wide,) = _WIDE.unpack_from(packed)
    return packed[_HEADER.size + _layout(wide).size :]


def counters_only(packed: bytes) -> bytes:
    """pack_counters' part of pack_counters_and_rates' bytes (``packed`` itself when that is all it holds)."""
    (wide,) = _WIDE.unpack_from(packed)
    size = _HEADER.size + _layout(wide).size
    return packed if len(packed) == size else packed[:size]


def _unpack_rates(packed: bytes) -> Sequence[float]:
    """The doubles of PortMetrics.rate_values in COUNTER_COLUMNS order, NaN = no rate (empty: none at all)."""
    if len(packed) != _RATE_DELTAS.size:
        return memoryview(packed).cast("d") if packed else ()
    period, no_rate, *deltas = _RATE_DELTAS.unpack(packed)
    return tuple([math.nan if no_rate >> i & 1 else d / period for i, d in enumerate(deltas)])


# Where PortMetrics' fields are in the ports check's PortState (a tuple), which a port's metrics share
# rather than copy: the port's own values, then (at AT_PROFILE) a tuple of those many ports share
# (poller/checks/ports.py asserts these positions against its columns).
PORT_VALUES_SIZE, PROFILE_SIZE = 12, 13
AT_IF_NAME, AT_IF_DESCR, AT_IF_ALIAS, AT_IF_INDEX, AT_PROFILE = 0, 1, 2, 10, 11
IN_PROFILE_ADMIN_STATUS, IN_PROFILE_OPER_STATUS, IN_PROFILE_SPEED, IN_PROFILE_IF_TYPE = 0, 1, 3, 4
IN_PROFILE_DELETED = 12


class PortMetrics:
    """Latest per-port values for metrics (rates are per second, unrounded; None = no rate yet). Immutable.

    ``counters`` and ``rates`` may be given as any {column: value} mapping; they come back as CounterMap /
    RateMap views. The ports check hands them packed instead: the counters as pack_counters' ``bytes`` (the
    one its state keeps; absent = MISSING) or as CounterMap's tuple, and the rates as pack_rate_deltas'
    ``bytes`` (native doubles in a ``bytes``, NaN = None, are taken too). A scrape makes one of these for
    every port of the devices it renders (FleetState keeps them frozen in a PortTable between polls), so
    it holds no mapping objects of its own: neither a tuple of
    numbers nor a ``bytes`` is tracked by the garbage collector (an array and two view objects were, ~180
    bytes and three tracked objects per port).

    The other fields are read from one tuple laid out as the ports check's PortState (AT_* positions; entries
    after PORT_VALUES_SIZE are not read): the check hands its state itself (``from_state_values``), so a
    port's metrics add 56 bytes to its state instead of 120 for eleven fields of their own.
    """

    __slots__ = ("counters_packed", "rate_values", "values")
    _FIELDS = (
        "ifIndex", "ifName", "ifAlias", "ifDescr", "ifType", "oper_status", "admin_status", "speed",
        "counters", "rates", "deleted",
    )  # fmt: skip

    values: tuple[Any, ...]  # PORT_VALUES_SIZE entries, the fields at the AT_* positions
    counters_packed: tuple[Any, ...] | bytes  # CounterMap.packed, or pack_counters' bytes
    # pack_rate_deltas' bytes, or doubles in COUNTER_COLUMNS order; empty = no rate at all; None = after the
    # counters in counters_packed (pack_counters_and_rates)
    rate_values: bytes | None

    def __init__(
        self,
        ifIndex: int,
        ifName: str | None,
        ifAlias: str | None,
        ifDescr: str | None,
        ifType: str | None,
        oper_status: str | None,
        admin_status: str | None,
        speed: int | None,
        counters: Mapping[str, int] | tuple[Any, ...] | bytes,
        rates: Mapping[str, float | None] | bytes,
        deleted: bool = False,
    ) -> None:
        values: list[Any] = [None] * PORT_VALUES_SIZE
        profile: list[Any] = [None] * PROFILE_SIZE
        values[AT_IF_INDEX], values[AT_IF_NAME], values[AT_IF_ALIAS], values[AT_IF_DESCR] = (
            ifIndex,
            ifName,
            ifAlias,
            ifDescr,
        )
        profile[IN_PROFILE_IF_TYPE], profile[IN_PROFILE_SPEED] = ifType, speed
        profile[IN_PROFILE_OPER_STATUS], profile[IN_PROFILE_ADMIN_STATUS] = oper_status, admin_status
        profile[IN_PROFILE_DELETED] = deleted
        values[AT_PROFILE] = tuple(profile)
        self.values = tuple(values)
        self.counters_packed = (
            counters if type(counters) is tuple or type(counters) is bytes else CounterMap.of(counters).packed  # type: ignore[arg-type]
        )
        self.rate_values = rates if type(rates) is bytes else _pack_rates(rates)  # type: ignore[arg-type]

    @classmethod
    def from_state_values(
        cls, values: tuple[Any, ...], counters: tuple[Any, ...] | bytes, rates: bytes | None
    ) -> PortMetrics:
        """The ports check's: ``values`` a PortState (shared, not copied; its ``deleted`` entry falsy),
        ``counters`` and ``rates`` packed."""
        metrics = cls.__new__(cls)
        metrics.values, metrics.counters_packed, metrics.rate_values = values, counters, rates
        return metrics

    @property
    def ifIndex(self) -> int:
        return self.values[AT_IF_INDEX]  # type: ignore[no-any-return]

    @property
    def ifName(self) -> str | None:
        return self.values[AT_IF_NAME]  # type: ignore[no-any-return]

    @property
    def ifAlias(self) -> str | None:
        return self.values[AT_IF_ALIAS]  # type: ignore[no-any-return]

    @property
    def ifDescr(self) -> str | None:
        return self.values[AT_IF_DESCR]  # type: ignore[no-any-return]

    @property
    def ifType(self) -> str | None:
        return self.values[AT_PROFILE][IN_PROFILE_IF_TYPE]  # type: ignore[no-any-return]

    @property
    def oper_status(self) -> str | None:
        return self.values[AT_PROFILE][IN_PROFILE_OPER_STATUS]  # type: ignore[no-any-return]

    @property
    def admin_status(self) -> str | None:
        return self.values[AT_PROFILE][IN_PROFILE_ADMIN_STATUS]  # type: ignore[no-any-return]

    @property
    def speed(self) -> int | None:
        """Bits per second."""
        return self.values[AT_PROFILE][IN_PROFILE_SPEED]  # type: ignore[no-any-return]

    @property
    def deleted(self) -> bool:
        return bool(self.values[AT_PROFILE][IN_PROFILE_DELETED])  # the state's 0/1 column, or the bool given

    @property
    def counter_values(self) -> tuple[Any, ...]:
        """CounterMap's tuple: one entry per counter column, MISSING where absent (or empty: none at all)."""
        packed = self.counters_packed
        if type(packed) is not bytes:
            return packed  # type: ignore[return-value]
        return unpack_counters(packed, MISSING)

    @property
    def counters(self) -> CounterMap[int]:
        """Column name (ifInOctets, ...) -> raw value."""
        return CounterMap(self.counter_values)

    @property
    def rates(self) -> RateMap:
        """Column name -> per-second rate (None: no rate yet)."""
        rates = self.rate_values
        if rates is None:
            rates = _rates_after_counters(self.counters_packed)  # type: ignore[arg-type]
        return RateMap(_unpack_rates(rates))

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PortMetrics):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "PortMetrics(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS) + ")"


def _pack_rates(rates: Mapping[str, float | None]) -> bytes:
    if isinstance(rates, RateMap):
        return array("d", rates.packed).tobytes() if len(rates.packed) else _NO_RATES
    if not rates:
        return _NO_RATES
    unknown = rates.keys() - COUNTER_INDEX.keys()
    if unknown:
        raise KeyError(f"not a counter column: {', '.join(sorted(unknown))}")
    return array("d", [math.nan if (v := rates.get(c)) is None else v for c in COUNTER_COLUMNS]).tobytes()


@dataclass(slots=True)
class DeviceMetrics:
    """Latest device-level values for metrics."""

    up: bool
    reachable: bool  # this poll's SNMP outcome (may differ from ``up`` below the down threshold)
    uptime: int | None  # seconds
    poll_duration: float  # seconds this poll took
    consecutive_failures: int
    error: str | None = None  # error kind ("timeout", "auth", ...) when unreachable


@dataclass(slots=True)
class PollResult:
    """One device poll. ``device`` holds the ``devices`` columns to update (empty = none)."""

    device_id: int
    polled: int  # epoch second of the poll
    device: dict[str, Any] = field(default_factory=dict)
    ports: list[PortWrite] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    outage_open: OutageOpen | None = None
    outage_close: OutageClose | None = None
    metrics: DeviceMetrics | None = None
    port_metrics: list[PortMetrics] = field(default_factory=list)
    # the ports check's states and these metrics frozen (poller/checks/port_table.py), as the device keeps
    # them until its next poll: what FleetState holds rather than the objects
    port_table: Any = None

    @property
    def has_transition(self) -> bool:
        """True when the result carries state changes that must never be dropped."""
        return bool(self.events or self.outage_open or self.outage_close or "status" in self.device)
