"""Profiles: loading with errors naming file/line/field, MIB names resolved through the compiled index,
and evaluation of answers into samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mibs.names import USER_INDEX_NAME
from poller.checks.ifmib import IF_COLUMNS, IF_X_COLUMNS
from poller.checks.profiles import (
    PROFILE_DIR,
    Profile,
    ProfileError,
    Sample,
    evaluate,
    family_conflicts,
    family_name,
    load_profile_text,
    load_profiles,
    poll_profile,
)
from poller.snmp.values import Tag

GOOD = """\
name: ups
scalars:
  - oid: 1.3.6.1.2.1.33.1.2.7.0
    metric: ups_battery_temperature
    scale: 1
table:
  labels:
    name: 1.3.6.1.2.1.33.1.4.4.1.1
  columns:
    - oid: .1.3.6.1.2.1.33.1.4.4.1.2
      metric: ups_output_voltage
      scale: 0.1
"""


def error_of(text: str, source: str = "mibs/profiles/x.yaml") -> str:
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, source)
    return str(info.value)


def test_good_profile_loads_with_leading_dots_dropped():
    p = load_profile_text(GOOD, "ups.yaml")
    assert p.table is not None and p.table.columns[0].oid == "1.3.6.1.2.1.33.1.4.4.1.2"


def test_shipped_profiles_load():
    assert {p.name for p in load_profiles([PROFILE_DIR])} >= {"ucd_load"}


def test_bad_oid_names_file_line_and_field():
    text = GOOD.replace(".1.3.6.1.2.1.33.1.4.4.1.2", "ifInOctets")
    msg = error_of(text)
    assert msg.startswith("mibs/profiles/x.yaml:10: table.columns[0].oid: ")
    assert "not a numeric OID or a MIB name (MODULE::name[.index]): 'ifInOctets'" in msg


SYMBOLIC = """\
name: ports
scalars:
  - oid: HOST-RESOURCES-MIB::hrSystemProcesses.0
    metric: host_processes
table:
  labels:
    name: IF-MIB::ifName
  columns:
    - oid: IF-MIB::ifHCInOctets
      metric: in_octets
      type: counter
    - oid: IF-MIB::ifInErrors
      metric: in_errors
      type: counter
"""


def test_symbolic_names_resolve_to_the_oids_the_ports_check_polls():
    p = load_profile_text(SYMBOLIC, "ports.yaml")
    assert p.table is not None
    assert p.table.labels == {"name": IF_X_COLUMNS["ifName"]}
    assert [c.oid for c in p.table.columns] == [IF_X_COLUMNS["ifHCInOctets"], IF_COLUMNS["ifInErrors"]]


def test_symbolic_and_numeric_profiles_load_the_same():
    numeric = (
        SYMBOLIC.replace("HOST-RESOURCES-MIB::hrSystemProcesses.0", ".1.3.6.1.2.1.25.1.6.0")
        .replace("IF-MIB::ifName", IF_X_COLUMNS["ifName"])
        .replace("IF-MIB::ifHCInOctets", IF_X_COLUMNS["ifHCInOctets"])
        .replace("IF-MIB::ifInErrors", IF_COLUMNS["ifInErrors"])
    )
    assert "::" not in numeric
    assert load_profile_text(SYMBOLIC, "a.yaml") == load_profile_text(numeric, "b.yaml")


def test_shipped_profile_names_the_oids_it_used_to_spell_out():
    (profile,) = [p for p in load_profiles([PROFILE_DIR]) if p.name == "ucd_load"]
    assert profile.scalars[0].oid == "1.3.6.1.2.1.25.1.6.0"
    assert profile.table is not None
    assert profile.table.labels == {"name": "1.3.6.1.4.1.2021.10.1.2"}
    assert profile.table.columns[0].oid == "1.3.6.1.4.1.2021.10.1.5"


def test_unknown_name_names_file_line_field_and_a_close_match():
    msg = error_of(SYMBOLIC.replace("IF-MIB::ifHCInOctets", "IF-MIB::ifHCInOctet"))
    assert msg == (
        "mibs/profiles/x.yaml:9: table.columns[0].oid: "
        "unknown MIB name IF-MIB::ifHCInOctet (did you mean IF-MIB::ifHCInOctets?)"
    )


def test_unknown_label_name_names_the_label_line():
    msg = error_of(SYMBOLIC.replace("IF-MIB::ifName", "IF-MIB::ifNam"))
    assert msg.startswith("mibs/profiles/x.yaml:7: table.labels.name: unknown MIB name IF-MIB::ifNam")


def test_name_looked_up_in_the_wrong_module_points_to_the_right_one():
    msg = error_of(SYMBOLIC.replace("IF-MIB::ifName", "SNMPv2-MIB::ifName"))
    assert "unknown MIB name SNMPv2-MIB::ifName (did you mean IF-MIB::ifName?)" in msg


def test_unknown_module_names_file_line_and_a_close_match():
    msg = error_of(SYMBOLIC.replace("HOST-RESOURCES-MIB::", "HOST-RESOURCE-MIB::"))
    assert msg.startswith(
        "mibs/profiles/x.yaml:3: scalars[0].oid: unknown MIB module 'HOST-RESOURCE-MIB' in "
        "'HOST-RESOURCE-MIB::hrSystemProcesses.0' (did you mean 'HOST-RESOURCES-MIB'?)"
    )


ACME = """\
name: acme
scalars:
  - oid: ACME-MIB::acmeTemperature.0
    metric: acme_temperature
"""


def write_acme_index(directory: Path) -> None:
    index = {
        "format": 1,
        "modules": {"ACME-MIB": {"acmeTemperature": ["1.3.6.1.4.1.99999.1.1", "scalar", ""]}},
    }
    (directory / USER_INDEX_NAME).write_text(json.dumps(index))


def test_a_directory_mib_index_lets_its_profiles_name_their_own_modules(tmp_path: Path):
    write_acme_index(tmp_path)
    (tmp_path / "acme.yaml").write_text(ACME)
    (tmp_path / "ports.yaml").write_text(SYMBOLIC)
    profiles = {p.name: p for p in load_profiles([tmp_path])}
    assert profiles["acme"].scalars[0].oid == "1.3.6.1.4.1.99999.1.1.0"
    assert profiles["ports"].scalars[0].oid == "1.3.6.1.2.1.25.1.6.0"  # the shipped modules still resolve


def test_a_directory_mib_index_does_not_leak_into_other_directories(tmp_path: Path):
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    write_acme_index(tmp_path / "with")
    (tmp_path / "without" / "acme.yaml").write_text(ACME)
    with pytest.raises(ProfileError, match=r"without/acme.yaml:3: scalars\[0\].oid: unknown MIB module"):
        load_profiles([tmp_path / "with", tmp_path / "without"])


def test_a_broken_directory_mib_index_is_a_profile_error_naming_it_once(tmp_path: Path):
    (tmp_path / USER_INDEX_NAME).write_text('{"modules": {}}')
    (tmp_path / "acme.yaml").write_text(ACME)
    (tmp_path / "ports.yaml").write_text(SYMBOLIC)
    with pytest.raises(ProfileError) as info:
        load_profiles([tmp_path])
    assert str(info.value) == (
        f"{tmp_path / USER_INDEX_NAME}: not a MIB index of format 1 (rebuild: python -m mibs.build_index)"
    )


def test_unknown_key_names_its_line():
    msg = error_of(GOOD.replace("    scale: 1\n", "    scael: 1\n"))
    assert msg.startswith("mibs/profiles/x.yaml:5: scalars[0].scael: ")


def test_wrong_type_names_its_line():
    msg = error_of(GOOD.replace("scale: 0.1", "scale: tenth"))
    assert msg.startswith("mibs/profiles/x.yaml:12: table.columns[0].scale: ")


def test_missing_required_field_names_the_item():
    msg = error_of(GOOD.replace("    metric: ups_battery_temperature\n", ""))
    assert msg.startswith("mibs/profiles/x.yaml:3: scalars[0].metric: Field required")


def test_empty_profile_is_refused():
    assert "needs 'scalars' or 'table'" in error_of("name: nothing\n")


def test_invalid_yaml_names_the_line():
    assert error_of("name: x\nscalars: [\n").startswith("mibs/profiles/x.yaml:3: not valid YAML")


def test_duplicate_names_across_files_are_refused(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(ProfileError, match=r"b.yaml:1: name: 'ups' already defined"):
        load_profiles([tmp_path])


def test_a_missing_profile_path_is_named(tmp_path: Path):
    with pytest.raises(ProfileError, match=r"nope: no such profile file or directory"):
        load_profiles([tmp_path / "nope"])


@pytest.mark.parametrize("label", ["device_id", "hostname"])
def test_labels_every_sample_already_carries_are_refused(label: str):
    msg = error_of(GOOD.replace("    name: 1.3.6.1", f"    {label}: 1.3.6.1"))
    assert msg.startswith("mibs/profiles/x.yaml:8: table.labels: ")
    assert f"label name {label!r} is reserved" in msg


def test_an_index_label_that_is_no_prometheus_label_name_is_refused():
    msg = error_of(GOOD.replace("table:\n", "table:\n  index_label: if-index\n"))
    assert msg.startswith("mibs/profiles/x.yaml:7: table.index_label: label name must match")


def test_a_profile_without_os_applies_to_every_device():
    p = load_profile_text(GOOD, "ups.yaml")
    assert p.applies_to("linux") and p.applies_to(None)


def test_a_profile_with_os_applies_only_to_those_devices():
    p = load_profile_text(GOOD + "os: [linux, edgeos]\n", "ups.yaml")
    assert p.applies_to("edgeos") and not p.applies_to("ios") and not p.applies_to(None)


def test_counters_are_exported_with_total_once():
    assert family_name("load", "gauge") == "fastpoll_profile_load"
    assert family_name("in_octets", "counter") == "fastpoll_profile_in_octets_total"
    assert family_name("in_octets_total", "counter") == "fastpoll_profile_in_octets_total"


def test_a_gauge_and_a_counter_sharing_a_family_conflict():
    a = load_profile_text(SYMBOLIC, "a.yaml")
    b = load_profile_text(
        "name: other\nscalars:\n  - oid: 1.3.6.1.2.1.1.3.0\n    metric: in_errors_total\n", "b.yaml"
    )
    assert family_conflicts([a]) == []
    assert family_conflicts([a, b]) == [
        "other.in_errors_total and ports.in_errors are both exported as fastpoll_profile_in_errors_total"
    ]


def test_evaluate_scales_scalars_and_labels_table_rows():
    p: Profile = load_profile_text(GOOD, "ups.yaml")
    samples = evaluate(
        p,
        {"1.3.6.1.2.1.33.1.2.7.0": (Tag.INTEGER, 31)},
        {
            "1.3.6.1.2.1.33.1.4.4.1.2": {(1,): 2301, (2,): 2299},
            "1.3.6.1.2.1.33.1.4.4.1.1": {(1,): b"L1", (2,): b"L2"},
        },
    )
    assert samples == [
        Sample("ups", "ups_battery_temperature", "gauge", {}, 31.0),
        Sample("ups", "ups_output_voltage", "gauge", {"index": "1", "name": "L1"}, 230.10000000000002),
        Sample("ups", "ups_output_voltage", "gauge", {"index": "2", "name": "L2"}, 229.9),
    ]


def test_evaluate_skips_absent_scalars():
    p = load_profile_text(GOOD, "ups.yaml")
    assert evaluate(p, {"1.3.6.1.2.1.33.1.2.7.0": (Tag.NO_SUCH_OBJECT, None)}, {}) == []


@pytest.mark.snmpsim
async def test_shipped_user_profile_polls_values_end_to_end(shared_snmpsim: Any) -> None:
    """ucd_load (hrSystemProcesses + UCD laLoadInt, which no built-in check reads) against edgeos."""
    from poller.model import Credentials, Target
    from poller.snmp.client import SnmpEngine

    (profile,) = [p for p in load_profiles([PROFILE_DIR]) if p.name == "ucd_load"]
    target = Target(
        shared_snmpsim.host, shared_snmpsim.port, credentials=Credentials(version="2c", community="edgeos")
    )
    async with SnmpEngine() as engine:
        samples = await poll_profile(engine, target, profile)
    got = {(s.metric, s.labels.get("index")): s.value for s in samples}
    assert got == {
        ("host_processes", None): 94.0,
        ("load_average", "1"): pytest.approx(0.14),
        ("load_average", "2"): pytest.approx(0.04),
        ("load_average", "3"): pytest.approx(0.01),
    }
