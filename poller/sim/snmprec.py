"""Reading snmpsim's `.snmprec` recordings: one `OID|TAG|VALUE` line per object.

TAG is the BER tag in decimal (2 Integer, 4 OctetString, 6 OID, 64 IpAddress, 65 Counter32,
66 Gauge32, 67 TimeTicks, 70 Counter64, ...); a trailing `x` means VALUE is hex. A tag with a
`:module` suffix names an snmpsim variation module, whose VALUE holds its parameters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..snmp.ber import parse_oid
from ..snmp.values import Tag, Value


@dataclass(frozen=True, slots=True)
class Record:
    oid: tuple[int, ...]
    tag: Tag
    value: Value
    variation: str | None = None  # e.g. "numeric", with `params`
    params: str = ""

    @property
    def oid_str(self) -> str:
        return ".".join(map(str, self.oid))


def parse_value(tag: Tag, text: str, hexed: bool) -> Value:
    if tag in (Tag.OCTET_STRING, Tag.OPAQUE):
        return bytes.fromhex(text) if hexed else text.encode("utf-8")
    if tag == Tag.IP_ADDRESS:
        raw = bytes.fromhex(text) if hexed else bytes(int(x) for x in text.split("."))
        return ".".join(str(b) for b in raw)
    if tag == Tag.OID:
        return ".".join(map(str, parse_oid(text)))
    if tag in (Tag.NULL, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW):
        return None
    return int(bytes.fromhex(text).hex() or "0", 16) if hexed else int(text)


def parse_line(line: str) -> Record:
    oid_text, tag_text, value_text = line.split("|", 2)
    variation = None
    if ":" in tag_text:
        tag_text, variation = tag_text.split(":", 1)
    hexed = tag_text.endswith("x")
    tag = Tag(int(tag_text.rstrip("x")))
    if variation:
        return Record(parse_oid(oid_text), tag, None, variation, value_text)
    return Record(parse_oid(oid_text), tag, parse_value(tag, value_text, hexed))


def read_snmprec(path: Path, *, strict: bool = False) -> Iterator[Record]:
    """Records of a recording, in file order; blank lines and comments skipped.

    A record whose value cannot be decoded (the shared recordings hold anonymised MACs such as
    `346288XXYYZZ` under a hex tag) is skipped, as snmpsim skips it; `strict=True` raises instead.
    """
    with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line or line.startswith("#"):
                continue
            try:
                yield parse_line(line)
            except (ValueError, KeyError) as exc:
                if not strict:
                    continue
                raise ValueError(f"{path}:{lineno}: bad snmprec line: {exc}") from None


_NUMERIC_KEYS = frozenset(("initial", "rate", "min", "max", "wrap", "scale", "offset", "function", "atime"))


@dataclass(frozen=True, slots=True)
class NumericSpec:
    """Parameters of an snmpsim ``numeric`` variation line (`initial=..,rate=..,wrap=1`).

    Mirrors snmpsim 1.2's variation/numeric.py: v = function(rate * t) [* scale] [+ offset] +
    initial, then clamped to [min, max], or with `wrap` taken modulo max plus min (modulo max,
    not max + 1, exactly as snmpsim does). t counts from the responder's start (or, with
    `atime`, is the Unix time). Computed in floats like snmpsim. `deviation` (random noise) and
    `cumulative` (state between requests) are rejected: the simulator stays deterministic.
    """

    initial: float = 0.0
    rate: float = 1.0
    minimum: float = 0.0
    maximum: float = float(0xFFFFFFFF)
    wrap: bool = False
    scale: float | None = None
    offset: float | None = None
    function: str | None = None
    function_args: tuple[str, ...] = ()
    atime: bool = False

    @classmethod
    def parse(cls, params: str, tag: int) -> NumericSpec:
        fields: dict[str, str] = {}
        for part in params.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"numeric parameter without a value: {part!r}")
            fields[key.strip()] = value.strip()
        unknown = set(fields) - _NUMERIC_KEYS
        if unknown:
            raise ValueError(f"unsupported numeric parameters: {', '.join(sorted(unknown))}")
        function = None
        args: tuple[str, ...] = ()
        if "function" in fields:
            function, *rest = fields["function"].split("%")
            if not callable(getattr(math, function, None)):
                raise ValueError(f"numeric function {function!r} is not in math")
            args = tuple(rest)
        default_max = 0xFFFFFFFFFFFFFFFF if tag == Tag.COUNTER64 else 0xFFFFFFFF
        return cls(
            initial=float(fields.get("initial", fields.get("min", 0))),
            rate=float(fields.get("rate", 1)),
            minimum=float(fields.get("min", 0)),
            maximum=float(fields.get("max", default_max)),
            wrap="wrap" in fields,
            scale=float(fields["scale"]) if "scale" in fields else None,
            offset=float(fields["offset"]) if "offset" in fields else None,
            function=function,
            function_args=args,
            atime="atime" in fields,
        )

    def value_at(self, t: float, now: float | None = None) -> int:
        """The value t seconds after the responder started (`now` = Unix time, for atime)."""
        x = (time.time() if now is None else now) if self.atime else t
        if self.function is not None:
            fn = getattr(math, self.function)
            args = [x * self.rate if a == "<time>" else float(a) for a in self.function_args]
            v = fn(*(args or [x * self.rate]))
        else:
            v = x * self.rate
        if self.scale is not None:
            v *= self.scale
        if self.offset is not None:
            v += self.offset
        v += self.initial
        if v < self.minimum:
            v = self.minimum
        elif v > self.maximum:
            if self.wrap:
                v %= self.maximum
                v += self.minimum
            else:
                v = self.maximum
        return int(v)
