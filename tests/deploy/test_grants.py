"""deploy/sql: fastpoll's least-privilege MariaDB user, generated from poller/store/tables.py.

The real-database tests create the user from the COMMITTED SQL file (under a unique account name), run a
full poll and the writer as that user, and check that everything else is refused.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql
import pytest
from sqlalchemy import create_engine, func, select

from poller.store.tables import (
    INSERT_TABLES,
    OWNED_COLUMNS,
    READ_COLUMNS,
    TABLES,
    device_outages,
    devices,
    eventlog,
    ports,
    ports_statistics,
)
from tests.deploy.conftest import DEPLOY, load_script
from tests.support import mariadb
from tests.support.net import free_udp_port

generate = load_script("sql/generate_grants.py")
apply_grants = load_script("sql/apply_grants.py")
COMMITTED_SQL = DEPLOY / "sql" / "fastpoll-user.sql"


# ------------------------------------------------------------------------------------------ generation


def test_committed_sql_equals_the_generated_one():
    assert COMMITTED_SQL.read_text(encoding="utf-8") == generate.render_sql(), (
        "deploy/sql/fastpoll-user.sql is out of date: "
        ".venv/bin/python deploy/sql/generate_grants.py > deploy/sql/fastpoll-user.sql"
    )


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "fastpoll-user.sql"
    stale.write_text(generate.render_sql().replace("UPDATE (", "UPDATE (`hostname`, ", 1))
    assert generate.main(["--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_plan_grants_only_select_insert_and_update():
    privileges = {p for table in generate.grant_plan().values() for p in table}
    assert privileges == {"SELECT", "INSERT", "UPDATE"}


def test_plan_covers_exactly_the_tables_fastpoll_uses():
    assert set(generate.grant_plan()) == set(TABLES)


def test_select_is_granted_on_the_columns_fastpoll_reads_only():
    for table, privileges in generate.grant_plan().items():
        assert privileges["SELECT"] == READ_COLUMNS[table]


def test_insert_is_granted_only_on_insert_tables_and_owned_columns():
    plan = generate.grant_plan()
    assert {t for t, p in plan.items() if "INSERT" in p} == set(INSERT_TABLES)
    for table in INSERT_TABLES:
        assert plan[table]["INSERT"] == OWNED_COLUMNS[table]


def test_update_columns_are_owned_columns_without_primary_keys():
    for table, privileges in generate.grant_plan().items():
        update = set(privileges.get("UPDATE", ()))
        assert update <= set(OWNED_COLUMNS.get(table, ()))
        assert not update & {c.name for c in TABLES[table].primary_key.columns}


def test_eventlog_is_append_only():
    assert "UPDATE" not in generate.grant_plan()["eventlog"]


def test_closing_an_outage_may_only_set_up_again():
    assert generate.grant_plan()["device_outages"]["UPDATE"] == ("up_again",)


def test_a_port_cannot_be_moved_to_another_device():
    assert "device_id" not in generate.grant_plan()["ports"]["UPDATE"]


def test_devices_updates_are_limited_to_the_owned_status_columns():
    assert set(generate.grant_plan()["devices"]["UPDATE"]) == set(OWNED_COLUMNS["devices"])
    assert "hostname" not in generate.grant_plan()["devices"]["UPDATE"]


def test_sql_names_no_database_and_holds_no_password():
    sql = generate.render_sql()
    assert not re.search(r"ON `[^`]+`\.`", sql)
    passwords = re.findall(r"IDENTIFIED BY (.*)$", sql, re.MULTILINE)
    assert passwords == ["', QUOTE(NULLIF(@fastpoll_password, '')));"] * 2


def test_account_names_with_quotes_are_rejected():
    with pytest.raises(ValueError, match="quote"):
        generate.render_sql(user="x'; DROP USER root; --")


# ---------------------------------------------------------------------------------------- apply helpers


def test_statements_are_the_non_comment_lines_without_semicolons():
    sql = "-- comment\n\nGRANT SELECT (`a`) ON `t` TO 'u'@'%';\nREVOKE ALL PRIVILEGES FROM 'u'@'%';\n"
    assert apply_grants.statements(sql) == [
        "GRANT SELECT (`a`) ON `t` TO 'u'@'%'",
        "REVOKE ALL PRIVILEGES FROM 'u'@'%'",
    ]


def test_a_statement_spread_over_lines_is_a_clear_error():
    with pytest.raises(apply_grants.GrantsError, match="one statement per line"):
        apply_grants.statements("GRANT SELECT\nON t TO u;\n")


def test_the_committed_sql_splits_into_one_statement_per_grant():
    found = apply_grants.statements(COMMITTED_SQL.read_text(encoding="utf-8"))
    grants = sum(len(p) for p in generate.grant_plan().values())
    assert len(found) == 3 + grants  # create, alter (password), revoke, then the grants


def test_secret_from_a_file_drops_the_trailing_newline(tmp_path):
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    assert apply_grants.secret_from_env({"X_FILE": str(path)}, "X") == "s3cret"


def test_missing_secret_is_an_error_naming_the_variable():
    with pytest.raises(apply_grants.GrantsError, match="FASTPOLL_DB_PASSWORD"):
        apply_grants.secret_from_env({}, "FASTPOLL_DB_PASSWORD")


def test_secret_given_twice_is_an_error():
    with pytest.raises(apply_grants.GrantsError, match="not both"):
        apply_grants.secret_from_env({"X": "a", "X_FILE": "/etc/hostname"}, "X")


def test_apply_gives_up_at_once_on_a_bad_admin_password():
    def connect():
        raise pymysql.err.OperationalError(1045, "Access denied for user 'root'")

    with pytest.raises(apply_grants.GrantsError, match="1045"):
        apply_grants.apply_with_retry(connect, [], "pw", wait=60, interval=0, log=lambda _: None)


def test_apply_waits_while_librenms_tables_are_missing():
    attempts: list[int] = []

    class Conn:
        def cursor(self):
            return self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, stmt, args=None):
            if stmt.startswith("GRANT") and len(attempts) < 3:
                raise pymysql.err.ProgrammingError(1146, "Table 'librenms.devices' doesn't exist")

        def close(self):
            pass

    def connect():
        attempts.append(1)
        return Conn()

    made = apply_grants.apply_with_retry(connect, ["GRANT x"], "pw", wait=60, interval=0, log=lambda _: None)
    assert made == 3


# ------------------------------------------------------------------------------- the real database


@dataclass(frozen=True)
class DbUser:
    database: str
    name: str
    password: str

    @property
    def url(self) -> str:
        return mariadb.url(self.database, self.name, self.password)

    def connect(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=mariadb.HOST,
            port=mariadb.PORT,
            user=self.name,
            password=self.password,
            database=self.database,
            autocommit=True,
        )


@pytest.fixture
def fastpoll_user(clean_librenms_db: str) -> Iterator[DbUser]:
    """The committed SQL applied as root (account renamed so runs never collide); dropped afterwards."""
    name = f"fp_{uuid.uuid4().hex[:12]}"
    password = secrets.token_urlsafe(18) + "'\\\""  # quotes and a backslash must survive the binding
    sql = COMMITTED_SQL.read_text(encoding="utf-8")
    assert sql.count("'fastpoll'@'%'") > 0 and sql.count("''fastpoll''@''%''") == 2
    sql = sql.replace("''fastpoll''@''%''", f"''{name}''@''%''").replace("'fastpoll'@'%'", f"'{name}'@'%'")
    root = mariadb.root_connect(clean_librenms_db)
    try:
        apply_grants.apply(root, apply_grants.statements(sql), password)
        yield DbUser(clean_librenms_db, name, password)
    finally:
        with root.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
        root.close()


@pytest.fixture
def polled(fastpoll_user: DbUser, shared_snmpsim) -> dict[str, int]:
    """Two devices polled once by poll_once as the least-privilege user: one answering (it was down, with
    an open outage and one known port), one silent (it was up)."""
    import asyncio

    from poller.poll import poll_once

    admin = create_engine(mariadb.url(fastpoll_user.database))
    with admin.begin() as c:
        up = c.execute(
            devices.insert().values(
                hostname=shared_snmpsim.host,
                community="linux_ntc",
                port=shared_snmpsim.port,
                status=0,
                status_reason="snmp",
                timeout=1,
                retries=1,
            )
        ).inserted_primary_key[0]
        pid = c.execute(ports.insert().values(device_id=up, ifIndex=1, ifName="old")).inserted_primary_key[0]
        c.execute(ports_statistics.insert().values(port_id=pid))
        c.execute(device_outages.insert().values(device_id=up, going_down=1_700_000_000))
        down = c.execute(
            devices.insert().values(
                hostname="127.0.0.1",
                community="public",
                port=free_udp_port(),
                status=1,
                status_reason="",
                timeout=1,
                retries=0,
            )
        ).inserted_primary_key[0]
    admin.dispose()

    results, problems = asyncio.run(poll_once(fastpoll_user.url, [str(up), str(down)], default_retries=0))
    assert not problems
    assert len(results) == 2
    return {"up": int(up), "down": int(down)}


def _count(database: str, stmt) -> int:
    engine = create_engine(mariadb.url(database))
    try:
        with engine.connect() as c:
            return int(c.execute(stmt).scalar_one())
    finally:
        engine.dispose()


def _one(database: str, stmt):
    engine = create_engine(mariadb.url(database))
    try:
        with engine.connect() as c:
            return c.execute(stmt).one()
    finally:
        engine.dispose()


@pytest.mark.mariadb
@pytest.mark.snmpsim
def test_least_privilege_user_polls_and_marks_a_device_up(fastpoll_user, polled):
    row = _one(
        fastpoll_user.database,
        select(devices.c.status, devices.c.last_polled, devices.c.uptime).where(
            devices.c.device_id == polled["up"]
        ),
    )
    assert row.status == 1 and row.last_polled is not None and row.uptime


@pytest.mark.mariadb
@pytest.mark.snmpsim
def test_least_privilege_user_inserts_new_ports_with_statistics_rows(fastpoll_user, polled):
    db = fastpoll_user.database
    n_ports = _count(db, select(func.count()).select_from(ports).where(ports.c.device_id == polled["up"]))
    n_stats = _count(
        db,
        select(func.count())
        .select_from(ports_statistics.join(ports, ports.c.port_id == ports_statistics.c.port_id))
        .where(ports.c.device_id == polled["up"]),
    )
    assert n_ports > 1
    assert n_stats == n_ports


@pytest.mark.mariadb
@pytest.mark.snmpsim
def test_least_privilege_user_updates_known_ports(fastpoll_user, polled):
    row = _one(
        fastpoll_user.database,
        select(ports.c.ifName, ports.c.poll_time).where(
            ports.c.device_id == polled["up"], ports.c.ifIndex == 1
        ),
    )
    assert row.ifName != "old" and row.poll_time


@pytest.mark.mariadb
@pytest.mark.snmpsim
def test_least_privilege_user_closes_and_opens_outages(fastpoll_user, polled):
    db = fastpoll_user.database
    closed = _one(db, select(device_outages.c.up_again).where(device_outages.c.device_id == polled["up"]))
    assert closed.up_again is not None
    opened = _one(db, select(device_outages.c.up_again).where(device_outages.c.device_id == polled["down"]))
    assert opened.up_again is None
    assert _one(db, select(devices.c.status).where(devices.c.device_id == polled["down"])).status == 0


@pytest.mark.mariadb
@pytest.mark.snmpsim
def test_least_privilege_user_writes_eventlog_rows(fastpoll_user, polled):
    db = fastpoll_user.database
    for device_id in polled.values():
        assert _count(db, select(func.count()).select_from(eventlog).where(eventlog.c.device_id == device_id))


REFUSED = {
    "drop_table": "DROP TABLE devices",
    "delete_devices": "DELETE FROM devices",
    "delete_eventlog": "DELETE FROM eventlog",
    "truncate_ports": "TRUNCATE TABLE ports",
    "update_hostname": "UPDATE devices SET hostname = 'evil' WHERE device_id = 1",
    "update_community": "UPDATE devices SET community = 'evil'",
    "update_eventlog": "UPDATE eventlog SET message = 'rewritten history'",
    "move_port": "UPDATE ports SET device_id = 2",
    "rewrite_outage_start": "UPDATE device_outages SET going_down = 0",
    "insert_device": "INSERT INTO devices (hostname) VALUES ('evil')",
    "insert_user": "INSERT INTO users (username, password) VALUES ('evil', 'x')",
    "select_users": "SELECT password FROM users",
    "select_api_tokens": "SELECT token_hash FROM api_tokens",
    "select_star_devices": "SELECT * FROM devices",
    "select_config": "SELECT config_value FROM config",
    "create_table": "CREATE TABLE fastpoll_evil (id INT)",
    "alter_table": "ALTER TABLE devices ADD COLUMN evil INT",
    "grant_onwards": "GRANT SELECT ON devices TO CURRENT_USER",
}


@pytest.mark.mariadb
@pytest.mark.parametrize("statement", REFUSED.values(), ids=REFUSED.keys())
def test_least_privilege_user_is_refused(fastpoll_user, statement):
    conn = fastpoll_user.connect()
    try:
        with conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as refused:
            cur.execute(statement)
    finally:
        conn.close()
    code = refused.value.args[0]
    # 1142 table / 1143 column / 1044 database / 1227 privilege / 1045 grant: all "access denied" kinds
    assert code in {1044, 1045, 1142, 1143, 1227}, refused.value


@pytest.mark.mariadb
def test_applying_twice_keeps_one_clean_set_of_privileges(fastpoll_user):
    sql = COMMITTED_SQL.read_text(encoding="utf-8")
    sql = sql.replace("''fastpoll''@''%''", f"''{fastpoll_user.name}''@''%''").replace(
        "'fastpoll'@'%'", f"'{fastpoll_user.name}'@'%'"
    )
    root = mariadb.root_connect(fastpoll_user.database)
    try:
        with root.cursor() as cur:
            cur.execute(f"GRANT DELETE ON `devices` TO '{fastpoll_user.name}'@'%'")  # a stray privilege
        apply_grants.apply(root, apply_grants.statements(sql), fastpoll_user.password)
    finally:
        root.close()
    conn = fastpoll_user.connect()
    try:
        with conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError):
            cur.execute("DELETE FROM devices")
    finally:
        conn.close()


@pytest.mark.mariadb
def test_an_unset_password_creates_no_user(clean_librenms_db):
    name = f"fp_{uuid.uuid4().hex[:12]}"
    sql = generate.render_sql(user=name)
    root = mariadb.root_connect(clean_librenms_db)
    try:
        with root.cursor() as cur, pytest.raises(pymysql.err.ProgrammingError):
            for stmt in apply_grants.statements(sql):
                cur.execute(stmt)  # @fastpoll_password never set
        with root.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (name,))
            assert cur.fetchone()[0] == 0
    finally:
        with root.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
        root.close()


@pytest.mark.mariadb
@pytest.mark.snmpsim
async def test_least_privilege_user_polls_bgp_peers_and_writes_them(fastpoll_user, shared_snmpsim):
    """edgeos: one discovered peer (idle), its local address on ifIndex 26; the BGP check reads, looks up
    the interface and writes the peer and its eventlog row as the least-privilege user."""
    from sqlalchemy import MetaData, Table, delete, insert, text

    from poller.checks.fastpath import DiscoveredChecks
    from poller.model import Credentials, Device, Target
    from poller.snmp.client import SnmpEngine
    from poller.store.discovered import bgp_peers, ipv4_addresses
    from poller.store.discovered_writer import write_discovered

    admin = create_engine(mariadb.url(fastpoll_user.database))
    with admin.begin() as c:
        c.execute(delete(bgp_peers))
        c.execute(delete(ipv4_addresses))
        device_id = c.execute(
            devices.insert().values(
                hostname="127.0.0.1", community="edgeos", port=shared_snmpsim.port, status=1, status_reason=""
            )
        ).inserted_primary_key[0]
        pid = c.execute(ports.insert().values(device_id=device_id, ifIndex=26)).inserted_primary_key[0]
        c.execute(
            text("INSERT INTO ipv4_addresses (ipv4_address, ipv4_prefixlen, port_id) VALUES (:a, 30, :p)"),
            {"a": "172.16.200.2", "p": pid},
        )
        full = Table("bgpPeers", MetaData(), autoload_with=c)  # with discovery's columns too
        c.execute(
            insert(full).values(
                device_id=device_id,
                astext="",
                bgpPeerIdentifier="172.16.200.1",
                bgpPeerRemoteAs=65000,
                bgpPeerState="idle",
                bgpPeerAdminStatus="stop",
                bgpLocalAddr="0.0.0.0",
                bgpPeerRemoteAddr="0.0.0.0",
                bgpPeerInUpdates=0,
                bgpPeerOutUpdates=0,
                bgpPeerInTotalMessages=0,
                bgpPeerOutTotalMessages=0,
                bgpPeerFsmEstablishedTime=0,
                bgpPeerInUpdateElapsedTime=0,
                context_name="",
            )
        )
    admin.dispose()
    device = Device(
        int(device_id),
        "127.0.0.1",
        Target("127.0.0.1", shared_snmpsim.port, credentials=Credentials(community="edgeos"), timeout=2),
    )
    db = create_engine(fastpoll_user.url)
    try:
        checks = DiscoveredChecks(db)
        async with SnmpEngine() as engine:
            writes = await checks.poll(engine, device, now=1_700_000_000, checks={"bgp"})
        assert checks.bgp_enabled and writes.bgp is not None
        with db.begin() as conn:
            write_discovered(conn, writes.batch())
    finally:
        db.dispose()
    row = _one(
        fastpoll_user.database,
        select(bgp_peers.c.bgpPeerState, bgp_peers.c.bgpPeerIface).where(bgp_peers.c.device_id == device_id),
    )
    assert (row.bgpPeerState, row.bgpPeerIface) == ("established", 26)
    logged = select(func.count()).select_from(eventlog).where(eventlog.c.device_id == device_id)
    assert _count(fastpoll_user.database, logged) == 1
