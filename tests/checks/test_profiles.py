"""Profiles: loading with errors naming file/line/field, and evaluation of answers into samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from poller.checks.profiles import (
    PROFILE_DIR,
    Profile,
    ProfileError,
    Sample,
    evaluate,
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
    text = GOOD.replace("1.3.6.1.2.1.33.1.4.4.1.2", "IF-MIB::ifInOctets")
    msg = error_of(text)
    assert msg.startswith("mibs/profiles/x.yaml:10: table.columns[0].oid: ")
    assert "not a numeric OID" in msg


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
