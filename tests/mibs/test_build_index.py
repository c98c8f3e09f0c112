"""mibs/build_index.py: MIB sources compiled (pysmi) into the deterministic name -> OID index profiles use."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pytest

from mibs import build_index as bi
from mibs.names import SHIPPED_INDEX, USER_INDEX_NAME, MibIndex, load_index, shipped_index
from poller.checks.ifmib import IF_COLUMNS, IF_X_COLUMNS
from poller.checks.profiles import PROFILE_DIR, load_profiles
from tests.support.shared import SNMPREC_DIR, require_shared

pytest.importorskip("pysmi", reason="pysmi (a dev dependency) compiles MIBs")

ACME_MIB = """\
-- A vendor MIB as users drop them in a directory (any file name).
ACME-MIB DEFINITIONS ::= BEGIN

IMPORTS
    MODULE-IDENTITY, OBJECT-TYPE, Integer32, Counter64, enterprises   FROM SNMPv2-SMI
    DisplayString                                                      FROM SNMPv2-TC;

acme MODULE-IDENTITY
    LAST-UPDATED "202601010000Z"
    ORGANIZATION "ACME"
    CONTACT-INFO "noc@acme.example"
    DESCRIPTION  "Test module."
    ::= { enterprises 99999 }

acmeTemperature OBJECT-TYPE
    SYNTAX      Integer32
    MAX-ACCESS  read-only
    STATUS      current
    DESCRIPTION "Chassis temperature."
    ::= { acme 1 }

acmeFanTable OBJECT-TYPE
    SYNTAX      SEQUENCE OF AcmeFanEntry
    MAX-ACCESS  not-accessible
    STATUS      current
    DESCRIPTION "Fans."
    ::= { acme 2 }

acmeFanEntry OBJECT-TYPE
    SYNTAX      AcmeFanEntry
    MAX-ACCESS  not-accessible
    STATUS      current
    DESCRIPTION "A fan."
    INDEX       { acmeFanIndex }
    ::= { acmeFanTable 1 }

AcmeFanEntry ::= SEQUENCE { acmeFanIndex Integer32, acmeFanName DisplayString, acmeFanTurns Counter64 }

acmeFanIndex OBJECT-TYPE
    SYNTAX      Integer32 (1..64)
    MAX-ACCESS  not-accessible
    STATUS      current
    DESCRIPTION "Fan number."
    ::= { acmeFanEntry 1 }

acmeFanName OBJECT-TYPE
    SYNTAX      DisplayString
    MAX-ACCESS  read-only
    STATUS      current
    DESCRIPTION "Fan name."
    ::= { acmeFanEntry 2 }

acmeFanTurns OBJECT-TYPE
    SYNTAX      Counter64
    MAX-ACCESS  read-only
    STATUS      current
    DESCRIPTION "Revolutions since boot."
    ::= { acmeFanEntry 3 }

END
"""


def acme_dir(tmp_path: Path, text: str = ACME_MIB) -> Path:
    mib_dir = tmp_path / "mibs"
    mib_dir.mkdir()
    (mib_dir / "acme.my").write_text(text)
    return mib_dir


def test_module_names_come_from_the_definitions_line_not_the_file_name():
    text = "-- OLD-MIB DEFINITIONS ::= BEGIN (commented out)\nNEW-MIB DEFINITIONS ::= BEGIN\nEND\n"
    assert bi.module_names(text) == ["NEW-MIB"]


def test_builder_compiles_a_small_mib_into_oid_kind_and_syntax(tmp_path: Path):
    index = bi.build_index([], [acme_dir(tmp_path)])
    assert index["modules"]["ACME-MIB"] == {
        "acme": ["1.3.6.1.4.1.99999", "node", ""],
        "acmeTemperature": ["1.3.6.1.4.1.99999.1", "scalar", "Integer32"],
        "acmeFanTable": ["1.3.6.1.4.1.99999.2", "table", ""],
        "acmeFanEntry": ["1.3.6.1.4.1.99999.2.1", "row", ""],
        "acmeFanIndex": ["1.3.6.1.4.1.99999.2.1.1", "column", "Integer32"],
        "acmeFanName": ["1.3.6.1.4.1.99999.2.1.2", "column", "DisplayString"],
        "acmeFanTurns": ["1.3.6.1.4.1.99999.2.1.3", "column", "Counter64"],
    }


def test_rendered_index_is_sorted_by_module_then_oid_one_entry_a_line(tmp_path: Path):
    text = bi.render(bi.build_index([], [acme_dir(tmp_path)]))
    assert json.loads(text)["format"] == 1
    lines = [line.strip() for line in text.splitlines() if '": ["' in line]
    acme = [line.split('"')[1] for line in lines if "99999" in line]
    assert acme == ["acme", "acmeTemperature", "acmeFanTable", "acmeFanEntry", "acmeFanIndex", "acmeFanName",
                    "acmeFanTurns"]  # fmt: skip
    modules = [line.strip().split('"')[1] for line in text.splitlines() if line.endswith(": {")][1:]
    assert modules == sorted(modules)


def test_names_keep_their_mib_spelling_not_pysmis_python_one():
    assert shipped_index().resolve("SNMPv2-SMI::mib-2") == "1.3.6.1.2.1"
    assert "mib_2" not in shipped_index().modules["SNMPv2-SMI"]


def test_a_missing_import_fails_naming_the_module(tmp_path: Path):
    broken = ACME_MIB.replace("FROM SNMPv2-TC;", "FROM SNMPv2-TC\n    AcmeThing FROM ACME-TC-MIB;")
    with pytest.raises(bi.BuildError, match="ACME-TC-MIB: no MIB file defines it"):
        bi.build_index([], [acme_dir(tmp_path, broken)])


def test_cli_builds_a_user_index_its_profiles_resolve_through(tmp_path: Path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "acme.yaml").write_text(
        "name: acme\n"
        "scalars:\n  - oid: ACME-MIB::acmeTemperature.0\n    metric: acme_temperature\n"
        "table:\n  labels:\n    fan: ACME-MIB::acmeFanName\n"
        "  columns:\n    - oid: ACME-MIB::acmeFanTurns\n      metric: acme_fan_turns\n      type: counter\n"
    )
    out = profiles / USER_INDEX_NAME
    assert bi.main(["--mib-dir", str(acme_dir(tmp_path)), "--out", str(out)]) == 0
    assert bi.main(["--mib-dir", str(tmp_path / "mibs"), "--out", str(out), "--check"]) == 0
    (profile,) = load_profiles([profiles])
    assert profile.scalars[0].oid == "1.3.6.1.4.1.99999.1.0"
    assert profile.table is not None
    assert profile.table.labels == {"fan": "1.3.6.1.4.1.99999.2.1.2"}
    assert profile.table.columns[0].oid == "1.3.6.1.4.1.99999.2.1.3"


def test_a_user_module_replaces_the_shipped_module_of_the_same_name(tmp_path: Path):
    own = ACME_MIB.replace("ACME-MIB DEFINITIONS", "IF-MIB DEFINITIONS")
    user = MibIndex.from_data(bi.build_index([], [acme_dir(tmp_path, own)]))
    merged = shipped_index().merged(user)
    assert merged.resolve("IF-MIB::acmeTemperature") == "1.3.6.1.4.1.99999.1"
    assert "ifHCInOctets" not in merged.modules["IF-MIB"]


def test_cli_check_reports_a_stale_index_and_leaves_it(tmp_path: Path):
    out = tmp_path / USER_INDEX_NAME
    out.write_text("{}\n")
    assert bi.main(["--mib-dir", str(acme_dir(tmp_path)), "--out", str(out), "--check"]) == 1
    assert out.read_text() == "{}\n"


# ---------------------------------------------------------------------------------------- shipped index


def test_shipped_index_holds_every_name_the_shipped_profiles_use():
    load_profiles([PROFILE_DIR])  # raises ProfileError naming file/line/field for a name it lacks
    used = {
        line.split("::")[0].split()[-1]
        for path in PROFILE_DIR.glob("*.yaml")
        for line in path.read_text().splitlines()
        if "::" in line
    }
    assert used >= {"HOST-RESOURCES-MIB", "UCD-SNMP-MIB"}
    assert used <= set(shipped_index().modules)


def test_shipped_index_holds_the_standard_modules_checks_need():
    assert set(load_index(SHIPPED_INDEX).modules) >= {
        "SNMPv2-SMI",
        "SNMPv2-MIB",
        "IF-MIB",
        "HOST-RESOURCES-MIB",
        "UCD-SNMP-MIB",
    }


def test_shipped_if_mib_agrees_with_the_ports_check():
    if_mib = shipped_index().modules["IF-MIB"]
    polled = {**IF_COLUMNS, **IF_X_COLUMNS}
    assert {name: if_mib[name][0] for name in polled} == polled


def test_shipped_snmpv2_mib_agrees_with_pysnmps_compiled_copy():
    from pysnmp.smi import builder

    mib_builder = builder.MibBuilder()
    mib_builder.load_modules("SNMPv2-MIB")
    ours = shipped_index().modules["SNMPv2-MIB"]
    theirs = {
        name: ".".join(map(str, sym.name))
        for name, sym in mib_builder.mibSymbols["SNMPv2-MIB"].items()
        if name in ours and hasattr(sym, "name") and isinstance(sym.name, tuple)
    }
    assert len(theirs) > 40
    assert {name: ours[name][0] for name in theirs} == theirs


# Objects of the abridged (hand-written) modules no recording can show: index columns are not-accessible,
# and no recorded device answers ifStackLastChange.
NEVER_RECORDED = {"ifStackHigherLayer", "ifStackLowerLayer", "ifStackLastChange"}


def test_abridged_modules_name_objects_real_agents_answer():
    """Every readable object of the hand-written IF-MIB and HOST-RESOURCES-MIB has instances in the device
    recordings (the shared ones and snmpsim's, generated from the full MIBs): a wrong OID would have none."""
    require_shared()
    import snmpsim

    files = [*SNMPREC_DIR.glob("*.snmprec")]
    files += map(Path, glob.glob(os.path.join(os.path.dirname(snmpsim.__file__), "data", "**", "*.snmprec"),
                                 recursive=True))  # fmt: skip
    recorded = {line.split("|", 1)[0] for f in files for line in f.read_text(errors="replace").splitlines()}
    stems = {oid.rsplit(".", k)[0] for oid in recorded for k in range(1, oid.count("."))}
    for module in ("IF-MIB", "HOST-RESOURCES-MIB"):
        entries = shipped_index().modules[module]
        readable = {n: e[0] for n, e in entries.items() if e[1] in ("scalar", "column")}
        unseen = {n for n, oid in readable.items() if oid not in stems} - NEVER_RECORDED
        assert unseen == set(), module


def test_rebuilding_the_shipped_index_gives_the_committed_file():
    if not all(any(d.glob("UCD-SNMP-MIB*")) for d in bi.SYSTEM_DIRS):
        if os.environ.get("CI"):
            pytest.fail("net-snmp's MIBs (libsnmp-base) are required in CI")
        pytest.skip("net-snmp's UCD-SNMP-MIB not in /usr/share/snmp/mibs (apt install libsnmp-base)")
    assert bi.render(bi.build_index([], [])) == SHIPPED_INDEX.read_text()
