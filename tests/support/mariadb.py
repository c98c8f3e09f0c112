"""A throw-away MariaDB database loaded with the real LibreNMS schema."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql

from .shared import POST_DUMP_SQL, SCHEMA_SQL

HOST = os.environ.get("FASTPOLL_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("FASTPOLL_TEST_MYSQL_PORT", "3306"))
ROOT_USER = os.environ.get("FASTPOLL_TEST_MYSQL_USER", "root")
ROOT_PASSWORD = os.environ.get("FASTPOLL_TEST_MYSQL_PASSWORD", "")


def root_connect(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=HOST, port=PORT, user=ROOT_USER, password=ROOT_PASSWORD, database=database, autocommit=True
    )


def available() -> bool:
    try:
        root_connect().close()
        return True
    except pymysql.err.MySQLError:
        return False


def url(database: str, user: str = ROOT_USER, password: str = ROOT_PASSWORD) -> str:
    auth = f"{user}:{password}" if password else user
    return f"mysql+pymysql://{auth}@{HOST}:{PORT}/{database}?charset=utf8mb4"


def load_schema(database: str) -> None:
    """Load the LibreNMS dump and the post-dump migrations with the mysql client (as LibreNMS ships them)."""
    args = ["mysql", f"-h{HOST}", f"-P{PORT}", f"-u{ROOT_USER}", database]
    env = dict(os.environ, MYSQL_PWD=ROOT_PASSWORD)
    for path in (SCHEMA_SQL, POST_DUMP_SQL):
        with open(path, "rb") as fh:
            subprocess.run(args, stdin=fh, check=True, env=env, capture_output=True)


@contextmanager
def librenms_database(prefix: str = "fastpoll_test") -> Iterator[str]:
    """Create a fresh database with the LibreNMS schema, yield its name, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = root_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        load_schema(name)
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


# Tables fastpoll touches; emptied between tests that share one database.
FASTPOLL_TABLES = (
    "eventlog",
    "device_outages",
    "ports_statistics",
    "ports",
    "sensors",
    "processors",
    "mempools",
    "bgpPeers",
    "availability",
    "device_stats",
    "devices",
)


def truncate(database: str) -> None:
    conn = root_connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SET FOREIGN_KEY_CHECKS=0")
            for table in FASTPOLL_TABLES:
                cur.execute(f"TRUNCATE TABLE `{table}`")
            cur.execute("SET FOREIGN_KEY_CHECKS=1")
    finally:
        conn.close()
