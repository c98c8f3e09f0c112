"""Compile MIB modules into the compact name -> OID index check profiles resolve symbolic names through.

Run at build time, never at start-up: profiles (``poller/checks/profiles.py``) read the JSON this writes.

    python -m mibs.build_index                  # rebuild the shipped mibs/index.json from the standard MIBs
    python -m mibs.build_index --check          # exit 1 if mibs/index.json is not what the sources give
    python -m mibs.build_index --mib-dir DIR --out PROFILE_DIR/mib-index.json
                                                # an index of every module in DIR (and what they import)

Your own MIBs: put the MIB files in a directory (any file names; a module is found by its
``NAME DEFINITIONS ::= BEGIN`` line), build an index of them with ``--mib-dir DIR`` and write it as
``mib-index.json`` into the directory that holds your profiles. Profiles loaded from that directory can then
name the objects of those modules (``MY-VENDOR-MIB::fooTemperature.0``); a module in your index replaces the
shipped module of the same name (so a full IF-MIB in ``DIR`` replaces the shipped abridged one). Modules
your MIBs import are looked for in ``DIR`` first, then in ``mibs/src`` and ``/usr/share/snmp/mibs``; the
SNMPv2-SMI/TC/CONF/MIB, IF-MIB, HOST-RESOURCES-MIB and net-snmp modules are there, anything else (SMIv1's
RFC1155-SMI, RFC-1212, RFC-1215, a vendor's SMI module) must be in ``DIR`` too.

Sources of the shipped index (``SHIPPED_MODULES`` and what they import): ``mibs/src`` (its README.txt
says which files are verbatim IETF modules and which are abridged) and net-snmp's UCD-SNMP-MIB from
``/usr/share/snmp/mibs`` (Debian's libsnmp-base, pulled in by the ``snmp`` package scripts/setup.sh installs).

The index (format 1)::

    {"format": 1, "modules": {"IF-MIB": {"ifHCInOctets": ["1.3.6.1.2.1.31.1.1.1.6", "column", "Counter64"],
                                         ...}, ...}}

one entry per OBJECT-TYPE, OBJECT IDENTIFIER, MODULE-IDENTITY, OBJECT-IDENTITY and NOTIFICATION-TYPE:
numeric OID, kind (scalar, table, row, column, node, notification) and the declared syntax ("" if none).
Modules are sorted by name, entries by OID, and nothing depends on time, paths or the machine, so a rebuild
from the same sources gives the same bytes. Needs pysmi (a dev dependency); the poller itself only reads the
JSON (``mibs/names.py``).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mibs.names import FORMAT, SHIPPED_INDEX, USER_INDEX_NAME

HERE = Path(__file__).resolve().parent
VENDORED_DIR = HERE / "src"
SYSTEM_DIRS = (Path("/usr/share/snmp/mibs"),)
SHIPPED_MODULES = ("SNMPv2-MIB", "IF-MIB", "HOST-RESOURCES-MIB", "UCD-SNMP-MIB")

_MODULE_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s+DEFINITIONS\s*::=\s*BEGIN", re.MULTILINE)
_PYSMI_PREFIX = "_pysmi_"
_KINDS = {"moduleidentity": "node", "objectidentity": "node", "notificationtype": "notification"}


class BuildError(RuntimeError):
    """MIB modules that are missing or do not compile; the message names each one and why."""


# ---------------------------------------------------------------------------------------------- pure


def module_names(text: str) -> list[str]:
    """Names of the MIB modules a source file defines (``NAME DEFINITIONS ::= BEGIN``)."""
    return [m.group(1) for m in _MODULE_HEADER.finditer(_without_comments(text))]


def _without_comments(text: str) -> str:
    # ASN.1 comments run from "--" to the next "--" or the end of the line; enough to skip commented headers
    return re.sub(r"--.*?(--|$)", "", text, flags=re.MULTILINE)


def identifiers(text: str) -> frozenset[str]:
    """Every identifier-like word of a MIB source (to undo pysmi's Python-safe renaming)."""
    return frozenset(re.findall(r"[A-Za-z][A-Za-z0-9_-]*", text))


def smi_name(name: str, source_identifiers: frozenset[str]) -> str:
    """The name as the MIB spells it: pysmi turns ``mib-2`` into ``mib_2`` and ``is`` into ``_pysmi_is``."""
    if name.startswith(_PYSMI_PREFIX) and name[len(_PYSMI_PREFIX) :] in source_identifiers:
        return name[len(_PYSMI_PREFIX) :]
    if "_" in name and name not in source_identifiers:
        dashed = name.replace("_", "-")
        if dashed in source_identifiers:
            return dashed
    return name


def entries_of(
    doc: Mapping[str, Any], source_identifiers: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Index entries (name -> [oid, kind, syntax]) from one module as pysmi's JSON code generator gives it,
    named as in the MIB source (``source_identifiers``, see smi_name)."""
    out: dict[str, list[str]] = {}
    for pyname, node in doc.items():
        name = smi_name(pyname, source_identifiers)
        if not isinstance(node, dict) or "oid" not in node:
            continue
        cls = node.get("class")
        if cls == "objecttype":
            kind = node.get("nodetype", "scalar")
        elif cls in _KINDS:
            kind = _KINDS[cls]
        else:
            continue  # groups, compliance statements, agent capabilities: OIDs no one polls
        syntax = node.get("syntax") or {}
        out[name] = [node["oid"], kind, str(syntax.get("type", "")) if kind != "row" else ""]
    return out


def build(docs: Mapping[str, Mapping[str, Any]], texts: Mapping[str, str]) -> dict[str, Any]:
    """The index from pysmi JSON documents and source texts per module; modules without entries (pure TC
    modules) left out."""
    modules = {name: entries_of(doc, identifiers(texts.get(name, ""))) for name, doc in docs.items()}
    return {"format": FORMAT, "modules": {name: e for name, e in modules.items() if e}}


def _oid_key(item: tuple[str, list[str]]) -> tuple[tuple[int, ...], str]:
    return tuple(int(p) for p in item[1][0].split(".")), item[0]


def render(index: Mapping[str, Any]) -> str:
    """Deterministic JSON: modules by name, entries by OID, one entry a line (small diffs, easy review)."""
    lines = ["{", f' "format": {int(index["format"])},', ' "modules": {']
    modules = sorted(index["modules"].items())
    for m, (module, entries) in enumerate(modules):
        lines.append(f"  {json.dumps(module)}: {{")
        items = sorted(entries.items(), key=_oid_key)
        for i, (name, entry) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"   {json.dumps(name)}: {json.dumps(list(entry))}{comma}")
        lines.append("  }" + ("," if m < len(modules) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- I/O


def scan_sources(dirs: Iterable[Path]) -> dict[str, Path]:
    """Module name -> file defining it; earlier directories win (user MIBs over shipped ones)."""
    found: dict[str, Path] = {}
    for base in dirs:
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.iterdir() if p.is_file()):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for name in module_names(text):
                found.setdefault(name, path)
    return found


@functools.cache
def _parser() -> Any:
    """pysmi's lenient (SMIv1-tolerant) parser; building its grammar takes seconds, parsing keeps no state."""
    from pysmi.parser.smiv1compat import SmiV1CompatParser

    return SmiV1CompatParser()


def compile_modules(
    names: Sequence[str], sources: Mapping[str, Path], searched: Sequence[Path] = ()
) -> dict[str, dict[str, Any]]:
    """pysmi JSON documents of ``names`` and everything they import; BuildError names what failed."""
    try:
        from pysmi.codegen.jsondoc import JsonCodeGen
        from pysmi.compiler import MibCompiler
        from pysmi.reader.callback import CallbackReader
        from pysmi.writer.callback import CallbackWriter
    except ImportError:
        raise BuildError("compiling MIBs needs pysmi (pip install 'pysmi>=1.4')") from None

    docs: dict[str, dict[str, Any]] = {}

    def read(mibname: str, _ctx: object) -> str | None:
        path = sources.get(mibname)
        return path.read_text(encoding="utf-8", errors="replace") if path is not None else None

    def write(mibname: str, data: str, _ctx: object) -> None:
        docs[mibname] = json.loads(data)

    compiler = MibCompiler(_parser(), JsonCodeGen(), CallbackWriter(write))
    compiler.add_sources(CallbackReader(read))
    status = compiler.compile(*names, genTexts=False, rebuild=True, noDeps=False)
    problems = []
    for mibname, st in sorted(status.items()):
        if str(st) == "missing":
            where = f" in {', '.join(map(str, searched))}" if searched else ""
            problems.append(f"{mibname}: no MIB file defines it{where} (add its file to a --mib-dir)")
        elif str(st) == "failed":
            problems.append(f"{mibname}: {getattr(st, 'error', 'failed')}")
    if problems:
        raise BuildError("\n".join(problems))
    return docs


def build_index(names: Sequence[str], mib_dirs: Sequence[Path]) -> dict[str, Any]:
    """Compile ``names`` (every module in ``mib_dirs`` when empty) into an index."""
    searched = [*mib_dirs, VENDORED_DIR, *SYSTEM_DIRS]
    sources = scan_sources(searched)
    if not names:
        names = sorted(scan_sources(mib_dirs)) if mib_dirs else list(SHIPPED_MODULES)
    if not names:
        raise BuildError(f"no MIB modules found in {', '.join(map(str, mib_dirs))}")
    docs = compile_modules(names, sources, searched)
    return build(docs, {name: sources[name].read_text(encoding="utf-8", errors="replace") for name in docs})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mibs.build_index", description=__doc__.split("\n")[0])
    parser.add_argument(
        "modules", nargs="*", help="modules to compile (default: the shipped set, or all of --mib-dir)"
    )
    parser.add_argument(
        "--mib-dir", type=Path, action="append", default=[], help="directory of your MIB files"
    )
    parser.add_argument(
        "--out", type=Path, help=f"index to write (default {SHIPPED_INDEX} without --mib-dir)"
    )
    parser.add_argument("--check", action="store_true", help="do not write: exit 1 if --out differs")
    args = parser.parse_args(argv)
    out: Path | None = args.out or (None if args.mib_dir else SHIPPED_INDEX)
    if out is None:
        parser.error(f"--out is required with --mib-dir (e.g. PROFILE_DIR/{USER_INDEX_NAME})")
    try:
        text = render(build_index(args.modules, args.mib_dir))
    except BuildError as err:
        print(f"build_index: {err}", file=sys.stderr)
        return 2
    if args.check:
        same = out.is_file() and out.read_text() == text
        print(f"{out}: {'up to date' if same else 'differs from what the MIB sources give'}")
        return 0 if same else 1
    out.write_text(text)
    count = sum(len(e) for e in json.loads(text)["modules"].values())
    print(f"{out}: {count} names from {len(json.loads(text)['modules'])} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
