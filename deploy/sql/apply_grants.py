"""Apply deploy/sql/fastpoll-user.sql once LibreNMS's tables exist (compose.yml's fastpoll-grants job).

    python apply_grants.py [--sql fastpoll-user.sql] [--wait 900]

Reads everything from the environment (never argv, so no password shows in ``ps``):

    GRANTS_DB_HOST, GRANTS_DB_PORT (3306), GRANTS_DB_NAME (librenms): where LibreNMS's database is
    GRANTS_ADMIN_USER (root), GRANTS_ADMIN_PASSWORD or GRANTS_ADMIN_PASSWORD_FILE: an account that may
        CREATE USER and GRANT
    FASTPOLL_DB_PASSWORD or FASTPOLL_DB_PASSWORD_FILE: the password fastpoll's user gets

LibreNMS creates its tables when its container first starts (``lnms migrate``); the column grants fail until
then, so this retries while the tables or columns are missing (and while the server is unreachable) for up
to ``--wait`` seconds. Any other error (bad admin password, no GRANT privilege) stops it at once. Needs only
the standard library and PyMySQL (both in the fastpoll image).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pymysql

PASSWORD_VARIABLE = "@fastpoll_password"
# Errors that mean "LibreNMS is not there yet": worth waiting for.
RETRYABLE = {
    1044,  # access denied to a database that does not exist yet (some set-ups)
    1049,  # unknown database
    1054,  # unknown column
    1146,  # table doesn't exist
    1147,  # no grant defined on a table (raced with migrations)
    2002,  # can't connect through socket
    2003,  # can't connect to server
    2013,  # lost connection during query
}


class GrantsError(Exception):
    """The grants could not be applied; the message holds no secret."""


def statements(sql: str) -> list[str]:
    """The statements of the generated SQL file: ``--`` comments dropped, one statement per ``;``-ended line.

    The generator writes every statement on one line, so this needs no SQL parser.
    """
    found = []
    for raw in sql.splitlines():
        line = raw.strip()
        if not line or line.startswith("--"):
            continue
        if not line.endswith(";"):
            raise GrantsError(f"expected one statement per line ending with ';', got: {line[:60]}...")
        found.append(line[:-1])
    return found


def secret_from_env(env: Mapping[str, str], name: str) -> str:
    """``env[name]``, or the contents of the file ``env[name + '_FILE']`` names (trailing newline dropped)."""
    value, path = env.get(name, ""), env.get(f"{name}_FILE", "")
    if value and path:
        raise GrantsError(f"set either {name} or {name}_FILE, not both")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise GrantsError(f"cannot read {name}_FILE {path}: {exc.strerror}") from None
    if not value:
        raise GrantsError(f"{name} (or {name}_FILE) is required")
    return value


def apply(conn: Any, sql_statements: Sequence[str], password: str) -> None:
    """Run the statements on ``conn`` (whose default database is LibreNMS's) with the password bound."""
    with conn.cursor() as cur:
        cur.execute(f"SET {PASSWORD_VARIABLE} = %s", (password,))
        try:
            for stmt in sql_statements:
                cur.execute(stmt)
        finally:
            cur.execute(f"SET {PASSWORD_VARIABLE} = NULL")


def apply_with_retry(
    connect: Callable[[], Any],
    sql_statements: Sequence[str],
    password: str,
    *,
    wait: float,
    interval: float = 5.0,
    log: Callable[[str], None] = print,
) -> int:
    """Apply, retrying RETRYABLE errors until ``wait`` seconds have passed; returns the attempts made."""
    deadline = time.monotonic() + wait
    attempt = 0
    while True:
        attempt += 1
        try:
            conn = connect()
            try:
                apply(conn, sql_statements, password)
            finally:
                conn.close()
            return attempt
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            # MariaDB's messages name objects, never the password (it is bound as a parameter).
            reason = f"MariaDB error {code}: {exc.args[1] if len(exc.args) > 1 else exc}"
            if code not in RETRYABLE:
                raise GrantsError(f"cannot apply the grants: {reason}") from None
            if time.monotonic() >= deadline:
                raise GrantsError(f"gave up after {wait:g} s waiting for LibreNMS: {reason}") from None
            log(f"fastpoll-grants: waiting for LibreNMS's tables ({reason}); retrying in {interval:g} s")
            time.sleep(interval)


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sql", type=Path, default=Path(__file__).with_name("fastpoll-user.sql"))
    parser.add_argument("--wait", type=float, default=900.0, help="seconds to wait for LibreNMS")
    args = parser.parse_args(argv)
    try:
        sql = statements(args.sql.read_text(encoding="utf-8"))
        admin_password = secret_from_env(env, "GRANTS_ADMIN_PASSWORD")
        password = secret_from_env(env, "FASTPOLL_DB_PASSWORD")
        host = env.get("GRANTS_DB_HOST", "127.0.0.1")
        port = int(env.get("GRANTS_DB_PORT", "3306"))
        database = env.get("GRANTS_DB_NAME", "librenms")

        def connect() -> Any:
            return pymysql.connect(
                host=host,
                port=port,
                user=env.get("GRANTS_ADMIN_USER", "root"),
                password=admin_password,
                database=database,
                autocommit=True,
                connect_timeout=10,
            )

        attempts = apply_with_retry(connect, sql, password, wait=args.wait)
    except (GrantsError, OSError, ValueError) as exc:
        print(f"fastpoll-grants: {exc}", file=sys.stderr)
        return 1
    print(f"fastpoll-grants: applied {len(sql)} statements to {database} on {host}:{port} (try {attempts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
