"""SensorsCheck: fast polling of what LibreNMS discovered (sensors, processors, mempools) for one device.

The device's stored rows are loaded once (``poller.store.discovered.load_discovered``, in a worker thread),
then every poll is ONE ``engine.get`` of all stored OIDs (the engine splits it into PDUs) followed by the
pure functions of sensors.py / processors.py / mempools.py. The rows are kept in memory between polls
(``sensor_current`` becomes the next poll's ``sensor_prev``), as the ports check keeps its state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from poller.checks.librenms_number import snmp_text
from poller.checks.mempools import MempoolUpdate, poll_mempools
from poller.checks.processors import ProcessorUpdate, poll_processors
from poller.checks.results import EventRow
from poller.checks.sensors import SensorUpdate, poll_sensors
from poller.model import Device
from poller.snmp.client import SnmpEngine
from poller.store.discovered import Discovered, load_discovered


@dataclass(slots=True)
class DiscoveredWrites:
    """What one poll of the discovered entities changes (applied by poller.store.discovered_writer)."""

    device_id: int
    polled: int
    sensors: list[SensorUpdate] = field(default_factory=list)
    processors: list[ProcessorUpdate] = field(default_factory=list)
    mempools: list[MempoolUpdate] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    oids: int = 0  # how many OIDs were fetched

    @property
    def empty(self) -> bool:
        return not (self.sensors or self.processors or self.mempools or self.events)


def apply_answers(
    found: Discovered, answers: dict[str, str | None], device_id: int, polled: int
) -> DiscoveredWrites:
    """Pure: update ``found`` in place from the answers (stored OID -> text) and return the writes."""
    writes = DiscoveredWrites(device_id=device_id, polled=polled, oids=len(answers))
    found.sensors, writes.sensors, writes.events = poll_sensors(found.sensors, answers, polled)
    found.processors, writes.processors = poll_processors(found.processors, answers)
    found.mempools, writes.mempools = poll_mempools(found.mempools, answers)
    return writes


class SensorsCheck:
    """Per process: holds each device's discovered rows; ``poll`` returns that device's writes."""

    def __init__(self, db: Engine) -> None:
        self._db = db
        self._devices: dict[int, Discovered] = {}

    def forget(self, device_id: int) -> None:
        """Drop a device's cached rows (re-discovered or removed): the next poll reloads them."""
        self._devices.pop(device_id, None)

    async def load(self, device_id: int) -> Discovered:
        found = self._devices.get(device_id)
        if found is None:

            def _load() -> Discovered:
                with self._db.connect() as conn:
                    return load_discovered(conn, device_id)

            found = await asyncio.to_thread(_load)
            self._devices[device_id] = found
        return found

    async def poll(
        self, engine: SnmpEngine, device: Device, *, now: float, deadline: float | None = None
    ) -> DiscoveredWrites:
        found = await self.load(device.device_id)
        stored = found.oids()
        if not stored:
            return DiscoveredWrites(device_id=device.device_id, polled=int(now))
        varbinds = await engine.get(device.target, [o.lstrip(".") for o in stored], deadline=deadline)
        answers = {oid: snmp_text(vb) for oid, vb in zip(stored, varbinds, strict=True)}
        return apply_answers(found, answers, device.device_id, int(now))
