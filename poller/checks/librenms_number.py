"""LibreNMS's number handling (``LibreNMS/Util/Number.php``) and the PHP semantics it relies on.

Hand-written because the stored values must come out exactly as LibreNMS's own poller writes them:
PHP's ``round()`` rounds half away from zero (Python's rounds half to even), ``Number::extract`` takes the
first number in a string, and PHP's loose comparisons treat NULL as false.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

from poller.snmp.values import Tag, VarBind

_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_FIRST_NUMBER = re.compile(r"-?\d*\.?\d+")
_LEADING_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?")
_MISSING = (Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW, Tag.NULL)

Number = int | float


def is_numeric(value: object) -> bool:
    """PHP ``is_numeric`` for the values an SNMP answer produces (int, float, str)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(_NUMERIC.match(value)) and not value.endswith(" ")


def cast(value: object) -> Number:
    """``Number::cast``: int when the value is integral, else float; 0 when nothing numeric leads."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = value
    else:
        s = "" if value is None else str(value)
        if not is_numeric(s):
            m = _LEADING_NUMBER.match(s)
            if not m:
                return 0
            s = m.group(0)
        text = s
    f = float(text)
    if math.isfinite(f) and f == int(f):
        return int(f)
    return f


def extract(value: object) -> Number:
    """``Number::extract``: the first number found in a string (``"23.5 C"`` -> 23.5)."""
    if not is_numeric(value):
        m = _FIRST_NUMBER.search("" if value is None else str(value))
        if m:
            value = m.group(0)
    return cast(value)


def php_round(value: float, precision: int = 0) -> Number:
    """PHP ``round()`` (PHP 5.3-8.3): the value is first "pre-rounded" to 15 significant digits, then
    rounded half away from zero (so 54.49999999999999 -> 55, as LibreNMS's PHP computes)."""
    if not math.isfinite(value):
        return value
    q = Decimal(1).scaleb(-precision)
    return float(Decimal(f"{value:.15g}").quantize(q, rounding=ROUND_HALF_UP))


def php_str(value: Number | None) -> str:
    """How PHP interpolates a number into a string (``"$value"``, precision = 14)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.14G}"
    if "E" in text:
        mantissa, exp = text.split("E")
        return f"{mantissa}E{'+' if int(exp) >= 0 else '-'}{abs(int(exp))}"
    return text


def php_lt(a: Number | None, b: Number | None) -> bool:
    """PHP ``a < b`` with NULL on either side (NULL <=> x compares bool(NULL) with bool(x))."""
    if a is None or b is None:
        return bool(a) < bool(b)
    return a < b


def php_gt(a: Number | None, b: Number | None) -> bool:
    return php_lt(b, a)


def php_ne(a: Number | None, b: Number | None) -> bool:
    """PHP ``a != b`` for numbers and NULL (NULL == 0 is true)."""
    if a is None or b is None:
        return bool(a) != bool(b)
    return a != b


def snmp_text(vb: VarBind | None) -> str | None:
    """The value as net-snmp prints it with ``-OQUntea`` (numbers raw, strings as text); None = absent."""
    if vb is None or vb.tag in _MISSING or vb.value is None:
        return None
    value = vb.value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
