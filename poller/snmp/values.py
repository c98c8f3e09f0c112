"""SNMP value types as the engine hands them out.

Values are plain Python objects (no wrapper per value: the hot path decodes ~400 values per
device-poll), with the ASN.1 tag carried beside them where a caller needs the type:

    INTEGER, Counter32, Gauge32, TimeTicks, Counter64 -> int (the unsigned ones are always >= 0)
    OCTET STRING, Opaque                              -> bytes
    OBJECT IDENTIFIER, IpAddress                      -> str, dotted
    NULL, noSuchObject, noSuchInstance, endOfMibView  -> None
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Tag(IntEnum):
    INTEGER = 0x02
    OCTET_STRING = 0x04
    NULL = 0x05
    OID = 0x06
    IP_ADDRESS = 0x40
    COUNTER32 = 0x41
    GAUGE32 = 0x42
    TIMETICKS = 0x43
    OPAQUE = 0x44
    COUNTER64 = 0x46
    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self]

    @property
    def is_exception(self) -> bool:
        return self >= Tag.NO_SUCH_OBJECT


TYPE_NAMES = {
    Tag.INTEGER: "Integer",
    Tag.OCTET_STRING: "OctetString",
    Tag.NULL: "Null",
    Tag.OID: "ObjectIdentifier",
    Tag.IP_ADDRESS: "IpAddress",
    Tag.COUNTER32: "Counter32",
    Tag.GAUGE32: "Gauge32",
    Tag.TIMETICKS: "TimeTicks",
    Tag.OPAQUE: "Opaque",
    Tag.COUNTER64: "Counter64",
    Tag.NO_SUCH_OBJECT: "NoSuchObject",
    Tag.NO_SUCH_INSTANCE: "NoSuchInstance",
    Tag.END_OF_MIB_VIEW: "EndOfMibView",
}

Value = int | bytes | str | None


@dataclass(frozen=True, slots=True)
class VarBind:
    oid: str
    tag: Tag
    value: Value

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.tag]


def value_to_text(value: Value) -> str:
    """Bytes as text when printable, else hex; everything else as str (for the CLI)."""
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return value.hex()
        if text.isprintable() or all(c.isprintable() or c in "\r\n\t" for c in text):
            return text
        return value.hex()
    return "" if value is None else str(value)
