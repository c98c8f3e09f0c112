"""Device availability: a pure state machine over consecutive SNMP poll outcomes.

LibreNMS (app/Actions/Device/SetDeviceAvailability.php, UpdateDeviceOutage.php, DeviceObserver.php):
- ``devices.status`` = available, ``status_reason`` = '' when up, the failing source ('snmp') when down;
- going down opens an outage (``device_outages.going_down`` = epoch, ``up_again`` NULL) if none is open;
  coming up closes every open outage (``up_again`` = epoch);
- a status change logs ``Device status changed to <Up|Down> from <reason> check.`` type 'up'/'down',
  severity 2 (Info), reference NULL; the reason is the NEW status_reason going down and the OLD one coming
  up (so a never-polled device, status 0 and reason '', logs "... to Up from  check." exactly as LibreNMS).

fastpoll's one addition: a device is declared down only after ``threshold`` consecutive failed polls
(threshold 1 = LibreNMS). It is up again on the first good poll. The outage starts at the first failed
poll of the run that crossed the threshold (the time the device really stopped answering).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .results import EventRow, OutageClose, OutageOpen

REASON_SNMP = "snmp"
SEVERITY_INFO = 2


@dataclass(frozen=True, slots=True)
class AvailabilityState:
    """What is known about a device between polls."""

    status: bool  # devices.status as last written
    status_reason: str = ""  # devices.status_reason as last written
    failures: int = 0  # consecutive failed polls
    first_failure: int | None = None  # epoch of the first failure of the current run


@dataclass(frozen=True, slots=True)
class AvailabilityOutcome:
    state: AvailabilityState
    changed: bool  # status or status_reason changed: write them
    event: EventRow | None = None
    outage_open: OutageOpen | None = None
    outage_close: OutageClose | None = None


def status_message(up: bool, reason: str) -> str:
    return f"Device status changed to {'Up' if up else 'Down'} from {reason} check."


def initial_state(status: bool, status_reason: str, *, threshold: int) -> AvailabilityState:
    """State for a device read from the database: a device already down counts as past the threshold."""
    return AvailabilityState(status=status, status_reason=status_reason, failures=0 if status else threshold)


def observe(
    state: AvailabilityState, reachable: bool, *, now: int, device_id: int, threshold: int = 1
) -> AvailabilityOutcome:
    """Fold one poll outcome (SNMP answered or not) into the state."""
    threshold = max(threshold, 1)
    if reachable:
        new = AvailabilityState(status=True, status_reason="", failures=0, first_failure=None)
        if state.status and state.status_reason == "":
            return AvailabilityOutcome(new, changed=False)
        event = EventRow(
            device_id=device_id,
            datetime=now,
            message=status_message(True, state.status_reason),
            type="up",
            severity=SEVERITY_INFO,
            reference=None,
        )
        # LibreNMS closes open outages on every "up" availability result; only a transition can
        # have one open, so fastpoll emits the close on the transition.
        return AvailabilityOutcome(new, changed=True, event=event, outage_close=OutageClose(device_id, now))

    failures = state.failures + 1
    first = state.first_failure if state.first_failure is not None else now
    if failures < threshold or not state.status:
        # Below the threshold, or already down: nothing is written.
        kept = replace(state, failures=failures, first_failure=first)
        if not state.status and state.status_reason != REASON_SNMP:
            # down for another reason (e.g. icmp, or never polled): LibreNMS rewrites the reason to snmp.
            kept = replace(kept, status_reason=REASON_SNMP)
            event = EventRow(device_id, now, status_message(False, REASON_SNMP), "down", SEVERITY_INFO, None)
            return AvailabilityOutcome(
                kept, changed=True, event=event, outage_open=OutageOpen(device_id, first)
            )
        return AvailabilityOutcome(kept, changed=False)
    new = AvailabilityState(status=False, status_reason=REASON_SNMP, failures=failures, first_failure=first)
    event = EventRow(device_id, now, status_message(False, REASON_SNMP), "down", SEVERITY_INFO, None)
    return AvailabilityOutcome(new, changed=True, event=event, outage_open=OutageOpen(device_id, first))
