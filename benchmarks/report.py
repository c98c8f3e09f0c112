"""The benchmark's Markdown table and PNG plots (CPU and latency vs device-polls per minute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = (
    ("system", "system"),
    ("devices", "devices"),
    ("offered_polls_per_min", "polls/min offered"),
    ("polls_ok", "ok"),
    ("polls_failed", "failed"),
    ("polls_skipped", "skipped"),
    ("device_polls_per_s", "device-polls/s"),
    ("varbinds_per_s", "varbinds/s"),
    ("cpu_s_per_1000_polls", "CPU-s / 1000 polls"),
    ("cpu_vs_fastpoll", "x fastpoll"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("lag_p99_ms", "sched lag p99 ms"),
    ("polls_missed", "missed"),
    ("peak_rss_mb", "peak RSS MB"),
    ("sim_cpu_s_per_1000_polls", "sim CPU-s / 1000 polls"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
    return str(value)


def render_markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        f"# fastpoll benchmark ({meta['when']})",
        "",
        f"{meta['ports']} ports per device, interval {meta['interval_s']} s, {meta['duration_s']} s per run, "
        f"{meta['cpus']} CPUs, Python {meta['python']}, simulator workers {meta['sim_workers']}"
        + (f" at niceness {meta['sim_nice']}" if meta.get("sim_nice") else "")
        + (f", fastpoll's rate limit {meta['rate_limit']:g} requests/s" if meta.get("rate_limit") else "")
        + ". "
        "CPU = process CPU (user+system; children included for the net-snmp CLI; the exporter's own "
        "process for snmp_exporter), never wall time.",
        "",
        *(
            f"Also merged: the run of {m['when']} (devices {m['devices']}, interval {m['interval_s']} s, "
            f"{m['duration_s']} s per run, {m['ports']} ports)."
            for m in report.get("merged", ())
        ),
        "",
        "| " + " | ".join(h for _, h in COLUMNS) + " | errors / status |",
        "|" + "---|" * (len(COLUMNS) + 1),
    ]
    for r in report["results"]:
        if r.get("status") != "ok":
            cells = [_cell(r.get("system")), _cell(r.get("devices"))] + ["-"] * (len(COLUMNS) - 2)
            lines.append("| " + " | ".join(cells) + f" | {r.get('status')}: {r.get('reason', '')[:120]} |")
            continue
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r.get("errors", {}).items())) or "none"
        lines.append("| " + " | ".join(_cell(r.get(k)) for k, _ in COLUMNS) + f" | {errors} |")
    lines += render_pipeline(report["results"])
    return "\n".join(lines) + "\n"


PIPELINE_HEADERS = (
    "devices", "fastpoll CPU-s (main / writer / scrape / other)", "fastpoll cores", "MariaDB CPU-s",
    "CPU-s / 1000 polls (fastpoll + MariaDB)", "sched lag p50 / p99 / max ms",
    "writer backlog max (ports / devices)",
    "writer flush at end s", "batches / rows / failures / eventlog rows dropped", "missed", "kept up",
    "scrapes (max render ms)",
    "RSS MB after setup / at end / at end after the GC timer's trim / peak / largest in the window",
    "pymalloc MB at end: arenas / in use / free blocks / free pools",
    "setup s",
)  # fmt: skip
RSS_FIGURES = ("rss_after_setup_mb", "rss_end_mb", "rss_end_trimmed_mb", "peak_rss_mb", "rss_window_max_mb")
# benchmarks/pymalloc_stats.py: CPython's small-object arenas, which no trim gives back
PYMALLOC_FIGURES = (
    "pymalloc_arenas_mb", "pymalloc_allocated_mb", "pymalloc_free_blocks_mb", "pymalloc_free_pools_mb",
)  # fmt: skip
KEPT_UP_LAG_SHARE = 0.1  # kept up = p99 schedule lag under 10% of the interval


def _per_1000(seconds: float | None, polls: int) -> str:
    return _cell(round(seconds / polls * 1000, 2)) if seconds is not None and polls else "-"


def kept_up(r: dict[str, Any]) -> str:
    """ "missed" counts only overruns (a device still busy at its next slot); a saturated poller starts
    every poll late instead, which the p99 schedule lag shows."""
    lag, interval = r.get("lag_p99_ms"), r.get("interval_s")
    if lag is None or not interval:
        return "-"
    if lag < KEPT_UP_LAG_SHARE * interval * 1000:
        return "yes"
    return f"no: p99 start {lag / 1000:,.0f} s late"


def _writer_cpu(r: dict[str, Any]) -> str:
    """The writer thread's CPU, plus its process's where batches were written from one."""
    thread, process = _cell(r.get("cpu_writer_s")), r.get("writer_process_cpu_s")
    return thread if process is None else f"{thread} + {_cell(process)} in its process"


def _writer_process_memory(r: dict[str, Any]) -> str:
    if r.get("writer_process_rss_end_mb") is None:
        return ""
    return (
        f"; writer process at end {_cell(r['writer_process_rss_end_mb'])} RSS, "
        f"{_cell(r.get('writer_process_uss_end_mb'))} USS, "
        f"peak {_cell(r.get('writer_process_peak_rss_mb'))}, "
        f"largest in the window {_cell(r.get('writer_process_rss_window_max_mb'))}"
    )


def render_pipeline(results: list[dict[str, Any]]) -> list[str]:
    """The full pipeline's own figures (poll -> LibreNMS writer -> metrics), one row per run."""
    runs = [r for r in results if r.get("system") == "pipeline" and r.get("status") == "ok"]
    if not runs:
        return []
    lines = [
        "",
        "## Full pipeline (engine -> checks -> LibreNMS writer into MariaDB -> metrics state + scrapes)",
        "",
        "fastpoll CPU is the driver process (all its threads; `cores` = CPU-s / wall-s); MariaDB CPU is "
        "the whole mariadbd process over the same window (other clients of that server during the run "
        "count too). "
        + (
            "Every device's ports were inserted as LibreNMS's poller leaves them (`--ports-as polled`), so "
            "first polls write counters only, as beside a running LibreNMS."
            if all(r.get("ports_as") == "polled" for r in runs)
            else "Every device's ports were inserted as discovery leaves them, so each device's first "
            "poll writes every column (the heaviest case); later polls write counters only."
        )
        + (
            " Every device was polled once before the measured window (`--warmup`: a daemon that has been "
            "running; that first cycle's cost is in results.json as `warmup_*`)."
            if runs and all(r.get("warmup_polls") for r in runs)
            else ""
        )
        + (
            " A run of N instances (`--instances`) is N drivers at once, each polling its share of the "
            "devices into the same database and claiming each poll in Redis, as a `[cluster]` of fastpoll "
            "instances on one machine: CPU and memory are their sums, the percentiles over all their polls, "
            "MariaDB's CPU counted once (benchmarks/instances.py)."
            if any((r.get("instances") or 1) > 1 for r in runs)
            else ""
        ),
        "",
        "| " + " | ".join(PIPELINE_HEADERS) + " |",
        "|" + "---|" * len(PIPELINE_HEADERS),
    ]
    for r in runs:
        polls = (r.get("polls_ok") or 0) + (r.get("polls_failed") or 0)
        cpu = r.get("cpu_s")
        db = r.get("mariadb_cpu_s")
        wall = r.get("pipeline_wall_s") or r.get("wall_s")
        backlog = r.get("writer_backlog_max") or {}
        instances = r.get("instances") or 1
        cells = [
            _cell(r.get("devices")) + (f" ({instances} instances)" if instances > 1 else ""),
            f"{_cell(cpu)} ({_cell(r.get('cpu_main_s'))} / {_writer_cpu(r)} / "
            f"{_cell(r.get('cpu_scrape_s'))} / {_cell(r.get('cpu_other_threads_s'))})",
            _cell(round(cpu / wall, 2)) if cpu is not None and wall else "-",
            _cell(db),
            f"{_per_1000(cpu, polls)} + {_per_1000(db, polls)}",
            f"{_cell(r.get('lag_p50_ms'))} / {_cell(r.get('lag_p99_ms'))} / {_cell(r.get('lag_max_ms'))}",
            f"{_cell(backlog.get('ports'))} / {_cell(backlog.get('devices'))}",
            _cell(r.get("writer_flush_s")),
            " / ".join(
                _cell(r.get(k))
                for k in ("writer_batches", "writer_rows", "writer_failures", "writer_dropped_transitions")
            ),
            _cell(r.get("polls_missed")),
            kept_up(r),
            f"{_cell(r.get('scrapes'))} ({_cell(r.get('scrape_render_max_ms'))})",
            " / ".join(_cell(r.get(k)) for k in RSS_FIGURES) + _writer_process_memory(r),
            " / ".join(_cell(r.get(k)) for k in PYMALLOC_FIGURES),
            _cell(r.get("setup_s")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_markdown(report: dict[str, Any], path: Path) -> str:
    text = render_markdown(report)
    path.write_text(text)
    return text


# the plots' legend: what each system is, as the README's table names it
PLOT_LABELS = {
    "fastpoll": "fastpoll SNMP engine",
    "pipeline": "fastpoll full pipeline (MariaDB's CPU not counted)",
    "netsnmp": "net-snmp CLI, as LibreNMS polls",
    "pysnmp": "pysnmp hlapi",
    "snmp_exporter": "Prometheus snmp_exporter",
}


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ok = [r for r in report["results"] if r.get("status") == "ok" and "@" not in r["system"]]
    systems = sorted({r["system"] for r in ok})
    loads = sorted({r["offered_polls_per_min"] for r in ok})
    # plain numbers on the log axes: matplotlib's default labels every minor tick as 3x10^2, 4x10^2, ...
    plain = FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:g}")
    paths = []
    for key, ylabel, name, log in (
        ("cpu_s_per_1000_polls", "CPU-s per 1000 device-polls", "cpu.png", True),
        ("p50_ms", "p50 device-poll latency (ms)", "latency_p50.png", True),
        ("p99_ms", "p99 device-poll latency (ms)", "latency_p99.png", True),
    ):
        fig, ax = plt.subplots(figsize=(7, 5.5))
        for system in systems:
            pts = sorted(
                (r["offered_polls_per_min"], r[key]) for r in ok if r["system"] == system and r.get(key)
            )
            if pts:
                label = PLOT_LABELS.get(system, system)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        ax.set_xlabel("device-polls per minute (offered)")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 1, 2, 5, 10, 20, 50, ...
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xscale("log")
        ax.set_xticks(loads)  # the loads measured
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small")  # off the lines
        ax.set_title(ylabel)
        fig.tight_layout()
        path = out / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
