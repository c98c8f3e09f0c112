"""BGP peers: poll the BGP4-MIB ``bgpPeerTable`` row of each peer LibreNMS discovered, as LibreNMS does.

Pure logic of LibreNMS's ``includes/polling/bgp-peers.inc.php``, generic BGP4-MIB path (the OS-less ``else``
branch and the ``$generic`` fallback map the same columns). Per stored ``bgpPeers`` row, whose
``bgpPeerIdentifier`` is the peer's IPv4 address and so the table index:

- one GET of ``bgpPeerState``, ``bgpPeerAdminStatus``, ``bgpPeerLocalAddr`` (stored as ``bgpLocalAddr``), the
  in/out update and total message counters, ``bgpPeerLastError``, ``bgpPeerFsmEstablishedTime`` and
  ``bgpPeerInUpdateElapsedTime``; a peer for which the agent answers none of them is left alone;
- enumerations are stored as net-snmp names them (``idle`` ... ``established``, ``stop``/``start``), an
  absent counter or error code as 0, an absent state/address as '' (LibreNMS's ``$intFields``);
  ``bgpPeerLastError`` (2 octets) gives ``bgpPeerLastErrorCode`` and ``bgpPeerLastErrorSubCode``;
- ``bgpPeerIface`` = the ifIndex of the one port (of any device) holding ``bgpLocalAddr`` in
  ``ipv4_addresses``, NULL when none or several do (the lookup is I/O: the caller passes its result);
- eventlog, type ``bgpPeer``, reference = the peer address, only when the new established time is non-zero
  and either went down or the state changed: same state -> "BGP Session Flap: <peer> (AS<as> <descr>), last
  error: <error>" (severity 4, warning); now established -> "BGP Session Up: <peer> (AS<as> <descr>)"
  (severity 1, ok); was established -> "BGP Session Down: ..., last error: <error>" (severity 5, error); the
  error is the stored (previous) code/subcode described as LibreNMS's ``lang/en/bgp.php`` names them;
- only the columns whose value changed are written (``array_diff_assoc``: compared as PHP strings).

Differences on purpose (``DIFFERENCES``), and what is not carried (``NOT_CARRIED``), are listed below.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from poller.checks.results import EventRow

BGP_PEER_ENTRY = "1.3.6.1.2.1.15.3.1"
# bgpPeerEntry column -> the field LibreNMS's generic $oid_map stores it as.
COLUMNS: dict[int, str] = {
    2: "bgpPeerState",
    3: "bgpPeerAdminStatus",
    5: "bgpLocalAddr",  # bgpPeerLocalAddr ("silly db field name", LibreNMS says)
    10: "bgpPeerInUpdates",
    11: "bgpPeerOutUpdates",
    12: "bgpPeerInTotalMessages",
    13: "bgpPeerOutTotalMessages",
    14: "bgpPeerLastErrorCode",  # bgpPeerLastError: code and subcode octets
    16: "bgpPeerFsmEstablishedTime",
    24: "bgpPeerInUpdateElapsedTime",
}
STATES = {1: "idle", 2: "connect", 3: "active", 4: "opensent", 5: "openconfirm", 6: "established"}
ADMIN_STATUSES = {1: "stop", 2: "start"}
# Absent answers: 0 for these (LibreNMS's $intFields), '' for the others.
INT_FIELDS = frozenset(
    {
        "bgpPeerLastErrorCode",
        "bgpPeerInUpdates",
        "bgpPeerOutUpdates",
        "bgpPeerInTotalMessages",
        "bgpPeerOutTotalMessages",
        "bgpPeerInUpdateElapsedTime",
    }
)
# Run through set_numeric (non-numeric -> 0) before they are stored.
NUMERIC_FIELDS = (
    "bgpPeerFsmEstablishedTime",
    "bgpPeerInUpdates",
    "bgpPeerOutUpdates",
    "bgpPeerInTotalMessages",
    "bgpPeerOutTotalMessages",
    "bgpPeerInUpdateElapsedTime",
)
# Every column the poll may write (the least-privilege grants are built from this).
UPDATED_COLUMNS: tuple[str, ...] = (
    "bgpPeerState",
    "bgpPeerAdminStatus",
    "bgpPeerInUpdates",
    "bgpPeerOutUpdates",
    "bgpPeerInTotalMessages",
    "bgpPeerOutTotalMessages",
    "bgpPeerFsmEstablishedTime",
    "bgpPeerInUpdateElapsedTime",
    "bgpLocalAddr",
    "bgpPeerLastErrorCode",
    "bgpPeerLastErrorSubCode",
    "bgpPeerIface",
)

SEVERITY_OK, SEVERITY_WARNING, SEVERITY_ERROR = 1, 4, 5  # LibreNMS\Enum\Severity

DIFFERENCES: dict[str, str] = {
    "bgpPeerLastErrorSubCode": (
        "LibreNMS prints bgpPeerLastError as hex ('03 0B') and intval()s each half, so a code or subcode "
        "of 10 or more (0A..0F, e.g. UPDATE error 11 'Malformed AS_PATH') is stored as 0; fastpoll stores "
        "the octets' values"
    ),
}
NOT_CARRIED: dict[str, str] = {
    "vendor MIBs": (
        "junos (BGP4-V2-MIB-JUNIPER), arista (ARISTA-BGP4V2-MIB), dell-os10, timos (TIMETRA-BGP-MIB), "
        "firebrick, aos7 (ALCATEL-IND1-BGP-MIB), vrp (HUAWEI-BGP-VPN-MIB), cisco (CISCO-BGP4-MIB incl. "
        "VRF contexts), vyos (BGP4V2-MIB), cumulus (CUMULUS-BGPUN/BGPVRF-MIB): their peers are polled "
        "through BGP4-MIB only when the device also answers it"
    ),
    "IPv6 peers": "BGP4-MIB's bgpPeerTable is indexed by an IPv4 address; such rows are left alone",
    "bgpPeers_cbgp": "per-AFI/SAFI prefix counters exist only in the vendor MIBs",
    "alerts.bgp.whitelist": "LibreNMS's config is not read: every peer's state changes are logged",
    "RRD": "bgp-<peer>.rrd is LibreNMS's poller's (fastpoll writes the database only)",
}

# LibreNMS lang/en/bgp.php (IANA BGP error codes and subcodes).
ERROR_CODES: dict[int, str] = {
    0: "Reserved",
    1: "Message Header Error",
    2: "OPEN Message Error",
    3: "UPDATE Message Error",
    4: "Hold Timer Expired",
    5: "Finite State Machine Error",
    6: "Cease",
    7: "ROUTE-REFRESH Message Error",
}
ERROR_SUBCODES: dict[int, dict[int, str]] = {
    1: {
        0: "Unspecific",
        1: "Connection Not Synchronized",
        2: "Bad Message Length",
        3: "Bad Message Type",
    },
    2: {
        0: "Unspecific",
        1: "Unsupported Version Number",
        2: "Bad Peer AS",
        3: "Bad BGP Identifier",
        4: "Unsupported Optional Parameter",
        5: "[Deprecated]",
        6: "Unacceptable Hold Time",
        7: "Role Mismatch (Temporary BGP Draft)",
    },
    3: {
        0: "Unspecific",
        1: "Malformed Attribute List",
        2: "Unrecognized Well-known Attribute",
        3: "Missing Well-known Attribute",
        4: "Attribute Flags Error",
        5: "Attribute Length Error",
        6: "Invalid ORIGIN Attribute",
        7: "[Deprecated]",
        8: "Invalid NEXT_HOP Attribute",
        9: "Optional Attribute Error",
        10: "Invalid Network Field",
        11: "Malformed AS_PATH",
    },
    5: {
        0: "Unspecified Error",
        1: "Receive Unexpected Message in OpenSent State",
        2: "Receive Unexpected Message in OpenConfirm State",
        3: "Receive Unexpected Message in Established State",
    },
    6: {
        0: "Reserved",
        1: "Maximum Number of Prefixes Reached",
        2: "Administrative Shutdown",
        3: "Peer De-configured",
        4: "Administrative Reset",
        5: "Connection Rejected",
        6: "Other Configuration Change",
        7: "Connection Collision Resolution",
        8: "Out of Resources",
        9: "Hard Reset",
    },
}

Value = int | str | bytes | None


@dataclass(frozen=True, slots=True)
class BgpPeerRow:
    """A stored ``bgpPeers`` row: what the poll reads, and the columns it may change."""

    bgpPeer_id: int
    device_id: int
    bgpPeerIdentifier: str
    bgpPeerRemoteAs: int = 0
    bgpPeerDescr: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)  # UPDATED_COLUMNS -> stored value

    @property
    def index(self) -> str | None:
        """The bgpPeerTable index (the peer's IPv4 address), None when the peer is not IPv4."""
        try:
            address = ipaddress.ip_address(self.bgpPeerIdentifier.strip())
        except ValueError:
            return None
        return str(address) if address.version == 4 else None

    def oids(self) -> dict[str, str]:
        """Field -> OID to GET (empty for a peer BGP4-MIB cannot index)."""
        index = self.index
        if index is None:
            return {}
        return {name: f"{BGP_PEER_ENTRY}.{column}.{index}" for column, name in COLUMNS.items()}


@dataclass(frozen=True, slots=True)
class BgpPeerUpdate:
    """``UPDATE bgpPeers SET <columns> WHERE bgpPeer_id``: only the columns that changed."""

    bgpPeer_id: int
    columns: Mapping[str, Any]


def error_description(code: object, subcode: object) -> str:
    """LibreNMS's BGP error text: "<code> - <subcode>", else "<code>", else "Unknown"."""
    c, s = _int_or_none(code), _int_or_none(subcode)
    if c is not None and s is not None and s in ERROR_SUBCODES.get(c, {}):
        return f"{ERROR_CODES.get(c, '')} - {ERROR_SUBCODES[c][s]}"
    if c is not None and c in ERROR_CODES:
        return ERROR_CODES[c]
    return "Unknown"


def _int_or_none(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _enum(value: int, names: Mapping[int, str]) -> str:
    return names.get(value, str(value))  # net-snmp prints an unknown enum value as its number


def peer_data(row: BgpPeerRow, answers: Mapping[str, Value]) -> dict[str, Any] | None:
    """The fields one GET gave for ``row`` (``answers``: OID -> decoded value, None = absent), as LibreNMS
    holds them before ``set_numeric`` (without bgpPeerIface); None when the agent answered nothing."""
    oids = row.oids()
    raw = {name: answers.get(oid) for name, oid in oids.items()}
    if not oids or all(v is None for v in raw.values()):
        return None
    data: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            data[name] = 0 if name in INT_FIELDS else ""
        elif name == "bgpPeerState" and isinstance(value, int):
            data[name] = _enum(value, STATES)
        elif name == "bgpPeerAdminStatus" and isinstance(value, int):
            data[name] = _enum(value, ADMIN_STATUSES)
        elif name == "bgpPeerLastErrorCode":
            octets = value if isinstance(value, bytes) else str(value).encode()
            if len(octets) >= 2:
                data["bgpPeerLastErrorCode"], data["bgpPeerLastErrorSubCode"] = octets[0], octets[1]
            elif len(octets) == 1:
                data["bgpPeerLastErrorCode"], data["bgpPeerLastErrorSubCode"] = octets[0], 0
            else:
                data[name] = 0
        elif isinstance(value, bytes):
            data[name] = value.decode("utf-8", errors="replace")
        else:
            data[name] = value
    return data


def local_address(data: Mapping[str, Any]) -> str | None:
    """The address whose port ``bgpPeerIface`` is looked up for (None: no lookup, the column is NULL)."""
    text = str(data.get("bgpLocalAddr") or "")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _set_numeric(value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        number = float(str(value))
    except ValueError:
        return 0
    if number != number or number in (float("inf"), float("-inf")):
        return 0
    return int(number) if number == int(number) else number


def _php_str(value: Any) -> str:
    """How PHP's array_diff_assoc compares: (string) $value (NULL -> '')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _loose_truthy(value: Any) -> bool:
    """PHP truthiness of a scalar from an SNMP answer ('' and '0' are false)."""
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def _events(row: BgpPeerRow, data: Mapping[str, Any], polled: int) -> list[EventRow]:
    established = data.get("bgpPeerFsmEstablishedTime")
    if not _loose_truthy(established):
        return []
    old_state = _php_str(row.values.get("bgpPeerState"))
    new_state = _php_str(data.get("bgpPeerState"))
    went_down = _set_numeric(established) < _set_numeric(row.values.get("bgpPeerFsmEstablishedTime") or 0)
    if not (went_down or new_state != old_state):
        return []
    peer = f"{row.bgpPeerIdentifier} (AS{row.bgpPeerRemoteAs} {row.bgpPeerDescr or ''})"
    error = error_description(
        row.values.get("bgpPeerLastErrorCode"), row.values.get("bgpPeerLastErrorSubCode")
    )
    reference = str(ipaddress.ip_address(row.bgpPeerIdentifier.strip()))
    if old_state == new_state:
        message, severity = f"BGP Session Flap: {peer}, last error: {error}", SEVERITY_WARNING
    elif new_state == "established":
        message, severity = f"BGP Session Up: {peer}", SEVERITY_OK
    elif old_state == "established":
        message, severity = f"BGP Session Down: {peer}, last error: {error}", SEVERITY_ERROR
    else:
        return []
    return [EventRow(row.device_id, polled, message, "bgpPeer", severity, reference)]


def poll_peer(
    row: BgpPeerRow, data: Mapping[str, Any], iface: int | None, polled: int
) -> tuple[BgpPeerRow, BgpPeerUpdate | None, list[EventRow]]:
    """Apply one peer's polled ``data`` (from :func:`peer_data`) and its looked-up ``iface``."""
    events = _events(row, data, polled)
    new = dict(data)
    for name in NUMERIC_FIELDS:
        new[name] = _set_numeric(new.get(name, 0))
    new["bgpPeerIface"] = iface
    changed = {k: v for k, v in new.items() if _php_str(v) != _php_str(row.values.get(k))}
    if not changed:
        return row, None, events
    row = replace(row, values={**row.values, **changed})
    return row, BgpPeerUpdate(row.bgpPeer_id, changed), events


def poll_bgp(
    rows: list[BgpPeerRow],
    answers: Mapping[str, Value],
    ifaces: Mapping[str, int | None],
    polled: int,
) -> tuple[list[BgpPeerRow], list[BgpPeerUpdate], list[EventRow]]:
    """Apply one poll to every peer: ``answers`` maps OID -> decoded value (None/absent = no answer),
    ``ifaces`` maps a local address -> the ifIndex its lookup found (absent = NULL).

    Returns the rows as they now are, the column updates and the eventlog rows.
    """
    new_rows: list[BgpPeerRow] = []
    updates: list[BgpPeerUpdate] = []
    events: list[EventRow] = []
    for row in rows:
        data = peer_data(row, answers)
        if data is None:
            new_rows.append(row)
            continue
        address = local_address(data)
        iface = ifaces.get(address) if address is not None else None
        row, update, peer_events = poll_peer(row, data, iface, polled)
        new_rows.append(row)
        events.extend(peer_events)
        if update is not None:
            updates.append(update)
    return new_rows, updates, events


def local_addresses(rows: list[BgpPeerRow], answers: Mapping[str, Value]) -> set[str]:
    """The local addresses this poll needs a ``bgpPeerIface`` lookup for."""
    out: set[str] = set()
    for row in rows:
        data = peer_data(row, answers)
        if data is not None and (address := local_address(data)) is not None:
            out.add(address)
    return out


@dataclass(slots=True)
class BgpWrites:
    """What one poll of a device's BGP peers changes (applied by poller.store.discovered_writer)."""

    device_id: int
    polled: int
    peers: list[BgpPeerUpdate] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    oids: int = 0  # how many OIDs were fetched

    @property
    def empty(self) -> bool:
        return not (self.peers or self.events)
