"""Processors: LibreNMS's Processor::poll rules."""

from __future__ import annotations

from poller.checks.processors import ProcessorRow, ProcessorUpdate, poll_processors, process_data

OID = ".1.3.6.1.4.1.2021.11.11.0"


def test_precision_above_one_divides():
    assert process_data("155", 10) == 15.5


def test_negative_precision_means_idle_and_is_subtracted_from_100():
    assert process_data("97", -1) == 3


def test_absent_answer_means_zero_usage():
    _, updates = poll_processors([ProcessorRow(1, 1, OID, processor_usage=12)], {})
    assert updates == [ProcessorUpdate(1, 0)]


def test_usage_is_rounded_to_two_decimals_half_away_from_zero():
    _, updates = poll_processors([ProcessorRow(1, 1, OID, 1000)], {OID: "12345"})
    assert updates == [ProcessorUpdate(1, 12.35)]


def test_unchanged_usage_writes_nothing():
    _, updates = poll_processors([ProcessorRow(1, 1, OID, processor_usage=12)], {OID: "12"})
    assert updates == []
