"""Shared fixtures: real agents and a real MariaDB, started on loopback by the suite itself."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import mariadb
from tests.support.agents import Agent, snmpsim
from tests.support.shared import SNMPREC_DIR, require_shared


def _require(condition: bool, what: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def shared_snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """One snmpsim serving every shared recording (community = recording name)."""
    require_shared()
    cache = tmp_path_factory.mktemp("snmpsim-cache")
    with snmpsim(SNMPREC_DIR, "linux_ntc", cache) as agent:
        yield agent


@pytest.fixture(scope="session")
def librenms_db() -> Iterator[str]:
    """Name of a session-wide MariaDB database loaded with the real LibreNMS schema."""
    require_shared()
    _require(mariadb.available(), "MariaDB at 127.0.0.1:3306")
    with mariadb.librenms_database() as name:
        yield name


@pytest.fixture
def clean_librenms_db(librenms_db: str) -> str:
    """The session database with fastpoll's tables emptied before the test."""
    mariadb.truncate(librenms_db)
    return librenms_db


@pytest.fixture
def librenms_url(clean_librenms_db: str) -> str:
    """SQLAlchemy URL of an emptied LibreNMS database."""
    return mariadb.url(clean_librenms_db)
