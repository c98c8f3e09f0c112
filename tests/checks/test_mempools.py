"""Mempools: LibreNMS's Mempool::fillUsage / Number::fillMissingRatio / calculateAvailable."""

from __future__ import annotations

from poller.checks.mempools import MempoolRow, MempoolUpdate, fill_missing_ratio, poll_mempools

USED, FREE, TOTAL, PERC = ".1.1", ".1.2", ".1.3", ".1.4"


def test_percent_only_uses_the_stored_total_divided_by_precision():
    # junos: perc OID only, total 1 GiB stored, precision 1 MiB
    r = MempoolRow(1, 1, mempool_precision=1048576, mempool_perc_oid=PERC, mempool_total=1073741824)
    _, updates = poll_mempools([r], {PERC: "51"})
    assert updates == [MempoolUpdate(1, 1073741824, 547608330, 526133494, 51)]


def test_used_and_free_give_total_and_percent():
    r = MempoolRow(1, 1, mempool_used_oid=USED, mempool_free_oid=FREE)
    _, updates = poll_mempools([r], {USED: "300", FREE: "700"})
    assert updates == [MempoolUpdate(1, 1000, 300, 700, 30)]


def test_negative_used_is_corrected_as_a_wrapped_32_bit_value():
    r = MempoolRow(1, 1, mempool_used_oid=USED, mempool_total_oid=TOTAL)
    _, updates = poll_mempools([r], {USED: "-294967296", TOTAL: "5000000000"})
    assert updates[0].mempool_used == 4000000000


def test_percent_over_100_is_divided_by_ten():
    assert fill_missing_ratio(None, None, None, 455, 0)[3] == 46


def test_rounding_pre_rounds_to_15_digits_as_php_does():
    # 100 * (1 - 0.455) is 54.49999999999999 in floats; PHP's round() gives 55
    assert fill_missing_ratio(None, None, None, 45.5, 0) == (100, 46, 55, 46)


def test_no_answer_leaves_the_row_unchanged():
    r = MempoolRow(1, 1, mempool_used_oid=USED, mempool_free_oid=FREE, mempool_used=5, mempool_free=5)
    rows, updates = poll_mempools([r], {})
    assert updates == [] and rows == [r]


def test_system_pool_excludes_buffers_and_cached():
    system = MempoolRow(1, 1, "system", 1024, mempool_used_oid=".1", mempool_total_oid=".2")
    buffers = MempoolRow(2, 1, "buffers", 1024, mempool_used_oid=".3", mempool_total_oid=".2")
    cached = MempoolRow(3, 1, "cached", 1024, mempool_used_oid=".4", mempool_total_oid=".2")
    answers = {".1": "800", ".2": "1000", ".3": "100", ".4": "200"}
    rows, _ = poll_mempools([system, buffers, cached], answers)
    assert (rows[0].mempool_used, rows[0].mempool_free, rows[0].mempool_perc) == (512000, 512000, 50)
