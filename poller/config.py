"""The one settings object: a TOML file + ``FASTPOLL_*`` environment variables + LibreNMS's ``.env``.

Precedence, highest first: environment (``FASTPOLL_SECTION__KEY``), the TOML file, LibreNMS's ``.env``
(database credentials only, when ``database.librenms_env`` is set), the defaults below. Every section forbids
unknown keys, and any problem is raised as one :class:`FastpollConfigError` whose message names each bad key
and what is allowed, never a secret value.

Secrets are ``SecretStr`` and may instead come from a file (``<name>_file``, e.g. ``password_file``), which
keeps them out of the TOML file and the environment. ``docs/configuration.md`` is generated from these models
(``python -m poller.config > docs/configuration.md``) and a test keeps the two equal.

``load_config`` reads only the files it is given and the ``env`` mapping passed in, never ``os.environ``.
"""

from __future__ import annotations

import inspect
import json
import re
import stat
import sys
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic import model_validator as _model_validator
from pydantic._internal._utils import deep_update
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError
from pydantic_settings.sources import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from poller.checks.intervals import CHECKS
from poller.model import Device

if typing.TYPE_CHECKING:
    from poller.checks.profiles import Profile

ENV_PREFIX = "FASTPOLL_"
ENV_NESTED = "__"
CONFIG_PATH_VAR = "FASTPOLL_CONFIG"

# LibreNMS .env variable -> database.<key>
LIBRENMS_ENV_KEYS: dict[str, str] = {
    "DB_HOST": "host",
    "DB_PORT": "port",
    "DB_DATABASE": "name",
    "DB_USERNAME": "username",
    "DB_PASSWORD": "password",
    "DB_SOCKET": "socket",
}

Seconds = Annotated[float, Field(gt=0)]
Interval = Annotated[float, Field(ge=1, le=86400)]


class FastpollConfigError(Exception):
    """The configuration cannot be used. The message is meant for the operator and holds no secret."""


class _Section(BaseModel):
    """Base of every section: unknown keys are errors, values are immutable, ``x_file`` fills secret ``x``."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @_model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in _secret_fields(cls):
            file_key = f"{name}_file"
            path = data.get(file_key)
            if path is None or path == "":
                continue
            if data.get(name) not in (None, ""):
                raise ValueError(f"set either {name} or {file_key}, not both")
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                # The path is not secret; the contents never reach this message.
                raise ValueError(f"cannot read {file_key} {str(path)!r}: {exc.__class__.__name__}") from None
            data[name] = text.rstrip("\r\n")
        return data


def _secret_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, f in model.model_fields.items() if _mentions(f.annotation, SecretStr)]


def _mentions(annotation: Any, kind: type) -> bool:
    if annotation is kind:
        return True
    return any(_mentions(arg, kind) for arg in typing.get_args(annotation))


def _both_or_neither(model: BaseModel, a: str, b: str) -> None:
    if (getattr(model, a) is None) != (getattr(model, b) is None):
        raise ValueError(f"{a} and {b} go together: set both or neither")


class DatabaseSettings(_Section):
    """Where LibreNMS's database is and how fastpoll writes to it."""

    url: SecretStr | None = Field(
        None,
        description="Full SQLAlchemy URL (e.g. `mysql+pymysql://librenms:pw@db/librenms`); wins over every "
        "other connection key. Treated as a secret because it may hold a password.",
    )
    librenms_env: Path | None = Field(
        None,
        description="LibreNMS's `.env` (e.g. `/opt/librenms/.env`): DB_HOST, DB_PORT, DB_DATABASE, "
        "DB_USERNAME, DB_PASSWORD, DB_SOCKET fill the connection keys not set here.",
    )
    host: str = Field("localhost", description="MariaDB/MySQL host.")
    port: int = Field(3306, ge=1, le=65535, description="MariaDB/MySQL TCP port.")
    name: str = Field("librenms", min_length=1, description="Database name.")
    username: str = Field("librenms", min_length=1, description="Database user.")
    password: SecretStr | None = Field(None, description="Database password.")
    password_file: Path | None = Field(None, description="File holding the database password.")
    socket: Path | None = Field(None, description="Unix socket; used instead of host/port when set.")
    sqlite_path: Path | None = Field(
        None, description="Embedded SQLite database (demo mode) instead of MariaDB; excludes `url`."
    )
    write_set: Literal["full", "status"] = Field(
        "full",
        description="`full`: device status, timings, uptime and ports rows; `status`: device status/timings "
        "only (when LibreNMS's own poller still polls ports).",
    )
    batch_size: int = Field(500, ge=1, le=100_000, description="Rows per write batch.")
    queue_bound: int = Field(
        10_000, ge=1, description="Poll results waiting for the writer before polls wait (back-pressure)."
    )
    writer_process: bool = Field(
        False,
        description="Write batches from a process of its own instead of a thread: the SQL's Python work "
        "no longer takes the event loop's GIL (for thousands of devices on few cores: lag p99 0.5-1.2 s "
        "instead of 2.9-4 s at 10,000 devices on 2 cores), for ~40 MB of memory of its own and ~0.1 core "
        "more. Same batching, retries and guarantees; a writer process that dies is replaced.",
    )

    @_model_validator(mode="after")
    def _one_target(self) -> DatabaseSettings:
        if self.url is not None and self.sqlite_path is not None:
            raise ValueError("set either url or sqlite_path, not both")
        return self


class PollingSettings(_Section):
    """How often and how gently devices are polled."""

    default_interval: Interval = Field(30.0, description="Seconds between polls of a device.")
    group_intervals: dict[int, Interval] = Field(
        default_factory=dict, description="Interval per LibreNMS poller group: `{ 1 = 10.0 }`."
    )
    device_intervals: dict[int, Interval] = Field(
        default_factory=dict, description="Interval per device_id; wins over the group and inventory value."
    )
    check_intervals: dict[str, Annotated[float, Field(gt=0, le=86400)]] = Field(
        default_factory=dict,
        description="Seconds between runs of a check on a device, per check (`sensors`, `processors`, "
        "`mempools`, `bgp`, `profiles` for every enabled profile of `[profiles]`, and `port_details` for the "
        "ports' descriptive columns): `{ bgp = 15, sensors = 30, processors = 60, profiles = 60 }`. A check "
        "runs on a device poll once at least its interval passed since it last ran there; unset = every "
        "poll, except `port_details`: 300 (LibreNMS's own poller cadence; status and counters are walked "
        "every poll, ifName/ifDescr/ifAlias/ifType/ifMtu/ifPhysAddress/duplex/VLAN at this interval). A "
        "check's first run on a device counts as made a fixed share of its interval earlier, so a fleet "
        "started at once spreads each check over the interval rather than running it everywhere at once.",
    )
    down_after: int = Field(3, ge=1, le=100, description="Consecutive failed polls before a device is down.")
    freeze_ports: bool = Field(
        True,
        description="Keep each device's ports compressed between polls (~120 bytes a port instead of ~700 "
        "as Python objects: 264-308 instead of 548-574 MB RSS at 10,000 devices x 48 ports) at ~0.15-0.3 ms "
        "of CPU per device-poll on the event loop and a thaw per device at scrape time: at 10,000 devices "
        "the whole pipeline took 1-8% more CPU frozen. `false` keeps them as objects, for a box short of "
        "CPU with memory to spare.",
    )
    max_polls_in_flight: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        description="Polls running at once, not counting polls of devices whose last poll failed, nor a "
        "poll once one of its requests has timed out (they wait on timeouts, not on the CPU, and show "
        "the devices coming back: an outage never fills the limit); 0 = no limit; unset = the "
        "devices' polls per second x 1.5 s, at least 100 (250 for 10,000 devices every 60 s). A poll due "
        "while the limit is reached waits, first come first served, for one to end (its schedule lag "
        "counts the wait). The limit bounds the polls that pile up on an event loop short of CPU (the "
        "first cycle after a start, which walks every column, or a slow machine), each holding its walk's "
        "answers: at 10,000 devices x 48 ports on 2 cores, in three pairs of runs where the first cycle "
        "ran late, 250 held 267-284 MB RSS against 292-368 MB with 834-1,000. Raise it for devices whose "
        "polls take longer than 1.5 s on average (round trips over ~250 ms): fastpoll logs a warning when "
        "polls wait while the event loop is on time. fastpoll_scheduler_max_polls_in_flight shows the "
        "limit, _polls_waiting the polls waiting.",
    )
    max_port_walks: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Port walks (the IF-MIB part of a poll) running at once; 0 = no limit. A poll past its "
        "first GET waits for a slot, within its deadline. Bounds the memory of the first poll cycle after a "
        "start, which walks every column and at thousands of devices runs late with hundreds of walks in "
        "flight: at 10,000 devices x 48 ports, two runs with 64 kept 245-265 and 264-292 MB RSS against "
        "270-308 without a limit. A device that answers slowly holds its slot for its whole walk, so the "
        "limit must stay above the walks of slow devices at once (walks a second x seconds a walk).",
    )
    max_port_walks_when_late: int = Field(
        0,
        ge=0,
        le=100_000,
        description="The floor of a bound on the port walks at once that follows the event loop's "
        "lateness: halved, down to this, at each wake-up of a probe timer 0.1 s late or more; raised while "
        "the loop is on time, up to twice the walks running plus this. 0 = no such bound (the default). "
        "Experimental: with 64 it kept the first cycle's memory down at 10,000 devices (259 instead of 295 "
        "MB), but every run where it engaged then stayed behind where the same run without it caught up "
        "(docs/benchmarks.md, 2026-12-07 03:28). fastpoll_event_loop_lag_seconds shows the lateness.",
    )
    snmp_timeout: float = Field(1.0, gt=0, le=60, description="Seconds per SNMP request attempt.")
    snmp_retries: int = Field(2, ge=0, le=10, description="Extra attempts after the first.")
    max_in_flight_per_device: int = Field(
        1, ge=1, le=64, description="Concurrent SNMP requests to one device (protects device CPUs)."
    )
    rate_limit: float = Field(0.0, ge=0, description="Global SNMP requests per second; 0 = unlimited.")
    poller_groups: list[int] | None = Field(
        None,
        description='LibreNMS poller groups this instance serves (`[0, 2]` or `"0,2"`); unset = every group.',
    )
    community: SecretStr | None = Field(None, description="SNMP community for devices that have none.")
    community_file: Path | None = Field(None, description="File holding that community.")

    @field_validator("poller_groups", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # LibreNMS's distributed_poller_group is written "0,2"; accept the same here.
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("check_intervals")
    @classmethod
    def _known_checks(cls, value: dict[str, float]) -> dict[str, float]:
        known = (*CHECKS, PROFILES_CHECK, PORT_DETAILS_CHECK)
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(
                f"unknown check {', '.join(repr(u) for u in unknown)}; known checks: {', '.join(known)}"
            )
        return value

    def interval_for(self, device: Device) -> float:
        """Seconds between polls of ``device``: per-device setting > inventory > poller group > default."""
        if device.device_id in self.device_intervals:
            return self.device_intervals[device.device_id]
        if device.interval is not None:
            return device.interval
        return self.group_intervals.get(device.poller_group, self.default_interval)

    @property
    def port_details_interval(self) -> float:
        """Seconds between walks of the ports' descriptive columns (``check_intervals.port_details``)."""
        return self.check_intervals.get(PORT_DETAILS_CHECK, PORT_DETAILS_INTERVAL)

    def shortest_interval(self) -> float:
        return min([self.default_interval, *self.group_intervals.values(), *self.device_intervals.values()])


PROFILES_CHECK = "profiles"  # poller.checks.profiles.CHECK_NAME (not imported: loading profiles is lazy)
PORT_DETAILS_CHECK = "port_details"
PORT_DETAILS_INTERVAL = 300.0  # LibreNMS's poller reads these columns every 5 minutes


# Whether ProfileSettings reads the profiles it names (see load_config's load_profiles): a context variable
# because pydantic-settings builds the nested sections itself, with no argument of ours in between.
_LOAD_PROFILES: ContextVar[bool] = ContextVar("fastpoll_load_profiles", default=True)


class ProfileSettings(_Section):
    """Declarative check profiles: YAML files naming OIDs (numeric or `MODULE::name`) that no built-in check
    reads, polled after each successful device poll and exported on /metrics as `fastpoll_profile_<metric>`
    (counters `..._total`) with labels `device_id`, `hostname` and the profile's own. The format is described
    in `poller/checks/profiles.py`; a directory may hold its own `mib-index.json` (your MIBs compiled with
    `python -m mibs.build_index`). A profile that does not load stops start-up with file, line and field.
    Paced by `polling.check_intervals.profiles`."""

    paths: list[Path] | None = Field(
        None,
        description="Profile files and directories of `*.yaml`; unset = the shipped `mibs/profiles/` "
        "(e.g. `ucd_load`: load averages and process count). Names are unique across them.",
    )
    enabled: list[str] = Field(
        default_factory=list,
        description='Profiles that run, by name: `["ucd_load", "ups"]`; empty = none (each costs SNMP '
        "requests on every device it applies to: all devices, or those whose LibreNMS `os` its `os:` lists).",
    )
    series_budget: int = Field(
        100_000,
        ge=1,
        description="Most profile series exported (apart from `metrics.series_budget`); beyond it whole "
        "devices are left out, in device_id order, and counted.",
    )

    _profiles: tuple[Profile, ...] = PrivateAttr(default=())

    @_model_validator(mode="after")
    def _load(self) -> ProfileSettings:
        if self.paths is None and not self.enabled:
            return self  # nothing asked for: the shipped directory is not even read
        if not _LOAD_PROFILES.get():
            return self  # load_config(..., load_profiles=False): paths and enabled as given, nothing loaded
        from poller.checks.profiles import PROFILE_DIR, ProfileError, family_conflicts, load_profiles

        try:
            paths = self.paths if self.paths is not None else [PROFILE_DIR]
            loaded = {p.name: p for p in load_profiles(paths)}
        except ProfileError as exc:
            raise ValueError(str(exc)) from None
        unknown = [name for name in self.enabled if name not in loaded]
        if unknown:
            raise ValueError(
                f"enabled: unknown profile {', '.join(repr(u) for u in unknown)} "
                f"(loaded: {', '.join(sorted(loaded)) or 'none'})"
            )
        chosen = tuple(loaded[name] for name in dict.fromkeys(self.enabled))
        conflicts = family_conflicts(chosen)
        if conflicts:
            raise ValueError("; ".join(conflicts))
        self._profiles = chosen
        return self

    @property
    def profiles(self) -> tuple[Profile, ...]:
        """The enabled profiles, loaded and validated."""
        return self._profiles


class MetricFamilies(_Section):
    """Prometheus metric families, each on or off. Costs are series per device or per exported port: at
    10,000 devices x 48 ports every series per port is 480,000 samples a scrape, so the defaults are lean."""

    device: bool = Field(
        True, description="Device up, uptime, last poll, poll duration, failures (6/device)."
    )
    ports: bool = Field(True, description="Port octets and unicast packets in/out (4/port).")
    port_errors: bool = Field(False, description="Port errors and discards in/out (4/port).")
    port_status: bool = Field(True, description="Port admin/oper status and speed (3/port).")
    poller: bool = Field(True, description="fastpoll's own health: schedule lag, overruns, SNMP timeouts.")


class PortSelection(_Section):
    """Which ports get Prometheus series (the database always gets every port)."""

    include_types: list[str] = Field(default_factory=list, description="ifType names to keep; empty = all.")
    exclude_types: list[str] = Field(
        default_factory=lambda: ["softwareLoopback"], description="ifTypes to drop."
    )
    include_names: re.Pattern[str] | None = Field(None, description="Regex on ifName; only matches are kept.")
    exclude_names: re.Pattern[str] | None = Field(None, description="Regex on ifName; matches are dropped.")
    admin_status: Literal["any", "up"] = Field("any", description="`up`: skip administratively down ports.")
    ifalias_label: bool = Field(True, description="Add ifAlias as a label (more series churn when edited).")

    def admits(self, if_type: str | None, if_name: str | None, admin_status: str | None) -> bool:
        """Whether a port with these LibreNMS ``ports`` values gets series."""
        if self.include_types and if_type not in self.include_types:
            return False
        if if_type in self.exclude_types:
            return False
        name = if_name or ""
        if self.include_names is not None and not self.include_names.search(name):
            return False
        if self.exclude_names is not None and self.exclude_names.search(name):
            return False
        return not (self.admin_status == "up" and admin_status != "up")


class MetricsSettings(_Section):
    """The Prometheus endpoint."""

    listen: str = Field("127.0.0.1:9877", description="`host:port` (IPv6 as `[::1]:9877`).")
    tls_cert: Path | None = Field(None, description="PEM certificate; with `tls_key` serves HTTPS.")
    tls_key: Path | None = Field(None, description="PEM private key.")
    basic_auth_user: str | None = Field(None, description="HTTP basic-auth user; with the password.")
    basic_auth_password: SecretStr | None = Field(None, description="HTTP basic-auth password.")
    basic_auth_password_file: Path | None = Field(None, description="File holding that password.")
    series_budget: int = Field(
        1_000_000, ge=1, description="Most series exported; beyond it port series are dropped and counted."
    )
    cache_port_text: bool = Field(
        True,
        description="Keep each exported device's interface lines, compressed, between its polls: a scrape "
        "renders only the devices polled since the last one and a gzip scrape sends the kept lines as they "
        "are (28 MB kept at 10,000 devices x 48 ports under the default budget; 174 MB of text). Off: every "
        "scrape renders them again, ~1 s of CPU per scrape at that size.",
    )
    families: MetricFamilies = Field(default_factory=MetricFamilies)
    ports: PortSelection = Field(default_factory=PortSelection)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _split_listen(value)
        return value

    @_model_validator(mode="after")
    def _pairs(self) -> MetricsSettings:
        _both_or_neither(self, "tls_cert", "tls_key")
        _both_or_neither(self, "basic_auth_user", "basic_auth_password")
        return self

    @property
    def host(self) -> str:
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_listen(self.listen)[1]


def _split_listen(value: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[(?P<v6>[0-9A-Fa-f:.]+)\]:(?P<p1>\d+)|(?P<host>[^:\[\]]+):(?P<p2>\d+)", value)
    port = int(match.group("p1") or match.group("p2")) if match else 0
    if not match or not 1 <= port <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:9877 or [::1]:9877")
    return match.group("v6") or match.group("host"), port


class PayloadSettings(_Section):
    """The Payload CMS that holds the NOC's crisis events."""

    url: AnyHttpUrl | None = Field(None, description="Base URL of Payload; unset = no sync.")
    api_key: SecretStr | None = Field(None, description="Payload API key.")
    api_key_file: Path | None = Field(None, description="File holding the API key.")
    sync_interval: float = Field(300.0, ge=10, description="Seconds between syncs.")
    crisis_events: bool = Field(False, description="Raise crisis events when uplink ports go down.")
    uplink_pattern: re.Pattern[str] = Field(
        re.compile(r"(?i)\b(uplink|upstream|transit)\b"), description="Regex on ifAlias marking uplink ports."
    )


class LibrenmsApiSettings(_Section):
    """LibreNMS's REST API (used by sync)."""

    url: AnyHttpUrl | None = Field(None, description="Base URL, e.g. `https://librenms.example.net`.")
    token: SecretStr | None = Field(None, description="API token (X-Auth-Token).")
    token_file: Path | None = Field(None, description="File holding the API token.")


class ApiSettings(_Section):
    """The live JSON API and the LibreNMS alert relay (served only when a token or relay secret is set)."""

    listen: str = Field("127.0.0.1:9878", description="`host:port` of the API and relay.")
    token: SecretStr | None = Field(None, description="Bearer token of the read-only JSON API.")
    token_file: Path | None = Field(None, description="File holding that token.")
    relay_secret: SecretStr | None = Field(
        None, description="Shared secret of `POST /hooks/librenms` (bearer, or basic-auth password)."
    )
    relay_secret_file: Path | None = Field(None, description="File holding that secret.")
    queue_path: Path = Field(
        Path("/var/lib/fastpoll/alert-queue.sqlite3"),
        description="Durable queue of accepted alerts (SQLite); keep it on persistent storage.",
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _split_listen(value)
        return value


class ClusterSettings(_Section):
    """Scale-out over several instances (needs Redis)."""

    redis_url: SecretStr | None = Field(
        None, description="`redis://host:6379/0`; unset = a single instance that polls all its groups."
    )
    instance_name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Unique name of this instance; unset = the host name. Keep it across restarts.",
    )
    lease_ttl: float = Field(
        10.0, ge=1, description="Seconds a silent instance keeps its devices; its peers take over after this."
    )
    key_prefix: str = Field(
        "fastpoll", pattern=r"^[A-Za-z0-9_.:-]+$", description="Prefix of every Redis key."
    )

    @field_validator("key_prefix")
    @classmethod
    def _not_librenms(cls, value: str) -> str:
        if value.lower().startswith("librenms"):
            raise ValueError("must not start with 'librenms' (LibreNMS's own lock and queue keys)")
        return value


class LoggingSettings(_Section):
    """Log output."""

    format: Literal["text", "json"] = Field(
        "text", description="`text` for people, `json` (one object a line)."
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Least level."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Config(BaseSettings):
    """Everything fastpoll can be told. Build it with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED,
        case_sensitive=False,
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    polling: PollingSettings = Field(default_factory=PollingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    payload: PayloadSettings = Field(default_factory=PayloadSettings)
    librenms_api: LibrenmsApiSettings = Field(default_factory=LibrenmsApiSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    profiles: ProfileSettings = Field(default_factory=ProfileSettings)

    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_config gathers the file and the passed-in environment itself; the process environment is
        # never read behind its back.
        return (init_settings,)

    @_model_validator(mode="after")
    def _takeover_within_one_interval(self) -> Config:
        # A dead instance is noticed after lease_ttl plus one heartbeat (lease_ttl / 3).
        if self.cluster.redis_url is not None:
            shortest = self.polling.shortest_interval()
            if self.cluster.lease_ttl * 4 / 3 > shortest:
                raise ValueError(
                    f"cluster.lease_ttl must be at most {shortest * 3 / 4:g} s (3/4 of the shortest polling "
                    "interval) so a dead instance's devices are taken over within one interval"
                )
        return self

    def secrets(self) -> tuple[str, ...]:
        """Every secret value held (for the log redaction filter)."""
        found: list[str] = []
        for section in _sections(self):
            for name in _secret_fields(type(section)):
                value: SecretStr | None = getattr(section, name)
                if value is None or not value.get_secret_value():
                    continue
                found.append(value.get_secret_value())
                if name.endswith("url"):  # the password inside a URL, also on its own
                    password = _url_password(value.get_secret_value())
                    if password:
                        found.append(password)
        return tuple(dict.fromkeys(found))

    @property
    def warnings(self) -> tuple[str, ...]:
        """Problems worth a log line that do not stop start-up (log them once logging is set up)."""
        return self._warnings


def _sections(model: BaseModel) -> Iterator[BaseModel]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield value
            yield from _sections(value)


def _url_password(url: str) -> str | None:
    try:
        return make_url(url).password  # type: ignore[return-value]
    except ArgumentError:
        match = re.match(r"^[a-z0-9+]+://[^:/@]*:([^@/]*)@", url, re.I)
        return match.group(1) if match else None


# --------------------------------------------------------------------------------------------------- loading


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def load_config(path: Path | None, env: Mapping[str, str], *, load_profiles: bool = True) -> Config:
    """Build the settings from ``env`` and the TOML file at ``path`` (else ``env["FASTPOLL_CONFIG"]``).

    Raises FastpollConfigError with every problem found, each naming its key and where it came from.
    ``load_profiles=False`` leaves ``[profiles]`` as written (paths, enabled) without reading any profile:
    ``fastpoll validate`` reports the profiles itself, one file at a time.
    """
    if path is None and env.get(CONFIG_PATH_VAR):
        path = Path(env[CONFIG_PATH_VAR])
    warnings: list[str] = []
    origins: dict[tuple[str, ...], str] = {}
    problems = _unknown_env_sections(env)

    file_data: dict[str, Any] = {}
    if path is not None:
        file_data = _read_toml(path)
        origins.update({key: str(path) for key in _paths(file_data)})
        warnings += _exposed_secrets_warning(path, file_data)

    try:
        env_data = dict(_MappingEnvSource(Config, {k: v for k, v in env.items() if k != CONFIG_PATH_VAR})())
    except SettingsError:
        raise FastpollConfigError(_problem_text(_unparsable_env(env))) from None
    for name in env:
        if name.upper().startswith(ENV_PREFIX) and name.upper() != CONFIG_PATH_VAR:
            key = tuple(name[len(ENV_PREFIX) :].lower().split(ENV_NESTED))
            origins[key] = f"environment variable {name}"

    merged = deep_update(file_data, env_data)
    merged = _with_librenms_env(merged, origins)
    if problems:
        raise FastpollConfigError(_problem_text(problems))
    token = _LOAD_PROFILES.set(load_profiles)
    try:
        config = Config(**merged)
    except ValidationError as exc:
        raise FastpollConfigError(_problem_text(_describe(exc, origins))) from None
    finally:
        _LOAD_PROFILES.reset(token)
    for section in _sections(config):
        for name in _secret_fields(type(section)):
            secret_file = getattr(section, f"{name}_file", None)
            if secret_file is not None and _group_or_other_readable(secret_file):
                warnings.append(f"secret file {secret_file} is readable by group/others; chmod 600 it")
    config._warnings = tuple(warnings)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise FastpollConfigError(f"configuration file {path} does not exist") from None
    except OSError as exc:
        raise FastpollConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message gives line and column, not the offending text.
        raise FastpollConfigError(f"{path} is not valid TOML: {exc}") from None


def _with_librenms_env(data: dict[str, Any], origins: dict[tuple[str, ...], str]) -> dict[str, Any]:
    """Fill database connection keys not set elsewhere from LibreNMS's .env."""
    database = data.get("database")
    if not isinstance(database, dict) or not database.get("librenms_env"):
        return data
    env_path = Path(database["librenms_env"])
    if not env_path.is_file():
        raise FastpollConfigError(f"database.librenms_env: {env_path} is not a readable file")
    try:
        values = dotenv_values(env_path)
    except (OSError, UnicodeDecodeError) as exc:
        raise FastpollConfigError(f"database.librenms_env: cannot read {env_path}: {exc}") from None
    filled = dict(database)
    for variable, key in LIBRENMS_ENV_KEYS.items():
        value = values.get(variable)
        explicit = key in filled or (key == "password" and filled.get("password_file"))
        if value in (None, "") or explicit:
            continue
        filled[key] = value
        origins[("database", key)] = f"{env_path} ({variable})"
    return {**data, "database": filled}


# Variables read by single commands, not settings of the daemon: `fastpoll get/walk` (SNMP secrets),
# `fastpoll sync` (Payload and LibreNMS API). One environment file may hold them beside the settings.
COMMAND_VARIABLES = frozenset(
    {
        "FASTPOLL_COMMUNITY",
        "FASTPOLL_AUTH_PASSWORD",
        "FASTPOLL_PRIV_PASSWORD",
        "FASTPOLL_DB_URL",
        "FASTPOLL_PAYLOAD_URL",
        "FASTPOLL_PAYLOAD_API_KEY",
        "FASTPOLL_PAYLOAD_API_KEY_FILE",
        "FASTPOLL_LIBRENMS_API_TOKEN",
        "FASTPOLL_LIBRENMS_API_TOKEN_FILE",
    }
)


def _unknown_env_sections(env: Mapping[str, str]) -> list[str]:
    """FASTPOLL_* variables that name no section (pydantic-settings would silently ignore them)."""
    sections = set(Config.model_fields)
    problems = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_PATH_VAR or upper in COMMAND_VARIABLES:
            continue
        section = upper[len(ENV_PREFIX) :].split(ENV_NESTED)[0].lower()
        if section not in sections:
            problems.append(
                f"{name}: unknown setting; variables are {ENV_PREFIX}<SECTION>{ENV_NESTED}<KEY> with SECTION "
                f"one of {', '.join(s.upper() for s in sections)} (or {CONFIG_PATH_VAR})"
            )
    return problems


def _paths(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in data.items():
        here = (*prefix, str(key))
        yield here
        if isinstance(value, Mapping):
            yield from _paths(value, here)


def _describe(exc: ValidationError, origins: Mapping[tuple[str, ...], str]) -> list[str]:
    problems = []
    secret_paths = set(_secret_paths(Config))
    for error in exc.errors(include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        key = ".".join(loc)
        origin = next((origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins), None)
        where = f" (from {origin})" if origin else ""
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(loc[:-1])) or "none"
            problems.append(f"{key}{where}: unknown setting; allowed here: {allowed}")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if not loc:  # a check across sections; its message names the keys
            problems.append(message)
            continue
        value = error.get("input")
        secret = any(loc[: len(p)] == p for p in secret_paths)
        if not secret and isinstance(value, str | int | float | bool) and error["type"] != "missing":
            message += f" (got {value!r})"
        problems.append(f"{key}{where}: {message}")
    return problems


def _secret_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        if _mentions(field.annotation, SecretStr):
            yield (*prefix, name)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _secret_paths(field.annotation, (*prefix, name))


def _allowed_keys(loc: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _problem_text(problems: list[str]) -> str:
    if len(problems) == 1:
        return f"invalid configuration: {problems[0]}"
    return "invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems)


def _unparsable_env(env: Mapping[str, str]) -> list[str]:
    """The FASTPOLL_* variables holding a list or table that is not JSON (the values are not repeated)."""
    bad = []
    for name, value in sorted(env.items()):
        if not name.upper().startswith(ENV_PREFIX) or not value.lstrip().startswith(("[", "{")):
            continue
        try:
            json.loads(value)
        except ValueError:
            bad.append(
                f'{name}: not valid JSON (lists and tables are written as JSON, e.g. [0, 2] or {{"1": 10}})'
            )
    return bad or [f"a {ENV_PREFIX}* variable holding a list or table is not valid JSON"]


def _exposed_secrets_warning(path: Path, data: Mapping[str, Any]) -> list[str]:
    held = [".".join(p) for p in _secret_paths(Config) if _lookup(data, p) not in (None, "")]
    if held and _group_or_other_readable(path):
        return [f"{path} holds secrets ({', '.join(held)}) and is readable by group/others; chmod 600 it"]
    return []


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _group_or_other_readable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


# ---------------------------------------------------------------------------------------- database URL


def database_url(database: DatabaseSettings) -> URL:
    """The SQLAlchemy URL for ``database``. ``str()`` of it shows the password as ``***``.

    Hand the URL object itself to ``create_engine``; render it with ``hide_password=False`` nowhere else.
    """
    if database.url is not None:
        try:
            return make_url(database.url.get_secret_value())
        except ArgumentError:
            raise FastpollConfigError("database.url: not a valid SQLAlchemy URL") from None
    if database.sqlite_path is not None:
        return URL.create("sqlite", database=str(database.sqlite_path))
    query = {"charset": "utf8mb4"}
    if database.socket is not None:
        query["unix_socket"] = str(database.socket)
    return URL.create(
        "mysql+pymysql",
        username=database.username,
        password=database.password.get_secret_value() if database.password else None,
        host=database.host,
        port=database.port,
        database=database.name,
        query=query,
    )


# ----------------------------------------------------------------------------------------- documentation

_DOC_HEAD = """\
# fastpoll configuration

<!-- Generated by `python -m poller.config > docs/configuration.md`; tests/test_config.py checks it. -->

fastpoll reads one TOML file (`fastpoll --config PATH`, or the path in `FASTPOLL_CONFIG`) and environment
variables `FASTPOLL_<SECTION>__<KEY>` (e.g. `FASTPOLL_POLLING__DEFAULT_INTERVAL=60`; lists and tables as JSON,
e.g. `FASTPOLL_POLLING__GROUP_INTERVALS='{"1": 10}'`). Precedence: environment > file > LibreNMS `.env`
(database keys only, when `database.librenms_env` is set) > the defaults below. Unknown keys are errors.

Secrets (marked *secret*) are never logged or shown in error messages. Each can instead be read from a file
named by the key with `_file` appended (trailing newline stripped); a config file that holds secrets itself
and is readable by group/others, or such a secret file, gives a warning at start-up.

```toml
[database]
librenms_env = "/opt/librenms/.env"

[polling]
default_interval = 30
poller_groups = [0]
check_intervals = { bgp = 15, sensors = 30, processors = 60, mempools = 60, profiles = 60 }

[cluster]
redis_url = "redis://127.0.0.1:6379/0"
instance_name = "poller-a"

[profiles]
enabled = ["ucd_load"]   # shipped; your own: paths = ["/etc/fastpoll/profiles"] (*.yaml, mib-index.json)
```
"""


def render_reference() -> str:
    """docs/configuration.md, from the models: one table per section."""
    parts = [_DOC_HEAD]
    for name, field in Config.model_fields.items():
        parts += _render_section((name,), field.annotation)  # type: ignore[arg-type]
    return "\n".join(parts)


def _render_section(path: tuple[str, ...], model: type[BaseModel]) -> list[str]:
    lines = [f"\n## [{'.'.join(path)}]\n", inspect.cleandoc(model.__doc__ or ""), ""]
    lines += ["| key | type | default | environment variable | meaning |", "|---|---|---|---|---|"]
    nested: list[str] = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            nested += _render_section((*path, name), field.annotation)
            continue
        env = ENV_PREFIX + ENV_NESTED.join((*path, name)).upper()
        default = field.get_default(call_default_factory=True)
        lines.append(
            f"| `{name}` | {_type_name(field.annotation)} | {_default_text(default)} | `{env}` | "
            f"{(field.description or '').replace('|', '&#124;')} |"
        )
    return lines + nested


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        text = " or ".join(_type_name(a) for a in inner)
        return f"{text} (optional)" if len(inner) < len(args) else text
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " &#124; ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"table {_type_name(args[0])} → {_type_name(args[1])}"
    if origin is re.Pattern:
        return "regex"
    names = {
        SecretStr: "*secret*",
        Path: "path",
        AnyHttpUrl: "URL",
        str: "string",
        int: "integer",
        float: "number",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, re.Pattern):
        return f"`{value.pattern}`".replace("|", "&#124;")
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value!r}`".replace("'", '"')


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render_reference())
