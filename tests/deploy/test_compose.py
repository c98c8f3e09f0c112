"""compose.yml: validated by a real Compose implementation, then cross-checked against fastpoll's settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from poller.config import load_config
from tests.deploy.conftest import DEPLOY, REPO

COMPOSE = REPO / "compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
COMPOSE_EXE = shutil.which("docker-compose")


def _compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    if COMPOSE_EXE is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is required in CI (apt-get install docker-compose)")
        pytest.skip("docker-compose not installed (Debian: apt-get install docker-compose)")
    return subprocess.run(
        [COMPOSE_EXE, "-f", str(COMPOSE), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))},
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """`docker-compose config` of compose.yml with .env.example: the file as Compose resolves it."""
    done = _compose("--profile", "tryout", "config")
    assert done.returncode == 0, done.stderr
    assert "is not set" not in done.stderr, done.stderr
    return yaml.safe_load(done.stdout)


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_compose_config_is_valid_for_docker_compose(config):
    assert config["services"]


def test_every_variable_compose_uses_is_in_env_example():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    assert used - set(_env_example()) == set()


def test_env_example_holds_no_variable_compose_ignores():
    used = set(re.findall(r"\$\$?\{?([A-Z0-9_]+)", COMPOSE.read_text()))
    assert set(_env_example()) - used == set()


def test_a_missing_password_stops_compose_with_a_clear_message(tmp_path):
    env = tmp_path / "no-passwords.env"
    env.write_text("\n".join(f"{k}={v}" for k, v in _env_example().items() if "PASSWORD" not in k))
    done = _compose("config", env_file=env)
    assert done.returncode != 0
    assert "PASSWORD in .env" in done.stderr


def test_every_service_fastpoll_needs_is_there(config):
    assert {"db", "redis", "librenms", "dispatcher", "fastpoll-grants", "fastpoll", "prometheus"} <= set(
        config["services"]
    )


def test_dispatcher_is_librenms_documented_sidecar(config):
    dispatcher = config["services"]["dispatcher"]
    assert dispatcher["image"] == config["services"]["librenms"]["image"]
    assert dispatcher["environment"]["SIDECAR_DISPATCHER"] == "1"
    assert dispatcher["environment"]["DISPATCHER_NODE_ID"]
    assert dispatcher["environment"]["REDIS_HOST"] == "redis"
    assert {v.split(":")[0] for v in dispatcher["volumes"]} == {"librenms-data"}


def test_mariadb_has_the_settings_librenms_requires(config):
    command = config["services"]["db"]["command"]
    for flag in (
        "--innodb-file-per-table=1",
        "--lower-case-table-names=0",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
    ):
        assert flag in command


def test_fastpoll_connects_to_the_db_service_as_its_own_sql_user(config):
    env = config["services"]["fastpoll"]["environment"]
    assert env["FASTPOLL_DATABASE__HOST"] == "db"
    assert int(env["FASTPOLL_DATABASE__PORT"]) == 3306
    assert env["FASTPOLL_DATABASE__NAME"] == config["services"]["db"]["environment"]["MARIADB_DATABASE"]
    user = env["FASTPOLL_DATABASE__USERNAME"]
    assert user != config["services"]["db"]["environment"]["MARIADB_USER"]
    assert f"TO '{user}'@'%'" in (DEPLOY / "sql" / "fastpoll-user.sql").read_text()


def test_fastpoll_and_the_grants_job_share_one_password(config):
    services = config["services"]
    password = services["fastpoll"]["environment"]["FASTPOLL_DATABASE__PASSWORD"]
    assert password == services["fastpoll-grants"]["environment"]["FASTPOLL_DB_PASSWORD"]


def test_grants_job_targets_librenms_database(config):
    env = config["services"]["fastpoll-grants"]["environment"]
    assert env["GRANTS_DB_HOST"] == "db"
    assert env["GRANTS_DB_NAME"] == config["services"]["db"]["environment"]["MARIADB_DATABASE"]
    assert env["GRANTS_ADMIN_PASSWORD"] == config["services"]["db"]["environment"]["MARIADB_ROOT_PASSWORD"]


def test_start_order_librenms_migrations_then_grants_then_fastpoll(config):
    services = config["services"]
    assert services["fastpoll-grants"]["depends_on"]["librenms"]["condition"] == "service_healthy"
    grants = services["fastpoll"]["depends_on"]["fastpoll-grants"]
    assert grants["condition"] == "service_completed_successfully"
    assert services["librenms"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_fastpoll_environment_is_a_valid_fastpoll_configuration(config):
    env = {k: str(v) for k, v in config["services"]["fastpoll"]["environment"].items()}
    settings = load_config(None, env)
    assert settings.database.host == "db"
    assert settings.metrics.port == 9877


def test_prometheus_scrapes_fastpoll_metrics_port(config):
    env = {k: str(v) for k, v in config["services"]["fastpoll"]["environment"].items()}
    port = load_config(None, env).metrics.port
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t for job in scrape["scrape_configs"] if job["job_name"] == "fastpoll" for s in job["static_configs"]
        for t in s["targets"]
    ]  # fmt: skip
    assert targets == [f"fastpoll:{port}"]
    assert str(port) in [str(p) for p in config["services"]["fastpoll"]["expose"]]


def test_prometheus_loads_fastpoll_rules_from_the_mounted_directory(config):
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert "fastpoll-rules.yml" in scrape["rule_files"]
    volumes = config["services"]["prometheus"]["volumes"]
    assert any(v.startswith(f"{DEPLOY / 'prometheus'}:/etc/prometheus") for v in volumes)


@pytest.mark.prometheus
def test_prometheus_config_passes_promtool(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    done = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_long_running_services_have_healthchecks(config):
    one_shot = {"fastpoll-grants", "sim-seed", "sim"}
    for name, service in config["services"].items():
        if name in one_shot:
            continue
        assert service.get("healthcheck", {}).get("test"), name
        assert not service["healthcheck"].get("disable"), name


def test_data_that_must_persist_is_on_named_volumes(config):
    named = set(config["volumes"])
    assert {"db-data", "librenms-data", "prometheus-data"} <= named
    services = config["services"]
    mounts = {name: [v.split(":")[:2] for v in s.get("volumes", [])] for name, s in services.items()}
    assert ["db-data", "/var/lib/mysql"] in mounts["db"]
    assert ["librenms-data", "/data"] in mounts["librenms"]
    assert ["prometheus-data", "/prometheus"] in mounts["prometheus"]


def test_simulated_agents_are_only_in_the_tryout_profile():
    raw = yaml.safe_load(COMPOSE.read_text())
    profiled = {name for name, s in raw["services"].items() if "tryout" in s.get("profiles", [])}
    assert profiled == {"sim", "sim-seed"}
    assert all("profiles" not in s for name, s in raw["services"].items() if name not in profiled)


def test_fastpoll_has_time_to_drain_on_stop(config):
    grace = config["services"]["fastpoll"]["stop_grace_period"]
    assert int(str(grace).rstrip("s")) >= 30
