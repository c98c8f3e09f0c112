"""``fastpoll validate``: is this installation ready to poll? (LibreNMS has ``validate.php``; this is ours.)

Checks, in order, each giving pass / warn / fail / skip with a hint (docs/validate.md explains each failure):

1. ``database``: the configured database answers (wrong password, unknown host, unknown database told apart).
2. ``schema``: every table and column fastpoll reads or writes (``poller.store.tables``) exists.
3. ``privileges``: the database user holds every privilege of deploy/sql/fastpoll-user.sql; more than that
   (root, ALL PRIVILEGES) passes with a warning.
4. ``snmp <device>``: a sample of the pollable devices answers a GET of sysObjectID.0.
5. ``payload``: when configured, Payload accepts the API key.
6. ``profiles`` / ``profile <name>``: the check profiles of ``[profiles]``: each enabled one with its file,
   what it reads and the LibreNMS ``os`` values it applies to; a file that does not load (the loader's
   message, with file, line and field), an enabled name no profile provides, or none enabled (opt-in).

A configuration whose only problem is its profiles is still validated: the other checks run without them and
the profile problems are failed checks (``fastpoll run`` would refuse to start).

The comparisons (needed vs present columns, needed vs granted privileges) are pure functions; the I/O lives in
the ``check_*`` coroutines and functions. No secret reaches the output: messages are built from names, never
values, and every result is passed through :func:`redact` with the configured secrets and the sampled devices'
SNMP credentials as a last guard.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from sqlalchemy import Engine, bindparam, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from poller.config import Config, FastpollConfigError, ProfileSettings, database_url, load_config
from poller.model import Device
from poller.store.tables import INSERT_TABLES, OWNED_COLUMNS, READ_COLUMNS, TABLES

if TYPE_CHECKING:
    from poller.checks.profiles import Profile  # imported when used: loading profiles is lazy, as in config

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
DEFAULT_SAMPLE = 5
PAYLOAD_PROBE_COLLECTION = "network-devices"
ENV_PAYLOAD_URL = "FASTPOLL_PAYLOAD_URL"  # the same variable `fastpoll sync` reads
# Variables of `fastpoll sync` / `fastpoll get` that are not FASTPOLL_<SECTION>__<KEY> settings: load_config
# refuses them as unknown, so they are kept out of what it reads (the Payload ones are used below).
OTHER_COMMAND_VARIABLES = (
    "FASTPOLL_DB_URL",
    ENV_PAYLOAD_URL,
    "FASTPOLL_PAYLOAD_API_KEY",
    "FASTPOLL_PAYLOAD_API_KEY_FILE",
    "FASTPOLL_LIBRENMS_API_TOKEN",
    "FASTPOLL_LIBRENMS_API_TOKEN_FILE",
    "FASTPOLL_COMMUNITY",
    "FASTPOLL_AUTH_PASSWORD",
    "FASTPOLL_PRIV_PASSWORD",
)
# Environment that turns profile loading off (load_settings): no paths means the shipped directory, which is
# not even read while no profile is enabled.
GRANTS_HINT = (
    "apply deploy/sql/fastpoll-user.sql again as an admin (deploy/sql/apply_grants.py, or "
    "`SET @fastpoll_password=...; SOURCE deploy/sql/fastpoll-user.sql;` in LibreNMS's database)"
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    status: Status
    detail: str
    hint: str = ""


# ------------------------------------------------------------------------------------ what fastpoll needs

# Privileges fastpoll needs: {table: {privilege: columns}}. The same rules as deploy/sql/generate_grants.py
# (which writes fastpoll-user.sql); tests/test_validate.py asserts the two plans are equal, so they cannot
# drift. (deploy/ is not an installed package, hence not imported from here.)
_APPEND_ONLY: tuple[str, ...] = ("eventlog",)
_NEVER_UPDATED: dict[str, tuple[str, ...]] = {
    "ports": ("device_id",),
    "device_outages": ("device_id", "going_down"),
}

Plan = dict[str, dict[str, tuple[str, ...]]]


def needed_privileges() -> Plan:
    """{table: {privilege: columns}} fastpoll's database user must hold (what fastpoll-user.sql grants)."""
    plan: Plan = {}
    for name, table in TABLES.items():
        owned = OWNED_COLUMNS.get(name, ())
        privileges: dict[str, tuple[str, ...]] = {"SELECT": READ_COLUMNS[name]}
        if name in INSERT_TABLES:
            privileges["INSERT"] = owned
        if name not in _APPEND_ONLY:
            keep_out = {c.name for c in table.primary_key.columns} | set(_NEVER_UPDATED.get(name, ()))
            privileges["UPDATE"] = tuple(c for c in owned if c not in keep_out)
        plan[name] = {p: cols for p, cols in privileges.items() if cols}
    return plan


def needed_columns() -> dict[str, tuple[str, ...]]:
    """{table: columns} that must exist: every column fastpoll's SQLAlchemy tables name."""
    return dict(READ_COLUMNS)


# ---------------------------------------------------------------------------------- pure comparisons


def missing_columns(
    needed: Mapping[str, Sequence[str]], present: Mapping[str, Iterable[str]]
) -> tuple[list[str], dict[str, list[str]]]:
    """(tables missing entirely, {table: its missing columns}) of ``needed`` against ``present``.

    Column names compare case-insensitively, as MariaDB does.
    """
    present_lower = {t: {c.lower() for c in cols} for t, cols in present.items()}
    tables = [t for t in needed if t not in present_lower]
    columns = {
        t: [c for c in cols if c.lower() not in present_lower[t]]
        for t, cols in needed.items()
        if t in present_lower
    }
    return tables, {t: cols for t, cols in columns.items() if cols}


ALL = "ALL PRIVILEGES"
# Privileges that give nothing on data (USAGE is "no privileges"; the others do not widen table access).
_HARMLESS = {"USAGE"}


@dataclass(frozen=True)
class Grants:
    """What a database user holds that bears on one database (read from information_schema)."""

    global_privileges: frozenset[str] = frozenset()  # ON *.*
    database_privileges: frozenset[str] = frozenset()  # ON `db`.* (patterns matching db included)
    table_privileges: Mapping[str, frozenset[str]] = field(default_factory=dict)  # ON `db`.`table`
    column_privileges: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)  # (table, priv)

    def holds(self, table: str, privilege: str, column: str) -> bool:
        def has(privs: Iterable[str]) -> bool:
            return any(p in (privilege, ALL) for p in privs)

        if has(self.global_privileges) or has(self.database_privileges):
            return True
        if has(self.table_privileges.get(table, ())):
            return True
        return column.lower() in {c.lower() for c in self.column_privileges.get((table, privilege), ())}


@dataclass(frozen=True)
class PrivilegeComparison:
    missing: dict[str, dict[str, list[str]]]  # {table: {privilege: columns}}
    extra: list[str]  # human-readable: "global: ALL PRIVILEGES", "devices: DELETE", "users.password: SELECT"

    @property
    def missing_text(self) -> str:
        parts = []
        for table, privileges in self.missing.items():
            for privilege, columns in privileges.items():
                parts.append(f"{privilege} on " + ", ".join(f"{table}.{c}" for c in columns))
        return "; ".join(parts)


def compare_privileges(needed: Plan, grants: Grants) -> PrivilegeComparison:
    """Which needed privileges are missing, and what is held beyond them."""
    missing: dict[str, dict[str, list[str]]] = {}
    for table, privileges in needed.items():
        for privilege, columns in privileges.items():
            lacking = [c for c in columns if not grants.holds(table, privilege, c)]
            if lacking:
                missing.setdefault(table, {})[privilege] = lacking
    extra: list[str] = []
    global_extra = sorted(grants.global_privileges - _HARMLESS)
    if global_extra:
        extra.append("global (*.*): " + _privilege_list(global_extra))
    db_extra = sorted(grants.database_privileges - _HARMLESS)
    if db_extra:
        extra.append("whole database: " + _privilege_list(db_extra))
    for table, privs in sorted(grants.table_privileges.items()):
        if privs:
            extra.append(f"table {table}: " + _privilege_list(sorted(privs)))
    for (table, privilege), columns in sorted(grants.column_privileges.items()):
        allowed = {c.lower() for c in needed.get(table, {}).get(privilege, ())}
        beyond = sorted(c for c in columns if c.lower() not in allowed)
        if beyond:
            extra.append(f"{privilege} on " + ", ".join(f"{table}.{c}" for c in beyond))
    return PrivilegeComparison(missing, extra)


def _privilege_list(privileges: Sequence[str]) -> str:
    # A root user holds some 30 global privileges; name a few, count the rest.
    if ALL in privileges:
        return ALL
    shown = ", ".join(privileges[:6])
    return shown + (f" (+{len(privileges) - 6} more)" if len(privileges) > 6 else "")


def schema_result(
    needed: Mapping[str, Sequence[str]], present: Mapping[str, Iterable[str]], user: str
) -> CheckResult:
    tables, columns = missing_columns(needed, present)
    if not tables and not columns:
        n = sum(len(c) for c in needed.values())
        return CheckResult("schema", Status.PASS, f"{len(needed)} tables, {n} columns present")
    problems = [f"table {t} missing" for t in tables]
    problems += [f"{t}.{c} missing" for t, cols in columns.items() for c in cols]
    return CheckResult(
        "schema",
        Status.FAIL,
        "; ".join(problems),
        f"run LibreNMS's migrations (`lnms migrate`) so its schema is current; if the objects do exist, the "
        f"database user {user} has no privilege on them (a user sees only what it may use): {GRANTS_HINT}",
    )


def privileges_result(comparison: PrivilegeComparison, user: str) -> CheckResult:
    if comparison.missing:
        return CheckResult(
            "privileges",
            Status.FAIL,
            f"{user} lacks {comparison.missing_text}",
            GRANTS_HINT,
        )
    if comparison.extra:
        return CheckResult(
            "privileges",
            Status.WARN,
            f"{user} holds every privilege fastpoll needs, and more than needed: "
            + "; ".join(comparison.extra),
            "works; for least privilege give fastpoll its own user: deploy/sql/fastpoll-user.sql",
        )
    return CheckResult("privileges", Status.PASS, f"{user} holds exactly the privileges fastpoll needs")


def like_matches(pattern: str, name: str) -> bool:
    """Whether a grant's database pattern (``_`` and ``%`` wildcards, ``\\`` escapes) matches ``name``."""
    regex = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return re.fullmatch(regex, name, re.IGNORECASE) is not None


def grants_from_rows(
    database: str,
    user_rows: Iterable[tuple[str]],
    schema_rows: Iterable[tuple[str, str]],
    table_rows: Iterable[tuple[str, str, str]],
    column_rows: Iterable[tuple[str, str, str, str]],
) -> Grants:
    """Grants from information_schema rows already filtered to the user: USER_PRIVILEGES (privilege),
    SCHEMA_PRIVILEGES (schema, privilege), TABLE_PRIVILEGES (schema, table, privilege),
    COLUMN_PRIVILEGES (schema, table, column, privilege)."""
    tables: dict[str, set[str]] = {}
    columns: dict[tuple[str, str], set[str]] = {}
    for schema, table, privilege in table_rows:
        if schema == database:
            tables.setdefault(table, set()).add(privilege.upper())
    for schema, table, column, privilege in column_rows:
        if schema == database:
            columns.setdefault((table, privilege.upper()), set()).add(column)
    return Grants(
        global_privileges=frozenset(p.upper() for (p,) in user_rows),
        database_privileges=frozenset(p.upper() for s, p in schema_rows if like_matches(s, database)),
        table_privileges={t: frozenset(p) for t, p in tables.items()},
        column_privileges={k: frozenset(v) for k, v in columns.items()},
    )


def redact(results: Sequence[CheckResult], secrets: Iterable[str]) -> list[CheckResult]:
    """The results with every secret value replaced by ``***`` (a last guard; messages hold none)."""
    values = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def clean(text_: str) -> str:
        for value in values:
            text_ = text_.replace(value, "***")
        return text_

    return [replace(r, check=clean(r.check), detail=clean(r.detail), hint=clean(r.hint)) for r in results]


def exit_status(results: Sequence[CheckResult]) -> int:
    return EXIT_FAILED if any(r.status is Status.FAIL for r in results) else EXIT_OK


# ------------------------------------------------------------------------------------------- database


def describe_db_error(exc: BaseException, config: Config) -> CheckResult:
    """A connection failure as an operator reads it: which setting is wrong. Names, never the password."""
    db = config.database
    url = database_url(db)
    orig = getattr(exc, "orig", None) or exc
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    message = str(args[1]) if len(args) > 1 else str(orig)
    where = f"{url.host or db.socket or 'localhost'}:{url.port or 3306}"
    user, name = url.username or "(none)", url.database or "(none)"
    if code in (1045, 1698):  # 1698: access denied to an account that has no password (or no such user)
        return CheckResult(
            "database",
            Status.FAIL,
            f"access denied for user {user} at {where}: wrong user name or password",
            "check database.username and database.password (or password_file / DB_PASSWORD in LibreNMS's "
            ".env); a user created for another host pattern ('user'@'localhost') is refused from elsewhere",
        )
    if code == 1049:
        return CheckResult(
            "database",
            Status.FAIL,
            f"database {name} does not exist on {where}",
            "set database.name (DB_DATABASE in LibreNMS's .env) to LibreNMS's database",
        )
    if code == 1044:
        return CheckResult(
            "database",
            Status.FAIL,
            f"user {user} may not use database {name} on {where}",
            f"grant the user access to {name}: {GRANTS_HINT}",
        )
    if code in (2003, 2005) and re.search(
        r"Name or service not known|nodename nor servname|Temporary failure in name resolution|"
        r"No address associated|getaddrinfo|Unknown (MySQL|MariaDB) server host",
        message,
        re.IGNORECASE,
    ):
        return CheckResult(
            "database",
            Status.FAIL,
            f"unknown host {url.host}: the name does not resolve",
            "check database.host (DB_HOST in LibreNMS's .env)",
        )
    if code in (2002, 2003, 2006, 2013):
        return CheckResult(
            "database",
            Status.FAIL,
            f"cannot connect to {where} (error {code}): nothing answers there",
            "check database.host/port/socket, that MariaDB runs and listens there (bind-address) and that no "
            "firewall is in between",
        )
    return CheckResult(
        "database",
        Status.FAIL,
        f"cannot use {where}/{name} as {user}: "
        + (f"error {code}: {message}" if code else type(orig).__name__),
        "check the [database] settings",
    )


def check_database(engine: Engine, config: Config) -> CheckResult:
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT VERSION()")).scalar_one() if _is_mysql(engine) else "SQLite"
    except (DBAPIError, SQLAlchemyError) as exc:
        return describe_db_error(exc, config)
    url = engine.url
    where = url.database if url.get_backend_name() == "sqlite" else f"{url.database} on {url.host}:{url.port}"
    return CheckResult("database", Status.PASS, f"connected to {where} as {url.username or '-'} ({version})")


def _is_mysql(engine: Engine) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")


def check_schema(engine: Engine) -> CheckResult:
    try:
        present = _present_columns(engine, list(needed_columns()))
    except SQLAlchemyError as exc:
        return CheckResult("schema", Status.FAIL, f"cannot read the schema: {type(exc).__name__}", "")
    return schema_result(needed_columns(), present, _user_label(engine))


def _present_columns(engine: Engine, tables: list[str]) -> dict[str, list[str]]:
    present: dict[str, list[str]] = {}
    if _is_mysql(engine):
        # information_schema, not SQLAlchemy's inspector: that runs SHOW CREATE TABLE, which a user with
        # column-level grants only (fastpoll's least-privilege user) may not run.
        stmt = text(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN :tables"
        ).bindparams(bindparam("tables", expanding=True))
        with engine.connect() as conn:
            for table, column in conn.execute(stmt, {"tables": tables}):
                present.setdefault(str(table), []).append(str(column))
        return present
    inspector = inspect(engine)
    names = set(inspector.get_table_names())
    for table in tables:
        if table in names:
            present[table] = [c["name"] for c in inspector.get_columns(table)]
    return present


def _user_label(engine: Engine) -> str:
    return engine.url.username or "the database user"


def read_grants(engine: Engine) -> tuple[str, Grants]:
    """(account, its grants on the engine's database) from information_schema.

    Those views list the current account's own privileges (and every account's to a user who may read the
    ``mysql`` schema, hence the GRANTEE filter); privileges of the current role count too.
    """
    with engine.connect() as conn:
        account, role, database = conn.execute(
            text("SELECT CURRENT_USER(), CURRENT_ROLE(), DATABASE()")
        ).one()
        user, _, host = str(account).rpartition("@")
        grantees = [f"'{user}'@'{host}'"] + ([f"'{role}'"] if role and role != "NONE" else [])
        params = {"grantees": grantees}

        def rows(sql: str) -> list[Any]:
            stmt = text(sql + " WHERE GRANTEE IN :grantees").bindparams(bindparam("grantees", expanding=True))
            return [tuple(r) for r in conn.execute(stmt, params)]

        grants = grants_from_rows(
            str(database),
            rows("SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES"),
            rows("SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES"),
            rows("SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES"),
            rows(
                "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE "
                "FROM information_schema.COLUMN_PRIVILEGES"
            ),
        )
    return f"{user}@{host}", grants


def check_privileges(engine: Engine) -> CheckResult:
    if not _is_mysql(engine):
        return CheckResult("privileges", Status.SKIP, f"{engine.dialect.name} has no privileges to check")
    try:
        account, grants = read_grants(engine)
    except SQLAlchemyError as exc:
        return CheckResult(
            "privileges", Status.FAIL, f"cannot read the user's privileges: {type(exc).__name__}", ""
        )
    return privileges_result(compare_privileges(needed_privileges(), grants), account)


# ----------------------------------------------------------------------------------------------- SNMP


def sample_devices(devices: Sequence[Device], n: int, rng: random.Random | None = None) -> list[Device]:
    """Up to ``n`` devices picked at random (a different sample each run covers more of the fleet)."""
    if len(devices) <= n:
        return list(devices)
    chosen = (rng or random.Random()).sample(list(devices), n)
    return sorted(chosen, key=lambda d: d.device_id)


def device_secrets(devices: Iterable[Device]) -> list[str]:
    found = []
    for device in devices:
        c = device.target.credentials
        found += [c.community, c.auth_password, c.priv_password]
    return [s for s in found if s]


async def check_snmp(devices: Sequence[Device]) -> list[CheckResult]:
    """GET sysObjectID.0 from each device, concurrently. One result per device.

    A device that does not answer is a warning while others do (devices go down; LibreNMS shows it), and a
    failure when none of the sample answers (then fastpoll itself is likely cut off: firewall, source
    address, communities). Auth and configuration errors always fail.
    """
    from poller.snmp.client import SnmpEngine
    from poller.snmp.errors import SnmpError, SnmpTimeout
    from poller.snmp.values import Tag

    async def one(engine: SnmpEngine, device: Device) -> tuple[Device, str, str]:
        try:
            (vb,) = await engine.get(device.target, [SYS_OBJECT_ID])
        except SnmpTimeout:
            return device, "timeout", "no answer"
        except SnmpError as exc:
            return device, exc.kind, f"{exc.kind} error: {exc}"
        if vb.tag in (Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW):
            return device, "answered", "answered, but has no sysObjectID.0 (view too narrow?)"
        return device, "ok", f"answered: sysObjectID {vb.value}"

    async with SnmpEngine() as engine:
        outcomes = await asyncio.gather(*(one(engine, d) for d in devices))
    any_answer = any(kind in ("ok", "answered") for _, kind, _ in outcomes)
    results = []
    for device, kind, detail in outcomes:
        t = device.target
        name = f"snmp {device.device_id} ({device.hostname})"
        where = f"v{t.credentials.version} {t.transport}:{t.host}:{t.port}"
        if kind == "ok":
            results.append(CheckResult(name, Status.PASS, f"{detail} ({where})"))
        elif kind == "answered":
            results.append(CheckResult(name, Status.WARN, f"{detail} ({where})", "check the agent's view"))
        elif kind == "timeout":
            results.append(
                CheckResult(
                    name,
                    Status.WARN if any_answer else Status.FAIL,
                    f"{detail} within {t.timeout:g} s x {t.retries + 1} tries ({where})",
                    "is the device up? check its community / v3 credentials in LibreNMS (a wrong community "
                    "gets no answer), the agent's allowed sources and any firewall for UDP "
                    f"{t.port} from this host",
                )
            )
        else:
            results.append(
                CheckResult(
                    name,
                    Status.FAIL,
                    f"{detail} ({where})",
                    "check the device's SNMP settings in LibreNMS (v3 user, algorithms, passwords)",
                )
            )
    return results


def load_sample(engine: Engine, config: Config, n: int) -> tuple[list[Device], list[CheckResult]]:
    from poller.store.inventory import load_devices

    with engine.connect() as conn:
        records, problems = load_devices(
            conn,
            poller_groups=config.polling.poller_groups,
            default_timeout=config.polling.snmp_timeout,
            default_retries=config.polling.snmp_retries,
        )
    notes = [CheckResult("inventory", Status.WARN, p, "fastpoll skips this device") for p in problems]
    devices = [r.device for r in records]
    if not devices:
        groups = config.polling.poller_groups
        notes.append(
            CheckResult(
                "inventory",
                Status.WARN,
                "no pollable device"
                + (f" in poller groups {', '.join(map(str, groups))}" if groups else "")
                + " (disabled and snmp-disabled devices are left out)",
                "add devices in LibreNMS (or `fastpoll device add`), or check polling.poller_groups",
            )
        )
    return sample_devices(devices, n), notes


# -------------------------------------------------------------------------------------------- Payload


def payload_settings(config: Config, env: Mapping[str, str]) -> tuple[str | None, SecretStr | None, str]:
    """(url, api key, problem): config first, else FASTPOLL_PAYLOAD_URL / FASTPOLL_PAYLOAD_API_KEY[_FILE]."""
    from sync.payload import PayloadConfigError, api_key_from_env

    url = str(config.payload.url) if config.payload.url else env.get(ENV_PAYLOAD_URL) or None
    key = config.payload.api_key
    problem = ""
    if key is None and url:
        try:
            key = api_key_from_env(env)
        except PayloadConfigError as exc:
            problem = str(exc)
    return url, key, problem


async def check_payload(url: str | None, key: SecretStr | None, problem: str = "") -> CheckResult:
    from sync.payload import (
        PayloadAuthError,
        PayloadClient,
        PayloadConfigError,
        PayloadError,
        PayloadNotFound,
        PayloadUnavailable,
        RetryPolicy,
    )

    if not url:
        return CheckResult(
            "payload", Status.SKIP, "not configured", f"set payload.url or {ENV_PAYLOAD_URL} to check it"
        )
    if key is None:
        return CheckResult("payload", Status.FAIL, problem or "no API key", "set payload.api_key(_file)")
    try:
        client = PayloadClient(url, key, timeout=5.0, retry=RetryPolicy(attempts=2))
    except PayloadConfigError as exc:
        return CheckResult("payload", Status.FAIL, str(exc), "payload.url must be http(s)://host[:port]")
    try:
        async with client:
            page = await client.find(PAYLOAD_PROBE_COLLECTION, limit=1)
    except PayloadAuthError:
        return CheckResult(
            "payload",
            Status.FAIL,
            f"key refused by {client.base_url} (403)",
            "check the API key: Payload user > Enable API Key, and that the key belongs to that user",
        )
    except PayloadNotFound:
        return CheckResult(
            "payload",
            Status.FAIL,
            f"{client.base_url} has no {PAYLOAD_PROBE_COLLECTION} collection",
            "is this the NOC's Payload? it needs fastpoll's collections (sync/collections)",
        )
    except PayloadUnavailable as exc:
        return CheckResult("payload", Status.FAIL, str(exc), "check payload.url and that Payload runs")
    except PayloadError as exc:
        return CheckResult("payload", Status.FAIL, f"{type(exc).__name__}: {exc}", "see Payload's log")
    return CheckResult(
        "payload", Status.PASS, f"{client.base_url} accepts the key ({page.total_docs} network devices)"
    )


# ------------------------------------------------------------------------------------------- profiles


@dataclass(frozen=True, slots=True)
class ProfileChoice:
    """What ``[profiles]`` asks for: where profiles are read (None: the shipped directory) and which run."""

    paths: tuple[Path, ...] | None
    enabled: tuple[str, ...]

    @classmethod
    def of(cls, settings: ProfileSettings) -> ProfileChoice:
        paths = tuple(settings.paths) if settings.paths is not None else None
        return cls(paths, tuple(dict.fromkeys(settings.enabled)))


def scan_profiles(paths: Iterable[Path]) -> tuple[dict[str, tuple[Profile, Path]], list[str]]:
    """({name: (profile, its file)}, problems) of every ``*.yaml`` under ``paths``, as ``load_profiles`` reads
    them. Each file goes through the loader on its own, so one that does not load leaves the others usable
    and the problems are the loader's own messages (file, line, field)."""
    from poller.checks.profiles import ProfileError, load_profiles

    found: dict[str, tuple[Profile, Path]] = {}
    problems: list[str] = []
    for base in paths:
        files = sorted(base.glob("*.yaml")) if base.is_dir() else [base]  # a missing one: the loader says so
        for path in files:
            try:
                (profile,) = load_profiles([path])
            except ProfileError as err:
                problems.append(str(err))
                continue
            if profile.name in found:  # the loader's message for a name defined twice
                problems.append(
                    f"{path}:1: name: {profile.name!r} already defined in {found[profile.name][1]}"
                )
                continue
            found[profile.name] = (profile, path)
    return found, list(dict.fromkeys(problems))  # a broken mib-index.json: said once, not once per file


def describe_profile(profile: Profile, path: Path) -> str:
    """Where a profile comes from, what it reads, which devices it runs on and how many series it makes."""
    from poller.checks.profiles import PROFILE_DIR

    def count(n: int, what: str) -> str:
        return f"{n} {what}{'' if n == 1 else 's'}"

    source = f"{path} (shipped)" if path.resolve().parent == PROFILE_DIR else str(path)
    reads = []
    if profile.scalars:
        reads.append(f"GET {count(len(profile.scalars), 'scalar OID')}")
    table = profile.table
    if table is not None:
        labels = f" + {count(len(table.labels), 'label column')}" if table.labels else ""
        reads.append(f"walk {count(len(table.columns), 'column')}{labels}")
    devices = f"devices with os {', '.join(profile.os)}" if profile.os else "every device (no os: list)"
    series = [str(len(profile.scalars))] if profile.scalars else []
    if table is not None:
        series.append(f"{len(table.columns)} per table row")
    return f"{source}: {', '.join(reads)}; runs on {devices}; series per device: up to {' + '.join(series)}"


def check_profiles(choice: ProfileChoice) -> list[CheckResult]:
    """The enabled profiles, one line each, then what would keep ``fastpoll run`` from starting: a profile
    file that does not load (every file under ``paths`` is loaded, enabled or not), an enabled name no file
    provides, two metrics exported as one family. No profile enabled: a skip line saying so."""
    from poller.checks.profiles import PROFILE_DIR, family_conflicts

    if choice.paths is None and not choice.enabled:
        found, _ = scan_profiles([PROFILE_DIR])  # only to name them: fastpoll itself does not read them now
        return [_none_enabled(found)]
    paths = choice.paths if choice.paths is not None else (PROFILE_DIR,)
    found, problems = scan_profiles(paths)
    chosen = [found[name] for name in choice.enabled if name in found]
    results = [CheckResult(f"profile {p.name}", Status.PASS, describe_profile(p, f)) for p, f in chosen]
    results += [
        CheckResult(
            "profiles",
            Status.FAIL,
            problem,
            "fastpoll will not start while a profile file under [profiles] paths does not load, enabled or "
            "not: fix it, or move it out of those directories",
        )
        for problem in problems
    ]
    unknown = [name for name in choice.enabled if name not in found]
    if unknown:
        where = ", ".join(map(str, paths)) + ("" if choice.paths is not None else " (the shipped profiles)")
        detail = (
            f"enabled: no profile named {', '.join(map(repr, unknown))} in {where}; "
            f"found: {', '.join(sorted(found)) or 'none'}"
        )
        if problems:
            detail += f" ({len(problems)} file(s) above do not load and may be the one)"
        hint = "the name is the profile's `name:`, not its file name"
        if choice.paths is not None:
            hint += "; [profiles] paths replaces the shipped directory: list mibs/profiles too to keep those"
        else:
            hint += "; for profiles of your own, set [profiles] paths to their directory"
        results.append(CheckResult("profiles", Status.FAIL, detail, hint))
    conflicts = family_conflicts(profile for profile, _ in chosen)
    if conflicts:
        results.append(
            CheckResult(
                "profiles",
                Status.FAIL,
                "; ".join(conflicts),
                "each Prometheus family has one owner: rename one of the metrics, or enable only one profile",
            )
        )
    if not choice.enabled:
        results.append(_none_enabled(found))
    return results


def _none_enabled(found: Mapping[str, object]) -> CheckResult:
    available = f"; available: {', '.join(sorted(found))}" if found else ""
    return CheckResult(
        "profiles",
        Status.SKIP,
        f"none enabled (profiles are opt-in){available}",
        'to run some: [profiles] enabled = ["name", ...]',
    )


def load_settings(path: Path | None, env: Mapping[str, str]) -> tuple[Config, ProfileChoice]:
    """The configuration, and the profiles it asks for. When only its profiles keep it from loading, the
    configuration without them loaded (so the other checks still run), for :func:`check_profiles` to say
    what is wrong with them. FastpollConfigError for any other problem."""
    try:
        config = load_config(path, env)
    except FastpollConfigError as exc:
        try:
            config = load_config(path, env, load_profiles=False)
        except FastpollConfigError:
            raise exc from None
    return config, ProfileChoice.of(config.profiles)


# ------------------------------------------------------------------------------------------ the run


async def validate(
    config: Config,
    env: Mapping[str, str],
    *,
    sample: int = DEFAULT_SAMPLE,
    profiles: ProfileChoice | None = None,
) -> list[CheckResult]:
    """Every check, in order; later database checks are skipped when the database cannot be reached.
    ``profiles``: what [profiles] asks for when ``config`` was loaded without it (see :func:`load_settings`);
    by default ``config.profiles``."""
    results: list[CheckResult] = []
    secrets: list[str] = list(config.secrets())
    engine = create_engine(database_url(config.database), pool_pre_ping=False)
    try:
        db = await asyncio.to_thread(check_database, engine, config)
        results.append(db)
        if db.status is Status.FAIL:
            skipped = "skipped: the database is not reachable"
            results += [CheckResult(c, Status.SKIP, skipped) for c in ("schema", "privileges", "snmp")]
        else:
            results.append(await asyncio.to_thread(check_schema, engine))
            results.append(await asyncio.to_thread(check_privileges, engine))
            if sample > 0:
                try:
                    devices, notes = await asyncio.to_thread(load_sample, engine, config, sample)
                except SQLAlchemyError as exc:
                    devices, notes = (
                        [],
                        [CheckResult("snmp", Status.FAIL, f"cannot read devices: {type(exc).__name__}", "")],
                    )
                secrets += device_secrets(devices)
                results += notes
                results += await check_snmp(devices)
    finally:
        engine.dispose()
    url, key, problem = payload_settings(config, env)
    if key is not None:
        secrets.append(key.get_secret_value())
    results.append(await check_payload(url, key, problem))
    results += check_profiles(profiles if profiles is not None else ProfileChoice.of(config.profiles))
    return redact(results, secrets)


STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


def render_table(results: Sequence[CheckResult]) -> Any:
    from rich.table import Table

    table = Table(title="fastpoll validate", show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail / hint", overflow="fold")
    for r in results:
        cell = _escape(r.detail)
        if r.hint and r.status is not Status.PASS:
            cell += f"\n[dim]hint: {_escape(r.hint)}[/dim]"
        table.add_row(_escape(r.check), f"[{STYLE[r.status]}]{r.status.value}[/]", cell)
    return table


def _escape(text_: str) -> str:
    from rich.markup import escape

    return escape(text_)


def to_json(results: Sequence[CheckResult]) -> str:
    return json.dumps(
        {
            "ok": exit_status(results) == EXIT_OK,
            "checks": [{**asdict(r), "status": r.status.value} for r in results],
        },
        indent=2,
    )


def settings_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the other commands' variables (see OTHER_COMMAND_VARIABLES), for load_config."""
    other = {name.upper() for name in OTHER_COMMAND_VARIABLES}
    return {k: v for k, v in env.items() if k.upper() not in other}


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    try:
        config, profiles = load_settings(Path(args.config) if args.config else None, settings_env(env))
    except FastpollConfigError as exc:
        print(f"fastpoll validate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    results = asyncio.run(validate(config, env, sample=args.sample, profiles=profiles))
    if args.json:
        print(to_json(results))
    else:
        from rich.console import Console

        Console(soft_wrap=False).print(render_table(results))
    return exit_status(results)


def _non_negative(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``fastpoll validate [--config PATH] [--sample N] [--json]``."""
    p = subparsers.add_parser(
        "validate",
        help="check the database, its schema and privileges, SNMP to a few devices, Payload, check profiles",
    )
    p.add_argument("--config", help="TOML configuration file (default: $FASTPOLL_CONFIG)")
    p.add_argument(
        "--sample",
        type=_non_negative,
        default=DEFAULT_SAMPLE,
        metavar="N",
        help=f"devices to try over SNMP (default {DEFAULT_SAMPLE}; 0 = none)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
    return p
