"""From poll results to crisis events: the daemon's ResultSink that feeds a CrisisNotifier.

The checks already decided what changed (eventlog rows with LibreNMS's types: down, up, reboot,
interface); this only translates them, so the Payload side sees exactly the transitions LibreNMS's
eventlog records, within seconds. Feeding never blocks polling (the notifier queues).
"""

from __future__ import annotations

from datetime import UTC, datetime

from poller.checks.results import PollResult, PortRef
from poller.model import Device

from .crisis import CrisisNotifier

PORT_DOWN_PREFIX = "ifOperStatus: up -> "


class CrisisSink:
    def __init__(self, notifier: CrisisNotifier) -> None:
        self.notifier = notifier

    def on_result(self, device: Device, result: PollResult) -> None:
        name = device.sys_name or device.hostname
        names = {p.ifIndex: p.ifName or p.ifDescr or str(p.ifIndex) for p in result.port_metrics}
        for event in result.events:
            at = datetime.fromtimestamp(event.datetime, UTC)
            if event.type == "down":
                self.notifier.device_down(device.device_id, name, at, event.message)
            elif event.type == "up":
                self.notifier.device_up(device.device_id, name, at)
            elif event.type == "reboot":
                self.notifier.device_rebooted(device.device_id, name, at, event.message)
            elif event.type == "interface" and event.message.startswith("ifOperStatus: "):
                port = _port_name(event.reference, names)
                if port is None:
                    continue
                if event.message.startswith(PORT_DOWN_PREFIX):
                    self.notifier.port_down(device.device_id, name, port, at, event.message)
                elif event.message.endswith("-> up"):
                    self.notifier.port_up(device.device_id, name, port, at)

    def on_remove(self, device_id: int) -> None:
        return None


def _port_name(reference: object, names: dict[int, str]) -> str | None:
    if isinstance(reference, PortRef):
        return names.get(reference.ifIndex)
    return None
