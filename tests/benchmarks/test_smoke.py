"""The benchmark harness keeps working: a few devices for seconds, every system, the outputs'
shape and that polls succeeded. Never a speed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.drivers import snmp_exporter_config
from benchmarks.harness import add_ratios
from benchmarks.report import render_markdown
from tests.support.shared import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    systems = ["fastpoll", "pysnmp", "pipeline"]
    if shutil.which("snmpget") and shutil.which("snmpbulkwalk"):
        systems.append("netsnmp")
    if shutil.which("prometheus-snmp-exporter"):
        systems.append("snmp_exporter")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--smoke", "--quiet", "--systems", ",".join(systems),
         "--base-address", "127.22.0.1", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), out


def test_smoke_run_writes_json_markdown_and_plots(smoke: tuple[dict, Path]) -> None:
    _, out = smoke
    assert (out / "results.md").read_text().startswith("# fastpoll benchmark")
    for name in ("cpu.png", "latency_p50.png", "latency_p99.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_measured_system_polled_all_devices_without_failures(smoke: tuple[dict, Path]) -> None:
    report, _ = smoke
    measured = [r for r in report["results"] if r["system"] != "pipeline"]
    assert {r["system"] for r in measured} >= {"fastpoll", "pysnmp"}
    for r in measured:
        assert r["status"] == "ok", r
        assert r["polls_ok"] >= 3 and r["polls_failed"] == 0, r
        assert r["varbinds"] >= r["polls_ok"] * (3 + 8 * 8), r  # 3 scalars + 8 columns x 8 ports
        for key in ("cpu_s_per_1000_polls", "p50_ms", "p99_ms", "peak_rss_mb", "sim_cpu_s", "varbinds_per_s"):
            assert isinstance(r[key], (int, float)), (key, r)
    fast = next(r for r in measured if r["system"] == "fastpoll")
    assert fast["cpu_vs_fastpoll"] == 1.0


def test_the_pipeline_hook_is_reported_as_not_wired_until_the_lead_connects_it(
    smoke: tuple[dict, Path],
) -> None:
    report, _ = smoke
    (pipeline,) = [r for r in report["results"] if r["system"] == "pipeline"]
    assert pipeline["status"] in ("not_wired", "ok")


def test_ratios_compare_cpu_per_poll_with_fastpoll_at_the_same_load() -> None:
    results = [
        {"system": "fastpoll", "status": "ok", "devices": 10, "cpu_s_per_1000_polls": 2.0},
        {"system": "pysnmp", "status": "ok", "devices": 10, "cpu_s_per_1000_polls": 150.0},
    ]
    add_ratios(results)
    assert results[1]["cpu_vs_fastpoll"] == 75.0


def test_markdown_shows_a_system_that_did_not_run_with_its_reason() -> None:
    report = {
        "meta": {"when": "now", "ports": 48, "interval_s": 60, "duration_s": 60, "cpus": 2, "python": "3.11",
                 "sim_workers": 1},
        "results": [{"system": "pipeline", "devices": 5, "status": "not_wired", "reason": "hook"}],
    }  # fmt: skip
    assert "| pipeline | 5 |" in render_markdown(report) and "not_wired: hook" in render_markdown(report)


def test_snmp_exporter_module_walks_the_eight_columns_and_gets_the_scalars() -> None:
    import yaml

    module = yaml.safe_load(snmp_exporter_config("public"))["fastpoll_bench"]
    assert len(module["walk"]) == 8 and len(module["get"]) == 3
    assert module["auth"] == {"community": "public"} and module["max_repetitions"] == 25
