"""``python -m benchmarks run --devices N --ports P --interval S --duration S [...]``"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .drivers import SYSTEMS
from .harness import REPO, Options, run


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the systems on one simulated fleet")
    r.add_argument("--devices", type=_ints, default=[1000], help="loads for fastpoll/pipeline: 1000,3000")
    r.add_argument("--baseline-devices", type=_ints, default=[50], help="loads for pysnmp/netsnmp/exporter")
    r.add_argument("--ports", type=int, default=48)
    r.add_argument("--interval", type=float, default=60.0)
    r.add_argument("--duration", type=float, default=60.0)
    r.add_argument("--systems", default="fastpoll,pysnmp,netsnmp,snmp_exporter,pipeline")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--sim-workers", type=int, default=2)
    r.add_argument(
        "--sim-nice", type=int, default=0, help="the simulator's niceness (0-19): it yields the cores"
    )
    r.add_argument("--base-address", default="127.21.0.1")
    r.add_argument("--snmpsim", action="store_true", help="also poll the recordings via snmpsim/ours")
    r.add_argument("--snmpsim-duration", type=float, default=20.0)
    r.add_argument("--uvloop", action="store_true", help="drivers use uvloop")
    r.add_argument(
        "--freeze-ports",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pipeline: polling.freeze_ports, each device's ports kept compressed between polls (the "
        "daemon's default); --no-freeze-ports keeps them as objects",
    )
    r.add_argument(
        "--scrape-interval",
        type=float,
        default=None,
        help="pipeline: seconds between scrapes (default 15, or a quarter of --duration when that is "
        "shorter); longer than --duration leaves the measured window without scrapes",
    )
    r.add_argument(
        "--trim-every",
        type=float,
        default=None,
        help="pipeline: seconds between the allocator's trims (poller/gc_policy.py; default the daemon's)",
    )
    r.add_argument(
        "--max-polls-in-flight",
        type=int,
        default=None,
        help="pipeline: polling.max_polls_in_flight, the scheduler's cap on polls at once (default the "
        "daemon's; 0: no cap)",
    )
    r.add_argument(
        "--max-port-walks",
        type=int,
        default=0,
        help="pipeline: polling.max_port_walks, port walks at once (default 0: no limit, as the daemon)",
    )
    r.add_argument(
        "--max-port-walks-when-late",
        type=int,
        default=None,
        help="pipeline: polling.max_port_walks_when_late, port walks at once while the event loop runs late "
        "(default the daemon's; 0: no such limit)",
    )
    r.add_argument(
        "--memory-samples",
        action="store_true",
        help="pipeline: write pipeline-<devices>-memory.tsv, RSS and pymalloc's arenas every 0.5 s beside "
        "the phase, polls in flight, the writer's pending ports, whether a scrape runs and the process's CPU "
        "seconds so far",
    )
    r.add_argument(
        "--scrape-in-thread",
        dest="scrape_on_loop",
        action="store_false",
        help="pipeline: scrapes render in their own thread, as the endpoint does without an event loop "
        "(default: the event loop renders for them, as in the daemon)",
    )
    r.add_argument(
        "--writer-process",
        action="store_true",
        help="pipeline: database.writer_process = true (batches written from a process of its own)",
    )
    r.add_argument(
        "--no-port-text-cache",
        dest="cache_port_text",
        action="store_false",
        help="pipeline: metrics.cache_port_text = false (every scrape renders the ports again)",
    )
    r.add_argument(
        "--rate-limit",
        type=float,
        default=0.0,
        help="fastpoll engine and pipeline: global SNMP requests per second (polling.rate_limit; 0 = off)",
    )
    r.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    r.add_argument("--quiet", action="store_true")
    r.add_argument(
        "--ports-as",
        choices=("discovered", "polled"),
        default="discovered",
        help="pipeline start: ports as discovery leaves them (first polls write every column) "
        "or as LibreNMS's poller leaves them (as beside a running LibreNMS)",
    )
    r.add_argument(
        "--warmup",
        action="store_true",
        help="pipeline: poll every device once before the measured window (its cost reported apart), "
        "so the window measures polls after the first, as a daemon that has been running",
    )
    r.add_argument(
        "--instances",
        type=int,
        default=1,
        help="pipeline: this many instances at once, each polling its share of the devices and claiming "
        "each poll in Redis as a [cluster] does, into one database; figures merged (benchmarks.instances)",
    )
    r.add_argument("--smoke", action="store_true", help="a few devices, seconds (for CI)")
    m = sub.add_parser("merge", help="one table + plots from several runs' results.json")
    m.add_argument(
        "inputs", type=Path, nargs="+", help="results.json files; the first one's settings head it"
    )
    m.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return ap


def merge(inputs: list[Path], out: Path) -> dict:
    import json

    from .harness import add_ratios
    from .report import write_markdown, write_plots

    reports = [json.loads(p.read_text()) for p in inputs]
    results = [dict(r) for rep in reports for r in rep["results"]]
    for r in results:
        r.pop("cpu_vs_fastpoll", None)
    add_ratios(results)
    merged = {"meta": reports[0]["meta"], "merged": [rep["meta"] for rep in reports[1:]], "results": results}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(merged, indent=2) + "\n")
    write_markdown(merged, out / "results.md")
    write_plots(merged, out)
    return merged


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "merge":
        merge(args.inputs, args.out)
        return 0
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))}; choose from {', '.join(SYSTEMS)}")
    opts = Options(
        systems=systems, devices=args.devices, baseline_devices=args.baseline_devices, ports=args.ports,
        interval=args.interval, duration=args.duration, seed=args.seed, sim_workers=args.sim_workers,
        sim_nice=args.sim_nice,
        base_address=args.base_address, out=args.out, snmpsim=args.snmpsim,
        snmpsim_duration=args.snmpsim_duration, uvloop=args.uvloop, quiet=args.quiet,
        ports_as=args.ports_as, warmup=args.warmup, rate_limit=args.rate_limit,
        cache_port_text=args.cache_port_text, freeze_ports=args.freeze_ports,
        writer_process=args.writer_process, scrape_interval=args.scrape_interval,
        scrape_on_loop=args.scrape_on_loop, trim_every=args.trim_every,
        memory_samples=args.memory_samples, max_port_walks=args.max_port_walks, instances=args.instances,
        max_port_walks_when_late=args.max_port_walks_when_late, max_polls_in_flight=args.max_polls_in_flight,
    )  # fmt: skip
    if args.smoke:
        opts.devices = opts.baseline_devices = [3]
        opts.ports, opts.interval, opts.duration, opts.sim_workers = 8, 1.0, 2.0, 1
    report = run(opts)
    failed = [r for r in report["results"] if r.get("status") == "error"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
