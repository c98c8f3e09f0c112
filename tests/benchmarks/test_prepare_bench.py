"""benchmarks.prepare_bench keeps working: a few devices, one round. Never a speed."""

from __future__ import annotations

from benchmarks.prepare_bench import main


def test_a_round_over_a_few_frozen_devices_reports_the_cpu_per_device(capsys):
    main(["--devices", "5", "--rounds", "1"])
    assert "prepare, 5 devices x 48 frozen ports, all exported:" in capsys.readouterr().out
