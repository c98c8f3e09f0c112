"""The soak driver keeps working: a few devices for seconds with a black hole, packet loss and a database
outage injected, and its accounting (pure) on hand-made records. Never a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.soak import FaultWindow, PollRecord, fault_report, slot_accounting
from tests.support import mariadb
from tests.support.shared import REPO


def record(index: int, due: float, ok: bool = True, *, end: float | None = None, **kw) -> PollRecord:
    return PollRecord(
        index, due, due, due + 0.1 if end is None else end, ok, None if ok else "timeout",
        kw.get("went_down", False), kw.get("came_up", False), kw.get("requests", 4),
    )  # fmt: skip


def test_a_slot_missed_while_its_device_was_faulted_is_not_counted_outside_the_windows() -> None:
    # 2 devices every 10 s for 20 s: slots due at 0, 5, 10, 15; device 1 black-holed from 4 to 8
    window = FaultWindow("blackhole", [1], 4.0, 8.0)
    records = [record(0, 0), record(1, 5, ok=False), record(0, 10)]  # device 1's slot at 15 never ran
    got = slot_accounting(records, [0.0, 5.0], 10.0, 20.0, [window])
    assert got["slots"] == 4 and got["ok"] == 2
    assert got["missed_in_fault_windows"] == 1
    assert got["missed_outside_fault_windows"] == 1 and got["missed_outside_examples"] == [(1, 15.0)]


def test_a_database_outage_never_excuses_a_missed_poll() -> None:
    outage = FaultWindow("db_outage", [], 0.0, 30.0)
    got = slot_accounting([record(0, 0, ok=False)], [0.0], 10.0, 10.0, [outage])
    assert got["missed_outside_fault_windows"] == 1


def test_recovery_runs_from_the_end_of_the_fault_to_the_first_good_poll_of_a_device_that_failed() -> None:
    window = FaultWindow("blackhole", [1, 2], 10.0, 20.0)
    records = [
        record(1, 5, requests=4), record(1, 15, ok=False, end=17, went_down=True), record(1, 25, end=26),
        record(2, 6), record(2, 16, end=18), record(2, 26, end=27, requests=6),
    ]  # fmt: skip
    got = fault_report(window, records, interval=10.0)
    assert got["devices_that_failed"] == 1 and got["unrecovered"] == 0
    assert got["recovery_s_max"] == 6.0 and got["went_down"] == 1
    assert got["polls_in_window"] == 4 and got["polls_failed_in_window"] == 1


@pytest.mark.slow
@pytest.mark.mariadb
def test_a_short_soak_injects_faults_and_writes_every_transition_it_observed(tmp_path: Path) -> None:
    if not mariadb.available():
        pytest.skip("no MariaDB")  # the pipeline writes into a throw-away LibreNMS database
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "0.45", "--devices", "6", "--ports", "4",
         "--interval", "3", "--fault-every", "0.11", "--fault-length", "6", "--fault-share", "0.2",
         "--sample", "2", "--quiet", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    kinds = [f["kind"] for f in report["faults"]]
    assert kinds[:3] == ["blackhole", "loss", "db_outage"], kinds
    hole = report["faults"][0]
    assert hole["went_down"] >= 1 and hole["unrecovered"] == 0 and hole["recovery_s_max"] is not None
    outage = report["faults"][2]
    assert outage["recovery_s"] is not None  # the writer came back after the outage
    assert outage["went_down"] >= 1  # a device went down while the database was away: written later
    assert report["transitions_observed"]["down"] >= 1 and report["transitions_match"], report
    assert report["slots"]["missed_outside_fault_windows"] == 0, report["slots"]
    assert report["pipeline"]["writer_flushed"] and report["engine"]["in_flight_at_end"] == 0
    assert len(report["rss_samples"]) >= 3 and report["rss"]["max_mb"] >= report["rss"]["first_mb"] > 0
