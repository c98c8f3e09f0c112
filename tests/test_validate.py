"""poller/validate.py: `fastpoll validate` against the real MariaDB, snmpsim and (when present) Payload."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine

from poller.config import Config, FastpollConfigError, load_config
from poller.store.tables import devices
from poller.validate import (
    ALL,
    CheckResult,
    Grants,
    ProfileChoice,
    Status,
    add_parser,
    check_payload,
    check_profiles,
    compare_privileges,
    describe_db_error,
    exit_status,
    grants_from_rows,
    like_matches,
    load_settings,
    missing_columns,
    needed_columns,
    needed_privileges,
    privileges_result,
    redact,
    sample_devices,
    schema_result,
    settings_env,
    to_json,
    validate,
)
from tests.deploy.conftest import load_script
from tests.deploy.test_grants import DbUser, fastpoll_user  # noqa: F401  (the least-privilege user fixture)
from tests.support import mariadb
from tests.support.net import free_udp_port
from tests.sync.conftest import payload, payload_app, payload_server  # noqa: F401  (a real Payload)

SECRET_COMMUNITY = "planted-community-7f3a9c"
WRONG_PASSWORD = "planted-password-Q8x!z"


def _config(url: str, **env: str) -> Config:
    return load_config(None, {"FASTPOLL_DATABASE__URL": url, **env})


def _run(config: Config, sample: int = 5) -> dict[str, CheckResult]:
    results = asyncio.run(validate(config, {}, sample=sample))
    return {r.check: r for r in results}


def _full_grants() -> Grants:
    plan = needed_privileges()
    return Grants(
        column_privileges={
            (t, p): frozenset(cols) for t, privileges in plan.items() for p, cols in privileges.items()
        }
    )


# ------------------------------------------------------------------------------------- pure comparisons


def test_needed_privileges_are_exactly_what_fastpoll_user_sql_grants():
    generate = load_script("sql/generate_grants.py")
    assert needed_privileges() == generate.grant_plan()


def test_a_missing_table_and_a_missing_column_are_both_named():
    needed = {"devices": ("device_id", "status"), "ports": ("port_id",)}
    tables, columns = missing_columns(needed, {"devices": ["device_id"]})
    assert tables == ["ports"]
    assert columns == {"devices": ["status"]}


def test_columns_compare_case_insensitively_as_mariadb_does():
    assert missing_columns({"devices": ("sysName",)}, {"devices": ["sysname"]}) == ([], {})


def test_schema_result_fails_naming_table_dot_column():
    result = schema_result({"devices": ("device_id", "uptime")}, {"devices": ["device_id"]}, "fp")
    assert result.status is Status.FAIL
    assert "devices.uptime missing" in result.detail


def test_exactly_the_planned_grants_pass_without_a_warning():
    comparison = compare_privileges(needed_privileges(), _full_grants())
    assert comparison.missing == {} and comparison.extra == []
    assert privileges_result(comparison, "fp@%").status is Status.PASS


def test_global_all_privileges_pass_with_a_more_than_needed_warning():
    result = privileges_result(
        compare_privileges(needed_privileges(), Grants(global_privileges=frozenset({ALL}))), "root@%"
    )
    assert result.status is Status.WARN
    assert "more than needed" in result.detail


def test_a_missing_column_privilege_fails_naming_table_column_and_privilege():
    grants = _full_grants()
    cols = dict(grants.column_privileges)
    cols[("devices", "UPDATE")] = frozenset(c for c in cols[("devices", "UPDATE")] if c != "uptime")
    result = privileges_result(compare_privileges(needed_privileges(), Grants(column_privileges=cols)), "fp")
    assert result.status is Status.FAIL
    assert result.detail == "fp lacks UPDATE on devices.uptime"


def test_a_table_level_grant_covers_every_column_and_counts_as_extra():
    grants = _full_grants()
    wider = Grants(
        table_privileges={"eventlog": frozenset({"DELETE", "SELECT"})},
        column_privileges=grants.column_privileges,
    )
    comparison = compare_privileges(needed_privileges(), wider)
    assert comparison.missing == {}
    assert comparison.extra == ["table eventlog: DELETE, SELECT"]


def test_a_column_grant_beyond_the_plan_is_extra():
    grants = _full_grants()
    cols = dict(grants.column_privileges)
    cols[("devices", "UPDATE")] = cols[("devices", "UPDATE")] | {"hostname"}
    comparison = compare_privileges(needed_privileges(), Grants(column_privileges=cols))
    assert comparison.extra == ["UPDATE on devices.hostname"]


def test_usage_alone_is_no_extra_privilege():
    grants = Grants(
        global_privileges=frozenset({"USAGE"}), column_privileges=_full_grants().column_privileges
    )
    assert compare_privileges(needed_privileges(), grants).extra == []


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("librenms", "librenms", True),
        ("libre%", "librenms", True),
        ("libre\\_nms", "libreXnms", False),
        ("libre_nms", "libreXnms", True),
        ("other", "librenms", False),
    ],
)
def test_database_patterns_in_grants_match_like_mariadb(pattern, name, matches):
    assert like_matches(pattern, name) is matches


def test_grants_from_rows_keep_only_this_database():
    grants = grants_from_rows(
        "librenms",
        [("USAGE",)],
        [("libre%", "select"), ("other", "DELETE")],
        [("other", "devices", "DELETE")],
        [("librenms", "devices", "status", "UPDATE"), ("other", "devices", "hostname", "UPDATE")],
    )
    assert grants.database_privileges == {"SELECT"}
    assert grants.table_privileges == {}
    assert grants.column_privileges == {("devices", "UPDATE"): {"status"}}


def test_redact_hides_every_secret_in_every_field():
    results = [CheckResult("snmp x", Status.FAIL, "community hunter22 refused", "hunter22")]
    (clean,) = redact(results, ["hunter22", ""])
    assert "hunter22" not in repr(clean)


def test_one_failure_makes_the_exit_status_non_zero():
    ok = CheckResult("a", Status.PASS, "")
    assert exit_status([ok, CheckResult("b", Status.WARN, "")]) == 0
    assert exit_status([ok, CheckResult("b", Status.FAIL, "")]) == 1


def test_json_output_lists_every_check_and_the_verdict():
    data = json.loads(to_json([CheckResult("database", Status.FAIL, "x", "y")]))
    assert data == {
        "ok": False,
        "checks": [{"check": "database", "status": "fail", "detail": "x", "hint": "y"}],
    }


def test_an_unresolvable_host_is_named_as_such():
    config = _config(f"mysql+pymysql://fp:{WRONG_PASSWORD}@db.example.invalid/librenms")
    exc = pymysql.err.OperationalError(
        2003, "Can't connect to MySQL server on 'db.example.invalid' ([Errno -2] Name or service not known)"
    )
    result = describe_db_error(exc, config)
    assert result.status is Status.FAIL
    assert result.detail == "unknown host db.example.invalid: the name does not resolve"


def test_the_sample_is_at_most_n_devices_in_id_order():
    from poller.model import Credentials, Device, Target

    fleet = [Device(i, f"h{i}", Target("127.0.0.1", 161, "udp", Credentials("2c", "x"))) for i in range(20)]
    picked = sample_devices(fleet, 5)
    assert len(picked) == 5 and [d.device_id for d in picked] == sorted(d.device_id for d in picked)
    assert sample_devices(fleet[:3], 5) == fleet[:3]


def test_sync_and_get_variables_are_kept_out_of_the_settings():
    env = {
        "FASTPOLL_PAYLOAD_URL": "http://p",
        "FASTPOLL_PAYLOAD_API_KEY": "k",
        "FASTPOLL_DATABASE__NAME": "x",
    }
    assert load_config(None, settings_env(env)).database.name == "x"


def test_needed_columns_cover_every_table_fastpoll_uses():
    assert set(needed_columns()) == {
        "devices",
        "ports",
        "ports_statistics",
        "eventlog",
        "device_outages",
        "sensors",
        "sensors_to_state_indexes",
        "state_translations",
        "processors",
        "mempools",
        "bgpPeers",
        "ipv4_addresses",
    }


# ---------------------------------------------------------------------------------------- real MariaDB


def _insert_device(database: str, **values: object) -> int:
    engine = create_engine(mariadb.url(database))
    try:
        with engine.begin() as c:
            row = {"status": 1, "status_reason": "", "timeout": 1, "retries": 0, **values}
            return int(c.execute(devices.insert().values(**row)).inserted_primary_key[0])
    finally:
        engine.dispose()


@pytest.fixture
def answering_device(clean_librenms_db: str, shared_snmpsim) -> int:
    """A device snmpsim answers (community = a recording's name)."""
    return _insert_device(
        clean_librenms_db, hostname=shared_snmpsim.host, community="linux_ntc", port=shared_snmpsim.port
    )


@pytest.fixture
def two_devices(clean_librenms_db: str, answering_device: int) -> dict[str, int]:
    """The answering device and a silent one whose (planted) community must never be shown."""
    silent = _insert_device(
        clean_librenms_db,
        hostname="silent.test",
        overwrite_ip="127.0.0.1",
        community=SECRET_COMMUNITY,
        port=free_udp_port(),
    )
    return {"up": answering_device, "silent": silent}


@pytest.mark.mariadb
@pytest.mark.snmpsim
def test_root_passes_with_a_more_than_needed_warning(librenms_url, two_devices):
    results = _run(_config(librenms_url))
    assert results["database"].status is Status.PASS
    assert results["schema"].status is Status.PASS
    assert results["privileges"].status is Status.WARN
    assert "more than needed" in results["privileges"].detail
    assert results[f"snmp {two_devices['up']} ({mariadb.HOST})"].status is Status.PASS
    assert exit_status(list(results.values())) == 0


@pytest.mark.mariadb
@pytest.mark.snmpsim
def test_a_silent_device_warns_while_others_answer(librenms_url, two_devices):
    result = _run(_config(librenms_url))[f"snmp {two_devices['silent']} (silent.test)"]
    assert result.status is Status.WARN and "no answer" in result.detail


@pytest.mark.mariadb
@pytest.mark.snmpsim
def test_least_privilege_user_passes_every_check(fastpoll_user: DbUser, answering_device):  # noqa: F811
    results = _run(_config(fastpoll_user.url))
    assert results["privileges"].status is Status.PASS, results["privileges"]
    not_passed = [(r.check, r.status) for r in results.values() if r.status is not Status.PASS]
    assert not_passed == [("payload", Status.SKIP), ("profiles", Status.SKIP)]  # not configured, none enabled
    assert results[f"snmp {answering_device} ({mariadb.HOST})"].status is Status.PASS


@pytest.mark.mariadb
def test_a_revoked_privilege_fails_naming_table_column_and_privilege(fastpoll_user: DbUser):  # noqa: F811
    root = mariadb.root_connect(fastpoll_user.database)
    try:
        with root.cursor() as cur:
            cur.execute(f"REVOKE UPDATE (`uptime`) ON `devices` FROM '{fastpoll_user.name}'@'%'")
    finally:
        root.close()
    results = _run(_config(fastpoll_user.url), sample=0)
    assert results["schema"].status is Status.PASS
    assert results["privileges"].status is Status.FAIL
    assert results["privileges"].detail == f"{fastpoll_user.name}@% lacks UPDATE on devices.uptime"


@pytest.fixture
def broken_database() -> Iterator[str]:
    """A throw-away LibreNMS database without ports_statistics."""
    if not mariadb.available():
        pytest.skip("MariaDB not available")
    with mariadb.librenms_database("fastpoll_validate") as name:
        root = mariadb.root_connect(name)
        try:
            with root.cursor() as cur:
                cur.execute("DROP TABLE ports_statistics")
                cur.execute("ALTER TABLE devices DROP COLUMN last_polled_timetaken")
        finally:
            root.close()
        yield name


@pytest.mark.mariadb
def test_a_missing_table_and_column_fail_the_schema_check(broken_database):
    results = _run(_config(mariadb.url(broken_database)), sample=0)
    assert results["database"].status is Status.PASS
    assert results["schema"].status is Status.FAIL
    assert "table ports_statistics missing" in results["schema"].detail
    assert "devices.last_polled_timetaken missing" in results["schema"].detail


@pytest.mark.mariadb
def test_a_wrong_password_fails_the_database_check_without_showing_it(clean_librenms_db, fastpoll_user):  # noqa: F811
    url = mariadb.url(clean_librenms_db, fastpoll_user.name, WRONG_PASSWORD)
    results = _run(_config(url))
    assert results["database"].status is Status.FAIL
    assert "wrong user name or password" in results["database"].detail
    assert results["schema"].status is Status.SKIP
    assert WRONG_PASSWORD not in repr(results)


@pytest.mark.mariadb
def test_an_unknown_database_is_named(librenms_db):
    results = _run(_config(mariadb.url("fastpoll_no_such_db")), sample=0)
    assert results["database"].status is Status.FAIL
    assert results["database"].detail.startswith("database fastpoll_no_such_db does not exist")


@pytest.mark.mariadb
@pytest.mark.snmpsim
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_the_command_output_never_holds_a_password_or_community(
    clean_librenms_db,
    two_devices,
    fastpoll_user,  # noqa: F811
    monkeypatch,
    capsys,
    as_json,
):
    # Every device silent and the password planted in the URL: the output must still name neither.
    engine = create_engine(mariadb.url(clean_librenms_db))
    with engine.begin() as c:
        c.execute(devices.update().values(community=SECRET_COMMUNITY, port=free_udp_port()))
    engine.dispose()
    monkeypatch.setenv("FASTPOLL_DATABASE__URL", fastpoll_user.url)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["validate", *(["--json"] if as_json else [])])
    status = args.func(args)
    out = capsys.readouterr()
    assert status == 1  # no sampled device answers: the SNMP check fails
    text = out.out + out.err
    assert "snmp" in text and "fail" in text
    for secret in (fastpoll_user.password, SECRET_COMMUNITY):
        assert secret not in text


# --------------------------------------------------------------------------------------------- Payload


async def test_payload_not_configured_is_skipped():
    assert (await check_payload(None, None)).status is Status.SKIP


async def test_payload_url_without_a_key_fails():
    result = await check_payload(
        "http://127.0.0.1:9", None, "no Payload API key: set FASTPOLL_PAYLOAD_API_KEY"
    )
    assert result.status is Status.FAIL and "API key" in result.detail


async def test_payload_that_is_not_running_fails():
    result = await check_payload(f"http://127.0.0.1:{free_udp_port()}", SecretStr("k"))
    assert result.status is Status.FAIL and "cannot reach" in result.detail


@pytest.mark.payload
async def test_payload_accepting_the_key_passes(payload):  # noqa: F811
    base_url, api_key = payload
    result = await check_payload(base_url, SecretStr(api_key))
    assert result.status is Status.PASS, result


@pytest.mark.payload
async def test_a_refused_payload_key_fails_as_key_refused(payload):  # noqa: F811
    base_url, api_key = payload
    result = await check_payload(base_url, SecretStr("wrong-" + api_key))
    assert result.status is Status.FAIL
    assert result.detail.startswith("key refused")
    assert api_key not in repr(result)


# -------------------------------------------------------------------------------------------- profiles

UPS_PROFILE = """\
name: ups
scalars:
  - oid: 1.3.6.1.2.1.33.1.2.7.0
    metric: ups_battery_temperature
  - oid: 1.3.6.1.2.1.33.1.2.3.0
    metric: ups_minutes_remaining
table:
  labels:
    name: IF-MIB::ifDescr
  columns:
    - oid: IF-MIB::ifInOctets
      metric: ups_in_octets
      type: counter
os: [apc, eaton]
"""
# Line 3 names a MIB object that does not exist (laLoadd).
BROKEN_PROFILE = """\
name: broken
scalars:
  - oid: UCD-SNMP-MIB::laLoadd.1
    metric: load
"""


def _profiles_config(tmp_path: Path, enabled: list[str], extra: str = "", **files: str) -> Path:
    """A configuration reading profiles from tmp_path/profiles only, holding ``files`` (name: YAML)."""
    directory = tmp_path / "profiles"
    directory.mkdir()
    for name, body in files.items():
        (directory / f"{name}.yaml").write_text(body)
    config = tmp_path / "fastpoll.toml"
    config.write_text(
        f'[database]\nsqlite_path = "{tmp_path / "fastpoll.db"}"\n{extra}'
        f'[profiles]\npaths = ["{directory}"]\nenabled = {json.dumps(enabled)}\n'
    )
    return config


def _profile_results(config: Path) -> list[CheckResult]:
    return check_profiles(load_settings(config, {})[1])


def test_an_enabled_profile_is_shown_with_its_file_what_it_reads_and_its_os_values(tmp_path):
    config = _profiles_config(tmp_path, ["ups"], ups=UPS_PROFILE)
    (result,) = _profile_results(config)
    assert result.check == "profile ups" and result.status is Status.PASS
    assert result.detail == (
        f"{tmp_path / 'profiles' / 'ups.yaml'}: GET 2 scalar OIDs, walk 1 column + 1 label column; "
        "runs on devices with os apc, eaton; series per device: up to 2 + 1 per table row"
    )


def test_a_profile_that_does_not_load_fails_with_the_loaders_file_line_and_field(tmp_path):
    config = _profiles_config(tmp_path, ["ups"], ups=UPS_PROFILE, broken=BROKEN_PROFILE)
    results = _profile_results(config)
    assert [(r.check, r.status) for r in results] == [("profile ups", Status.PASS), ("profiles", Status.FAIL)]
    assert results[1].detail == (
        f"{tmp_path / 'profiles' / 'broken.yaml'}:3: scalars[0].oid: unknown MIB name "
        "UCD-SNMP-MIB::laLoadd (did you mean UCD-SNMP-MIB::laLoad?)"
    )


def test_an_enabled_name_no_profile_provides_fails_naming_it_and_the_profiles_found(tmp_path):
    config = _profiles_config(tmp_path, ["ups", "upz"], ups=UPS_PROFILE)
    failed = [r for r in _profile_results(config) if r.status is Status.FAIL]
    assert [r.detail for r in failed] == [
        f"enabled: no profile named 'upz' in {tmp_path / 'profiles'}; found: ups"
    ]
    assert "list mibs/profiles too" in failed[0].hint  # paths replaces the shipped directory


def test_two_enabled_profiles_exporting_one_family_fail(tmp_path):
    config = _profiles_config(
        tmp_path, ["ups", "ups2"], ups=UPS_PROFILE, ups2=UPS_PROFILE.replace("name: ups", "name: ups2")
    )
    (failed,) = [r for r in _profile_results(config) if r.status is Status.FAIL]
    assert "both exported as fastpoll_profile_ups_battery_temperature" in failed.detail


def test_with_no_profile_enabled_one_line_says_so_and_names_the_shipped_ones():
    (result,) = check_profiles(ProfileChoice.of(load_config(None, {}).profiles))
    assert (result.check, result.status) == ("profiles", Status.SKIP)
    assert result.detail.startswith("none enabled (profiles are opt-in); available: ")
    assert "ucd_load" in result.detail


def test_a_configuration_whose_only_problem_is_a_profile_still_loads_for_the_other_checks(tmp_path):
    config = _profiles_config(tmp_path, ["broken"], broken=BROKEN_PROFILE)
    loaded, profiles = load_settings(config, {})
    assert loaded.database.sqlite_path == tmp_path / "fastpoll.db"
    assert profiles == ProfileChoice((tmp_path / "profiles",), ("broken",))


def test_another_configuration_problem_beside_a_broken_profile_is_still_a_configuration_error(tmp_path):
    config = _profiles_config(tmp_path, ["broken"], "[polling]\nno_such_key = 1\n", broken=BROKEN_PROFILE)
    with pytest.raises(FastpollConfigError, match="no_such_key"):
        load_settings(config, {})


def test_validate_reports_a_broken_profile_as_a_failed_check_not_a_configuration_error(tmp_path, capsys):
    config = _profiles_config(tmp_path, ["broken"], broken=BROKEN_PROFILE)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["validate", "--config", str(config), "--sample", "0", "--json"])
    status = args.func(args)
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert status == 1  # a failed check, not 2 (configuration unusable)
    assert {c["check"] for c in checks} >= {"database", "schema", "payload"}  # the other checks ran
    profiles = [(c["status"], c["detail"]) for c in checks if c["check"] == "profiles"]
    assert [status for status, _ in profiles] == ["fail", "fail"]  # the file, and 'broken' not provided
    assert profiles[0][1].startswith(f"{tmp_path / 'profiles' / 'broken.yaml'}:3: scalars[0].oid: ")
