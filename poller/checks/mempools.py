"""Mempools: poll the stored ``mempool_*_oid`` columns and fill used/free/total/perc as LibreNMS does.

``LibreNMS/Modules/Mempools.php`` (defaultPolling, calculateAvailable) + ``App/Models/Mempool::fillUsage``
+ ``LibreNMS/Util/Number`` (correctIntegerOverflow, fillMissingRatio with precision 0):

- multiplier = mempool_precision (or 1); total = the answer (32-bit overflow corrected) or, when not
  polled, the stored total / multiplier; used and free corrected against total;
- fillMissingRatio(total, used, free, perc): a percent > 100 is divided by 10 until it is not; the missing
  values are derived; everything * multiplier and rounded (PHP, half away from zero) to 0 decimals;
  not enough data (or an uncorrectable negative) leaves the row unchanged;
- with more than two mempools and exactly one each of class system/buffers/cached: the system pool is
  refilled with used = used - buffers - cached (when >= 0), i.e. "available" memory.
Not carried: OSes with their own ``MempoolsPolling`` (LibreNMS/OS/<os>.php pollMempools).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from poller.checks.librenms_number import cast, is_numeric, php_round

INT_MAX = 4294967296
FILLED = ("mempool_total", "mempool_used", "mempool_free", "mempool_perc")


class InsufficientData(ValueError):
    """LibreNMS's InsufficientDataException / UncorrectableNegativeException: the row is left as is."""


@dataclass(frozen=True, slots=True)
class MempoolRow:
    mempool_id: int
    device_id: int
    mempool_class: str = "system"
    mempool_precision: int = 1
    mempool_perc_oid: str | None = None
    mempool_used_oid: str | None = None
    mempool_free_oid: str | None = None
    mempool_total_oid: str | None = None
    mempool_total: float = 0
    mempool_used: float = 0
    mempool_free: float = 0
    mempool_perc: float = 0

    def oids(self) -> list[str]:
        return [
            o
            for o in (
                self.mempool_perc_oid,
                self.mempool_used_oid,
                self.mempool_free_oid,
                self.mempool_total_oid,
            )
            if o
        ]


@dataclass(frozen=True, slots=True)
class MempoolUpdate:
    """``UPDATE mempools SET mempool_total, mempool_used, mempool_free, mempool_perc WHERE mempool_id``."""

    mempool_id: int
    mempool_total: float
    mempool_used: float
    mempool_free: float
    mempool_perc: float


def correct_integer_overflow(value: object, maximum: float | None = None) -> int | None:
    """``Number::correctIntegerOverflow``: a negative value is taken as a wrapped unsigned 32-bit one."""
    if value is None:
        return None
    number = cast(value)
    if number < 0:
        number = INT_MAX + number
        if (maximum is not None and number > maximum) or number > INT_MAX:
            raise InsufficientData("uncorrectable negative value")
    return int(number)


def normalize_percent(percent: object) -> float:
    value = float(cast(percent))
    while value > 100:
        value /= 10
    return value


def fill_missing_ratio(
    total: float | None,
    used: float | None,
    available: float | None,
    used_percent: object,
    precision: int = 2,
    multiplier: float = 1,
) -> tuple[float, float, float, float]:
    """``Number::fillMissingRatio``: (total, used, available, percent) from at least two of them."""
    perc: float | None = None if used_percent is None else float(cast(used_percent))
    if perc:
        perc = normalize_percent(perc)
    if total is None:
        if used is not None and available is not None:
            total = used + available
        elif used and perc:
            total = used / (perc / 100)
        elif available and perc:
            total = available / (1 - perc / 100)
        elif used_percent is not None and is_numeric(used_percent):
            total = 100
    if total is None or (used is None and available is None and perc is None):
        raise InsufficientData("not enough data")
    used_is_null = used is None
    if used is None:
        used = total - available if available is not None else total * (perc / 100 if perc else 0)
    if not perc:  # PHP: $used_percent == null (0 counts as null)
        perc = 0.0 if total <= 0 or used < 0 else float(php_round(used / total * 100, precision))
    if available is None:
        available = total * (1 - perc / 100) if used_is_null else total - used
    return (
        php_round(total * multiplier, precision),
        php_round(used * multiplier, precision),
        php_round(available * multiplier, precision),
        php_round(perc, precision),
    )


def fill_usage(
    row: MempoolRow,
    used: object = None,
    total: object = None,
    free: object = None,
    percent: object = None,
    multiplier: float | None = None,
) -> MempoolRow:
    """``Mempool::fillUsage``; on insufficient data the row comes back unchanged."""
    try:
        mult = multiplier if multiplier is not None else (row.mempool_precision or 1)
        t = correct_integer_overflow(total)
        total_f: float | None = (
            t if t is not None else (row.mempool_total / mult if row.mempool_total else None)
        )
        u = correct_integer_overflow(used, total_f)
        f = correct_integer_overflow(free, total_f)
        filled = fill_missing_ratio(total_f, u, f, percent, 0, mult)
    except InsufficientData:
        return row
    return replace(row, **dict(zip(FILLED, filled, strict=True)))


def calculate_available(rows: list[MempoolRow]) -> list[MempoolRow]:
    """``Mempools::calculateAvailable``: system pool used minus buffers and cached (linux-like hosts)."""
    if len(rows) <= 2:
        return rows
    system: int | None = None
    buffers: float | None = None
    cached: float | None = None
    for i, row in enumerate(rows):
        if row.mempool_class == "system":
            if system is not None:
                return rows
            system = i
        elif row.mempool_class == "buffers":
            if buffers is not None:
                return rows
            buffers = row.mempool_used
        elif row.mempool_class == "cached":
            if cached is not None:
                return rows
            cached = row.mempool_used
    if system is None:
        return rows
    sys_row = rows[system]
    available_used = sys_row.mempool_used - (buffers or 0) - (cached or 0)
    if available_used >= 0:
        rows = list(rows)
        rows[system] = fill_usage(sys_row, available_used, sys_row.mempool_total, multiplier=1)
    return rows


def poll_mempools(
    rows: list[MempoolRow], values: Mapping[str, str | None]
) -> tuple[list[MempoolRow], list[MempoolUpdate]]:
    """``values`` maps OID -> answer text (None/absent = no answer). Returns new rows and changed ones."""
    filled = [
        fill_usage(
            row,
            values.get(row.mempool_used_oid) if row.mempool_used_oid else None,
            values.get(row.mempool_total_oid) if row.mempool_total_oid else None,
            values.get(row.mempool_free_oid) if row.mempool_free_oid else None,
            values.get(row.mempool_perc_oid) if row.mempool_perc_oid else None,
        )
        for row in rows
    ]
    filled = calculate_available(filled)
    updates = [
        MempoolUpdate(new.mempool_id, *(getattr(new, c) for c in FILLED))
        for old, new in zip(rows, filled, strict=True)
        if any(getattr(old, c) != getattr(new, c) for c in FILLED)
    ]
    return filled, updates
