"""MariaDB killed with SIGKILL in the middle of the writer's transaction, then started again.

The writer commits one transaction per batch. Each poll result k sets the port's ifInOctets to k and
logs ROWS eventlog rows "sample k row j", so at any instant a consistent database holds whole samples
0..m (never part of one), and the port's ifInOctets is m, the newest committed sample. The server is
a private one (tests/support/private_mariadb.py): the shared server is never killed.

Delivery is at least once, not exactly once: a kill that lands after the server made a COMMIT durable
but before its acknowledgement reached the writer leaves the writer no way to know, and it writes that
batch again (LibreNMS's eventlog has no key to deduplicate on). So a sample may be there twice, whole;
never in part, and never missing.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from poller.checks.results import EventRow, PollResult, PortRef, PortWrite
from poller.store.librenms import LibreNMSWriter
from poller.store.tables import devices, ports, ports_statistics
from tests.support import private_mariadb
from tests.support.private_mariadb import PrivateMariaDB
from tests.support.shared import require_shared

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

T0 = 1_700_000_000
MAX_SAMPLES = 4000  # ROWS x this stays under the writer's cap on kept transitions; 20 s of samples
ROWS = 20  # eventlog rows per sample: big enough transactions to be caught in the middle
KILLS = 2
_SAMPLE = re.compile(r"^sample (\d+) row (\d+)$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    require_shared()
    if not private_mariadb.available():
        if os.environ.get("CI"):
            pytest.fail("mariadbd and mariadb-install-db are required in CI")
        pytest.skip("mariadbd / mariadb-install-db not installed")
    db = PrivateMariaDB(tmp_path_factory.mktemp("private-mariadb"))
    db.install()
    db.start()
    try:
        yield db
    finally:
        db.stop()


def _setup(url: str) -> PortRef:
    eng = create_engine(url)
    with eng.begin() as c:
        dev = c.execute(
            devices.insert().values(hostname="crash", status=1, status_reason="")
        ).inserted_primary_key[0]
        pid = c.execute(ports.insert().values(device_id=dev, ifIndex=1)).inserted_primary_key[0]
        c.execute(ports_statistics.insert().values(port_id=pid))
    eng.dispose()
    return PortRef(dev, 1, pid)


def _sample(ref: PortRef, k: int) -> PollResult:
    t = T0 + k
    return PollResult(
        ref.device_id,
        t,
        ports=[PortWrite(ref, {"ifInOctets": k}, {})],
        events=[EventRow(ref.device_id, t, f"sample {k} row {j}", "system", 2) for j in range(ROWS)],
    )


def _committed(server: PrivateMariaDB, database: str, ref: PortRef) -> tuple[Counter[int], int | None]:
    """Rows per sample in eventlog, and the port's ifInOctets, read from one snapshot (the writer may be
    committing meanwhile)."""
    conn = server.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SELECT message FROM eventlog WHERE device_id = %s", (ref.device_id,))
            per_sample = Counter(int(_SAMPLE.match(m).group(1)) for (m,) in cur.fetchall())  # type: ignore[union-attr]
            cur.execute("SELECT ifInOctets FROM ports WHERE port_id = %s", (ref.port_id,))
            (octets,) = cur.fetchone()
            cur.execute("COMMIT")
    finally:
        conn.close()
    return per_sample, octets


def _assert_consistent(per_sample: Counter[int], octets: int | None) -> None:
    half = {k: n for k, n in per_sample.items() if n % ROWS}
    assert not half, f"samples written in part: {half}"
    newest = max(per_sample, default=None)
    assert sorted(per_sample) == list(range(newest + 1 if newest is not None else 0)), "a gap in the samples"
    assert octets == newest or (newest is None and not octets), "port and eventlog from different batches"


def _catch_the_writer_mid_batch(server: PrivateMariaDB, database: str, timeout: float = 30.0) -> None:
    """Return once the writer's transaction has updated the port and waits to insert its eventlog rows.

    A transaction of the test's own holds the gap lock above eventlog's last row (SELECT .. FOR UPDATE,
    REPEATABLE READ), so the writer's next batch blocks at its eventlog INSERT, which comes after its
    UPDATE of the port: a kill then lands in the middle of a batch every time, not by luck of timing.
    """
    holder = server.connect(database)
    watcher = server.connect()
    deadline = time.monotonic() + timeout
    blocked_since: dict[int, float] = {}
    with holder.cursor() as lock, watcher.cursor() as cur:
        lock.execute("START TRANSACTION")
        lock.execute("SELECT COALESCE(MAX(event_id), 0) FROM eventlog")
        (last,) = lock.fetchone()
        lock.execute("SELECT event_id FROM eventlog WHERE event_id > %s FOR UPDATE", (last,))
        while time.monotonic() < deadline:
            cur.execute(
                "SELECT ID FROM information_schema.PROCESSLIST"
                " WHERE COMMAND = 'Query' AND INFO LIKE 'INSERT INTO `eventlog`%%'"
            )
            now = time.monotonic()
            inserting = {row[0] for row in cur.fetchall()}
            blocked_since = {i: blocked_since.get(i, now) for i in inserting}
            if any(now - since >= 0.2 for since in blocked_since.values()):
                return  # the same INSERT has waited 0.2 s: it is held by the lock (the kill ends both)
            time.sleep(0.01)
        cur.execute("SELECT ID, COMMAND, STATE, LEFT(INFO, 40) FROM information_schema.PROCESSLIST")
        seen = cur.fetchall()
    raise AssertionError(f"the writer's batch never reached its eventlog INSERT; sessions: {seen}")


def test_a_mariadb_killed_mid_batch_keeps_whole_batches_and_the_writer_loses_nothing(server):
    database = server.create_librenms_database("crash_mid_batch")
    ref = _setup(server.url(database))
    writer = LibreNMSWriter(server.url(database), retry_initial=0.1, retry_max=1.0).start()
    done = threading.Event()  # the kills are over: submit no more
    submitted: list[int] = []

    def submit_until_done() -> None:
        for k in range(MAX_SAMPLES):
            if done.is_set():
                break
            writer.submit(_sample(ref, k))
            submitted.append(k)
            time.sleep(0.005)

    submitter = threading.Thread(target=submit_until_done, daemon=True)
    submitter.start()
    try:
        for _ in range(KILLS):
            assert not done.is_set() and submitter.is_alive(), "the samples ran out before the kills"
            _catch_the_writer_mid_batch(server, database)
            server.kill()  # SIGKILL with the writer's port UPDATE done and its eventlog INSERT pending
            server.start()  # InnoDB crash recovery
            _assert_consistent(*_committed(server, database, ref))
        done.set()
        submitter.join(30)
        assert writer.flush(60), "the writer did not catch up after the restarts"
    finally:
        done.set()
        writer.close(10)
    assert writer.stats.failures >= KILLS  # each kill cost the writer at least one failed batch
    per_sample, octets = _committed(server, database, ref)
    _assert_consistent(per_sample, octets)
    assert len(per_sample) == len(submitted), "a sample submitted before or during the outages was lost"
    assert octets == submitted[-1]
