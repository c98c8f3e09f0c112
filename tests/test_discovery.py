"""Discovery into the real LibreNMS schema and into the embedded SQLite, then a poll on top."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from poller.discovery import DiscoveryError, add_device
from poller.model import Credentials, Target
from poller.poll import poll_once
from poller.store.embedded import NotSqliteError, create_embedded
from poller.store.tables import devices, ports

pytestmark = pytest.mark.snmpsim


def _target(agent, community="linux_ntc"):
    return Target(agent.host, agent.port, credentials=Credentials(community=community), timeout=2, retries=2)


@pytest.mark.mariadb
async def test_device_add_discovers_device_and_ports_like_librenms_discovery(shared_snmpsim, librenms_url):
    device_id, n = await add_device(librenms_url, "127.0.0.1", _target(shared_snmpsim))
    eng = create_engine(librenms_url)
    with eng.connect() as c:
        dev = c.execute(select(devices).where(devices.c.device_id == device_id)).mappings().one()
        rows = c.execute(
            select(ports.c.ifIndex, ports.c.ifDescr, ports.c.ifOperStatus, ports.c.ifInOctets).order_by(
                ports.c.ifIndex
            )
        ).all()
    eng.dispose()
    assert dev["snmpver"] == "v2c" and dev["community"] == "linux_ntc" and dev["sysObjectID"]
    assert n == len(rows) == 7
    assert rows[0][:3] == (1, "lo", "up") and rows[0][3] is None
    with pytest.raises(DiscoveryError):
        await add_device(librenms_url, "127.0.0.1", _target(shared_snmpsim))


async def test_embedded_sqlite_discovery_then_poll(shared_snmpsim, tmp_path):
    url = f"sqlite:///{tmp_path / 'fp.db'}"
    create_embedded(url).dispose()
    device_id, _ = await add_device(url, "127.0.0.1", _target(shared_snmpsim, "routeros"))
    results, problems = await poll_once(url, [str(device_id)])
    assert not problems and results[0].metrics.reachable
    eng = create_engine(url)
    with eng.connect() as c:
        speeds = c.execute(select(ports.c.ifSpeed, ports.c.poll_time)).all()
    eng.dispose()
    assert all(poll_time for _, poll_time in speeds)


def test_embedded_refuses_anything_but_sqlite():
    with pytest.raises(NotSqliteError):
        create_embedded("mysql+pymysql://root@127.0.0.1/librenms")
