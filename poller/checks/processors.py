"""Processors: poll ``processors.processor_oid`` and update ``processor_usage`` as LibreNMS does.

``LibreNMS/Device/Processor.php`` (poll + pollProcessors + processData): the first ``[0-9]{1,5}(.[0-9]+)?``
in the answer; a negative precision means the OID reports idle (usage = 100 - value / -precision), a
precision > 1 divides; an absent answer gives 0; usage = round(value, 2); the row is updated only when the
usage changed (``processor_usage`` is an INT column, so MariaDB rounds what is stored).
Not carried: OSes with their own ``ProcessorPolling`` (LibreNMS/OS/<os>.php pollProcessors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from poller.checks.librenms_number import php_ne, php_round

_VALUE = re.compile(r"([0-9]{1,5}(\.[0-9]+)?)")


@dataclass(frozen=True, slots=True)
class ProcessorRow:
    processor_id: int
    device_id: int
    processor_oid: str
    processor_precision: int = 1
    processor_usage: float | None = None
    processor_descr: str = ""


@dataclass(frozen=True, slots=True)
class ProcessorUpdate:
    """``UPDATE processors SET processor_usage WHERE processor_id``."""

    processor_id: int
    processor_usage: float


def process_data(text: str, precision: int) -> float:
    """``Processor::processData``: the usage percentage from the raw answer."""
    m = _VALUE.search(text)
    value = float(m.group(1)) if m else 0.0
    if precision < 0:
        return 100 - value / -precision
    if precision > 1:
        return value / precision
    return value


def poll_processors(
    rows: list[ProcessorRow], values: Mapping[str, str | None]
) -> tuple[list[ProcessorRow], list[ProcessorUpdate]]:
    """``values`` maps processor_oid -> answer text (None/absent = no answer)."""
    new_rows: list[ProcessorRow] = []
    updates: list[ProcessorUpdate] = []
    for row in rows:
        text = values.get(row.processor_oid)
        value = 0.0 if text is None else process_data(text, row.processor_precision)
        usage = php_round(value, 2)
        if php_ne(usage, row.processor_usage):
            updates.append(ProcessorUpdate(row.processor_id, usage))
            row = replace(row, processor_usage=usage)
        new_rows.append(row)
    return new_rows, updates
