"""Where the reference data in ../shared lives, and a skip (never a pass) when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FASTPOLL_SHARED", REPO.parent / "shared"))
SNMPREC_DIR = SHARED / "snmprec"
LIBRENMS_DATA = SHARED / "librenms-data"
SCHEMA_SQL = SHARED / "librenms" / "mysql-schema.sql"
POST_DUMP_SQL = SHARED / "librenms" / "post-dump-migrations.sql"


def require_shared() -> Path:
    if not SNMPREC_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"reference data missing in CI: {SHARED}")
        pytest.skip(f"reference data not found at {SHARED}")
    return SHARED


def recordings() -> list[str]:
    """Names of the shared snmprec recordings (community = file name)."""
    if not SNMPREC_DIR.is_dir():
        return []
    return sorted(p.stem for p in SNMPREC_DIR.glob("*.snmprec"))
