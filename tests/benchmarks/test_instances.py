"""Several pipeline instances as one cluster: their shares and their merged figures (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.instances import instance_specs, merge_instances, shares
from benchmarks.workload import LoadStats


def instance(lags: list[float], **figures: Any) -> dict[str, Any]:
    base = {
        "system": "pipeline", "status": "ok", "devices": 5, "interval_s": 60.0, "wall_s": 100.0,
        "polls_ok": len(lags), "polls_failed": 0, "varbinds": 10 * len(lags), "cpu_s": 1.0,
        "mariadb_cpu_s": 2.0, "errors": {}, "writer_backlog_max": {"ports": 0, "devices": 1},
        "raw_lags_s": lags, "raw_latencies_s": [0.01] * len(lags), "pid": 1,
    }  # fmt: skip
    return {**base, **figures}


def test_shares_cover_every_device_once_in_slices_of_nearly_equal_size() -> None:
    assert shares(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert shares(3, 2) == [(0, 1), (1, 3)]
    with pytest.raises(ValueError):
        shares(3, 0)


def test_each_instance_gets_its_share_the_shared_database_and_a_name_of_its_own(tmp_path: Path) -> None:
    spec = {"devices": [["127.0.0.1", 161, f"d{i}"] for i in range(5)], "memory_samples": "/x/p-5-memory.tsv"}
    first, second = instance_specs(spec, 2, "db1", tmp_path)
    assert first["devices"] + second["devices"] == spec["devices"]
    assert first["database"] == second["database"] == "db1"
    assert first["cluster"]["instance"] != second["cluster"]["instance"]
    assert first["cluster"]["prefix"] == second["cluster"]["prefix"]  # one cluster: claims meet in Redis
    assert first["memory_samples"] == "/x/p-5-memory-0.tsv"
    assert second["memory_samples"] == "/x/p-5-memory-1.tsv"
    assert first["raw_samples"] and first["barrier"]["parties"] == 2


def test_merged_polls_cpu_and_memory_are_the_instances_sums() -> None:
    merged = merge_instances(
        [instance([0.1] * 4, peak_rss_mb=100.0, cpu_s=1.5), instance([0.1] * 6, peak_rss_mb=120.0)],
        sim_cpu_s=3.0, redis_cpu_s=0.5,
    )  # fmt: skip
    assert (merged["devices"], merged["polls_ok"], merged["varbinds"]) == (10, 10, 100)
    assert merged["cpu_s"] == 2.5 and merged["cpu_s_per_1000_polls"] == 250.0
    assert merged["peak_rss_mb"] == 220.0
    assert merged["device_polls_per_s"] == 0.1 and merged["offered_polls_per_min"] == 10.0
    assert merged["writer_backlog_max"] == {"ports": 0, "devices": 2}  # a count of 0 is kept


def test_mariadb_is_counted_once_as_each_instance_measures_the_whole_server() -> None:
    results = [instance([0.1], mariadb_cpu_s=2.0), instance([0.1], mariadb_cpu_s=2.1)]
    merged = merge_instances(results, sim_cpu_s=0.0, redis_cpu_s=None)
    assert merged["mariadb_cpu_s"] == 2.1


def test_merged_lag_percentiles_are_over_every_instances_polls() -> None:
    calm, late = [0.01] * 98, [5.0] * 2
    merged = merge_instances([instance(calm), instance(late)], sim_cpu_s=0.0, redis_cpu_s=None)
    union = LoadStats(lags=calm + late)
    assert merged["lag_p99_ms"] == round(union.percentile(0.99, union.lags) * 1000, 2)
    assert merged["lag_p50_ms"] == 10.0
    assert not any(key.startswith("raw_") for key in merged) and "pid" not in merged


def test_the_machines_figures_come_with_each_instances_own() -> None:
    results = [instance([0.1], cpu_s=1.0), instance([0.2], cpu_s=2.0)]
    merged = merge_instances(results, sim_cpu_s=1.0, redis_cpu_s=0.2)
    assert merged["instances"] == 2
    assert [i["cpu_s"] for i in merged["per_instance"]] == [1.0, 2.0]
    assert (merged["sim_cpu_s"], merged["redis_cpu_s"]) == (1.0, 0.2)


def test_an_instance_that_failed_fails_the_run_and_is_named() -> None:
    failed = {"system": "pipeline", "status": "error", "reason": "boom"}
    merged = merge_instances([instance([0.1]), failed], sim_cpu_s=0.0, redis_cpu_s=None)
    assert merged["status"] == "error" and "instance 1: boom" in merged["reason"]
