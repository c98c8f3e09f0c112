"""A MariaDB server of the test's own (own data directory, own loopback port), so a test may SIGKILL it.

The shared server at 127.0.0.1:3306 serves every other test and is never stopped; crash tests need a
server they can kill and restart, with InnoDB crash recovery on the same data directory in between.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pymysql

from .net import free_tcp_port
from .shared import POST_DUMP_SQL, SCHEMA_SQL

MARIADBD = "/usr/sbin/mariadbd"


def available() -> bool:
    return os.path.exists(MARIADBD) and shutil.which("mariadb-install-db") is not None


class PrivateMariaDB:
    """``start()`` / ``kill()`` / ``start()`` again on the same data; ``stop()`` at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.datadir = root / "data"
        self.port = free_tcp_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = open(root / "mariadbd.log", "ab")  # noqa: SIM115 - closed in stop()

    def install(self) -> None:
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )

    def start(self, timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.root / 'mysqld.sock'}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                "--user=root",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                "--innodb-flush-log-at-trx-commit=1",  # the durable setting LibreNMS's guides use
            ],
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"mariadbd exited with {self.proc.returncode}; see {self._log.name}"
                    ) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; the next start() runs InnoDB crash recovery."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        self._log.close()

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", database=database, autocommit=True
        )

    def create_librenms_database(self, name: str = "librenms") -> str:
        """A database loaded with the real LibreNMS schema, as tests/support/mariadb.py loads it."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            conn.close()
        args = ["mysql", "-h127.0.0.1", f"-P{self.port}", "-uroot", name]
        for path in (SCHEMA_SQL, POST_DUMP_SQL):
            with open(path, "rb") as fh:
                subprocess.run(args, stdin=fh, check=True, capture_output=True)
        return name

    def url(self, database: str) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}?charset=utf8mb4"
