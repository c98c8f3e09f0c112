"""The benchmark harness keeps working: a few devices for seconds, every system (the full pipeline
into a fresh MariaDB when one is running), the outputs' shape and that polls succeeded. Never a speed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import merge
from benchmarks.drivers import snmp_exporter_config
from benchmarks.harness import add_ratios
from benchmarks.pipeline import device_rows, port_rows
from benchmarks.report import render_markdown, render_pipeline
from poller.checks.ifmib import IANA_IFTYPE
from poller.sim.generate import generate_fleet
from tests.support import mariadb
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
        [sys.executable, "-m", "benchmarks", "run", "--smoke", "--warmup", "--quiet", "--memory-samples",
         "--systems", ",".join(systems), "--base-address", "127.22.0.1", "--out", str(out)],
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


def test_the_pipeline_polls_every_device_through_the_writer_into_mariadb(smoke: tuple[dict, Path]) -> None:
    report, _ = smoke
    (pipeline,) = [r for r in report["results"] if r["system"] == "pipeline"]
    if not mariadb.available():
        assert pipeline["status"] == "skipped" and "MariaDB" in pipeline["reason"], pipeline
        return
    assert pipeline["status"] == "ok", pipeline
    assert pipeline["polls_ok"] >= 3 and pipeline["polls_failed"] == 0 and pipeline["polls_missed"] == 0
    assert pipeline["varbinds"] >= pipeline["polls_ok"] * (5 + 8 * 8), pipeline  # device GET + >= 8 columns
    assert pipeline["writer_flushed"] and pipeline["writer_failures"] == 0 and pipeline["writer_rows"] > 0
    assert pipeline["writer_dropped_transitions"] == 0, pipeline  # a few devices stay under the eventlog cap
    assert pipeline["db_devices_polled"] == 3, pipeline  # last_polled set on every device row
    assert pipeline["db_ports_with_counters"] == 3 * 8, pipeline  # every discovered port got its counters
    assert pipeline["scrapes"] >= 1 and pipeline["scrape_errors"] == 0, pipeline
    assert pipeline["rss_window_max_mb"] > 10, pipeline  # RSS sampled in the measured window
    # CPython's small-object arenas at the end: what is in use and free in them fits in them (each figure
    # is rounded to 0.1 MB)
    parts = pipeline["pymalloc_allocated_mb"] + pipeline["pymalloc_free_blocks_mb"]
    assert 1 < parts + pipeline["pymalloc_free_pools_mb"] <= pipeline["pymalloc_arenas_mb"] + 0.2, pipeline
    assert pipeline["scrape_on_loop"] and pipeline["scrape_on_loop_fallbacks"] == 0, pipeline  # as the daemon
    # --warmup: every device polled once before the measured window, counted apart
    assert pipeline["warmup_polls"] == 3 and pipeline["warmup_failed"] == 0, pipeline
    assert pipeline["warmup_cpu_s"] > 0, pipeline
    assert pipeline["ports_inserted"] == 3 * 8, pipeline  # seeded by the child process
    # --memory-samples: a timeline through the warm-up and the window
    rows = [line.split("\t") for line in Path(pipeline["memory_samples"]).read_text().splitlines()]
    assert rows[0][:3] == ["t_s", "phase", "rss_mb"], rows[0]
    assert {"warmup", "window"} <= {r[1] for r in rows[1:]} and all(float(r[2]) > 10 for r in rows[1:]), rows
    cpu = rows[0].index("cpu_s")
    assert float(rows[-1][cpu]) > float(rows[1][cpu]), rows  # the CPU so far
    # where a lag spike comes from: the loop's thread, the lag since the row before, the other processes
    assert rows[0][cpu + 1 :] == [
        "loop_cpu_s", "lag_max_ms", "sim_cpu_s", "mariadb_cpu_s",
        "loop_behind", "walks_running", "walks_waiting",
    ], rows[0]  # fmt: skip
    last = dict(zip(rows[0], rows[-1], strict=True))
    assert 0 < float(last["loop_cpu_s"]) <= float(last["cpu_s"]), last
    assert last["loop_behind"] in ("0", "1") and last["walks_running"] == "", last  # no slots by default
    assert pipeline["max_port_walks_when_late"] == 0 and pipeline["port_walks_waited"] == 0, pipeline
    assert float(last["sim_cpu_s"]) > 0 and float(last["mariadb_cpu_s"]) > 0, last
    assert max(float(r[cpu + 2]) for r in rows[1:]) > 0, rows  # a poll starts a little after its slot
    for key in (
        "cpu_main_s", "cpu_writer_s", "mariadb_cpu_s", "lag_p99_ms", "writer_flush_s", "rss_after_setup_mb",
        "rss_end_mb", "rss_end_trimmed_mb", "gc_timer_pause_s", "gc_end_collected",
    ):  # fmt: skip
        assert isinstance(pipeline[key], (int, float)), (key, pipeline)


def pipeline_smoke(out: Path, base_address: str, *options: str) -> dict:
    """The pipeline alone in a smoke run with ``options``: its result, after checking the run went well."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--smoke", "--quiet", "--systems", "pipeline", *options,
         "--base-address", base_address, "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (pipeline,) = json.loads((out / "results.json").read_text())["results"]
    assert pipeline["status"] == "ok", pipeline
    return pipeline


@pytest.mark.mariadb
def test_the_pipeline_with_a_writer_process_counts_its_cpu_and_memory(tmp_path: Path) -> None:
    pipeline = pipeline_smoke(tmp_path, "127.22.1.1", "--writer-process")
    assert pipeline["writer_flushed"] and pipeline["writer_failures"] == 0, pipeline
    assert pipeline["db_ports_with_counters"] == 3 * 8, pipeline  # written by the child
    assert pipeline["writer_process_cpu_s"] > 0, pipeline
    assert pipeline["cpu_s"] >= pipeline["writer_process_cpu_s"] + pipeline["cpu_main_s"], pipeline
    for key in (
        "writer_process_rss_end_mb",
        "writer_process_uss_end_mb",
        "writer_process_peak_rss_mb",
        "writer_process_rss_window_max_mb",
    ):
        assert pipeline[key] > 10, (key, pipeline)
    assert "writer process at end" in (tmp_path / "results.md").read_text()


@pytest.mark.mariadb
def test_the_pipeline_trims_the_allocator_as_often_as_asked_and_times_the_trims(tmp_path: Path) -> None:
    pipeline = pipeline_smoke(tmp_path, "127.22.4.1", "--trim-every", "0.2")
    assert pipeline["trim_every_s"] == 0.2
    assert pipeline["gc_trims"] >= 3, pipeline  # a window of 2 s
    # timed (a small heap trims in microseconds: the figures are rounded to 1 us)
    assert 0 <= pipeline["gc_trim_max_ms"] <= pipeline["gc_trim_s"] * 1000 + 0.001, pipeline


@pytest.mark.mariadb
def test_a_scrape_interval_past_the_run_leaves_only_the_final_scrape(tmp_path: Path) -> None:
    pipeline = pipeline_smoke(tmp_path, "127.22.2.1", "--scrape-interval", "1000")
    assert pipeline["scrape_interval_s"] == 1000.0
    assert pipeline["scrapes"] == 1, pipeline  # the one after the last poll, outside the measured window


@pytest.mark.mariadb
def test_scrapes_can_render_in_their_own_thread_as_before_the_event_loop_did(tmp_path: Path) -> None:
    pipeline = pipeline_smoke(tmp_path, "127.22.3.1", "--scrape-in-thread")
    assert pipeline["scrapes"] >= 1, pipeline
    assert pipeline["scrape_on_loop"] is False and pipeline["scrape_on_loop_max_ms"] is None, pipeline


@pytest.mark.mariadb
def test_the_pipeline_drops_its_database_at_close(smoke: tuple[dict, Path]) -> None:
    report, _ = smoke
    (pipeline,) = [r for r in report["results"] if r["system"] == "pipeline"]
    if pipeline["status"] != "ok":
        pytest.skip(f"pipeline did not run: {pipeline.get('reason')}")
    conn = mariadb.root_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (pipeline["database"],))
            assert cur.fetchall() == ()
    finally:
        conn.close()


def test_pipeline_inserts_ports_with_the_identity_columns_discovery_sets() -> None:
    fleet = generate_fleet(2, 4, seed=3, base_address="127.24.0.1", port=1161)
    rows = port_rows(fleet)
    assert [r["port_id"] for r in rows] == list(range(1, 9))
    assert [r["device_id"] for r in rows] == [1] * 4 + [2] * 4
    first = fleet[0].ports()[0]
    assert rows[0]["ifIndex"] == first.if_index and rows[0]["ifName"] == first.name
    assert rows[0]["ifDescr"] == first.descr and rows[0]["ifType"] == IANA_IFTYPE[first.if_type]
    assert "ifInOctets" not in rows[0]  # counters are the poller's to fill


def test_pipeline_devices_are_v2c_rows_at_the_simulated_addresses() -> None:
    fleet = generate_fleet(2, 4, seed=3, base_address="127.24.0.1", port=1161)
    rows = device_rows(fleet, timeout=2.0, retries=1)
    assert [(r["device_id"], r["hostname"], r["port"]) for r in rows] == [
        (1, "127.24.0.1", 1161),
        (2, "127.24.0.2", 1161),
    ]
    assert {(r["snmpver"], r["timeout"], r["retries"]) for r in rows} == {("v2c", 2, 1)}


def test_markdown_has_a_pipeline_section_with_cpu_split_and_mariadb() -> None:
    run = {
        "system": "pipeline", "status": "ok", "devices": 1000, "polls_ok": 1000, "polls_failed": 0,
        "cpu_s": 30.0,
        "cpu_main_s": 20.0, "cpu_writer_s": 8.0, "cpu_scrape_s": 1.0, "cpu_other_threads_s": 1.0,
        "mariadb_cpu_s": 12.0, "pipeline_wall_s": 60.0, "writer_backlog_max": {"ports": 480, "devices": 10},
        "interval_s": 60.0, "lag_p99_ms": 9000.0,
    }  # fmt: skip
    lines = render_pipeline([run])
    row = lines[-1]
    assert row.startswith("| 1000 | 30.00 (20.00 / 8.00 / 1.00 / 1.00) | 0.50 | 12.00 | 30.00 + 12.00 |"), row
    assert "| 480 / 10 |" in row and "| no: p99 start 9 s late |" in row


def test_markdown_adds_a_writer_process_to_the_writer_cpu_and_the_memory() -> None:
    run = {
        "system": "pipeline", "status": "ok", "devices": 1000, "polls_ok": 1000, "polls_failed": 0,
        "cpu_s": 30.0, "cpu_main_s": 20.0, "cpu_writer_s": 1.0, "writer_process_cpu_s": 7.0,
        "cpu_scrape_s": 1.0, "cpu_other_threads_s": 1.0, "pipeline_wall_s": 60.0, "rss_end_mb": 250.0,
        "writer_process_rss_end_mb": 52.0, "writer_process_uss_end_mb": 34.0,
        "writer_process_peak_rss_mb": 60.0, "writer_process_rss_window_max_mb": 58.0,
    }  # fmt: skip
    row = render_pipeline([run])[-1]
    assert "| 30.00 (20.00 / 1.00 + 7.00 in its process / 1.00 / 1.00) |" in row, row
    memory = "; writer process at end 52.00 RSS, 34.00 USS, peak 60.00, largest in the window 58.00 |"
    assert memory in row, row


def test_ratios_compare_cpu_per_poll_with_fastpoll_at_the_same_load() -> None:
    results = [
        {"system": "fastpoll", "status": "ok", "devices": 10, "cpu_s_per_1000_polls": 2.0},
        {"system": "pysnmp", "status": "ok", "devices": 10, "cpu_s_per_1000_polls": 150.0},
    ]
    add_ratios(results)
    assert results[1]["cpu_vs_fastpoll"] == 75.0


def test_fastpoll_is_its_own_reference_even_when_a_short_runs_cpu_rounds_to_zero() -> None:
    results = [
        {"system": "fastpoll", "status": "ok", "devices": 3, "cpu_s_per_1000_polls": 0.0},
        {"system": "pysnmp", "status": "ok", "devices": 3, "cpu_s_per_1000_polls": 20.0},
    ]
    add_ratios(results)
    assert results[0]["cpu_vs_fastpoll"] == 1.0 and "cpu_vs_fastpoll" not in results[1]


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


def test_merge_puts_the_runs_of_several_invocations_in_one_table(tmp_path: Path) -> None:
    meta = {"when": "t1", "devices": [10], "ports": 8, "interval_s": 60, "duration_s": 60, "cpus": 2,
            "python": "3.11", "sim_workers": 1}  # fmt: skip
    first = {"meta": meta, "results": [
        {"system": "fastpoll", "status": "ok", "devices": 10, "offered_polls_per_min": 10.0,
         "cpu_s_per_1000_polls": 2.0, "p50_ms": 5.0, "p99_ms": 9.0}]}  # fmt: skip
    second = {"meta": {**meta, "when": "t2", "devices": [30]}, "results": [
        {"system": "pipeline", "status": "ok", "devices": 30, "offered_polls_per_min": 30.0,
         "cpu_s_per_1000_polls": 8.0, "p50_ms": 9.0, "p99_ms": 20.0}]}  # fmt: skip
    paths = []
    for name, rep in (("a.json", first), ("b.json", second)):
        (tmp_path / name).write_text(json.dumps(rep))
        paths.append(tmp_path / name)
    merged = merge(paths, tmp_path / "out")
    assert [r["system"] for r in merged["results"]] == ["fastpoll", "pipeline"]
    assert merged["results"][1]["cpu_vs_fastpoll"] == 4.0
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| pipeline | 30 |" in md and "Also merged: the run of t2 (devices [30]" in md


@pytest.mark.mariadb
def test_two_pipeline_instances_share_the_devices_and_one_database(tmp_path: Path) -> None:
    pipeline = pipeline_smoke(tmp_path, "127.22.5.1", "--instances", "2", "--warmup")
    assert pipeline["instances"] == 2 and pipeline["devices"] == 3, pipeline
    first, second = pipeline["per_instance"]
    assert (first["devices"], second["devices"]) == (1, 2), pipeline  # contiguous shares, each its own
    assert pipeline["polls_ok"] == first["polls_ok"] + second["polls_ok"] >= 6, pipeline
    assert pipeline["db_devices_polled"] == 3, pipeline  # both wrote into the one database
    for instance in (first, second):  # every poll (the warm-up's too) claimed its slot, none lost
        assert instance["claims_won"] == instance["polls_ok"] + instance["devices"], pipeline
        assert instance["claims_lost"] == instance["claims_failed"] == 0, pipeline
    assert pipeline["cpu_s"] == pytest.approx(first["cpu_s"] + second["cpu_s"], abs=0.002), pipeline
    assert isinstance(pipeline["redis_cpu_s"], float), pipeline
    assert "(2 instances)" in (tmp_path / "results.md").read_text()
    conn = mariadb.root_connect()
    try:
        with conn.cursor() as cur:  # the harness made the shared database and dropped it
            cur.execute("SHOW DATABASES LIKE %s", (pipeline["database"],))
            assert cur.fetchall() == ()
    finally:
        conn.close()
