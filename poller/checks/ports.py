"""Ports: LibreNMS's ports poller semantics as a pure function of (stored ports, walked columns).

Follows includes/polling/ports.inc.php (see ../shared/librenms/POLLER-SEMANTICS.md section 4):

- HC counters (ifHCInOctets, ...) are stored under the plain names when present and non-zero.
- ifSpeed = ifHighSpeed * 10**6 when ifHighSpeed is numeric, else ifSpeed, else 0.
- ifPhysAddress as lowercase hex, ifLastChange raw TimeTicks (0 when absent), ifConnectorPresent
  "true"/"false", ifType/ifOperStatus/ifAdminStatus/ifDuplex as names, ifVlan = dot1qPvid.
- Changed data columns are updated and eventlogged ("ifOperStatus: up -> down", type 'interface',
  severity 3, reference port_id; "-> NULL" with severity 4); ifOperStatus/ifAdminStatus/ifSpeed keep
  ``<col>_prev`` = old value on change, or = current value when unchanged and still NULL.
- Counters: see counters.py (value/_prev/_delta/_rate, with the documented wrap/reset differences).
- Statistics are not updated for a port that was down, is down, whose ifOperStatus_prev is down and whose
  ifLastChange did not move (except adsl/vdsl types).
- poll_time = polled, poll_prev = old poll_time, poll_period = max(polled - old poll_time, 1) for every seen
  port (LibreNMS writes NULL poll_period for ports without updates: an inverted condition; not copied).
- A valid port not stored is inserted (with its ports_statistics row); a stored port missing from the walk
  gets deleted = 1; a deleted port seen again gets deleted = 0. Disabled ports are never passed in.
- port_descr_* from LibreNMS's default ifAlias parser ("Type: descr [speed] {circuit} (notes)").

Not done (the columns are not owned by fastpoll; LibreNMS's 5-minute poll keeps them): ifTrunk and Cisco
vmVlan/VTP, PAgP, OS-specific ports include files, per-port ifSpeed overrides, selective port polling.
"""

from __future__ import annotations

import marshal
import math
import re
import struct
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from typing import Any

from poller.snmp.pdu import RowBlock, Walked, column_slices, put_blocks

from . import results
from .counters import polled_period
from .ifmib import DUPLEX_STATUS, IANA_IFTYPE, IF_STATUS, OID_TO_NAME, TRUTH_VALUE, enum_name
from .results import (
    COUNTER_COLUMNS,
    MISSING,
    EventRow,
    PortMetrics,
    PortRef,
    PortWrite,
    counters_only,
    pack_counters,
    pack_counters_and_rates,
    pack_rate_deltas,
    unpack_counters,
)

SEVERITY_NOTICE = 3
SEVERITY_WARNING = 4

# Counters stored in `ports` / `ports_statistics`, with their 64-bit source column (if any).
PORTS_COUNTERS: dict[str, str | None] = {
    "ifInOctets": "ifHCInOctets",
    "ifOutOctets": "ifHCOutOctets",
    "ifInErrors": None,
    "ifOutErrors": None,
    "ifInUcastPkts": "ifHCInUcastPkts",
    "ifOutUcastPkts": "ifHCOutUcastPkts",
}
STATISTICS_COUNTERS: dict[str, str | None] = {
    "ifInNUcastPkts": None,
    "ifOutNUcastPkts": None,
    "ifInDiscards": None,
    "ifOutDiscards": None,
    "ifInUnknownProtos": None,
    "ifInBroadcastPkts": "ifHCInBroadcastPkts",
    "ifOutBroadcastPkts": "ifHCOutBroadcastPkts",
    "ifInMulticastPkts": "ifHCInMulticastPkts",
    "ifOutMulticastPkts": "ifHCOutMulticastPkts",
}
ALL_COUNTERS = {**PORTS_COUNTERS, **STATISTICS_COUNTERS}

# LibreNMS's $data_oids minus the ones fastpoll does not own (ifTrunk).
DATA_COLUMNS = (
    "ifName",
    "ifDescr",
    "ifAlias",
    "ifAdminStatus",
    "ifOperStatus",
    "ifMtu",
    "ifSpeed",
    "ifType",
    "ifPhysAddress",
    "ifConnectorPresent",
    "ifDuplex",
    "ifVlan",
)
PREV_TRACKED = ("ifOperStatus", "ifAdminStatus", "ifSpeed")
DESCR_ATTRIBS = ("type", "descr", "circuit", "speed", "notes")
STATS_ALWAYS_TYPES = ("adsl", "vdsl", "vdsl2")

# devices.port_association_mode -> the column a port is matched by.
ASSOCIATION_COLUMNS = {1: "ifIndex", 2: "ifName", 3: "ifDescr", 4: "ifAlias"}


# The stored columns poll_ports reads back on the next poll: the counters (in CounterMap's order, packed by
# pack_counters into one bytes the port's metrics share), then the rest in VALUE_COLUMNS order: first the
# columns that differ from port to port (_OWN), then those most ports of a fleet have in common (_PROFILE:
# statuses, MTU, speed, type, their ``_prev``, deleted...). Columns written but never read back (counter
# _prev/_delta/_rate, poll_prev, poll_period) are not kept between polls.
_OWN = (
    "ifName",
    "ifDescr",
    "ifAlias",
    "ifPhysAddress",
    "ifVlan",
    "port_descr_descr",
    "port_descr_circuit",
    "port_descr_notes",
    "ifLastChange",
    "poll_time",
    "ifIndex",
)
_PROFILE = (
    "ifAdminStatus",
    "ifOperStatus",
    "ifMtu",
    "ifSpeed",
    "ifType",
    "ifConnectorPresent",
    "ifDuplex",
    "ifOperStatus_prev",
    "ifAdminStatus_prev",
    "ifSpeed_prev",
    "port_descr_type",
    "port_descr_speed",
    "deleted",
)
VALUE_COLUMNS: tuple[str, ...] = (*_OWN, *_PROFILE)  # PortState.row's order after the counters
STATE_COLUMNS: tuple[str, ...] = (*COUNTER_COLUMNS, *VALUE_COLUMNS)
_N_OWN = len(_OWN)
_I = {c: i for i, c in enumerate(VALUE_COLUMNS)}
_N_COUNTERS = len(COUNTER_COLUMNS)
_N_PORTS_COUNTERS = len(PORTS_COUNTERS)
_data_of = itemgetter(*(_I[c] for c in DATA_COLUMNS))  # the data columns of a VALUE_COLUMNS tuple
_DESCR_COLUMNS = tuple(f"port_descr_{a}" for a in DESCR_ATTRIBS)
_descr_of = itemgetter(*(_I[c] for c in _DESCR_COLUMNS))  # the port_descr_* columns of a VALUE_COLUMNS tuple
_I_IF_INDEX = _I["ifIndex"]
_I_DELETED = _I["deleted"]
_I_IF_NAME, _I_IF_ALIAS, _I_IF_DESCR, _I_IF_TYPE = _I["ifName"], _I["ifAlias"], _I["ifDescr"], _I["ifType"]
_I_OPER, _I_ADMIN, _I_SPEED = _I["ifOperStatus"], _I["ifAdminStatus"], _I["ifSpeed"]
_I_OPER_PREV, _I_LAST_CHANGE, _I_POLL_TIME = _I["ifOperStatus_prev"], _I["ifLastChange"], _I["poll_time"]
_I_MAC = _I["ifPhysAddress"]
_D_MAC = DATA_COLUMNS.index("ifPhysAddress")
_DATA_BEFORE_MAC, _DATA_AFTER_MAC = DATA_COLUMNS[:_D_MAC], DATA_COLUMNS[_D_MAC + 1 :]
assert sorted(VALUE_COLUMNS) == sorted(
    {*DATA_COLUMNS, *(f"{c}_prev" for c in PREV_TRACKED), *(f"port_descr_{a}" for a in DESCR_ATTRIBS)}
    | {"ifLastChange", "deleted", "poll_time", "ifIndex"}
)
assert _OWN[-3:] == ("ifLastChange", "poll_time", "ifIndex") and _PROFILE[-1] == "deleted"
# PortMetrics reads its fields from a state's values tuple, at positions results.py fixes
assert _N_OWN + 1 == results.PORT_VALUES_SIZE and len(_PROFILE) == results.PROFILE_SIZE
assert (_I_IF_INDEX, _I_IF_NAME, _I_IF_ALIAS, _I_IF_DESCR, _N_OWN) == (
    results.AT_IF_INDEX,
    results.AT_IF_NAME,
    results.AT_IF_ALIAS,
    results.AT_IF_DESCR,
    results.AT_PROFILE,
)
assert tuple(_I[c] - _N_OWN for c in ("ifType", "deleted", "ifOperStatus", "ifAdminStatus", "ifSpeed")) == (
    results.IN_PROFILE_IF_TYPE,
    results.IN_PROFILE_DELETED,
    results.IN_PROFILE_OPER_STATUS,
    results.IN_PROFILE_ADMIN_STATUS,
    results.IN_PROFILE_SPEED,
)

# The profiles PortState.values share, one tuple each (a fleet's ports have few distinct ones). Bounded: past
# _PROFILES_MAX, a profile not yet shared is kept as it came. Only profiles of str, int and None are shared:
# for those equal means identical in type and value (True == 1, 1.0 == 1 would swap one value for another).
_PROFILES: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_PROFILES_MAX = 8192
_SHAREABLE_TYPES = frozenset({str, int, type(None)})


def _shared(table: dict[Any, Any], value: Any, limit: int) -> Any:
    """``value``'s one shared object in ``table``; a value not yet there is added while the table holds fewer
    than ``limit`` (bounded memory), else kept as it came."""
    shared = table.get(value)
    if shared is not None:
        return shared
    if len(table) < limit:
        table[value] = value
    return value


def _shared_profile(profile: tuple[Any, ...]) -> tuple[Any, ...]:
    if not _SHAREABLE_TYPES.issuperset(map(type, profile)):
        return profile
    return _shared(_PROFILES, profile, _PROFILES_MAX)  # type: ignore[no-any-return]


def _kept_values(full: tuple[Any, ...]) -> tuple[Any, ...]:
    """A VALUE_COLUMNS tuple as PortState.values keeps it: the _OWN values, then the profile, shared.

    One tuple of 24 values per port cost 232 bytes; the port's own 11 and a shared profile cost 136."""
    return (*full[:_N_OWN], _shared_profile(full[_N_OWN:]))


def _flat(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """PortState.values as one tuple in VALUE_COLUMNS order."""
    return values[:_N_OWN] + values[_N_OWN]  # type: ignore[no-any-return]


_NONE_ROW = _kept_values((None,) * len(VALUE_COLUMNS))
_FOREIGN: Any = object()  # PortState.memo_data: the memo is not for this state's values
_NO_COUNTERS = pack_counters((None,) * _N_COUNTERS)  # a state that has none yet
# Columns whose values repeat across ports and devices (names, enum names, speeds, MTUs): one object each
# when a state is built from a database row (every row read back brings its own copies).
_INTERNED = frozenset(
    {
        "ifMtu",
        "ifSpeed",
        "ifSpeed_prev",
        "ifName",
        "ifDescr",
        "ifAlias",
        "ifAdminStatus",
        "ifOperStatus",
        "ifType",
        "ifConnectorPresent",
        "ifDuplex",
        "ifVlan",
        "ifOperStatus_prev",
        "ifAdminStatus_prev",
        "port_descr_type",
        "port_descr_speed",
    }
)


# Numbers that repeat across a fleet's ports (speeds, MTUs), shared as sys.intern shares text: one int
# object each instead of one per port (28-32 bytes). Bounded: past _SHARED_MAX distinct values, a value not
# yet shared is kept as it came.
_SHARED_INTS: dict[int, int] = {}
_SHARED_MAX = 4096


def _shared_int(value: int) -> int:
    if type(value) is not int:  # a bool or an int subclass stays what it is (True == 1 as a dict key)
        return value
    return _shared(_SHARED_INTS, value, _SHARED_MAX)  # type: ignore[no-any-return]


def _intern(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else _shared_int(value)


# CounterMap's and pack_counters' order is the order counters are polled, and a state's row starts with them
assert tuple(ALL_COUNTERS) == COUNTER_COLUMNS == STATE_COLUMNS[:_N_COUNTERS]
assert _NO_COUNTERS is not None
assert tuple(PORTS_COUNTERS) == COUNTER_COLUMNS[:_N_PORTS_COUNTERS]


def _kept(column: str, value: Any) -> Any:
    """A column's value from a database row as PortState.values keeps it."""
    if column in _INTERNED:
        return _intern(value)
    return _mac_kept(value) if column == "ifPhysAddress" else value


# PortState's entries after its values
_N_VALUES = _N_OWN + 1
_AT_REF, _AT_COUNTERS, _AT_SIGNATURE, _AT_MEMO_DATA = range(_N_VALUES, _N_VALUES + 4)


class PortState(tuple):  # type: ignore[type-arg]
    """A stored port: its identity and the last written value of every column poll_ports reads back.

    Between polls a device's states are kept frozen (poller/checks/port_table.py) and a poll thaws them. One
    tuple, whose values are kept small: the port's own values (VALUE_COLUMNS[:_N_OWN]), then its profile, a
    tuple it shares with the ports that have the same (a dict of the ~90 written columns cost ~5 KB per port;
    24 values in a tuple of their own, 232 bytes), then ``ref``, ``counters`` (one pack_counters ``bytes``,
    or, for values it cannot pack, a tuple in COUNTER_COLUMNS order), ``signature`` and ``memo_data``
    (poll_ports's memo, below). One tuple instead of an object with five slots and a tuple of values.
    ``values`` (the first _N_VALUES entries) is what a port's PortMetrics read; ``row`` gives every column
    as a dict. Immutable: a poll makes new states.

    poll_ports's memo of the poll that produced this state: ``signature``, the raw data values as one
    _signature (None: no memo), and ``memo_data``, the data columns port_values gave, None when they equal
    the stored ones, or _FOREIGN when the signature came with other values (a memo handed to the
    constructor). When the agent returns the same raw values and the memo is this state's own, the data
    columns cannot have changed and their comparison is skipped.
    """

    __slots__ = ()

    def __new__(
        cls, ref: PortRef, row: Mapping[str, Any] | None = None, memo: tuple[Any, ...] | None = None
    ) -> PortState:
        values = _kept_values(tuple([_kept(c, row.get(c)) for c in VALUE_COLUMNS])) if row else _NONE_ROW
        counters: bytes | tuple[Any, ...] = _NO_COUNTERS  # type: ignore[assignment]
        if row:
            row_counters = tuple(map(row.get, COUNTER_COLUMNS))
            packed = pack_counters(row_counters)
            counters = _NO_COUNTERS if packed == _NO_COUNTERS else packed or row_counters  # type: ignore[assignment]
        return tuple.__new__(cls, (*values, ref, counters, memo[0] if memo else None, _FOREIGN))

    @classmethod
    def packed(
        cls,
        ref: PortRef,
        values: tuple[Any, ...],
        counters: bytes | tuple[Any, ...],
        signature: bytes | tuple[Any, ...] | None = None,
        memo_data: Any = None,
    ) -> PortState:
        """A state from values and counters already as a state keeps them (``values``, ``counters``), with
        poll_ports's memo of the poll that made ``values`` (no memo without a signature)."""
        memo_data = memo_data if signature is not None else _FOREIGN
        return tuple.__new__(cls, (*values, ref, counters, signature, memo_data))

    @property
    def ref(self) -> PortRef:
        return self[_AT_REF]  # type: ignore[no-any-return]

    @property
    def values(self) -> tuple[Any, ...]:
        """The port's own values, then its profile (a new tuple: PortMetrics read the state itself)."""
        return self[:_N_VALUES]  # type: ignore[no-any-return]

    @property
    def counters(self) -> bytes | tuple[Any, ...]:
        return self[_AT_COUNTERS]  # type: ignore[no-any-return]

    @property
    def signature(self) -> bytes | tuple[Any, ...] | None:
        return self[_AT_SIGNATURE]  # type: ignore[no-any-return]

    @property
    def memo_data(self) -> Any:
        return self[_AT_MEMO_DATA]

    @property
    def memo(self) -> tuple[Any, ...] | None:
        """(signature, data columns or None, ``values``) of the poll that made this state, or None without a
        memo; the last two are None when the memo came with other values."""
        if self.signature is None:
            return None
        if self.memo_data is _FOREIGN:
            return (self.signature, None, None)
        return (self.signature, self.memo_data, self.values)

    @property
    def counter_values(self) -> tuple[Any, ...]:
        """The kept counters in COUNTER_COLUMNS order (None = NULL or never written)."""
        counters = self.counters
        return unpack_counters(counters) if type(counters) is bytes else counters  # type: ignore[return-value]

    @property
    def row(self) -> dict[str, Any]:
        """The kept columns as {column: value} (None = NULL or never written)."""
        return _row(self.counter_values, _flat(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PortState):
            return NotImplemented
        return (
            _identity(self.ref) == _identity(other.ref)
            and self.values == other.values
            and self.counter_values == other.counter_values
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PortState({self.ref!r}, {self.row!r})"


def _identity(ref: PortRef) -> tuple[int, int, int | None]:
    return (ref.device_id, ref.ifIndex, ref.port_id)


def frozen_row(state: PortState) -> tuple[Any, ...]:
    """``state`` as PortTable freezes it: every entry but its PortRef (frozen apart), the memo's _FOREIGN as
    ``...`` (marshal encodes core types only)."""
    memo_data = state[_AT_MEMO_DATA]
    memo = ... if memo_data is _FOREIGN else memo_data
    return (*state[:_AT_REF], state[_AT_COUNTERS], state[_AT_SIGNATURE], memo)


# A frozen_row's counters entry. The entries before it are a state's values, at the positions PortMetrics
# reads (results.AT_*), so a port's metrics can read its frozen row as they read its state.
FROZEN_COUNTERS_AT = _AT_REF
assert FROZEN_COUNTERS_AT == results.PORT_VALUES_SIZE


def thawed_state(ref: PortRef, row: tuple[Any, ...]) -> PortState:
    """The PortState a frozen_row was made from, with ``ref``."""
    memo = row[-1]
    memo_data = _FOREIGN if memo is ... else memo
    return tuple.__new__(PortState, (*row[:_AT_REF], ref, row[_AT_REF], row[_AT_REF + 1], memo_data))  # type: ignore[no-any-return]


def _row(counters: tuple[Any, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    """A state's counters and values as {column: value}, ifPhysAddress as the text it was given."""
    row = dict(zip(STATE_COLUMNS, (*counters, *values), strict=True))
    row["ifPhysAddress"] = _mac_text(row["ifPhysAddress"])
    return row


@dataclass(slots=True)
class PortsOutcome:
    states: dict[Any, PortState]  # association key -> state after this poll
    writes: list[PortWrite]
    events: list[EventRow]
    metrics: list[PortMetrics]


# ---------------------------------------------------------------- walked columns -> per-port values


def rows_from_table(table: Mapping[str, Mapping[tuple[int, ...], Any]]) -> dict[int, dict[str, Any]]:
    """{column oid: {index: value}} -> {ifIndex: {name: raw value}} for the IF-MIB columns (plus duplex
    from EtherLike-MIB and dot1qPvid)."""
    rows: dict[int, dict[str, Any]] = {}
    pvids: dict[tuple[int, ...], Any] = {}
    _rows_from_columns(rows, table, pvids)
    _attach_pvids(rows, pvids)
    return rows


def rows_from_walks(walks: Iterable[Walked]) -> dict[int, dict[str, Any]]:
    """``rows_from_table`` of the walks' cells together (walks of different columns, as SnmpEngine.
    walk_columns gives them: each cell once), the same rows, made without putting each cell into its
    column first.

    A block of whole rows (RowBlock) whose cells in a row share one ifIndex becomes one dict per row,
    built in C (dict over zip of the column names and the row's values); any other block goes cell by
    cell, as rows_from_table does. Making the rows costs about what rows_from_table does; what is saved
    is the columns' dicts, never built: a 48-port device's measured walk, from its answers to its rows,
    takes 6.0M instead of 7.2M instructions, 0.76-0.89x the time from run to run (``python -m
    benchmarks.walk_bench``), on the event loop at every poll.
    """
    rows: dict[int, dict[str, Any]] = {}
    pvids: dict[tuple[int, ...], Any] = {}  # dot1qPvid's cells, attached once every row is made
    for walked in walks:
        for block in walked.blocks:
            if not _rows_from_block(rows, block, pvids):
                table: dict[str, dict[tuple[int, ...], Any]] = {oid: {} for oid in block.columns}
                put_blocks([block], table)
                _rows_from_columns(rows, table, pvids)
        _rows_from_columns(rows, walked.columns, pvids)
    _attach_pvids(rows, pvids)
    return rows


def _rows_from_columns(
    rows: dict[int, dict[str, Any]],
    table: Mapping[str, Mapping[tuple[int, ...], Any]],
    pvids: dict[tuple[int, ...], Any],
) -> None:
    rows_get = rows.get
    for oid, column in table.items():
        name = OID_TO_NAME.get(oid)
        if name is None:
            continue
        if name == "dot1qPvid":
            pvids.update(column)
            continue
        for index, value in column.items():
            if value is None or len(index) != 1:
                continue
            row = rows_get(index[0])
            if row is None:
                rows[index[0]] = {name: value}
            else:
                row[name] = value


def _attach_pvids(rows: dict[int, dict[str, Any]], pvids: Mapping[tuple[int, ...], Any]) -> None:
    # LibreNMS stores dot1qPvid under its table index as if it were the ifIndex (no dot1dBasePort mapping).
    for idx, pvid in pvids.items():
        if len(idx) == 1 and isinstance(pvid, int) and idx[0] in rows:
            rows[idx[0]]["dot1qPvid"] = pvid


@dataclass(frozen=True, slots=True)
class _BlockPlan:
    names: tuple[str, ...]  # the row columns' names
    pick: Callable[[list[Any]], tuple[Any, ...]] | None  # a row's values of those columns (None: all)
    pvid_at: tuple[int, ...]  # where dot1qPvid is among the block's columns


@lru_cache(maxsize=256)
def _block_plan(columns: tuple[str, ...]) -> _BlockPlan | None:
    """How a block of these columns becomes rows: by name, leaving out columns rows do not hold by
    name (not IF-MIB's; dot1qPvid, attached last); None when that leaves fewer than two, or a column
    is asked twice (cell by cell then)."""
    names = [OID_TO_NAME.get(c) for c in columns]
    keep = [i for i, name in enumerate(names) if name is not None and name != "dot1qPvid"]
    kept = tuple(names[i] for i in keep)
    if len(keep) < 2 or len(set(kept)) != len(kept):
        return None
    pick: Callable[[list[Any]], tuple[Any, ...]] | None = None
    if len(keep) < len(columns):
        pick = itemgetter(*keep)  # two or more: a tuple
    return _BlockPlan(kept, pick, tuple(i for i, name in enumerate(names) if name == "dot1qPvid"))


@lru_cache(maxsize=1024)
def _row_slices(n: int, count: int) -> tuple[slice, ...]:
    """Row r of a row-major list of n-column rows: slice(r * n, (r + 1) * n)."""
    return tuple(slice(r * n, (r + 1) * n) for r in range(count))


def _rows_from_block(
    rows: dict[int, dict[str, Any]], block: RowBlock, pvids: dict[tuple[int, ...], Any]
) -> bool:
    """The block's rows into ``rows``; False (nothing done) when its cells in a row do not share one
    ifIndex (a sparse column) or their indexes are not one number."""
    plan = _block_plan(block.columns)
    if plan is None:
        return False
    n = len(block.columns)
    keys = block.keys
    first = keys[0::n]
    if not all(map(first.__eq__, map(keys.__getitem__, column_slices(n)[1:]))) or set(map(len, first)) != {1}:
        return False
    index = list(map(_first_item, first))
    values = block.values
    row_values = map(values.__getitem__, _row_slices(n, len(first)))
    if plan.pick is not None:
        row_values = map(plan.pick, row_values)
    made = map(dict, map(zip, repeat(plan.names), row_values))
    if rows.keys().isdisjoint(index):
        rows.update(zip(index, made, strict=True))
    else:  # rows of another block or walk: these columns join them
        for i, row in zip(index, made, strict=True):
            known = rows.get(i)
            if known is None:
                rows[i] = row
            else:
                known.update(row)
    for at in plan.pvid_at:
        pvids.update(zip(keys[at::n], values[at::n], strict=True))
    return True


_first_item = itemgetter(0)


OID_TO_NAME_REV = {name: oid for oid, name in OID_TO_NAME.items()}


def needs_full_if_entry(rows: Mapping[int, Mapping[str, Any]]) -> bool:
    """LibreNMS walks all of ifEntry when the first port lacks numeric ifHCInOctets or ifHighSpeed."""
    if not rows:
        return True
    first = rows[min(rows)]
    return not (isinstance(first.get("ifHCInOctets"), int) and isinstance(first.get("ifHighSpeed"), int))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    return str(value)


def _interned_text(value: Any) -> str | None:
    """_text, interned: interface names, descriptions and many aliases repeat across a fleet's devices
    (Gi0/1, "uplink", ...) and stay in memory for every port between polls (an interned string nobody
    holds any more is freed)."""
    text = _text(value)
    return sys.intern(text) if text else text


def _mac_hex(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex() or None
    text = str(value).strip().lower()
    return re.sub(r"[^0-9a-f]", "", text) or None


# ifPhysAddress as PortState.values keeps it: lowercase hex text (what _mac_hex gives) as the int of "1" + the
# hex digits, 32 bytes instead of 61 for a MAC's 12-character string (the leading 1 keeps leading zeros, so
# the text comes back exactly); any other value as it is. Every port keeps one between polls.
_LOWER_HEX = re.compile(r"[0-9a-f]*")


def _mac_kept(text: Any) -> Any:
    return int("1" + text, 16) if type(text) is str and _LOWER_HEX.fullmatch(text) else text


def _mac_text(kept: Any) -> Any:
    return format(kept, "x")[1:] if type(kept) is int else kept


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def port_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ports`` data columns as LibreNMS stores them, from one port's raw SNMP values.

    A column the agent did not return is None (LibreNMS then writes NULL), except ifLastChange (0) and
    ifSpeed (0 when neither ifHighSpeed nor ifSpeed is numeric).
    """
    high = _int(raw.get("ifHighSpeed"))
    if high is not None:  # computed in PHP: an int (0 == NULL loosely); SNMP values are strings
        speed: int = _shared_int(high * 1_000_000)
    else:
        speed = _shared_int(_int(raw.get("ifSpeed")) or 0)
    mtu = _int(raw.get("ifMtu"))
    descr = _interned_text(raw.get("ifDescr"))
    # LibreNMS fills an empty ifAlias (and a missing ifName) with ifDescr.
    return {
        "ifName": _interned_text(raw.get("ifName")) or descr,
        "ifDescr": descr,
        "ifAlias": _interned_text(raw.get("ifAlias")) or descr,
        "ifAdminStatus": enum_name(IF_STATUS, raw.get("ifAdminStatus")),
        "ifOperStatus": enum_name(IF_STATUS, raw.get("ifOperStatus")),
        "ifMtu": _shared_int(mtu) if mtu is not None else None,
        "ifSpeed": speed,
        "ifType": enum_name(IANA_IFTYPE, raw.get("ifType")),
        "ifPhysAddress": _mac_hex(raw.get("ifPhysAddress")),
        "ifConnectorPresent": TRUTH_VALUE.get(raw.get("ifConnectorPresent")),  # type: ignore[arg-type]
        "ifDuplex": enum_name(DUPLEX_STATUS, raw.get("dot3StatsDuplexStatus")),
        "ifVlan": sys.intern(str(raw["dot1qPvid"])) if isinstance(raw.get("dot1qPvid"), int) else None,
        "ifLastChange": _int(raw.get("ifLastChange")) or 0,
    }


# Columns whose polled value is a PHP int in LibreNMS (so 0 loosely equals a stored NULL); every other
# polled value is an SNMP string there ("0" != NULL).
def _php_int_columns(raw: Mapping[str, Any]) -> frozenset[str]:
    speed_from_snmp = _int(raw.get("ifHighSpeed")) is None and _int(raw.get("ifSpeed")) is not None
    return frozenset() if speed_from_snmp else frozenset({"ifSpeed"})


def counter_sources(raw: Mapping[str, Any]) -> dict[str, tuple[int | None, int]]:
    """Stored counter name -> (current value, bit width): the HC value when present and non-zero."""
    out: dict[str, tuple[int | None, int]] = {}
    for name, hc in ALL_COUNTERS.items():
        hc_value = _int(raw.get(hc)) if hc else None
        if hc_value:
            out[name] = (hc_value, 64)
        else:
            out[name] = (_int(raw.get(name)), 32)
    return out


def parse_port_descr(if_alias: str | None) -> dict[str, str | None]:
    """LibreNMS's default port description parser (includes/port-descr-parser.inc.php)."""
    empty: dict[str, str | None] = {f"port_descr_{a}": None for a in DESCR_ATTRIBS}
    if not if_alias:
        return empty
    split = re.split(r"[:\[\]{}()]", if_alias)
    ptype = split[0].strip() if split else ""
    descr = split[1].strip() if len(split) > 1 else ""
    if not ptype or not descr:
        return empty

    def second(pattern: str) -> str | None:
        parts = re.split(pattern, if_alias)
        return parts[1] if len(parts) > 1 and parts[1] != "" else None

    return {
        "port_descr_type": ptype.lower(),
        "port_descr_descr": descr,
        "port_descr_circuit": second(r"[{}]"),
        "port_descr_speed": second(r"[\[\]]"),
        "port_descr_notes": second(r"[()]"),
    }


# LibreNMS's global default ``bad_iftype`` (config_definitions.json). The per-OS bad_if/bad_if_regexp
# lists of resources/definitions/os_detection/*.yaml are not carried: fastpoll has no OS definitions.
DEFAULT_BAD_IFTYPES = frozenset(
    {
        "voiceEncap",
        "voiceFXO",
        "voiceFXS",
        "voiceOverAtm",
        "voiceOverFrameRelay",
        "voiceOverIp",
        "ds0",
        "ds1",
        "ds3",
    }
)


def is_port_valid(values: Mapping[str, Any], bad_iftypes: frozenset[str] = DEFAULT_BAD_IFTYPES) -> bool:
    """LibreNMS's is_port_valid: reject empty ifDescr+ifAlias+ifName and the configured bad ifTypes."""
    if values.get("ifType") in bad_iftypes:
        return False
    return any(values.get(c) not in (None, "") for c in ("ifDescr", "ifAlias", "ifName"))


# ---------------------------------------------------------------- the poll


def _fmt_si_bps(value: Any) -> str:
    """Number::formatSi($v, 2, 0, 'bps'), as LibreNMS formats ifSpeed in eventlog messages."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    ext = ""
    for unit in ("k", "M", "G", "T", "P", "E"):
        if abs(v) < 1000:
            break
        v /= 1000
        ext = unit
    return f"{round(v):d} {ext}bps"


_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _same(old: Any, new: Any) -> bool:
    """PHP 8's loose ``==`` (LibreNMS compares stored and polled values with ``!=``): _loose_equal, after the
    answers most comparisons get, which need no regular expression (equal values, and a stored int against
    the text the same number polls as). A first poll compares ~25 columns of every port this way."""
    if old == new or (type(old) is int and type(new) is str and new == str(old)):
        return True
    return _loose_equal(old, new)


def _loose_equal(old: Any, new: Any) -> bool:
    """PHP 8's loose ``==``.

    null == 0 and null == '' are true (so a column stays NULL when the agent gives 0 or ''), numeric strings
    compare as numbers, other strings as strings.
    """
    if old is None and new is None:
        return True
    if old is None or new is None:
        other = new if old is None else old
        if isinstance(other, bool | int | float):
            return not other
        return str(other) == ""
    if isinstance(old, int | float) and isinstance(new, int | float):
        return old == new
    a, b = str(old), str(new)
    if _NUMERIC.match(a) and _NUMERIC.match(b):
        return float(a) == float(b)
    if isinstance(old, int | float) or isinstance(new, int | float):
        return False
    return a == b


def association_key(mode: int, if_index: int, values: Mapping[str, Any]) -> Any:
    column = ASSOCIATION_COLUMNS.get(mode, "ifIndex")
    return if_index if column == "ifIndex" else values.get(column)


# The raw values port_values() reads, except ifLastChange (always written, so not part of the memo).
_MEMO_TEXTS = ("ifName", "ifDescr", "ifAlias", "ifPhysAddress")  # a port's own
_MEMO_SHARED = (  # values many ports have in common
    "ifAdminStatus",
    "ifOperStatus",
    "ifMtu",
    "ifHighSpeed",
    "ifSpeed",
    "ifType",
    "ifConnectorPresent",
    "dot3StatsDuplexStatus",
    "dot1qPvid",
)
_MEMO_RAW = (*_MEMO_TEXTS, *_MEMO_SHARED)
# The raw columns that describe a port rather than measure it (names, type, MTU, address, duplex, VLAN).
# LibreNMS's poller reads them every 5 minutes; fastpoll walks them at ``check_intervals.port_details`` and,
# on the polls between, ``carry_details`` hands poll_ports each port's values from its last walk.
DETAIL_RAW = tuple(c for c in _MEMO_RAW if c not in ("ifAdminStatus", "ifOperStatus", "ifHighSpeed"))
_DETAIL_IN_MEMO = tuple((name, _MEMO_RAW.index(name)) for name in DETAIL_RAW)
_SIGNATURE_VERSION = 2  # marshal's format without object references: the same values give the same bytes
# The _MEMO_SHARED values signatures name by number: {their marshal encoding: number}, and by number. Append
# only (a number always means the same values) and bounded: past _SHARED_RAW_MAX, values not yet numbered
# are encoded in full.
_SHARED_RAW_NUMBERS: dict[bytes, int] = {}
_SHARED_RAW: list[tuple[Any, ...]] = []
_SHARED_RAW_MAX = 4096


def _signature(raw_get: Any) -> bytes | tuple[Any, ...]:
    """The raw values the memo compares (``raw_get``: the port's raw row's ``get``), as one ``bytes``.

    Kept for every port between polls: one bytes object instead of a tuple of the agent's own objects (a
    tuple, three or four bytes and two ints: ~400 bytes). The encoding is marshal's (exact, type and value)
    of the port's own raw texts and the number of its _MEMO_SHARED values (statuses, MTU, speeds, type...,
    which most ports share: ~30 bytes less per port than encoding them each time); values not numbered are
    encoded in full. Equal signatures mean equal values (the encoding is exact and length-prefixed, the
    numbering one to one, no hash); values that compare equal but differ in type (1 and True) give different
    signatures, which only costs a full comparison. A value marshal cannot encode (no SNMP decoder gives one)
    leaves the tuple of the values itself.
    """
    shared = tuple(map(raw_get, _MEMO_SHARED))
    try:
        encoded = marshal.dumps(shared, _SIGNATURE_VERSION)
        number = _SHARED_RAW_NUMBERS.get(encoded)
        if number is None and len(_SHARED_RAW) < _SHARED_RAW_MAX:
            number = _SHARED_RAW_NUMBERS[encoded] = len(_SHARED_RAW)
            _SHARED_RAW.append(shared)
        if number is None:
            return marshal.dumps((*map(raw_get, _MEMO_TEXTS), *shared), _SIGNATURE_VERSION)
        return marshal.dumps((number, *map(raw_get, _MEMO_TEXTS)), _SIGNATURE_VERSION)
    except ValueError:
        return (*map(raw_get, _MEMO_TEXTS), *shared)


def _signature_values(sig: bytes | tuple[Any, ...]) -> tuple[Any, ...]:
    """The raw values a _signature was made from, in _MEMO_RAW order."""
    if type(sig) is not bytes:
        return sig  # type: ignore[return-value]
    values = marshal.loads(sig)
    if len(values) == len(_MEMO_RAW):  # encoded in full
        return values  # type: ignore[no-any-return]
    return (*values[1:], *_SHARED_RAW[values[0]])


# (index in the data columns, index in the profile, index of ``<col>_prev`` in the profile, its name)
_PREV_FILL = tuple(
    (DATA_COLUMNS.index(c), _I[c] - _N_OWN, _I[f"{c}_prev"] - _N_OWN, f"{c}_prev") for c in PREV_TRACKED
)
_D_OPER = DATA_COLUMNS.index("ifOperStatus")
# positions in the profile (PortState.values[_N_OWN]) of the columns the statistics-skip rule reads
_P_OPER, _P_OPER_PREV, _P_IF_TYPE = _I_OPER - _N_OWN, _I_OPER_PREV - _N_OWN, _I_IF_TYPE - _N_OWN
assert min(_I_OPER, _I_OPER_PREV, _I_IF_TYPE, _I_DELETED) >= _N_OWN > max(_I_LAST_CHANGE, _I_POLL_TIME)
# (name, 64-bit source or None, name_prev, name_delta, name_rate, its index in PortState.counter_values,
# its bit in pack_rate_deltas' mask), for ``ports`` and ports_statistics
_PORTS_SPECS = tuple(
    (n, hc, f"{n}_prev", f"{n}_delta", f"{n}_rate", COUNTER_COLUMNS.index(n), 1 << COUNTER_COLUMNS.index(n))
    for n, hc in PORTS_COUNTERS.items()
)
_STATS_SPECS = tuple(
    (n, hc, f"{n}_prev", f"{n}_delta", f"{n}_rate", COUNTER_COLUMNS.index(n), 1 << COUNTER_COLUMNS.index(n))
    for n, hc in STATISTICS_COUNTERS.items()
)
_COUNTER32_MODULUS = 2**32
_NARROW_MAX = _COUNTER32_MODULUS - 1  # pack_counters' 32-bit counters
_NO_RATES = b""  # PortMetrics' packed rates: none at all
# PortMetrics' packed rates when a delta does not fit pack_rate_deltas: native doubles, as array("d") has them
_RATES = struct.Struct(f"@{_N_COUNTERS}d")
_NO_RATE = math.nan  # RateMap's None


def _rate_doubles(period: int, no_rate: int, deltas: list[int]) -> bytes:
    """The rates as _RATES packs them, each the ``delta / period`` poll_ports computed."""
    return _RATES.pack(*[_NO_RATE if no_rate >> i & 1 else d / period for i, d in enumerate(deltas)])


def _data_changes(
    old: Mapping[str, Any],
    raw: Mapping[str, Any],
    values: Mapping[str, Any],
    ports_cols: dict[str, Any],
    log: Any,
) -> None:
    """The changed data columns (with their ``_prev`` and events) into ``ports_cols``."""
    php_ints = _php_int_columns(raw)
    for col in DATA_COLUMNS:
        new, prev = values[col], old.get(col)
        polled_as = new if (new is None or col in php_ints or not isinstance(new, int)) else str(new)
        if not _same(prev, polled_as):
            ports_cols[col] = new
            if col in PREV_TRACKED:
                ports_cols[f"{col}_prev"] = prev
            if new is None:
                log(f"{col}: {'' if prev is None else prev} -> NULL", SEVERITY_WARNING)
            elif col == "ifSpeed":
                log(f"{col}: {_fmt_si_bps(prev) if prev is not None else ''} -> {_fmt_si_bps(new)}", 3)
            else:
                log(f"{col}: {'' if prev is None else prev} -> {new}", SEVERITY_NOTICE)
        elif col in PREV_TRACKED and old.get(f"{col}_prev") is None:
            ports_cols[f"{col}_prev"] = new
    _descr_changes(tuple(map(old.get, _DESCR_COLUMNS)), values["ifAlias"], ports_cols, log)


def _descr_changes(old: tuple[Any, ...], if_alias: str | None, ports_cols: dict[str, Any], log: Any) -> None:
    """The changed port_descr_* columns (``old``: their stored values in _DESCR_COLUMNS order) into
    ``ports_cols``, with their events."""
    parsed = parse_port_descr(if_alias)
    for col, prev in zip(_DESCR_COLUMNS, old, strict=True):
        new = parsed[col]
        if not _same(prev, new):
            ports_cols[col] = new
            attrib = col.removeprefix("port_descr_")
            log(f"{attrib}: {prev or ''} -> {'NULL' if new is None else new}", SEVERITY_NOTICE)


def carry_details(rows: Mapping[int, dict[str, Any]], stored: Mapping[Any, PortState]) -> bool:
    """Fill each walked row's detail columns (DETAIL_RAW) with the values its port had on the last poll.

    For ports associated by ifIndex. Returns False, leaving the rows as they may be half filled, when a
    row's port has no such values in memory (a new port, or a state read back from the database): the
    details must then be walked on this poll.
    """
    for if_index, row in rows.items():
        state = stored.get(if_index)
        signature = state.signature if state is not None else None
        if signature is None:
            return False
        sig = _signature_values(signature)
        for name, i in _DETAIL_IN_MEMO:
            value = sig[i]
            if value is not None and name not in row:
                row[name] = value
    return True


def poll_ports(
    device_id: int,
    stored: Mapping[Any, PortState],
    rows: Mapping[int, Mapping[str, Any]],
    *,
    polled: int,
    rebooted: bool = False,
    association_mode: int = 1,
    insert_new: bool = True,
) -> PortsOutcome:
    """Compute every port write, event and metric for one poll.

    ``stored``: association key -> PortState (disabled ports left out); ``rows``: ifIndex -> raw values
    (``rows_from_table``); ``polled``: the device-wide poll epoch; ``rebooted``: the device's uptime dropped;
    ``insert_new`` False: ports not stored are left out (not inserted).

    This runs for every device-poll (167/s at 10,000 devices), so the per-port work is kept flat: the
    counter arithmetic of counters.counter_update is inlined (tests/checks/test_ports.py checks the two
    agree), and the data-column comparison is skipped when the memo shows nothing it reads has changed.
    """
    states: dict[Any, PortState] = {}
    writes: list[PortWrite] = []
    events: list[EventRow] = []
    metrics: list[PortMetrics] = []
    seen: set[Any] = set()
    by_index = ASSOCIATION_COLUMNS.get(association_mode, "ifIndex") == "ifIndex"
    stored_get = stored.get
    floor = math.floor

    for if_index in sorted(rows):
        raw = rows[if_index]
        raw_get = raw.get
        raw_sig = _signature(raw_get)
        # data: the data columns as port_values gives them (ifPhysAddress as _mac_kept keeps it); None until
        # known, and after when they are the ones the state keeps (its memo says so)
        data: tuple[Any, ...] | None = None
        # same: the memo is this state's own and the agent returned the raw values it was made from
        if by_index:
            key = if_index
            state = stored_get(key)
            same = (
                state is not None and state[_AT_SIGNATURE] == raw_sig and state[_AT_MEMO_DATA] is not _FOREIGN
            )
            if same:
                values = None
                data = state[_AT_MEMO_DATA]  # type: ignore[index]  # None: the stored ones
            else:
                values = port_values(raw)
        else:
            values = port_values(raw)
            key = association_key(association_mode, if_index, values)
            if key is None:
                continue
            state = stored_get(key)
            same = (
                state is not None and state[_AT_SIGNATURE] == raw_sig and state[_AT_MEMO_DATA] is not _FOREIGN
            )
            if same:
                data = state[_AT_MEMO_DATA]  # type: ignore[index]  # None: the stored ones
        if key in seen:
            continue
        if values is not None:
            last_change = values["ifLastChange"]
            if data is None:  # as PortState.values keeps them
                data = (
                    *map(values.__getitem__, _DATA_BEFORE_MAC),
                    _mac_kept(values["ifPhysAddress"]),
                    *map(values.__getitem__, _DATA_AFTER_MAC),
                )
        else:
            last_change = _int(raw_get("ifLastChange")) or 0
        insert = state is None
        if insert:
            assert values is not None
            if not insert_new or not is_port_valid(values):
                continue
            # LibreNMS inserts (device_id, ifIndex, ifName), then processes the port as usual.
            state = PortState(PortRef(device_id, if_index), {"ifIndex": if_index, "ifName": values["ifName"]})
        seen.add(key)
        assert state is not None
        kept = state  # its values: the port's own, then the profile
        profile = kept[_N_OWN]
        ports_cols: dict[str, Any] = {}
        stats_cols: dict[str, Any] = {}

        # --- data columns and their events
        # quiet: of the kept columns, this poll writes only ifLastChange, poll_time and the counters
        quiet = same
        if same:
            # Same data values as the poll that left this row: nothing changed, no event; only a NULL
            # ``_prev`` is filled with the (unchanged) current value, as the full comparison does.
            for i, i_profile, i_prev, col_prev in _PREV_FILL:
                if profile[i_prev] is None:
                    ports_cols[col_prev] = data[i] if data is not None else profile[i_profile]
                    quiet = False
        else:
            assert values is not None and data is not None

            def log(message: str, severity: int, ref: PortRef = state.ref) -> None:
                events.append(EventRow(device_id, polled, message, "interface", severity, ref))

            flat = _flat(kept)
            kept_data = _data_of(flat)
            if data == kept_data and list(map(type, data)) == list(map(type, kept_data)):
                # The agent gives what is stored (a state read from the database, on a daemon's first poll):
                # the same values of the same types, so no data column changed and only what the memo path
                # fills is left, with the port_descr_* columns (their memo is ifAlias, not yet this state's).
                for i, _, i_prev, col_prev in _PREV_FILL:
                    if profile[i_prev] is None:
                        ports_cols[col_prev] = data[i]
                _descr_changes(_descr_of(flat), values["ifAlias"], ports_cols, log)
                quiet = not ports_cols
            else:
                old_row = dict(zip(VALUE_COLUMNS, flat, strict=True))
                old_row["ifPhysAddress"] = _mac_text(kept[_I_MAC])
                _data_changes(old_row, raw, values, ports_cols, log)
        if insert or profile[-1]:  # deleted
            ports_cols["deleted"] = 0
            quiet = False
        ports_cols["ifLastChange"] = last_change

        # --- statistics (unless down-and-still-down with an unchanged ifLastChange)
        skip_stats = (
            profile[_P_OPER] == "down"
            and profile[_P_OPER_PREV] == "down"
            and (data[_D_OPER] if data is not None else profile[_P_OPER]) == "down"
            and _same(kept[_I_LAST_CHANGE], last_change)
            and profile[_P_IF_TYPE] not in STATS_ALWAYS_TYPES
        )
        poll_time = kept[_I_POLL_TIME]
        period = polled_period(polled, poll_time)
        if not skip_stats:
            kept_counters = state[_AT_COUNTERS]
            old_counters = unpack_counters(kept_counters) if type(kept_counters) is bytes else kept_counters
            # the rates, kept for the metrics as the deltas and the period they are divided by
            deltas: list[int] = []
            add_delta = deltas.append
            no_rate = 0  # a bit per counter without a rate (its first poll)
            wide = 0  # a bit per counter above 2**32 - 1 (pack_counters keeps the others in 32 bits)
            counter_list: list[int] = []
            add_value = counter_list.append
            # counters.counter_update, inlined (a call and a CounterResult per counter cost more than the
            # arithmetic): value/_prev/_delta/_rate with Counter32 wraps and resets as documented there.
            for target, specs in ((ports_cols, _PORTS_SPECS), (stats_cols, _STATS_SPECS)):
                for name, hc, name_prev, name_delta, name_rate, i_old, bit in specs:
                    current = raw_get(hc) if hc is not None else None
                    if isinstance(current, int) and current:  # the 64-bit value when present and non-zero
                        bits = 64
                        if current > _NARROW_MAX:
                            wide |= bit
                    else:
                        current = raw_get(name)
                        bits = 32
                    value = current if isinstance(current, int) else 0
                    target[name] = value
                    add_value(value)
                    previous = old_counters[i_old]
                    if previous is None:
                        target[name_prev] = 0
                        target[name_delta] = target[name_rate] = None
                        add_delta(0)
                        no_rate |= bit
                        continue
                    target[name_prev] = previous
                    diff = value - previous
                    if not rebooted and (diff >= 0 or (bits == 32 and previous < _COUNTER32_MODULUS)):
                        if diff < 0:
                            diff += _COUNTER32_MODULUS  # Counter32 wrap
                        target[name_delta] = diff
                        add_delta(diff)
                        target[name_rate] = floor(diff / period + 0.5)  # counters.round_half_up
                    else:  # reboot or reset: no spike
                        target[name_delta] = target[name_rate] = 0
                        add_delta(0)
            # every counter was written: the state keeps them packed, the metrics share that object, in which
            # the rates follow the counters (rate_bytes None) unless they do not pack together
            new_counters = pack_counters_and_rates(counter_list, wide, period, no_rate, deltas)  # type: ignore[assignment]
            rate_bytes: bytes | None = None
            if new_counters is None:
                rate_bytes = pack_rate_deltas(period, no_rate, deltas) or _rate_doubles(
                    period, no_rate, deltas
                )
                new_counters = pack_counters(counter_list, wide) or tuple(counter_list)
        else:
            rate_bytes = _NO_RATES
            new_counters = state[_AT_COUNTERS]  # the stored values, unchanged
            if type(new_counters) is bytes:  # without the rates of the poll that wrote them (read no more)
                new_counters = counters_only(new_counters)
        ports_cols["poll_time"] = polled
        ports_cols["poll_prev"] = poll_time
        ports_cols["poll_period"] = period

        # the kept columns: what this poll wrote, else what was kept (as the database row now holds them)
        if quiet:  # the _OWN columns ifLastChange, poll_time, ifIndex; the same profile
            new_values = (*kept[:_I_LAST_CHANGE], last_change, polled, if_index, kept[_N_OWN])
        else:
            old = _flat(kept)
            kept_or_index = (*old[:_I_IF_INDEX], if_index, *old[_I_IF_INDEX + 1 :])
            full = tuple(map(ports_cols.get, VALUE_COLUMNS, kept_or_index))
            if "ifPhysAddress" in ports_cols:  # the text written, kept as _mac_kept keeps it
                full = (*full[:_I_MAC], _mac_kept(full[_I_MAC]), *full[_I_MAC + 1 :])
            new_values = _kept_values(full)
        if insert:
            # the inserted row carries every column, as LibreNMS's insert + update would leave it
            ports_cols = {
                **dict(zip(DATA_COLUMNS, _data_of(full), strict=True)),
                "ifPhysAddress": _mac_text(full[_I_MAC]),
                **ports_cols,
                "ifIndex": if_index,
            }
        writes.append(PortWrite(state.ref, ports_cols, stats_cols, insert=insert, counters=not skip_stats))
        if insert:
            state.ref.ifIndex = if_index
        if same:
            signature, memo_data = state[_AT_SIGNATURE], state[_AT_MEMO_DATA]
        else:
            # the data columns port_values gave, kept only when the stored ones differ (loose equality)
            signature, memo_data = raw_sig, (None if quiet or data == _data_of(full) else data)
        states[key] = new_state = PortState.packed(state.ref, new_values, new_counters, signature, memo_data)
        if type(new_counters) is bytes:  # shared with the state (absent = NULL = MISSING)
            counters: bytes | tuple[Any, ...] = new_counters
        elif skip_stats:  # the stored values (a NULL one is absent)
            counters = tuple([v if isinstance(v, int) else MISSING for v in new_counters])
        else:  # every counter was written
            counters = new_counters
        # the metrics share the state's values (its ``deleted`` is 0: the port was seen)
        metrics.append(PortMetrics.from_state_values(new_state, counters, rate_bytes))

    # --- stored ports missing from the walk
    for key, state in stored.items():
        if key in seen:
            continue
        kept = state
        profile = kept[_N_OWN]
        if not profile[-1]:  # deleted
            writes.append(PortWrite(state.ref, {"deleted": 1}, {}, counters=False))
        states[key] = PortState.packed(
            state.ref, (*kept[:_N_OWN], _shared_profile((*profile[:-1], 1))), state[_AT_COUNTERS]
        )
    return PortsOutcome(states, writes, events, metrics)
