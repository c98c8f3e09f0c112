"""``fastpoll sync``: align Payload's network-devices with LibreNMS (and optionally add Payload-born devices).

Secrets come from the environment only: FASTPOLL_PAYLOAD_API_KEY or FASTPOLL_PAYLOAD_API_KEY_FILE, and for
``--push-new`` FASTPOLL_LIBRENMS_API_TOKEN or FASTPOLL_LIBRENMS_API_TOKEN_FILE. Exit status: 0 done, 1 some
documents failed or conflicts were found, 2 configuration or API key refused, 3 Payload unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from . import librenms_db
from .apply import SyncResult, sync_once
from .librenms_api import ENV_TOKEN, ENV_TOKEN_FILE, LibrenmsApi, LibrenmsApiError, push_new_devices
from .payload import (
    PayloadAuthError,
    PayloadClient,
    PayloadConfigError,
    PayloadError,
    PayloadUnavailable,
    api_key_from_env,
)
from .reconcile import Create, Delete, MarkRemoved, Plan, Update

ENV_DB_URL = "FASTPOLL_DB_URL"
ENV_PAYLOAD_URL = "FASTPOLL_PAYLOAD_URL"


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sync",
        help="align Payload's network-devices with LibreNMS's devices",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", metavar="URL", help=f"LibreNMS database (SQLAlchemy URL; default ${ENV_DB_URL})")
    p.add_argument(
        "--payload-url",
        metavar="URL",
        help=f"Payload server (default ${ENV_PAYLOAD_URL} or http://127.0.0.1:3000)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    p.add_argument("--prune", action="store_true", help="delete documents of devices gone from LibreNMS")
    p.add_argument("--watch", type=float, metavar="SECONDS", help="run again every SECONDS until stopped")
    p.add_argument(
        "--volatile-window",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="write uptime/lastPolled alone only once lastPolled moved this much (default 900; 0 = always)",
    )
    p.add_argument("--concurrency", type=int, default=8, help="Payload writes in flight (default 8)")
    p.add_argument(
        "--push-new",
        metavar="LIBRENMS_URL",
        help="also add documents without librenmsId to LibreNMS through its API at this URL",
    )
    p.set_defaults(func=lambda args: asyncio.run(run(args)))


def _secret_from_env(environ: Mapping[str, str], name: str, file_name: str) -> SecretStr | None:
    if environ.get(file_name):
        with open(environ[file_name], encoding="utf-8") as fh:
            return SecretStr(fh.read().strip())
    return SecretStr(environ[name]) if environ.get(name) else None


def plan_table(plan: Plan) -> Table:
    table = Table(title="sync plan", show_lines=False)
    for col in ("action", "hostname", "librenmsId", "doc", "fields"):
        table.add_column(col)
    for a in plan.actions:
        if isinstance(a, Create):
            table.add_row("create", a.hostname, str(a.librenms_id), "-", "")
        elif isinstance(a, Update):
            fields = ", ".join(f"{k}: {a.before.get(k)!r} -> {v!r}" for k, v in sorted(a.changes.items()))
            table.add_row("update", a.hostname, str(a.librenms_id), str(a.doc_id), fields)
        elif isinstance(a, MarkRemoved | Delete):
            verb = "mark removed" if isinstance(a, MarkRemoved) else "delete"
            table.add_row(verb, a.hostname, str(a.librenms_id), str(a.doc_id), "")
    for c in plan.conflicts:
        ids = ",".join(map(str, c.librenms_ids))
        docs = ",".join(map(str, c.doc_ids))
        table.add_row(f"[red]conflict: {c.kind}[/red]", c.hostname, ids, docs, c.detail)
    return table


def _summary(result: SyncResult) -> str:
    s = result.plan.summary()
    head = (
        f"create {s['create']}, update {s['update']}, mark removed {s['mark_removed']}, "
        f"delete {s['delete']}, unchanged {s['unchanged']}, conflicts {s['conflicts']}"
    )
    if result.report is None:
        return "dry run: " + head
    r = result.report
    done = f"written {r.writes} (created {len(r.created)}, updated {len(r.updated)}, "
    done += f"marked {len(r.marked_removed)}, deleted {len(r.deleted)}), failed {len(r.failures)}"
    if r.aborted:
        done += f", stopped early: {r.aborted}"
    return f"plan: {head}\n{done}"


async def _one_pass(args: argparse.Namespace, client: PayloadClient, console: Console, engine: Any) -> int:
    devices = await asyncio.to_thread(librenms_db.read_devices, engine)
    result = await sync_once(
        client,
        devices,
        prune=args.prune,
        dry_run=args.dry_run,
        volatile_window=timedelta(seconds=args.volatile_window),
        concurrency=args.concurrency,
    )
    if args.dry_run:
        console.print(plan_table(result.plan))
    console.print(_summary(result))
    if result.report is not None:
        for failure in result.report.failures:
            console.print(f"[red]failed[/red] {type(failure.action).__name__}: {failure.error}")
        if result.report.aborted:
            return 3
    if result.report and result.report.failures:
        return 1
    return 1 if result.plan.conflicts else 0


async def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    console = Console()
    db_url = args.db or environ.get(ENV_DB_URL)
    if not db_url:
        console.print(f"[red]no LibreNMS database: give --db URL or set {ENV_DB_URL}[/red]")
        return 2
    url = args.payload_url or environ.get(ENV_PAYLOAD_URL) or "http://127.0.0.1:3000"
    try:
        key = api_key_from_env(environ)
        client = PayloadClient(url, key)
    except PayloadConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    engine = librenms_db.make_engine(db_url)
    try:
        async with client:
            while True:
                try:
                    status = await _one_pass(args, client, console, engine)
                    if args.push_new and not args.dry_run:
                        status = max(status, await _push(args, client, console, environ))
                except PayloadAuthError as exc:
                    console.print(f"[red]{exc}[/red]")
                    return 2
                except PayloadUnavailable as exc:
                    console.print(f"[red]{exc}[/red]")
                    status = 3
                except PayloadError as exc:
                    console.print(f"[red]{exc}[/red]")
                    status = 1
                except SQLAlchemyError as exc:  # its text names the server and user, never the password
                    console.print(
                        f"[red]cannot read LibreNMS devices: {type(exc).__name__}: {exc.orig or exc}[/red]"
                    )
                    status = 3
                if not args.watch:
                    return status
                await asyncio.sleep(args.watch)
    finally:
        engine.dispose()


async def _push(
    args: argparse.Namespace, client: PayloadClient, console: Console, environ: Mapping[str, str]
) -> int:
    try:
        token = _secret_from_env(environ, ENV_TOKEN, ENV_TOKEN_FILE)
    except OSError as exc:
        console.print(f"[red]cannot read {ENV_TOKEN_FILE}: {exc.strerror}[/red]")
        return 2
    if token is None:
        console.print(f"[red]--push-new needs {ENV_TOKEN} or {ENV_TOKEN_FILE}[/red]")
        return 2
    try:
        async with LibrenmsApi(args.push_new, token) as api:
            report = await push_new_devices(client, api)
    except LibrenmsApiError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    console.print(f"added to LibreNMS: {len(report.added)}, failed: {len(report.failed)}")
    for doc_id, error in report.failed.items():
        console.print(f"[red]network-devices/{doc_id}[/red]: {error}")
    return 1 if report.failed else 0
