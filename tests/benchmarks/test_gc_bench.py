"""benchmarks.gc_bench keeps working: a few devices, one measured cycle, under each policy. Never a speed."""

from __future__ import annotations

import gc

import pytest

from benchmarks.gc_bench import run_one
from poller.gc_policy import NEVER

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("policy", ["default", "daemon"])
def test_every_device_is_polled_and_the_interpreters_settings_come_back(policy):
    before = gc.get_threshold()
    report = run_one(devices=4, cycles=1, policy=policy)
    assert report["polls"] == 4 and report["failed"] == 0
    assert report["cpu_ms_per_poll"] > 0 and len(report["gc_runs"]) == 3
    assert gc.get_threshold() == before != (before[0], NEVER, NEVER)
    assert gc.get_freeze_count() == 0
