"""Declarative check profiles (``mibs/profiles/*.yaml``): which OIDs a check reads, how values are scaled,
which metric each exports. Loaded and validated with pydantic; every error names file, line and field.

A profile::

    name: ucd_load                      # unique, [a-z][a-z0-9_]*
    description: Load averages (UCD-SNMP-MIB)
    scalars:                            # GET, one value each
      - oid: HOST-RESOURCES-MIB::hrSystemProcesses.0
        metric: host_processes
        help: Processes loaded or running
    table:                              # optional: columns walked together, one sample per row
      index_label: index                # label carrying the row index (dotted)
      labels:                           # extra labels read from (string) columns of the same row
        name: UCD-SNMP-MIB::laNames
      columns:
        - oid: 1.3.6.1.4.1.2021.10.1.5  # numeric OIDs work everywhere a name does
          metric: load_average
          scale: 0.01                   # value * scale (default 1)
          type: gauge                   # gauge | counter
    os: [linux, edgeos]                 # optional: only devices whose LibreNMS os is listed (default: all)

An OID is numeric (``1.3.6.1.2.1.25.1.6.0``, a leading dot is dropped) or a MIB name, ``MODULE::name`` or
``MODULE::name.index``, resolved when the profile loads through the index ``python -m mibs.build_index``
compiled at build time (``mibs/names.py``; no MIB is parsed at run time). The shipped index holds the
standard MIBs (SNMPv2-MIB, IF-MIB, HOST-RESOURCES-MIB, UCD-SNMP-MIB, SNMPv2-SMI's nodes); a directory of
profiles may hold its own ``mib-index.json`` (your MIB files, see mibs/build_index.py) whose modules its
profiles can name too. An unknown name is an error naming file, line, field and the closest known name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mibs.names import USER_INDEX_NAME, MibIndex, is_symbol, load_index, shipped_index
from poller.model import Target
from poller.snmp.client import SnmpEngine
from poller.snmp.values import Tag, Value

PROFILE_DIR = Path(__file__).resolve().parents[2] / "mibs" / "profiles"
_OID = re.compile(r"^\.?[0-2](\.\d+)+$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = ("device_id", "hostname")  # every exported sample has them (poller/metrics/profiles.py)
CHECK_NAME = "profiles"  # the key of [polling] check_intervals that paces every profile
_MISSING = (Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW, Tag.NULL)


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names file, line and field."""


def resolve_oid(value: str, mibs: MibIndex | None = None) -> str:
    """Dotted numeric OID of a numeric OID or of ``MODULE::name[.index]`` (resolved through ``mibs``, by
    default the shipped index); ValueError (UnknownName for a name the index lacks) otherwise."""
    if _OID.match(value):
        return value.lstrip(".")
    if is_symbol(value):
        return (mibs if mibs is not None else shipped_index()).resolve(value)
    raise ValueError(f"not a numeric OID or a MIB name (MODULE::name[.index]): {value!r}")


def _oid_field(value: str, info: ValidationInfo) -> str:
    context = info.context if isinstance(info.context, dict) else {}
    return resolve_oid(value, context.get("mibs"))


Oid = Annotated[str, AfterValidator(_oid_field)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricField(_Strict):
    oid: Oid
    metric: str
    help: str = ""
    scale: float = 1.0
    type: Literal["gauge", "counter"] = "gauge"

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"metric name must match [a-z][a-z0-9_]*: {v!r}")
        return v


def _label_name(name: str) -> str:
    if not _LABEL.match(name) or name.startswith("__"):
        raise ValueError(f"label name must match [a-zA-Z_][a-zA-Z0-9_]* (no leading __): {name!r}")
    if name in RESERVED_LABELS:
        reserved = ", ".join(RESERVED_LABELS)
        raise ValueError(f"label name {name!r} is reserved: every sample carries {reserved}")
    return name


class TableSpec(_Strict):
    index_label: str = "index"
    labels: dict[str, Oid] = Field(default_factory=dict)
    columns: list[MetricField] = Field(min_length=1)

    @field_validator("index_label")
    @classmethod
    def _index_label(cls, v: str) -> str:
        return _label_name(v)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            _label_name(name)
        return v

    @model_validator(mode="after")
    def _distinct_labels(self) -> TableSpec:
        if self.index_label in self.labels:
            raise ValueError(f"label {self.index_label!r} is both index_label and a labels key")
        return self


class Profile(_Strict):
    name: str
    description: str = ""
    scalars: list[MetricField] = Field(default_factory=list)
    table: TableSpec | None = None
    os: list[str] = Field(default_factory=list)  # LibreNMS os values it runs on; empty = every device

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"profile name must match [a-z][a-z0-9_]*: {v!r}")
        return v

    @model_validator(mode="after")
    def _something(self) -> Profile:
        if not self.scalars and self.table is None:
            raise ValueError("a profile needs 'scalars' or 'table'")
        return self

    def fields(self) -> list[MetricField]:
        """Every metric the profile exports: scalars, then table columns."""
        return [*self.scalars, *(self.table.columns if self.table is not None else ())]

    def applies_to(self, device_os: str | None) -> bool:
        """Whether the profile runs on a device of this LibreNMS ``os`` (``os:`` unset: every device)."""
        return not self.os or device_os in self.os


# ---------------------------------------------------------------------------------------------- loading


def _to_python(node: yaml.Node) -> Any:
    """Plain data from a composed node (safe: only scalars, sequences and mappings)."""
    return yaml.safe_load(yaml.serialize(node)) if node is not None else None


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the YAML node at pydantic's error location (the deepest node that exists)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    nxt = value if value is not None else key
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def _field(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_profile_text(text: str, source: str, mibs: MibIndex | None = None) -> Profile:
    """Parse and validate one profile, MIB names resolved through ``mibs`` (default: the shipped index);
    ProfileError names ``source``, the line and the field."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ProfileError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from None
    data = _to_python(root)
    if not isinstance(data, dict):
        raise ProfileError(f"{source}:1: a profile is a mapping (name, scalars, table)")
    try:
        return Profile.model_validate(data, context={"mibs": mibs})
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{source}:{_line_of(root, loc)}: {_field(loc)}: {msg}")
        raise ProfileError("\n".join(lines)) from None


def mib_index_for(directory: Path, cache: dict[Path, MibIndex | None] | None = None) -> MibIndex | None:
    """The shipped index plus ``directory``'s own ``mib-index.json``; None when it has none (the shipped
    index then applies). ProfileError if that file is not an index."""
    cache = {} if cache is None else cache
    if directory not in cache:
        path = directory / USER_INDEX_NAME
        if not path.is_file():
            cache[directory] = None
        else:
            try:
                cache[directory] = shipped_index().merged(load_index(path))
            except ValueError as err:
                raise ProfileError(str(err)) from None
    return cache[directory]


def load_profiles(paths: Iterable[Path]) -> list[Profile]:
    """Load every ``*.yaml`` under the given files/directories; names must be unique across them. A profile
    resolves MIB names through the shipped index and the ``mib-index.json`` of its own directory."""
    out: dict[str, tuple[Profile, Path]] = {}
    errors: list[str] = []
    indexes: dict[Path, MibIndex | None] = {}
    for base in paths:
        if not base.exists():
            errors.append(f"{base}: no such profile file or directory")
            continue
        files = sorted(base.glob("*.yaml")) if base.is_dir() else [base]
        for path in files:
            try:
                mibs = mib_index_for(path.parent, indexes)
                profile = load_profile_text(path.read_text(), str(path), mibs)
            except ProfileError as err:
                errors.append(str(err))
                continue
            except (OSError, UnicodeDecodeError) as err:
                errors.append(f"{path}: cannot read: {type(err).__name__}: {getattr(err, 'strerror', err)}")
                continue
            if profile.name in out:
                errors.append(f"{path}:1: name: {profile.name!r} already defined in {out[profile.name][1]}")
                continue
            out[profile.name] = (profile, path)
    if errors:
        raise ProfileError("\n".join(dict.fromkeys(errors)))  # a broken mib-index.json: said once
    return [p for p, _ in out.values()]


def family_name(metric: str, kind: str) -> str:
    """The Prometheus family a profile metric is exported as: ``fastpoll_profile_<metric>``, counters with
    ``_total`` (not doubled)."""
    name = f"fastpoll_profile_{metric}"
    return f"{name}_total" if kind == "counter" and not name.endswith("_total") else name


def family_conflicts(profiles: Iterable[Profile]) -> list[str]:
    """Metrics of these profiles that would share one Prometheus family (each family has one owner)."""
    owners: dict[str, str] = {}
    problems = []
    for profile in profiles:
        for f in profile.fields():
            family = family_name(f.metric, f.type)
            where = f"{profile.name}.{f.metric}"
            if family in owners:
                problems.append(f"{where} and {owners[family]} are both exported as {family}")
            else:
                owners[family] = where
    return problems


# ---------------------------------------------------------------------------------------------- polling


@dataclass(frozen=True, slots=True)
class Sample:
    """One metric value a profile produced."""

    profile: str
    metric: str
    type: str
    labels: Mapping[str, str]
    value: float


def _number(value: Value) -> float | None:
    if isinstance(value, int):
        return float(value)
    if isinstance(value, bytes):
        try:
            return float(value.decode("ascii").strip().strip('"'))
        except ValueError:
            return None
    return None


def _text(value: Value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def evaluate(
    profile: Profile,
    scalars: Mapping[str, tuple[Tag, Value]],
    table: Mapping[str, Mapping[tuple[int, ...], Value]],
) -> list[Sample]:
    """Pure: samples from GET answers (oid -> (tag, value)) and walked columns (oid -> {index: value})."""
    out: list[Sample] = []
    for f in profile.scalars:
        tag, value = scalars.get(f.oid, (Tag.NO_SUCH_OBJECT, None))
        number = None if tag in _MISSING else _number(value)
        if number is not None:
            out.append(Sample(profile.name, f.metric, f.type, {}, number * f.scale))
    if profile.table is not None:
        spec = profile.table
        for f in spec.columns:
            for index, value in sorted(table.get(f.oid, {}).items()):
                number = _number(value)
                if number is None:
                    continue
                labels = {spec.index_label: ".".join(map(str, index))}
                for label, oid in spec.labels.items():
                    labels[label] = _text(table.get(oid, {}).get(index))
                out.append(Sample(profile.name, f.metric, f.type, labels, number * f.scale))
    return out


async def poll_profile(
    engine: SnmpEngine, target: Target, profile: Profile, *, deadline: float | None = None
) -> list[Sample]:
    """One GET for the scalars, one walk_table for the table columns and labels."""
    scalars: dict[str, tuple[Tag, Value]] = {}
    if profile.scalars:
        oids = [f.oid for f in profile.scalars]
        varbinds = await engine.get(target, oids, deadline=deadline)
        scalars = {oid: (vb.tag, vb.value) for oid, vb in zip(oids, varbinds, strict=True)}
    table: dict[str, dict[tuple[int, ...], Value]] = {}
    if profile.table is not None:
        columns = [f.oid for f in profile.table.columns] + list(profile.table.labels.values())
        table = await engine.walk_table(target, list(dict.fromkeys(columns)), deadline=deadline)
    return evaluate(profile, scalars, table)
