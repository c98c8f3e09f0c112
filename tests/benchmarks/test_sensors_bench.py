"""The sensors benchmark keeps working: it finds the shared recordings' sensors and times their polls."""

from __future__ import annotations

from benchmarks import sensors_bench
from tests.support.shared import require_shared


def test_every_sensor_found_has_its_recorded_answer():
    require_shared()
    rows, answers = sensors_bench.shared_sensors()
    assert len(rows) > 50
    assert {r.sensor_oid for r in rows} <= set(answers)


def test_a_block_of_changing_polls_costs_cpu_time():
    require_shared()
    rows, answers = sensors_bench.shared_sensors()
    assert sensors_bench.sensors_block(rows, answers, 20, changing=True) > 0
