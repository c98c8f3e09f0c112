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
        f"{meta['cpus']} CPUs, Python {meta['python']}, simulator workers {meta['sim_workers']}. "
        "CPU = process CPU (user+system; children included for the net-snmp CLI; the exporter's own "
        "process for snmp_exporter), never wall time.",
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
    return "\n".join(lines) + "\n"


def write_markdown(report: dict[str, Any], path: Path) -> str:
    text = render_markdown(report)
    path.write_text(text)
    return text


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in report["results"] if r.get("status") == "ok" and "@" not in r["system"]]
    systems = sorted({r["system"] for r in ok})
    paths = []
    for key, ylabel, name, log in (
        ("cpu_s_per_1000_polls", "CPU-s per 1000 device-polls", "cpu.png", True),
        ("p50_ms", "p50 device-poll latency (ms)", "latency_p50.png", True),
        ("p99_ms", "p99 device-poll latency (ms)", "latency_p99.png", True),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for system in systems:
            pts = sorted(
                (r["offered_polls_per_min"], r[key]) for r in ok if r["system"] == system and r.get(key)
            )
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=system)
        ax.set_xlabel("device-polls per minute (offered)")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        ax.set_title(ylabel)
        fig.tight_layout()
        path = out / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
