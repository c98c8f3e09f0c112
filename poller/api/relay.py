"""LibreNMS API-transport alerts: the body the operator pastes into LibreNMS, validated strictly.

LibreNMS fills ``{{ $var }}`` placeholders in a body template of the operator's choosing (docs/alert-relay.md
has the template). Unknown fields are refused, so a typo in the template shows up as a 400 naming it at the
transport's "test" button rather than as alerts that silently lose a field.

Alert states (LibreNMS ``AlertState``): 0 clear, 1 active, 2 acknowledged, 3 worse, 4 better, 5 changed.
0 resolves the crisis event; 1, 3, 4 and 5 open it (an open one is left as it is); 2 is recorded in the queue.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NaiveDatetime, StrictInt, StrictStr
from pydantic import ValidationError as _ValidationError

from sync.crisis import Transition
from sync.models import Severity

LIBRENMS_ALERT = "librenms_alert"  # crisis-events ``type`` of relayed alerts

CLEAR, ACTIVE, ACKNOWLEDGED, WORSE, BETTER, CHANGED = range(6)
STATE_NAMES = {0: "clear", 1: "active", 2: "acknowledged", 3: "worse", 4: "better", 5: "changed"}
_SEVERITY: dict[str, Severity] = {"ok": "info", "warning": "warning", "critical": "critical"}


class LibreNMSAlert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    alert_id: Annotated[StrictInt, Field(ge=1, description="LibreNMS $alert_id: one per device and rule")]
    device_id: Annotated[StrictInt, Field(ge=1)]
    hostname: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    state: Literal[0, 1, 2, 3, 4, 5]
    severity: Literal["ok", "warning", "critical"]
    title: Annotated[StrictStr, Field(max_length=2000)]
    rule: Annotated[StrictStr, Field(max_length=2000)] | None = None
    # LibreNMS's $timestamp is "YYYY-MM-DD HH:MM:SS" without a zone: read as UTC (run LibreNMS in UTC, or
    # leave the field out and the relay uses the time it received the alert).
    timestamp: AwareDatetime | NaiveDatetime | None = None

    def at(self, received: datetime) -> datetime:
        if self.timestamp is None:
            return received
        ts = self.timestamp
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts

    @property
    def dedup_subject(self) -> str:
        return f"alert-{self.alert_id}"


class AlertBodyError(ValueError):
    """A body that is not a valid alert; ``fields`` = [(field, message)], field "body" for the whole body."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{f}: {m}" for f, m in fields))


def parse_alert(raw: bytes) -> LibreNMSAlert:
    """Bytes of a request body -> LibreNMSAlert, or AlertBodyError naming each bad field."""
    try:
        data: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlertBodyError([("body", f"not valid JSON ({exc.__class__.__name__}: {exc})")]) from None
    if not isinstance(data, dict):
        raise AlertBodyError([("body", "must be a JSON object")])
    try:
        return LibreNMSAlert.model_validate(data)
    except _ValidationError as exc:
        fields = []
        for err in exc.errors(include_url=False, include_input=False):
            # the first location element is the field; union members append their type name after it
            fields.append((str(err["loc"][0]) if err["loc"] else "body", err["msg"]))
        raise AlertBodyError(list(dict.fromkeys(fields))) from None


def transition(alert: LibreNMSAlert, received: datetime) -> Transition | None:
    """The crisis-event change an alert asks for; None for an acknowledgement (recorded, not sent)."""
    if alert.state == ACKNOWLEDGED:
        return None
    kind: Literal["open", "resolve"] = "resolve" if alert.state == CLEAR else "open"
    reason = alert.title or (alert.rule or "")
    return Transition(
        kind,
        LIBRENMS_ALERT,
        alert.device_id,
        alert.hostname,
        alert.at(received),
        reason=reason,
        subject=alert.dedup_subject,
        severity=_SEVERITY[alert.severity],
    )
