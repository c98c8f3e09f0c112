"""deploy/systemd: the hardened unit passes systemd's own checks; the sample config loads."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from poller.config import load_config
from tests.deploy.conftest import DEPLOY

UNIT = DEPLOY / "systemd" / "fastpoll.service"
SAMPLE_TOML = DEPLOY / "systemd" / "fastpoll.toml"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def _unit_with_local_exe(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's fastpoll (verify checks the binary exists)."""
    exe = Path(sys.executable).parent / "fastpoll"
    text = UNIT.read_text().replace("/opt/fastpoll/bin/fastpoll", str(exe))
    unit = tmp_path / "fastpoll.service"
    unit.write_text(text)
    return unit


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    return subprocess.run([SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=120)


def _directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_passes_systemd_analyze_verify_without_warnings(tmp_path):
    done = _analyze("verify", str(_unit_with_local_exe(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # unknown keys and bad values are only warned about


def test_unit_exposure_is_rated_ok_by_systemd_analyze_security(tmp_path):
    done = _analyze("security", "--offline=yes", "--threshold=20", str(_unit_with_local_exe(tmp_path)))
    assert done.returncode == 0, done.stdout[-2000:]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("SystemCallFilter", "@system-service"),
        ("Restart", "on-failure"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ],
)
def test_unit_sets_hardening_directive(key, value):
    assert value in _directives()[key]


def test_unit_bounds_memory_and_waits_for_a_graceful_drain():
    directives = _directives()
    assert directives["MemoryMax"]
    assert int(directives["TimeoutStopSec"][0].rstrip("s")) >= 60
    assert directives["RestartSec"]


def test_unit_uses_fastpolls_own_db_user_with_librenms_env_for_the_rest():
    env = dict(v.split("=", 1) for v in _directives()["Environment"])
    assert env["FASTPOLL_DATABASE__USERNAME"] == "fastpoll"
    assert env["FASTPOLL_DATABASE__LIBRENMS_ENV"] == "%d/librenms-env"
    assert env["FASTPOLL_DATABASE__PASSWORD_FILE"] == "%d/db-password"
    assert "librenms-env:/opt/librenms/.env" in _directives()["LoadCredential"]


def test_unit_is_parseable_ini():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    assert {"Unit", "Service", "Install"} <= set(parser.sections())


def test_sample_config_with_the_units_environment_takes_db_location_from_librenms_env(tmp_path):
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "librenms-env").write_text(
        "APP_KEY=base64:xyz\nDB_HOST=db.example.net\nDB_PORT=3307\nDB_DATABASE=nms\n"
        "DB_USERNAME=librenms\nDB_PASSWORD=librenms-secret\n"
    )
    (creds / "db-password").write_text("fastpoll-secret\n")
    (creds / "db-password").chmod(0o600)
    env = {
        k: v.replace("%d", str(creds))
        for k, v in (e.split("=", 1) for e in _directives()["Environment"])
        if k != "FASTPOLL_CONFIG"
    }
    config = load_config(SAMPLE_TOML, env)
    database = config.database
    assert (database.host, database.port, database.name) == ("db.example.net", 3307, "nms")
    assert config.database.username == "fastpoll"
    assert config.database.password is not None
    assert config.database.password.get_secret_value() == "fastpoll-secret"
