"""The engine's error hierarchy. Callers never see library internals (pyasn1, socket errors).

    SnmpError
    ├── SnmpTimeout          no (valid) answer within timeout x retries or the device deadline
    ├── SnmpAuthError        v3: wrong digest, unknown user/engine, wrong community is a timeout
    ├── SnmpProtocolError    the agent answered something we cannot use
    │   ├── SnmpDecodeError  a datagram that is not valid BER/SNMP
    │   ├── SnmpErrorStatus  a PDU with error-status != 0 (tooBig, noSuchName, genErr, ...)
    │   └── SnmpLoopError    a walk whose OIDs stopped increasing
    └── SnmpConfigError      a target we cannot even try (bad host name, unknown algorithm)

Messages never contain communities or passwords.
"""

from __future__ import annotations


class SnmpError(Exception):
    """Base of every error the SNMP engine raises."""

    kind = "error"


class SnmpTimeout(SnmpError):
    kind = "timeout"


class SnmpAuthError(SnmpError):
    kind = "auth"


class SnmpConfigError(SnmpError):
    kind = "config"


class SnmpProtocolError(SnmpError):
    kind = "protocol"


class SnmpDecodeError(SnmpProtocolError):
    kind = "decode"


class SnmpLoopError(SnmpProtocolError):
    kind = "loop"


ERROR_STATUS_NAMES = {
    0: "noError",
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
    7: "wrongType",
    8: "wrongLength",
    9: "wrongEncoding",
    10: "wrongValue",
    11: "noCreation",
    12: "inconsistentValue",
    13: "resourceUnavailable",
    14: "commitFailed",
    15: "undoFailed",
    16: "authorizationError",
    17: "notWritable",
    18: "inconsistentName",
}


class SnmpErrorStatus(SnmpProtocolError):
    kind = "error_status"

    def __init__(self, status: int, index: int, message: str = "") -> None:
        self.status = status
        self.index = index
        name = ERROR_STATUS_NAMES.get(status, f"status {status}")
        super().__init__(message or f"agent answered {name} (error-index {index})")

    @property
    def name(self) -> str:
        return ERROR_STATUS_NAMES.get(self.status, str(self.status))
