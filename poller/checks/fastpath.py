"""DiscoveredChecks: the fast-path checks of what LibreNMS discovered on a device, each run when it is due.

Sensors, processors and mempools (poller/checks/discovered.py's SensorsCheck holds their rows) and BGP peers
(poller/checks/bgp.py) are fetched with ONE ``engine.get`` of the stored OIDs of the checks due on this poll
(``checks``: names from poller/checks/intervals.py), then updated by the pure functions. Rows are loaded once
per device (in a worker thread) and kept between polls; ``forget`` drops them. BGP peers are loaded apart from
the other entities, so a database user without the bgpPeers grant loses BGP only (logged once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from poller.checks.bgp import BgpWrites, local_addresses, poll_bgp
from poller.checks.discovered import DiscoveredWrites, SensorsCheck, apply_answers
from poller.checks.intervals import CHECKS
from poller.checks.librenms_number import snmp_text
from poller.model import Device
from poller.snmp.client import SnmpEngine
from poller.snmp.values import Tag, VarBind
from poller.store.discovered import Discovered, load_bgp_peers, lookup_ifaces

log = logging.getLogger("fastpoll.checks")

ENTITY_CHECKS = ("sensors", "processors", "mempools")
_ABSENT = (Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW, Tag.NULL)


@dataclass(slots=True)
class FastPathWrites:
    """One device poll's writes: the entities' and the BGP peers' (either None when not due)."""

    entities: DiscoveredWrites | None = None
    bgp: BgpWrites | None = None

    def batch(self) -> list[DiscoveredWrites | BgpWrites]:
        return [w for w in (self.entities, self.bgp) if w is not None and not w.empty]


def _value(vb: VarBind) -> int | str | bytes | None:
    if vb.tag in _ABSENT or vb.value is None:
        return None
    return vb.value  # type: ignore[return-value]


def part_of(found: Discovered, checks: Collection[str]) -> Discovered:
    """The rows of the due entity checks only (the others' lists empty)."""
    return Discovered(
        sensors=found.sensors if "sensors" in checks else [],
        processors=found.processors if "processors" in checks else [],
        mempools=found.mempools if "mempools" in checks else [],
    )


def keep_part(found: Discovered, part: Discovered, checks: Collection[str]) -> None:
    """Store the polled rows of the due checks back into the device's cached rows."""
    if "sensors" in checks:
        found.sensors = part.sensors
    if "processors" in checks:
        found.processors = part.processors
    if "mempools" in checks:
        found.mempools = part.mempools


class DiscoveredChecks:
    """Per process: each device's discovered rows; ``poll`` returns that device's writes."""

    def __init__(self, db: Engine) -> None:
        self._db = db
        self.entities = SensorsCheck(db)
        self._bgp: dict[int, Discovered] = {}
        self.bgp_enabled = True

    def forget(self, device_id: int) -> None:
        self.entities.forget(device_id)
        self._bgp.pop(device_id, None)

    async def _load_bgp(self, device_id: int) -> Discovered | None:
        if not self.bgp_enabled:
            return None
        found = self._bgp.get(device_id)
        if found is None:

            def _load() -> Discovered:
                with self._db.connect() as conn:
                    return Discovered(bgp_peers=load_bgp_peers(conn, device_id))

            try:
                found = await asyncio.to_thread(_load)
            except Exception as exc:  # e.g. no SELECT on bgpPeers: the other checks go on
                log.warning("BGP peers polling switched off: %s", type(exc).__name__)
                log.debug("BGP peers error", exc_info=True)
                self.bgp_enabled = False
                return None
            self._bgp[device_id] = found
        return found

    async def _ifaces(self, found: Discovered, addresses: set[str]) -> dict[str, int | None]:
        missing = addresses - found.bgp_ifaces.keys()
        if missing:

            def _lookup() -> dict[str, int | None]:
                with self._db.connect() as conn:
                    return lookup_ifaces(conn, missing)

            found.bgp_ifaces.update(await asyncio.to_thread(_lookup))
        return found.bgp_ifaces

    async def poll(
        self,
        engine: SnmpEngine,
        device: Device,
        *,
        now: float,
        checks: Collection[str] = CHECKS,
        deadline: float | None = None,
    ) -> FastPathWrites:
        """One GET of the stored OIDs of the due ``checks``; the writes of each check that ran."""
        polled = int(now)
        entity_checks = [c for c in ENTITY_CHECKS if c in checks]
        found = await self.entities.load(device.device_id) if entity_checks else None
        part = part_of(found, entity_checks) if found is not None else None
        peers = await self._load_bgp(device.device_id) if "bgp" in checks else None
        entity_oids = part.oids() if part is not None else []
        bgp_oids = peers.bgp_oids() if peers is not None else []
        out = FastPathWrites()
        oids = list(dict.fromkeys([*entity_oids, *bgp_oids]))
        if not oids:
            return out
        varbinds = await engine.get(device.target, [o.lstrip(".") for o in oids], deadline=deadline)
        by_oid = dict(zip(oids, varbinds, strict=True))
        if found is not None and part is not None and entity_oids:
            answers = {oid: snmp_text(by_oid[oid]) for oid in entity_oids}
            out.entities = apply_answers(part, answers, device.device_id, polled)
            keep_part(found, part, entity_checks)
        if peers is not None and bgp_oids:
            values = {oid: _value(by_oid[oid]) for oid in bgp_oids}
            try:
                ifaces = await self._ifaces(peers, local_addresses(peers.bgp_peers, values))
            except Exception as exc:  # e.g. no SELECT on ipv4_addresses
                log.warning("BGP peers polling switched off: %s", type(exc).__name__)
                log.debug("BGP peers error", exc_info=True)
                self.bgp_enabled = False
                return out
            peers.bgp_peers, updates, events = poll_bgp(peers.bgp_peers, values, ifaces, polled)
            out.bgp = BgpWrites(device.device_id, polled, updates, events, oids=len(bgp_oids))
        return out
