"""benchmarks.walk_bench keeps working: one device's walks recorded and replayed both ways. Never a speed."""

from __future__ import annotations

from benchmarks.walk_bench import main


def test_both_walks_replay_to_the_same_rows_and_report_each_way(capsys):
    main(["--ports", "8", "--reps", "2", "--rounds", "1"])  # exits if the two ways' rows differ
    out = capsys.readouterr().out
    assert "full walk (29 columns" in out and "measured walk (16 columns" in out, out
    assert out.count(" ms, rows ") == 2, out
