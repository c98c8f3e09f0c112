"""The benchmark harness: one simulated fleet, each system in turn, JSON + Markdown + PNG out.

    python -m benchmarks run --devices 1000,3000 --baseline-devices 50,100 --ports 48 \
        --interval 60 --duration 90 --out benchmarks/results

Every system runs in its own process (benchmarks.drivers) against the same devices served by
``python -m poller.sim serve`` (its CPU measured over each run and reported beside it). With
--snmpsim, a small extra run polls the real recordings (../shared/snmprec) through snmpsim and
through our responder, to compare the simulators.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from poller.sim.generate import generate_fleet

from .instances import run_instances
from .report import write_markdown, write_plots

REPO = Path(__file__).resolve().parents[1]
BASELINES = ("pysnmp", "netsnmp", "snmp_exporter")
CONCURRENCY = {"fastpoll": 500, "pysnmp": 50, "netsnmp": 16, "snmp_exporter": 100}


def _concurrency(system: str, opts: Options) -> int | None:
    """Polls at once: the pipeline's is its scheduler's cap (polling.max_polls_in_flight, 0 = none; None:
    the daemon's default for its devices)."""
    if system != "pipeline":
        return CONCURRENCY.get(system, 100)
    return opts.max_polls_in_flight


@dataclass
class Options:
    systems: list[str]
    devices: list[int]  # loads for fastpoll and the pipeline
    baseline_devices: list[int]  # loads for pysnmp, net-snmp CLI and snmp_exporter
    ports: int = 48
    interval: float = 60.0
    duration: float = 60.0
    seed: int = 1
    sim_workers: int = 1
    sim_nice: int = 0  # the simulator's niceness (see SimProcess)
    base_address: str = "127.21.0.1"
    out: Path = REPO / "benchmarks" / "results"
    snmpsim: bool = False
    snmpsim_duration: float = 20.0
    uvloop: bool = False
    quiet: bool = False
    ports_as: str = "discovered"  # the pipeline's starting rows: "discovered" (heaviest) or "polled"
    warmup: bool = False  # the pipeline polls every device once before the measured window
    rate_limit: float = 0.0  # fastpoll's global requests/s limit (polling.rate_limit), 0 = none
    cache_port_text: bool = True  # the pipeline's metrics.cache_port_text (the daemon's default)
    freeze_ports: bool = True  # the pipeline's polling.freeze_ports (the daemon's default)
    writer_process: bool = False  # the pipeline's database.writer_process (the daemon's default)
    scrape_interval: float | None = None  # seconds between the pipeline's scrapes (None: its default)
    scrape_on_loop: bool = True  # the event loop renders for the pipeline's scrapes, as in the daemon
    trim_every: float | None = None  # seconds between the pipeline's allocator trims (None: the daemon's)
    memory_samples: bool = False  # the pipeline writes pipeline-<devices>-memory.tsv beside results.json
    max_polls_in_flight: int | None = None  # the pipeline's polling.max_polls_in_flight (None: the daemon's)
    max_port_walks: int = 0  # the pipeline's polling.max_port_walks (0 = no limit, the daemon's default)
    max_port_walks_when_late: int | None = None  # its polling.max_port_walks_when_late (None: the daemon's)
    instances: int = 1  # pipeline instances sharing the fleet through Redis (benchmarks.instances)


class Child:
    """A child process whose stdout the harness reads line by line and whose stderr goes to a temporary file.

    Not to a pipe: the harness reads a child's stderr only when it fails, and a pipe nobody reads fills at
    64 KB, after which the child's next line of log blocks it for good (a 5,000-device pipeline run hung that
    way, its writer logging the eventlog rows it dropped).
    """

    def __init__(self, args: list[str]) -> None:
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child; close() ends it
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=self._err, text=True)

    def stderr_tail(self, limit: int = 1500) -> str:
        """The last ``limit`` bytes the child wrote to stderr."""
        size = self._err.seek(0, os.SEEK_END)
        self._err.seek(max(0, size - limit))
        return self._err.read().decode(errors="replace")

    def close(self) -> None:
        self._err.close()


class SimProcess:
    """`python -m poller.sim serve` in the background; CPU of it and its workers on demand.

    ``nice`` > 0 lowers the simulator's scheduling priority (its processes' niceness). The simulated devices
    share the benchmark machine's cores with the system measured, which real devices never do; at a load
    that keeps both cores busy (fastpoll, MariaDB and the simulator at 10,000 devices) the kernel otherwise
    shares the cores evenly, and the simulator's half-core shows up as the poller's schedule lag. Niced, the
    simulator takes what the measured system leaves; if that is too little, answers come late or time out,
    and the run's latency and errors say so.
    """

    def __init__(self, args: list[str], nice: int = 0) -> None:
        self.child = Child([sys.executable, "-m", "poller.sim", "serve", *args])
        self.proc = self.child.proc
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        try:
            ready = json.loads(line)
        except ValueError:
            raise RuntimeError(f"simulator did not start: {line!r} {self.child.stderr_tail()}") from None
        if not ready.get("ready"):
            raise RuntimeError(f"simulator did not start: {ready}")
        self.procs = [psutil.Process(self.proc.pid), *(psutil.Process(p) for p in ready["workers"])]
        if nice:
            for p in self.procs:
                p.nice(nice)

    def cpu(self) -> float:
        total = 0.0
        for p in self.procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.child.close()


class SnmpsimProcess:
    """snmpsim-command-responder serving the recordings (for the simulator comparison)."""

    def __init__(self, data_dir: Path, port: int, cache: Path) -> None:
        exe = Path(sys.executable).parent / "snmpsim-command-responder"
        self.proc = subprocess.Popen(
            [str(exe), f"--data-dir={data_dir}", f"--agent-udpv4-endpoint=127.0.0.1:{port}",
             f"--cache-dir={cache}", "--log-level=error"],
            env=dict(os.environ, SNMPSIM_ALLOW_ROOT="true"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.procs = [psutil.Process(self.proc.pid)]
        _wait_for_snmp("127.0.0.1", port, "linux_ntc", 120)

    cpu = SimProcess.cpu

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _wait_for_snmp(host: str, port: int, community: str, timeout: float) -> None:
    from poller.snmp.pdu import GET, encode_community_message, encode_pdu, varbind_list

    pkt = encode_community_message(
        "2c", community.encode(), encode_pdu(GET, 1, varbind_list(["1.3.6.1.2.1.1.1.0"]))
    )
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        while time.monotonic() < deadline:
            s.sendto(pkt, (host, port))
            try:
                s.recvfrom(65535)
                return
            except OSError:
                continue
    raise RuntimeError(f"no agent answered on {host}:{port}")


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run_driver(
    system: str, spec: dict[str, Any], sim: SimProcess | SnmpsimProcess, progress: Progress | None, label: str
) -> dict[str, Any]:
    spec = {**spec, "sim_pids": [p.pid for p in sim.procs]}  # for the pipeline's --memory-samples
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
        spec_path = fh.name
    expected = max(1, int(len(spec["devices"]) * spec["duration"] / spec["interval"] + 0.999))
    task = progress.add_task(label, total=expected) if progress else None
    sim0 = sim.cpu()
    child = Child([sys.executable, "-m", "benchmarks.drivers", system, spec_path])
    proc = child.proc
    result: dict[str, Any] | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "progress" in msg and progress is not None and task is not None:
            p = msg["progress"]
            progress.update(task, completed=p["ok"] + p["failed"] + p["skipped"])
        elif "result" in msg:
            result = msg["result"]
    proc.wait()
    sim_cpu = sim.cpu() - sim0
    os.unlink(spec_path)
    if progress is not None and task is not None:
        progress.update(task, completed=expected)
    if result is None:
        err = child.stderr_tail()
        result = {"system": system, "status": "error", "reason": err or f"exit {proc.returncode}"}
    child.close()
    result.setdefault("devices", len(spec["devices"]))
    result.setdefault("offered_polls_per_min", round(len(spec["devices"]) * 60.0 / spec["interval"], 1))
    result["sim_cpu_s"] = round(sim_cpu, 3)
    polls = (result.get("polls_ok") or 0) + (result.get("polls_failed") or 0)
    result["sim_cpu_s_per_1000_polls"] = round(sim_cpu / polls * 1000, 3) if polls else None
    return result


def add_ratios(results: list[dict[str, Any]]) -> None:
    """cpu_vs_fastpoll: CPU-s per 1000 polls divided by fastpoll's (same load if run, else its lowest)."""
    fast = {r["devices"]: r for r in results if r.get("system") == "fastpoll" and r.get("status") == "ok"}
    if not fast:
        return
    fallback = fast[min(fast)]
    for r in results:
        ref = fast.get(r.get("devices"), fallback)
        if r is ref:
            r["cpu_vs_fastpoll"] = 1.0  # even when a short run's CPU rounds to 0 (the clock counts in ticks)
            continue
        cpu, ref_cpu = r.get("cpu_s_per_1000_polls"), ref.get("cpu_s_per_1000_polls")
        if r.get("status") == "ok" and cpu is not None and ref_cpu:
            r["cpu_vs_fastpoll"] = round(cpu / ref_cpu, 2)


def run(opts: Options) -> dict[str, Any]:
    console = Console(stderr=True, quiet=opts.quiet)
    opts.out.mkdir(parents=True, exist_ok=True)
    loads = {s: (opts.baseline_devices if s in BASELINES else opts.devices) for s in opts.systems}
    max_devices = max((max(v) for v in loads.values() if v), default=1)
    port = free_udp_port(opts.base_address)
    fleet = generate_fleet(max_devices, opts.ports, seed=opts.seed, base_address=opts.base_address, port=port)
    refs = [[d.host, d.port, d.community] for d in fleet]
    results: list[dict[str, Any]] = []
    console.print(f"simulator: {max_devices} devices x {opts.ports} ports on {opts.base_address}+ :{port}")
    t0 = time.monotonic()
    sim = SimProcess(
        ["--devices", str(max_devices), "--ports", str(opts.ports), "--seed", str(opts.seed),
         "--base-address", opts.base_address, "--port", str(port), "--workers", str(opts.sim_workers)],
        nice=opts.sim_nice,
    )  # fmt: skip
    startup = time.monotonic() - t0
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} polls"),
        TimeElapsedColumn(), console=console, disable=opts.quiet,
    )  # fmt: skip
    try:
        with progress:
            for system in opts.systems:
                for n in loads[system]:
                    spec = {
                        "devices": refs[:n],
                        "interval": opts.interval,
                        "duration": opts.duration,
                        "concurrency": _concurrency(system, opts),
                        "uvloop": opts.uvloop,
                        "ports": opts.ports,  # the pipeline rebuilds the fleet to insert its ports
                        "seed": opts.seed,
                        "ports_as": opts.ports_as,
                        "warmup": opts.warmup,
                        "rate_limit": opts.rate_limit,
                        "cache_port_text": opts.cache_port_text,
                        "freeze_ports": opts.freeze_ports,
                        "writer_process": opts.writer_process,
                        "scrape_interval": opts.scrape_interval,
                        "scrape_on_loop": opts.scrape_on_loop,
                        "trim_every": opts.trim_every,
                        "max_port_walks": opts.max_port_walks,
                        "max_port_walks_when_late": opts.max_port_walks_when_late,
                        "memory_samples": str(opts.out / f"pipeline-{n}-memory.tsv")
                        if opts.memory_samples and system == "pipeline"
                        else None,
                    }
                    label = f"{system:<14} {n:>6} devices"
                    if system == "pipeline" and opts.instances > 1:

                        def one(s: dict[str, Any], name: str) -> dict[str, Any]:
                            return run_driver("pipeline", s, sim, progress, name)

                        results.append(run_instances(spec, opts.instances, sim, one, label))
                        continue
                    results.append(run_driver(system, spec, sim, progress, label))
            if opts.snmpsim:
                results += simulator_comparison(opts, progress)
    finally:
        sim.stop()
    add_ratios(results)
    report = {
        "meta": {
            "devices": opts.devices, "baseline_devices": opts.baseline_devices, "ports": opts.ports,
            "interval_s": opts.interval, "duration_s": opts.duration, "seed": opts.seed,
            "sim_workers": opts.sim_workers, "sim_nice": opts.sim_nice, "sim_startup_s": round(startup, 2),
            "instances": opts.instances,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "uvloop": opts.uvloop, "rate_limit": opts.rate_limit,
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "results": results,
    }  # fmt: skip
    (opts.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    md = write_markdown(report, opts.out / "results.md")
    write_plots(report, opts.out)
    console.print(md)
    return report


def simulator_comparison(opts: Options, progress: Progress) -> list[dict[str, Any]]:
    """Poll the real recordings through snmpsim and through our responder (same engine, same load)."""
    shared = Path(os.environ.get("FASTPOLL_SHARED", REPO.parent / "shared")) / "snmprec"
    names = sorted(p.stem for p in shared.glob("*.snmprec"))
    if not names:
        return [{"system": "fastpoll@snmpsim", "status": "skipped", "reason": f"no recordings in {shared}"}]
    out = []
    cache = Path(tempfile.mkdtemp(prefix="fastpoll-snmpsim-"))
    interval = max(5.0, len(names) / 2)  # about 2 device-polls/s: what snmpsim can take
    for label, start in (
        ("fastpoll@snmpsim", lambda p: SnmpsimProcess(shared, p, cache)),
        ("fastpoll@poller.sim",
         lambda p: SimProcess(["--snmprec", str(shared), "--address", "127.0.0.1", "--port", str(p)])),
    ):  # fmt: skip
        port = free_udp_port("127.0.0.1")
        sim = start(port)
        try:
            spec = {
                "devices": [["127.0.0.1", port, n] for n in names],
                "interval": interval,
                "duration": opts.snmpsim_duration,
                "concurrency": 20,
            }
            r = run_driver("fastpoll", spec, sim, progress, f"{label:<20} {len(names)} recordings")
            r["system"] = label
            out.append(r)
        finally:
            sim.stop()
    shutil.rmtree(cache, ignore_errors=True)
    return out
