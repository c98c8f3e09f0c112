"""One system under test per process: ``python -m benchmarks.drivers SYSTEM SPEC_JSON``.

Each driver runs the same workload (benchmarks.workload) against the simulated devices and
prints JSON lines on stdout: {"progress": {...}} while it runs, then {"result": {...}}. CPU is
process CPU (psutil: user + system, children included so the net-snmp CLI's processes count),
never wall time; for snmp_exporter it is the exporter's process CPU (the scraping client's
is reported beside it).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

from .pipeline import PipelineUnavailable
from .workload import COLUMNS, MAX_REPETITIONS, SCALARS, DeviceRef, LoadStats, PollFn, run_load, run_scheduled

SYSTEMS = ("fastpoll", "pysnmp", "netsnmp", "snmp_exporter", "pipeline")
TIMEOUT = 2.0
RETRIES = 1


def emit(kind: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({kind: payload}) + "\n")
    sys.stdout.flush()


def own_cpu(children: bool = True) -> float:
    """This process's CPU, with that of its waited-for children unless ``children`` is False."""
    t = psutil.Process().cpu_times()
    return t.user + t.system + (t.children_user + t.children_system if children else 0.0)


# ---------------------------------------------------------------------------------------- systems


async def fastpoll_engine(spec: dict[str, Any]) -> tuple[PollFn, Callable[[], Awaitable[None]]]:
    from poller.model import Credentials, Target
    from poller.snmp.client import SnmpEngine

    engine = SnmpEngine(max_rate=spec.get("rate_limit") or None)
    targets: dict[DeviceRef, Target] = {}

    async def poll(dev: DeviceRef) -> int:
        target = targets.get(dev)
        if target is None:
            target = targets[dev] = Target(
                dev.host, dev.port, credentials=Credentials(community=dev.community), timeout=TIMEOUT,
                retries=RETRIES,
            )  # fmt: skip
        deadline = asyncio.get_running_loop().time() + 10.0
        vbs = await engine.get(target, SCALARS, deadline=deadline)
        table = await engine.walk_table(target, COLUMNS, max_repetitions=MAX_REPETITIONS, deadline=deadline)
        return len(vbs) + sum(len(c) for c in table.values())

    return poll, engine.close


async def pysnmp_hlapi(spec: dict[str, Any]) -> tuple[PollFn, Callable[[], Awaitable[None]]]:
    """pysnmp 7.1 hlapi: one engine, targets created once, lookupMib off; the 8 columns go in one
    GETBULK stream (bulk_walk_cmd takes one varbind, so the multi-column walk is bulk_cmd in a
    loop, as an application would write it)."""
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        bulk_cmd,
        get_cmd,
    )
    from pysnmp.proto.rfc1905 import EndOfMibView

    engine = SnmpEngine()
    context = ContextData()
    transports: dict[DeviceRef, Any] = {}
    auths: dict[str, Any] = {}
    scalars = [ObjectType(ObjectIdentity(o)) for o in SCALARS]
    prefixes = [tuple(int(x) for x in c.split(".")) for c in COLUMNS]

    async def poll(dev: DeviceRef) -> int:
        transport = transports.get(dev)
        if transport is None:
            transport = transports[dev] = await UdpTransportTarget.create(
                (dev.host, dev.port), timeout=TIMEOUT, retries=RETRIES
            )
        auth = auths.get(dev.community) or auths.setdefault(dev.community, CommunityData(dev.community))
        err, status, _, vbs = await get_cmd(engine, auth, transport, context, *scalars, lookupMib=False)
        if err or status:
            raise RuntimeError(str(err or status))
        count = len(vbs)
        current = list(prefixes)
        active = list(range(len(prefixes)))
        while active:
            req = [ObjectType(ObjectIdentity(current[i])) for i in active]
            err, status, _, vbs = await bulk_cmd(
                engine, auth, transport, context, 0, MAX_REPETITIONS, *req, lookupMib=False
            )
            if err or status:
                raise RuntimeError(str(err or status))
            if not vbs:
                break
            still = []
            width = len(active)
            done: set[int] = set()
            for n, (name, value) in enumerate(vbs):
                col = active[n % width]
                if col in done:
                    continue
                oid = tuple(name)
                if isinstance(value, EndOfMibView) or oid[: len(prefixes[col])] != prefixes[col]:
                    done.add(col)
                    continue
                current[col] = oid
                count += 1
            still = [c for c in active if c not in done]
            active = still
        return count

    async def close() -> None:
        engine.close_dispatcher()

    return poll, close


async def netsnmp_cli(spec: dict[str, Any]) -> tuple[PollFn, Callable[[], Awaitable[None]]]:
    """The net-snmp CLI as LibreNMS drives it: a process per query. snmpbulkwalk walks one OID
    per run (net-snmp 5.9 ignores further OIDs), so a device-poll is 1 snmpget + 8 snmpbulkwalk."""
    snmpget = shutil.which("snmpget") or "/usr/bin/snmpget"
    snmpbulkwalk = shutil.which("snmpbulkwalk") or "/usr/bin/snmpbulkwalk"
    common = ["-v2c", "-On", "-Oq", "-Ot", "-t", str(TIMEOUT), "-r", str(RETRIES), "-m", ""]

    async def run(cmd: list[str]) -> list[bytes]:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        if proc.returncode != 0 or b"Timeout" in err:
            raise RuntimeError(err.decode(errors="replace").strip()[:200] or f"exit {proc.returncode}")
        return out.splitlines()

    async def poll(dev: DeviceRef) -> int:
        agent = f"{dev.host}:{dev.port}"
        lines = await run([snmpget, *common, "-c", dev.community, agent, *SCALARS])
        count = len(lines)
        for col in COLUMNS:
            count += len(
                await run([snmpbulkwalk, *common, f"-Cr{MAX_REPETITIONS}", "-c", dev.community, agent, col])
            )
        return count

    async def close() -> None:
        return None

    return poll, close


def snmp_exporter_config(community: str) -> str:
    """snmp.yml (snmp_exporter 0.21 format: auth inside the module) for the device-poll OIDs."""
    from .workload import COLUMN_NAMES, SCALAR_NAMES

    lines = [
        "fastpoll_bench:",
        "  walk:",
        *[f"  - {c}" for c in COLUMNS],
        "  get:",
        *[f"  - {o}" for o in SCALARS],
        "  version: 2",
        f"  max_repetitions: {MAX_REPETITIONS}",
        f"  retries: {RETRIES}",
        f"  timeout: {int(TIMEOUT)}s",
        "  auth:",
        f"    community: {json.dumps(community)}",
        "  metrics:",
    ]
    for name, oid in zip(SCALAR_NAMES, SCALARS, strict=True):
        kind = "DisplayString" if name == "sysName" else ("gauge" if name == "sysUpTime" else "OctetString")
        if name == "sysObjectID":
            kind = "OctetString"
        lines += [f"  - name: {name}", f"    oid: {oid.removesuffix('.0')}", f"    type: {kind}"]
    for name, oid in zip(COLUMN_NAMES, COLUMNS, strict=True):
        kind = "counter" if "Octets" in name or "Errors" in name or "Discards" in name else "gauge"
        lines += [
            f"  - name: {name}",
            f"    oid: {oid}",
            f"    type: {kind}",
            "    indexes:",
            "    - labelname: ifIndex",
            "      type: gauge",
        ]
    return "\n".join(lines) + "\n"


EXPORTER_STATE: dict[str, Any] = {}


async def snmp_exporter(spec: dict[str, Any]) -> tuple[PollFn, Callable[[], Awaitable[None]]]:
    """Prometheus snmp_exporter (Debian package), scraped over HTTP on loopback per device."""
    import httpx

    binary = shutil.which("prometheus-snmp-exporter")
    if binary is None:
        raise RuntimeError(
            "prometheus-snmp-exporter not installed (apt-get install prometheus-snmp-exporter)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="fastpoll-snmp-exporter-"))
    community = spec["devices"][0][2]
    (workdir / "snmp.yml").write_text(snmp_exporter_config(community))
    port = spec.get("exporter_port") or _free_tcp_port()
    # Started once before the measured load, so a blocking Popen costs nothing measured.
    proc = subprocess.Popen(  # noqa: ASYNC220
        [binary, f"--config.file={workdir / 'snmp.yml'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=15.0, limits=httpx.Limits(max_connections=200)
    )
    for _ in range(100):
        try:
            await client.get("/")
            break
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    exporter = psutil.Process(proc.pid)
    EXPORTER_STATE.update(process=exporter, peak_rss=0)

    async def poll(dev: DeviceRef) -> int:
        r = await client.get("/snmp", params={"target": f"{dev.host}:{dev.port}", "module": "fastpoll_bench"})
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}")
        text = r.text
        if "snmp_scrape_pdus_returned" not in text:
            raise RuntimeError("scrape without SNMP results")
        EXPORTER_STATE["peak_rss"] = max(EXPORTER_STATE["peak_rss"], exporter.memory_info().rss)
        return sum(1 for line in text.splitlines() if line.startswith(("if", "sys")))

    async def close() -> None:
        await client.aclose()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    return poll, close


async def pipeline(spec: dict[str, Any]) -> tuple[PollFn, Callable[[], Awaitable[None]]]:
    from .pipeline import build_pipeline_poller

    return await build_pipeline_poller(spec)


FACTORIES: dict[str, Callable[[dict[str, Any]], Awaitable[tuple[PollFn, Callable[[], Awaitable[None]]]]]] = {
    "fastpoll": fastpoll_engine,
    "pysnmp": pysnmp_hlapi,
    "netsnmp": netsnmp_cli,
    "snmp_exporter": snmp_exporter,
    "pipeline": pipeline,
}


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error_kind(exc: BaseException) -> str:
    return getattr(exc, "kind", None) or type(exc).__name__


# ---------------------------------------------------------------------------------------- main


async def drive(system: str, spec: dict[str, Any]) -> dict[str, Any]:
    devices = [DeviceRef(h, int(p), c) for h, p, c in spec["devices"]]
    poll, close = await FACTORIES[system](spec)
    concurrency = int(spec.get("concurrency") or 200)

    def progress(stats: LoadStats) -> None:
        emit("progress", {"ok": stats.ok, "failed": stats.failed, "skipped": stats.skipped})

    # only the net-snmp CLI's children are its own work; the pipeline's writer process reports its CPU
    # over the measured window itself (its lifetime's, counted here when reaped, includes the warm-up)
    children = system == "netsnmp"
    owner = getattr(poll, "__self__", None)  # benchmarks.pipeline.Pipeline: its cap, ids and own figures
    cpu0, t0 = own_cpu(children), time.perf_counter()
    ext0 = _exporter_cpu()
    try:
        if system == "pipeline":  # the daemon's path: its scheduler too (phases, cap on polls in flight)
            stats = await run_scheduled(
                poll, devices, interval=float(spec["interval"]), duration=float(spec["duration"]),
                max_in_flight=owner.max_polls_in_flight, device_ids=owner.device_ids(devices),
                uncapped=owner.dark, on_progress=progress, error_kind=_error_kind,
            )  # fmt: skip
        else:
            stats = await run_load(
                poll, devices, interval=float(spec["interval"]), duration=float(spec["duration"]),
                concurrency=concurrency, on_progress=progress, error_kind=_error_kind,
            )  # fmt: skip
        wall = time.perf_counter() - t0
        ext = _exporter_cpu() - ext0 if ext0 is not None else None
    finally:
        await close()
    # after close: the pipeline's writer flushes what is still queued there, and that work counts
    extra = owner.report() if hasattr(owner, "report") else {}
    own = own_cpu(children) - cpu0 + extra.get("writer_process_cpu_s", 0.0)
    polls = stats.ok + stats.failed
    cpu = ext if ext is not None else own
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if system == "netsnmp":
        peak_rss = max(peak_rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
    if system == "snmp_exporter":
        peak_rss = EXPORTER_STATE.get("peak_rss", 0)
    raw = {"raw_lags_s": stats.lags, "raw_latencies_s": stats.latencies} if spec.get("raw_samples") else {}
    return {
        **raw,  # benchmarks.instances merges several drivers' percentiles from them
        "system": system,
        "devices": len(devices),
        "interval_s": spec["interval"],
        "duration_s": spec["duration"],
        "offered_polls_per_min": round(len(devices) * 60.0 / float(spec["interval"]), 1),
        "wall_s": round(wall, 3),
        "polls_ok": stats.ok,
        "polls_failed": stats.failed,
        "polls_skipped": stats.skipped,
        "errors": dict(stats.errors),
        "varbinds": stats.varbinds,
        "device_polls_per_s": round(stats.ok / wall, 2) if wall else 0.0,
        "varbinds_per_s": round(stats.varbinds / wall, 1) if wall else 0.0,
        "cpu_s": round(cpu, 3),
        "client_cpu_s": round(own, 3),
        "cpu_s_per_1000_polls": round(cpu / polls * 1000, 3) if polls else None,
        "p50_ms": _ms(stats.percentile(0.5)),
        "p99_ms": _ms(stats.percentile(0.99)),
        "lag_p50_ms": _ms(stats.percentile(0.5, stats.lags)),
        "lag_p99_ms": _ms(stats.percentile(0.99, stats.lags)),
        "lag_max_ms": _ms(max(stats.lags, default=None)),
        "polls_scheduled": stats.scheduled,
        "polls_missed": stats.missed,
        "peak_rss_mb": round(peak_rss / 2**20, 1),
        "pid": os.getpid(),
        **extra,
    }


def _exporter_cpu() -> float | None:
    proc = EXPORTER_STATE.get("process")
    if proc is None:
        return None
    t = proc.cpu_times()
    return t.user + t.system


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    system, spec = argv[0], json.loads(Path(argv[1]).read_text())  # SPEC_JSON: a file (device lists are long)
    if system not in FACTORIES:
        raise SystemExit(f"unknown system {system!r}; one of {', '.join(SYSTEMS)}")
    if spec.get("uvloop"):
        import uvloop

        uvloop.install()
    try:
        result = asyncio.run(drive(system, spec))
    except NotImplementedError as exc:
        emit("result", {"system": system, "status": "not_wired", "reason": str(exc)})
        return 0
    except PipelineUnavailable as exc:
        emit("result", {"system": system, "status": "skipped", "reason": str(exc)})
        return 0
    except Exception as exc:
        emit("result", {"system": system, "status": "error", "reason": f"{type(exc).__name__}: {exc}"[:500]})
        return 1
    result["status"] = "ok"
    emit("result", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
