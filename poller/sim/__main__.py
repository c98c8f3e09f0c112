"""Run simulated agents: ``python -m poller.sim serve ...`` / ``python -m poller.sim list ...``.

    python -m poller.sim serve --devices 1000 --ports 48 --workers 2       # synthetic fleet
    python -m poller.sim serve --snmprec ../shared/snmprec --address 127.0.0.1 --port 16100
    python -m poller.sim list --devices 5                                    # JSON lines

`serve` prints one JSON line {"ready": true, ...} on stdout once every worker listens, and one
{"stopped": true, "cpu_seconds": ...} line (CPU of all workers) after SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import signal
import sys
import time
from pathlib import Path

from .generate import generate_fleet
from .responder import Limits, Responder, SimAgent, recordings_agent


def build_agents(args: argparse.Namespace) -> list[SimAgent]:
    if args.snmprec:
        return [recordings_agent(Path(args.snmprec), args.address, args.port)]
    from .generate import fleet_agents

    fleet = generate_fleet(
        args.devices,
        args.ports,
        seed=args.seed,
        base_address=args.base_address,
        port=args.port,
        community=args.community,
        faults=args.faults,
    )
    return fleet_agents(fleet)


def warm(agents: list[SimAgent]) -> None:
    """Build every lazy table now (before forking, so workers share the pages)."""
    for agent in agents:
        for community in list(agent.tables):
            agent.table(community)


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed + 64 and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed + 1024), hard))


async def _serve(agents: list[SimAgent], limits: Limits, epoch: float, reuse: bool, ready) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    responder = Responder(agents, limits=limits, epoch=epoch, reuse_port=reuse)
    await responder.start()
    ready.put(len(responder.endpoints))
    await stop.wait()
    responder.close()


def _worker(agents, limits, epoch, reuse, ready) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(agents, limits, epoch, reuse, ready))


def serve(args: argparse.Namespace) -> int:
    agents = build_agents(args)
    if args.warm:
        warm(agents)
    _raise_fd_limit(len(agents))
    limits = Limits(max_varbinds=args.max_varbinds, max_message_size=args.max_message_size)
    epoch = time.monotonic()
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Queue()
    reuse = args.workers > 1
    procs = [
        ctx.Process(target=_worker, args=(agents, limits, epoch, reuse, ready), daemon=True)
        for _ in range(args.workers)
    ]
    for p in procs:
        p.start()
    try:
        endpoints = [ready.get(timeout=600) for _ in procs]
    except Exception:
        for p in procs:
            p.terminate()
        print(json.dumps({"ready": False, "error": "workers did not start"}), flush=True)
        return 1
    print(
        json.dumps(
            {"ready": True, "pid": os.getpid(), "workers": [p.pid for p in procs], "endpoints": endpoints[0]}
        ),
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(p.is_alive() for p in procs):
        time.sleep(0.2)
    for p in procs:
        if p.is_alive():
            os.kill(p.pid, signal.SIGTERM)
    for p in procs:
        p.join(timeout=10)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime + me.ru_utime + me.ru_stime
    print(json.dumps({"stopped": True, "cpu_seconds": round(cpu, 3)}), flush=True)
    return 0


def list_devices(args: argparse.Namespace) -> int:
    fleet = generate_fleet(
        args.devices, args.ports, seed=args.seed, base_address=args.base_address, port=args.port,
        community=args.community, faults=args.faults,
    )  # fmt: skip
    for d in fleet:
        row = {
            "index": d.index, "host": d.host, "port": d.port, "kind": d.kind, "sys_name": d.sys_name,
            "fault": d.fault.kind if d.fault else None,
        }  # fmt: skip
        print(json.dumps(row))
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m poller.sim", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("serve", "list"):
        p = sub.add_parser(name)
        p.add_argument("--devices", type=int, default=10)
        p.add_argument("--ports", type=int, default=48)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--base-address", default="127.20.0.1")
        p.add_argument("--port", type=int, default=1161)
        p.add_argument("--community", default="public")
        p.add_argument(
            "--faults", action="store_true", help="a few timeouts/slow/garbage devices, one flapping"
        )
        if name == "serve":
            p.add_argument("--snmprec", help="serve the .snmprec files of this directory instead")
            p.add_argument("--address", default="127.0.0.1", help="address for --snmprec")
            p.add_argument("--workers", type=int, default=1, help="processes (SO_REUSEPORT when > 1)")
            p.add_argument("--max-varbinds", type=int, default=64)
            p.add_argument("--max-message-size", type=int, default=65507)
            p.add_argument(
                "--no-warm", dest="warm", action="store_false", help="build tables on first request"
            )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return list_devices(args)


if __name__ == "__main__":
    sys.exit(main())
