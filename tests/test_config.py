"""The settings object: file + environment + LibreNMS .env, clear errors, secrets kept out of sight."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from poller.config import (
    Config,
    DatabaseSettings,
    FastpollConfigError,
    PortSelection,
    database_url,
    load_config,
    render_reference,
)
from poller.model import Device, Target

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
SECRET = "hunter2-Secret!"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def error_of(path: Path | None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(FastpollConfigError) as caught:
        load_config(path, env or {})
    return str(caught.value)


# ------------------------------------------------------------------------------------ sources


def test_defaults_need_no_file_and_no_environment() -> None:
    config = load_config(None, {})
    assert config.polling.default_interval == 30
    assert config.polling.down_after == 3
    assert config.polling.poller_groups is None
    assert config.metrics.listen == "127.0.0.1:9877"
    assert config.database.write_set == "full"
    assert config.logging.format == "text"
    assert config.cluster.redis_url is None
    assert config.warnings == ()


def test_the_file_overrides_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", '[polling]\ndefault_interval = 10\n[logging]\nformat = "json"\n')
    config = load_config(path, {})
    assert config.polling.default_interval == 10
    assert config.logging.format == "json"


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", "[polling]\ndefault_interval = 10\ndown_after = 5\n")
    config = load_config(path, {"FASTPOLL_POLLING__DEFAULT_INTERVAL": "20"})
    assert config.polling.default_interval == 20
    assert config.polling.down_after == 5


def test_nested_sections_and_tables_come_from_the_environment() -> None:
    config = load_config(
        None,
        {
            "FASTPOLL_METRICS__PORTS__ADMIN_STATUS": "up",
            "FASTPOLL_POLLING__GROUP_INTERVALS": '{"2": 10}',
            "fastpoll_logging__level": "debug",
        },
    )
    assert config.metrics.ports.admin_status == "up"
    assert config.polling.group_intervals == {2: 10.0}
    assert config.logging.level == "DEBUG"


def test_the_file_path_can_come_from_fastpoll_config(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", "[polling]\ndown_after = 7\n")
    assert load_config(None, {"FASTPOLL_CONFIG": str(path)}).polling.down_after == 7


def test_an_explicit_path_wins_over_fastpoll_config(tmp_path: Path) -> None:
    chosen = write(tmp_path / "a.toml", "[polling]\ndown_after = 7\n")
    other = write(tmp_path / "b.toml", "[polling]\ndown_after = 9\n")
    assert load_config(chosen, {"FASTPOLL_CONFIG": str(other)}).polling.down_after == 7


def test_the_process_environment_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTPOLL_POLLING__DOWN_AFTER", "9")
    assert load_config(None, {}).polling.down_after == 3


def test_poller_groups_accept_librenms_comma_list() -> None:
    assert load_config(None, {"FASTPOLL_POLLING__POLLER_GROUPS": "0, 2"}).polling.poller_groups == [0, 2]
    assert load_config(None, {"FASTPOLL_POLLING__POLLER_GROUPS": "[1]"}).polling.poller_groups == [1]


# ------------------------------------------------------------------------------------ errors


def test_an_unknown_key_in_the_file_is_named_with_the_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", "[polling]\nintervl = 10\n")
    message = error_of(path)
    assert "polling.intervl" in message
    assert str(path) in message
    assert "unknown setting" in message
    assert "default_interval" in message


def test_an_unknown_section_is_named_with_the_sections(tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "f.toml", "[polller]\nx = 1\n"))
    assert "polller (from " in message
    assert "unknown setting; allowed here: database, polling," in message


def test_an_unknown_environment_variable_is_named() -> None:
    message = error_of(None, {"FASTPOLL_POLING__DOWN_AFTER": "3"})
    assert "FASTPOLL_POLING__DOWN_AFTER: unknown setting" in message
    assert "POLLING" in message


def test_a_wrong_value_names_the_key_its_source_and_what_is_allowed() -> None:
    message = error_of(None, {"FASTPOLL_DATABASE__WRITE_SET": "everything"})
    assert message == (
        "invalid configuration: database.write_set (from environment variable FASTPOLL_DATABASE__WRITE_SET): "
        "Input should be 'full' or 'status' (got 'everything')"
    )


def test_all_problems_are_reported_in_one_message(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", '[polling]\ndown_after = 0\n[metrics]\nlisten = "9877"\n')
    message = error_of(path)
    assert "polling.down_after" in message
    assert "greater than or equal to 1" in message
    assert "metrics.listen" in message
    assert "host:port" in message


def test_a_list_in_the_environment_that_is_not_json_is_named() -> None:
    message = error_of(None, {"FASTPOLL_POLLING__DEVICE_INTERVALS": "{1: 10"})
    assert "FASTPOLL_POLLING__DEVICE_INTERVALS: not valid JSON" in message


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", "[polling]\ndown_after = = 3\n")
    message = error_of(path)
    assert str(path) in message
    assert "line 2" in message


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    assert "does not exist" in error_of(tmp_path / "nope.toml")


def test_settings_that_go_together_must_be_set_together() -> None:
    assert "tls_cert and tls_key go together" in error_of(None, {"FASTPOLL_METRICS__TLS_CERT": "/c.pem"})


def test_a_lease_longer_than_the_interval_allows_is_refused() -> None:
    env = {
        "FASTPOLL_CLUSTER__REDIS_URL": "redis://127.0.0.1/0",
        "FASTPOLL_POLLING__GROUP_INTERVALS": '{"1": 12}',
    }
    assert "cluster.lease_ttl must be at most 9 s" in error_of(None, env)
    assert load_config(None, {**env, "FASTPOLL_CLUSTER__LEASE_TTL": "9"}).cluster.lease_ttl == 9


def test_a_key_prefix_in_librenms_namespace_is_refused() -> None:
    assert "cluster.key_prefix" in error_of(None, {"FASTPOLL_CLUSTER__KEY_PREFIX": "librenms.lock"})


# ------------------------------------------------------------------------------------ secrets


def test_a_secret_value_never_appears_in_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", f'[database]\npasword = "{SECRET}"\n[payload]\napi_key = 123456789\n')
    message = error_of(path)
    assert "database.pasword" in message
    assert "payload.api_key" in message
    assert SECRET not in message
    assert "123456789" not in message


def test_secrets_do_not_show_in_repr() -> None:
    config = load_config(None, {"FASTPOLL_DATABASE__PASSWORD": SECRET, "FASTPOLL_PAYLOAD__API_KEY": SECRET})
    assert SECRET not in repr(config)
    assert SECRET not in str(config)


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "pw", SECRET + "\n")
    config = load_config(None, {"FASTPOLL_DATABASE__PASSWORD_FILE": str(secret_file)})
    assert config.database.password is not None
    assert config.database.password.get_secret_value() == SECRET


def test_a_secret_and_its_file_together_are_refused(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "key", SECRET)
    env = {"FASTPOLL_PAYLOAD__API_KEY": "other", "FASTPOLL_PAYLOAD__API_KEY_FILE": str(secret_file)}
    assert "set either api_key or api_key_file, not both" in error_of(None, env)


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    message = error_of(None, {"FASTPOLL_LIBRENMS_API__TOKEN_FILE": str(tmp_path / "missing")})
    assert "cannot read token_file" in message
    assert "missing" in message


def test_a_config_file_with_secrets_readable_by_others_gives_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", f'[database]\npassword = "{SECRET}"\n', mode=0o644)
    (warning,) = load_config(path, {}).warnings
    assert str(path) in warning
    assert "database.password" in warning
    assert SECRET not in warning


def test_a_private_config_file_with_secrets_gives_no_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", f'[database]\npassword = "{SECRET}"\n', mode=0o600)
    assert load_config(path, {}).warnings == ()


def test_a_readable_config_file_that_only_names_secret_files_gives_no_warning(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "db-password", SECRET, mode=0o600)
    path = write(tmp_path / "f.toml", f'[database]\npassword_file = "{secret_file}"\n', mode=0o644)
    assert load_config(path, {}).warnings == ()


def test_a_secret_file_readable_by_others_gives_a_warning(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "community", "public\n", mode=0o644)
    config = load_config(None, {"FASTPOLL_POLLING__COMMUNITY_FILE": str(secret_file)})
    assert any(str(secret_file) in w for w in config.warnings)


def test_secrets_lists_every_secret_including_url_passwords() -> None:
    config = load_config(
        None,
        {
            "FASTPOLL_DATABASE__PASSWORD": SECRET,
            "FASTPOLL_POLLING__COMMUNITY": "c0mm",
            "FASTPOLL_CLUSTER__REDIS_URL": "redis://:redis-pw@127.0.0.1:6379/0",
            "FASTPOLL_METRICS__BASIC_AUTH_USER": "prom",
            "FASTPOLL_METRICS__BASIC_AUTH_PASSWORD": "scrape-pw",
            "FASTPOLL_LIBRENMS_API__TOKEN": "tok",
        },
    )
    assert set(config.secrets()) >= {SECRET, "c0mm", "redis-pw", "scrape-pw", "tok"}


# ------------------------------------------------------------------------------------ LibreNMS .env


LIBRENMS_ENV = """\
APP_KEY=base64:abc
DB_HOST=db.example.net
DB_PORT=3307
DB_DATABASE=librenms
DB_USERNAME=librenms
DB_PASSWORD="p@ss w:rd#1"
"""


def test_librenms_env_supplies_the_database_credentials(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", LIBRENMS_ENV)
    config = load_config(None, {"FASTPOLL_DATABASE__LIBRENMS_ENV": str(env_file)})
    database = config.database
    assert (database.host, database.port, database.name, database.username) == (
        "db.example.net",
        3307,
        "librenms",
        "librenms",
    )
    assert database.password is not None
    assert database.password.get_secret_value() == "p@ss w:rd#1"


def test_fastpoll_settings_win_over_librenms_env(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", LIBRENMS_ENV)
    path = write(tmp_path / "f.toml", f'[database]\nlibrenms_env = "{env_file}"\nhost = "127.0.0.1"\n')
    config = load_config(path, {"FASTPOLL_DATABASE__PORT": "3306"})
    assert (config.database.host, config.database.port) == ("127.0.0.1", 3306)
    assert config.database.password is not None


def test_a_bad_value_from_librenms_env_is_traced_to_it(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "DB_PORT=mysql\n")
    message = error_of(None, {"FASTPOLL_DATABASE__LIBRENMS_ENV": str(env_file)})
    assert f"database.port (from {env_file} (DB_PORT))" in message


def test_a_missing_librenms_env_is_an_error(tmp_path: Path) -> None:
    message = error_of(None, {"FASTPOLL_DATABASE__LIBRENMS_ENV": str(tmp_path / ".env")})
    assert "database.librenms_env" in message


# ------------------------------------------------------------------------------------ database URL


def test_database_url_escapes_the_password_and_renders_it_redacted() -> None:
    password = "p@ss:w/rd%#?"
    url = database_url(DatabaseSettings(host="db", password=password))
    assert url.drivername == "mysql+pymysql"
    assert password not in str(url)
    assert password not in repr(url)
    assert "***" in str(url)
    assert make_url(url.render_as_string(hide_password=False)).password == password
    assert url.query["charset"] == "utf8mb4"


def test_database_url_uses_the_socket_when_set() -> None:
    url = database_url(DatabaseSettings(socket=Path("/run/mysqld/mysqld.sock")))
    assert url.query["unix_socket"] == "/run/mysqld/mysqld.sock"


def test_database_url_for_the_embedded_sqlite(tmp_path: Path) -> None:
    url = database_url(DatabaseSettings(sqlite_path=tmp_path / "demo.db"))
    assert url.drivername == "sqlite"
    assert url.database == str(tmp_path / "demo.db")


def test_an_explicit_database_url_is_used_as_given() -> None:
    url = database_url(DatabaseSettings(url="mysql+pymysql://u:pw@h:3306/x"))
    assert (url.host, url.password, str(url)) == ("h", "pw", "mysql+pymysql://u:***@h:3306/x")


def test_an_invalid_database_url_is_reported_without_its_text() -> None:
    with pytest.raises(FastpollConfigError) as caught:
        database_url(DatabaseSettings(url=f"not a url {SECRET}"))
    assert SECRET not in str(caught.value)


# ------------------------------------------------------------------------------------ helpers


def test_interval_for_prefers_device_then_inventory_then_group_then_default() -> None:
    polling = load_config(
        None,
        {"FASTPOLL_POLLING__GROUP_INTERVALS": '{"1": 20}', "FASTPOLL_POLLING__DEVICE_INTERVALS": '{"5": 15}'},
    ).polling

    def dev(device_id: int, group: int = 0, interval: float | None = None) -> Device:
        return Device(device_id, f"d{device_id}", Target("127.0.0.1"), poller_group=group, interval=interval)

    assert polling.interval_for(dev(5, group=1, interval=40)) == 15
    assert polling.interval_for(dev(6, group=1, interval=40)) == 40
    assert polling.interval_for(dev(6, group=1)) == 20
    assert polling.interval_for(dev(6, group=2)) == 30


def test_check_intervals_come_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[polling]\ncheck_intervals = { bgp = 15, sensors = 30 }\n")
    assert load_config(path, {}).polling.check_intervals == {"bgp": 15.0, "sensors": 30.0}


def test_check_intervals_default_to_every_poll() -> None:
    assert load_config(None, {}).polling.check_intervals == {}


def test_an_unknown_check_name_is_named_with_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[polling]\ncheck_intervals = { bgp = 15, optics = 30 }\n")
    message = error_of(path)
    assert "polling.check_intervals" in message and "'optics'" in message
    assert "sensors, processors, mempools, bgp, profiles, port_details" in message


def test_port_details_are_walked_every_five_minutes_unless_configured(tmp_path: Path) -> None:
    assert load_config(None, {}).polling.port_details_interval == 300.0
    path = write(tmp_path / "c.toml", "[polling]\ncheck_intervals = { port_details = 60 }\n")
    assert load_config(path, {}).polling.port_details_interval == 60.0


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_non_positive_check_interval_names_the_check(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "c.toml", f"[polling]\ncheck_intervals = {{ bgp = {value} }}\n")
    message = error_of(path)
    assert "polling.check_intervals.bgp" in message and "greater than 0" in message


# ------------------------------------------------------------------------------------ profiles

UPS_PROFILE = """\
name: ups
scalars:
  - oid: 1.3.6.1.2.1.33.1.2.7.0
    metric: ups_battery_temperature
"""


def test_no_profile_runs_unless_enabled() -> None:
    assert load_config(None, {}).profiles.profiles == ()


def test_enabled_shipped_profiles_load_from_the_shipped_directory() -> None:
    config = load_config(None, {"FASTPOLL_PROFILES__ENABLED": '["ucd_load"]'})
    assert [p.name for p in config.profiles.profiles] == ["ucd_load"]


def test_a_user_profile_directory_replaces_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "ups.yaml").write_text(UPS_PROFILE)
    path = write(tmp_path / "c.toml", f'[profiles]\npaths = ["{tmp_path}"]\nenabled = ["ups"]\n')
    profiles = load_config(path, {}).profiles.profiles
    assert [(p.name, p.scalars[0].oid) for p in profiles] == [("ups", "1.3.6.1.2.1.33.1.2.7.0")]


def test_an_unknown_enabled_profile_is_named_with_the_loaded_ones() -> None:
    message = error_of(None, {"FASTPOLL_PROFILES__ENABLED": '["ucd_lod"]'})
    assert message == "invalid configuration: profiles: enabled: unknown profile 'ucd_lod' (loaded: ucd_load)"


def test_profiles_can_be_left_unread_keeping_what_the_settings_ask_for(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    env = {"FASTPOLL_PROFILES__PATHS": f'["{missing}"]', "FASTPOLL_PROFILES__ENABLED": '["ups"]'}
    settings = load_config(None, env, load_profiles=False).profiles
    assert (settings.paths, settings.enabled, settings.profiles) == ([missing], ["ups"], ())


def test_a_missing_profile_path_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    message = error_of(None, {"FASTPOLL_PROFILES__PATHS": f'["{missing}"]'})
    assert message == f"invalid configuration: profiles: {missing}: no such profile file or directory"


def test_a_broken_profile_is_a_configuration_error_naming_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "ups.yaml"
    bad.write_text(UPS_PROFILE.replace("1.3.6.1.2.1.33.1.2.7.0", "UPS-MIB::upsBatteryTemperature.0"))
    message = error_of(None, {"FASTPOLL_PROFILES__PATHS": f'["{tmp_path}"]'})
    assert message.startswith(f"invalid configuration: profiles: {bad}:3: scalars[0].oid: unknown MIB module")


def test_profiles_exporting_the_same_family_are_refused(tmp_path: Path) -> None:
    (tmp_path / "ups.yaml").write_text(UPS_PROFILE)
    (tmp_path / "ups2.yaml").write_text(UPS_PROFILE.replace("name: ups", "name: ups2"))
    env = {"FASTPOLL_PROFILES__PATHS": f'["{tmp_path}"]', "FASTPOLL_PROFILES__ENABLED": '["ups", "ups2"]'}
    assert error_of(None, env) == (
        "invalid configuration: profiles: ups2.ups_battery_temperature and ups.ups_battery_temperature are "
        "both exported as fastpoll_profile_ups_battery_temperature"
    )


def test_profiles_have_their_own_check_interval() -> None:
    config = load_config(None, {"FASTPOLL_POLLING__CHECK_INTERVALS": '{"profiles": 60}'})
    assert config.polling.check_intervals == {"profiles": 60.0}


def test_port_selection_filters_by_type_name_and_admin_status() -> None:
    ports = PortSelection(exclude_names=r"^(Vlan|Null)", admin_status="up")
    assert ports.admits("ethernetCsmacd", "xe-0/0/1", "up")
    assert not ports.admits("softwareLoopback", "lo0", "up")
    assert not ports.admits("ethernetCsmacd", "Vlan100", "up")
    assert not ports.admits("ethernetCsmacd", "xe-0/0/2", "down")
    assert not PortSelection(include_types=["ethernetCsmacd"]).admits("propVirtual", "x", "up")


def test_listen_accepts_ipv6() -> None:
    metrics = load_config(None, {"FASTPOLL_METRICS__LISTEN": "[::1]:9100"}).metrics
    assert (metrics.host, metrics.port) == ("::1", 9100)


def test_the_configuration_reference_matches_the_model() -> None:
    # Regenerate with: .venv/bin/python -m poller.config > docs/configuration.md
    assert DOCS.read_text() == render_reference()


def test_every_setting_is_in_the_reference() -> None:
    reference = render_reference()
    for section, field in Config.model_fields.items():
        for key in field.annotation.model_fields:  # type: ignore[union-attr]
            assert f"`{key}`" in reference or f"[{section}.{key}]" in reference, (section, key)


def test_the_example_in_the_reference_is_a_valid_configuration(tmp_path: Path) -> None:
    example = render_reference().split("```toml\n")[1].split("```")[0]
    env_file = write(tmp_path / ".env", LIBRENMS_ENV)
    path = write(tmp_path / "f.toml", example.replace("/opt/librenms/.env", str(env_file)))
    config = load_config(path, {})
    assert config.cluster.instance_name == "poller-a"
    assert os.fspath(config.database.librenms_env) == str(env_file)
