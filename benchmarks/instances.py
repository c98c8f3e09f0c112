"""Several fastpoll instances sharing one fleet, as a `[cluster]` of them on one machine would.

    python -m benchmarks run --systems pipeline --devices 10000 --instances 2 ...

One Python process gets one core's worth of the GIL. Where a fleet's polls need more than that (issue 7's
load on a slow day needs 1.2-1.5 cores), a second instance on the same machine, coordinated through Redis
(poller.cluster), is how an operator scales. This module runs N pipeline drivers at once:

* one database with LibreNMS's schema, seeded with the whole fleet by the harness (as LibreNMS's discovery
  would have), shared by every instance as a cluster shares LibreNMS's database; each instance loads the
  inventory and keeps the state of its own share only, as a cluster member does after ``select``;
* the shares are contiguous slices of the same size. A cluster splits by rendezvous hashing, which gives
  each live instance a pseudo-random share of about the same size; the simulated devices are alike, so
  which devices an instance gets does not change its load;
* before each poll an instance claims the poll's slot in Redis with ``RedisMembership.claim`` (one SET NX a
  poll), the cluster's guarantee against double polls; the heartbeat (a transaction of five commands every
  lease_ttl / 3) is left out;
* the instances wait for each other after set-up and after the warm-up (a barrier of files), so their
  measured windows start together;
* the result merges the instances' figures: polls, CPU and memory summed (what the machine carries), the
  lag and latency percentiles over every instance's polls, MariaDB's CPU once (each instance measures the
  whole server over the same window), and the simulator's and Redis's CPU over the run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from .pipeline import proc_cpu, process_named, seed_database
from .workload import LoadStats

REDIS_URL = "redis://127.0.0.1:6379/0"

# Figures that add up over instances (each its own process, polls and memory) and those where the largest
# is the merged one (the same MariaDB server or database seen by each, or the longest of each).
SUMMED = (
    "devices", "polls_ok", "polls_failed", "polls_skipped", "polls_scheduled", "polls_missed", "varbinds",
    "cpu_s", "client_cpu_s", "cpu_main_s", "cpu_writer_s", "cpu_scrape_s", "cpu_other_threads_s",
    "writer_process_cpu_s", "unreachable", "port_walk_failed", "writer_rows", "writer_batches",
    "writer_failures", "writer_dropped_transitions", "claims_won", "claims_lost", "claims_failed",
    "peak_rss_mb", "rss_window_max_mb", "rss_after_setup_mb", "rss_end_mb", "rss_end_trimmed_mb",
    "pymalloc_arenas_mb", "pymalloc_allocated_mb", "pymalloc_free_pools_mb", "pymalloc_free_blocks_mb",
    "writer_process_rss_window_max_mb", "writer_process_uss_end_mb", "warmup_cpu_s", "warmup_polls",
    "warmup_failed", "scrapes", "scrape_errors", "gc_trims",
)  # fmt: skip
LARGEST = (
    "wall_s", "pipeline_wall_s", "lag_max_ms", "mariadb_cpu_s", "db_devices_polled", "db_ports_with_counters",
    "scrape_render_max_ms", "scrape_on_loop_max_ms", "writer_flush_s", "warmup_lag_p99_ms", "warmup_s",
    "setup_s",
)  # fmt: skip
PER_INSTANCE = (
    "devices", "polls_ok", "polls_skipped", "cpu_s", "cpu_main_s", "lag_p99_ms", "peak_rss_mb",
    "rss_window_max_mb", "claims_won", "claims_lost", "claims_failed", "memory_samples",
)  # fmt: skip


def shares(n: int, instances: int) -> list[tuple[int, int]]:
    """[start, stop) of each instance's devices: contiguous slices whose sizes differ by at most one."""
    if instances < 1:
        raise ValueError("need at least one instance")
    return [(n * k // instances, n * (k + 1) // instances) for k in range(instances)]


def merge_instances(
    results: Sequence[dict[str, Any]], *, sim_cpu_s: float, redis_cpu_s: float | None
) -> dict[str, Any]:
    """One result for the machine from the instances' results (each with ``raw_lags_s`` and
    ``raw_latencies_s``, the samples behind its percentiles, which the merged result does not keep)."""
    failed = [r for r in results if r.get("status") != "ok"]
    if failed:
        reasons = "; ".join(f"instance {k}: {r.get('reason')}" for k, r in enumerate(results) if r in failed)
        return {"system": "pipeline", "status": "error", "instances": len(results), "reason": reasons[:1500]}
    merged: dict[str, Any] = {k: v for k, v in results[0].items() if not k.startswith("raw_")}
    for key in SUMMED:
        values = [r[key] for r in results if isinstance(r.get(key), (int, float))]
        if values:
            merged[key] = round(sum(values), 3)
    for key in LARGEST:
        values = [r[key] for r in results if isinstance(r.get(key), (int, float))]
        if values:
            merged[key] = max(values)
    for key in ("errors", "warmup_errors", "writer_backlog_max"):  # counts by kind
        total: Counter[str] = Counter()
        for r in results:
            total.update(r.get(key) or {})  # update, not +: a count of 0 stays
        merged[key] = dict(total)
    lags = [v for r in results for v in r["raw_lags_s"]]
    stats = LoadStats(latencies=[v for r in results for v in r["raw_latencies_s"]], lags=lags)
    for name, q, values in (
        ("p50_ms", 0.5, None), ("p99_ms", 0.99, None), ("lag_p50_ms", 0.5, lags), ("lag_p99_ms", 0.99, lags),
    ):  # fmt: skip
        value = stats.percentile(q, values)
        merged[name] = None if value is None else round(value * 1000, 2)
    wall, polls = merged["wall_s"], merged["polls_ok"] + merged["polls_failed"]
    interval = float(merged["interval_s"])
    merged["offered_polls_per_min"] = round(merged["devices"] * 60.0 / interval, 1)
    merged["device_polls_per_s"] = round(merged["polls_ok"] / wall, 2) if wall else 0.0
    merged["varbinds_per_s"] = round(merged["varbinds"] / wall, 1) if wall else 0.0
    merged["cpu_s_per_1000_polls"] = round(merged["cpu_s"] / polls * 1000, 3) if polls else None
    merged["sim_cpu_s"] = round(sim_cpu_s, 3)
    merged["sim_cpu_s_per_1000_polls"] = round(sim_cpu_s / polls * 1000, 3) if polls else None
    merged["redis_cpu_s"] = None if redis_cpu_s is None else round(redis_cpu_s, 3)
    merged["instances"] = len(results)
    merged["per_instance"] = [{k: r.get(k) for k in PER_INSTANCE} for r in results]
    merged.pop("pid", None)
    return merged


def instance_specs(
    spec: dict[str, Any], instances: int, database: str, barrier: Path
) -> list[dict[str, Any]]:
    """Each instance's driver spec: its share of ``spec``'s devices, the shared database, its name in the
    cluster, the barrier, and its own memory-samples file."""
    out = []
    for k, (start, stop) in enumerate(shares(len(spec["devices"]), instances)):
        samples = spec.get("memory_samples")
        out.append(
            {
                **spec,
                "devices": spec["devices"][start:stop],
                "database": database,
                "cluster": {
                    "redis_url": REDIS_URL,
                    "instance": f"bench-{k}",
                    "prefix": f"fastpoll-bench:{database}",
                },
                "barrier": {"dir": str(barrier), "parties": instances, "name": str(k)},
                "raw_samples": True,
                "memory_samples": samples.replace(".tsv", f"-{k}.tsv") if samples else None,
            }
        )
    return out


def run_instances(
    spec: dict[str, Any],
    instances: int,
    sim: Any,
    run_one: Callable[[dict[str, Any], str], dict[str, Any]],
    label: str,
) -> dict[str, Any]:
    """Seed one database with the whole fleet, run ``instances`` pipeline drivers on their shares at once
    (``run_one(spec, label)`` runs one driver to its result), and merge their results."""

    def skipped(reason: str) -> dict[str, Any]:
        return {"system": "pipeline", "status": "skipped", "instances": instances, "reason": reason}

    try:
        import redis

        from tests.support import mariadb
    except ImportError as exc:
        return skipped(f"needs redis and tests.support: {exc}")
    if not mariadb.available():
        return skipped(f"no MariaDB at {mariadb.HOST}:{mariadb.PORT}")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return skipped(f"no Redis at {REDIS_URL}: {exc}")
    finally:
        client.close()
    from .drivers import RETRIES, TIMEOUT

    with contextlib.ExitStack() as stack:
        database = stack.enter_context(mariadb.librenms_database(prefix="fastpoll_bench"))
        host, port, _ = spec["devices"][0]
        t0 = time.perf_counter()
        # in a child process, as the pipeline seeds its own database: the rows (~480,000 dicts at 10,000
        # devices) would otherwise stay in the harness's heap, and the drivers it forks would inherit that
        # high-water mark as their peak RSS (Linux keeps ru_maxrss across fork and exec)
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(
                seed_database, mariadb.url(database), len(spec["devices"]), int(spec.get("ports") or 48),
                int(spec.get("seed") or 1), host, int(port), spec.get("ports_as") == "polled", TIMEOUT,
                RETRIES,
            ).result()  # fmt: skip
        seed_s = time.perf_counter() - t0
        barrier = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fastpoll-barrier-")))
        specs = instance_specs(spec, instances, database, barrier)
        results: list[dict[str, Any]] = [{} for _ in specs]
        redis_proc = process_named("redis-server")
        sim0, redis0 = sim.cpu(), proc_cpu(redis_proc)

        def one(k: int) -> None:
            results[k] = run_one(specs[k], f"{label} #{k}")

        threads = [threading.Thread(target=one, args=(k,), name=f"instance-{k}") for k in range(instances)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sim_cpu, redis1 = sim.cpu() - sim0, proc_cpu(redis_proc)
    merged = merge_instances(
        results, sim_cpu_s=sim_cpu, redis_cpu_s=None if redis0 is None or redis1 is None else redis1 - redis0
    )
    merged["seed_database_s"] = round(seed_s, 2)
    return merged
