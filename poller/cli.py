"""The `fastpoll` command: thin argument parsing that builds objects and calls into the packages.

Nothing below this module reads argv or the environment (secrets come from env vars or files,
never command-line arguments, except `--community`, which net-snmp users expect; prefer
FASTPOLL_COMMUNITY).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .model import AUTH_ALGOS, PRIV_ALGOS, Credentials, Target
from .snmp.client import SnmpEngine
from .snmp.errors import SnmpError
from .snmp.values import VarBind, value_to_text

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _add_target_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="host name, IPv4 or IPv6 address (optionally HOST:PORT)")
    p.add_argument("oids", nargs="+", metavar="OID", help="numeric OIDs")
    p.add_argument("-v", "--version", dest="snmp_version", choices=("1", "2c", "3"), default="2c")
    p.add_argument("-c", "--community", help="v1/v2c community (default: $FASTPOLL_COMMUNITY or 'public')")
    p.add_argument("-p", "--port", type=int, help="UDP port (default 161)")
    p.add_argument("--udp6", action="store_true", help="resolve host names to IPv6")
    p.add_argument("-t", "--timeout", type=float, default=1.0, help="seconds per attempt (default 1)")
    p.add_argument("-r", "--retries", type=int, default=2, help="extra attempts (default 2)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    v3 = p.add_argument_group("SNMPv3 (passwords from $FASTPOLL_AUTH_PASSWORD / $FASTPOLL_PRIV_PASSWORD)")
    v3.add_argument("-u", "--user", default="", help="security name")
    v3.add_argument("-l", "--level", choices=("noAuthNoPriv", "authNoPriv", "authPriv"), default=None)
    v3.add_argument("-a", "--auth-protocol", choices=AUTH_ALGOS, default="SHA")
    v3.add_argument("-x", "--priv-protocol", choices=PRIV_ALGOS, default="AES")
    v3.add_argument("-n", "--context", default="")


def _split_host_port(text: str, port: int | None) -> tuple[str, int]:
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else (port or 161)
    if text.count(":") == 1:
        host, _, p = text.partition(":")
        return host, int(p)
    return text, port or 161


def target_from_args(args: argparse.Namespace, env: dict[str, str]) -> Target:
    host, port = _split_host_port(args.target, args.port)
    if args.snmp_version == "3":
        auth = env.get("FASTPOLL_AUTH_PASSWORD", "")
        priv = env.get("FASTPOLL_PRIV_PASSWORD", "")
        level = args.level or ("authPriv" if priv else "authNoPriv" if auth else "noAuthNoPriv")
        cred = Credentials(
            "3",
            authlevel=level,
            username=args.user,
            auth_algo=args.auth_protocol,
            auth_password=auth,
            priv_algo=args.priv_protocol,
            priv_password=priv,
            context=args.context,
        )
    else:
        community = args.community or env.get("FASTPOLL_COMMUNITY") or "public"
        cred = Credentials(args.snmp_version, community)
    return Target(
        host,
        port,
        "udp6" if args.udp6 or ":" in host else "udp",
        cred,
        timeout=args.timeout,
        retries=args.retries,
    )


def format_varbind(vb: VarBind, as_json: bool) -> str:
    if as_json:
        value = vb.value
        if isinstance(value, bytes):
            value = value_to_text(value)
        return json.dumps({"oid": vb.oid, "type": vb.type_name, "value": value})
    return f"{vb.oid} = {vb.type_name}: {value_to_text(vb.value)}"


async def _snmp_command(args: argparse.Namespace, op: str) -> int:
    target = target_from_args(args, dict(os.environ))
    async with SnmpEngine() as engine:
        if op == "get":
            varbinds = await engine.get(target, args.oids)
        else:
            varbinds = await engine.walk(target, args.oids, max_repetitions=args.max_repetitions)
    for vb in varbinds:
        print(format_varbind(vb, args.json))
    return EXIT_OK


def _run_get(args: argparse.Namespace) -> int:
    return asyncio.run(_snmp_command(args, "get"))


def _run_walk(args: argparse.Namespace) -> int:
    return asyncio.run(_snmp_command(args, "walk"))


def _run_daemon(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import FastpollConfigError, load_config
    from .daemon import run_daemon

    env = dict(os.environ)
    if args.metrics_listen:
        env["FASTPOLL_METRICS__LISTEN"] = args.metrics_listen
    if args.log_format:
        env["FASTPOLL_LOGGING__FORMAT"] = args.log_format
    path = Path(args.config) if args.config else None
    try:
        config = load_config(path, env)
    except FastpollConfigError as exc:
        print(f"fastpoll: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_daemon(config, config_path=path, env=env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastpoll", description="Fast-path SNMP poller that writes LibreNMS's own tables."
    )
    parser.add_argument("--version", action="version", version=f"fastpoll {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("get", help="SNMP GET of one or more OIDs")
    _add_target_arguments(p)
    p.set_defaults(func=_run_get)

    p = sub.add_parser("walk", help="walk one or more subtrees (GETBULK, GETNEXT for v1)")
    _add_target_arguments(p)
    p.add_argument("--max-repetitions", type=int, default=25)
    p.set_defaults(func=_run_walk)

    p = sub.add_parser("run", help="run the polling daemon")
    p.add_argument("--config", help="TOML configuration file (default: $FASTPOLL_CONFIG)")
    p.add_argument("--metrics-listen", metavar="HOST:PORT", help="metrics endpoint (default 127.0.0.1:9877)")
    p.add_argument("--log-format", choices=("text", "json"))
    p.set_defaults(func=_run_daemon)

    for register in _plugins():
        register(sub)
    return parser


def _plugins() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Subcommands that live beside their packages (each module has add_parser(subparsers))."""
    from importlib import import_module

    found = []
    for module in PLUGIN_MODULES:
        try:
            mod = import_module(module)
        except ImportError as exc:  # a missing optional piece must not break `fastpoll get`
            print(f"fastpoll: {module} unavailable: {exc}", file=sys.stderr)
            continue
        found.append(mod.add_parser)
    return found


PLUGIN_MODULES: tuple[str, ...] = (
    "poller.poll",
    "poller.discovery",
    "poller.validate",
    "poller.demo.run",
    "sync.cli",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SnmpError as exc:
        print(f"fastpoll: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
