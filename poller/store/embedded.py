"""Embedded mode (no LibreNMS): the LibreNMS-shaped tables fastpoll uses, created in a SQLite file.

Same names and columns as poller/store/tables.py, so the inventory reader, the writer and discovery work
unchanged. SQLite only: fastpoll never creates or alters tables in MariaDB (LibreNMS owns them there).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from poller.store import discovered

from .tables import metadata


class NotSqliteError(ValueError):
    pass


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def create_embedded(url_or_path: str | Path) -> Engine:
    """Open (creating if needed) the embedded SQLite database and its tables. Idempotent."""
    url = str(url_or_path)
    if "://" not in url:
        url = sqlite_url(url)
    if not url.startswith("sqlite"):
        raise NotSqliteError("embedded tables are created in SQLite only; LibreNMS owns its MariaDB schema")
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # the writer thread and readers at once
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    metadata.create_all(engine)
    # sensors, processors, mempools, bgpPeers, ipv4_addresses: empty until something fills them
    discovered.metadata.create_all(engine)
    return engine
