"""benchmarks/pymalloc_stats.py: pymalloc's arenas, and how much of them is in use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.pymalloc_stats import PymallocStats, parse, read

# the part of a CPython 3.11 sys._debugmallocstats() report that is read, with figures of the size a
# 10,000-device pipeline run shows
REPORT = """\
Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           3            1212          1851

# arenas allocated total           =                2,345
# arenas reclaimed                 =                2,207
# arenas highwater mark            =                  139
# arenas allocated current         =                  138
138 arenas * 1048576 bytes/arena     =          144,703,488

# bytes in allocated blocks        =           76,546,048
# bytes in available blocks        =           25,794,560
2496 unused pools * 16384 bytes    =           40,894,464
# bytes lost to pool headers       =              421,248
"""


def test_a_report_gives_the_arenas_and_what_is_in_use_and_free_in_them() -> None:
    assert parse(REPORT) == PymallocStats(
        arenas=138,
        arena_bytes=144_703_488,
        allocated_bytes=76_546_048,
        free_block_bytes=25_794_560,
        free_pool_bytes=40_894_464,
    )


def test_the_figures_are_megabytes_named_as_the_results_name_them() -> None:
    assert parse(REPORT).figures() == {
        "pymalloc_arenas_mb": 138.0,
        "pymalloc_allocated_mb": 73.0,
        "pymalloc_free_blocks_mb": 24.6,
        "pymalloc_free_pools_mb": 39.0,
    }


def test_a_report_without_a_figure_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no free pool bytes"):
        parse(REPORT.replace("unused pools", "idle pools"))


def test_this_process_reads_its_own_arenas() -> None:
    held = [bytes(100) + bytes([i % 256]) for i in range(20_000)]  # ~2.6 MB of small objects
    stats = read()
    assert stats is not None
    assert stats.arenas >= 3 and stats.arena_bytes >= stats.arenas * 2**18
    assert 2_000_000 < stats.allocated_bytes < stats.arena_bytes
    assert stats.free_block_bytes + stats.free_pool_bytes < stats.arena_bytes
    del held


def test_a_process_on_the_system_allocator_has_no_pymalloc_figures() -> None:
    code = "from benchmarks.pymalloc_stats import read; print(read())"
    env = dict(os.environ, PYTHONMALLOC="malloc")
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "None"
    assert out.stderr == ""  # nothing printed on the way
