"""zstd compression that keeps the GIL (poller/checks/frozen_zstd.py)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import zstandard

from poller.checks import frozen_zstd

DATA = b"".join(b"ifName=Gi0/%d ifInOctets=%d;" % (i, i * 7919) for i in range(600))  # ~17 KB, repetitive


@pytest.fixture
def compress() -> Callable[[bytes], bytes]:
    found = frozen_zstd.compressor(1)
    if found is None:
        pytest.skip("no libzstd on this machine")
    return found


@pytest.fixture
def long_switch_interval() -> Iterator[None]:
    """Threads take the GIL from each other only when its holder releases it (within the test's time)."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    yield
    sys.setswitchinterval(saved)


def _other_thread_progress(work: Callable[[], object], calls: int = 200, *, until_any: bool = False) -> int:
    """How far a thread spinning in Python got while this one made ``calls`` calls of ``work`` (with
    ``until_any``, fewer: until the spinner got anywhere)."""
    count, stop = [0], threading.Event()

    def spin() -> None:
        while not stop.is_set():
            count[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    time.sleep(0.01)  # the spinner holds the GIL; this thread gets it back at the switch interval
    before = count[0]
    for _ in range(calls):
        work()
        if until_any and count[0] != before:
            break
    progress = count[0] - before
    stop.set()
    spinner.join()
    return progress


@pytest.mark.parametrize("size", [0, 1, 17_000, 1_000_000])
def test_its_frames_decompress_with_zstandard(compress, size):
    data = (DATA * (size // len(DATA) + 1))[:size]
    frame = compress(data)
    assert zstandard.ZstdDecompressor().decompress(frame) == data
    if size > 1000:
        assert len(frame) < size / 4  # compressed, at the level asked


def test_it_keeps_the_gil_while_compressing(compress, long_switch_interval):
    assert _other_thread_progress(lambda: compress(DATA)) == 0


def test_zstandard_hands_the_gil_away_while_compressing(long_switch_interval):
    """Why frozen_zstd exists: should this fail, zstandard keeps the GIL and frozen_zstd can go."""
    zc = zstandard.ZstdCompressor(level=1)
    big = DATA * 60  # ~1 MB, ~1 ms a call: time for the waiting thread to wake and win the GIL (it may lose)
    assert _other_thread_progress(lambda: zc.compress(big), calls=300, until_any=True) > 0


def test_threads_compress_at_once_each_with_its_own_context(compress):
    inputs = [DATA[i:] for i in range(0, 400, 10)]
    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(compress, inputs * 5))
    decompress = zstandard.ZstdDecompressor().decompress
    assert [decompress(f) for f in frames] == inputs * 5


def test_without_libzstd_there_is_no_compressor(monkeypatch):
    monkeypatch.setattr(frozen_zstd, "_LIBRARIES", ("libzstd-missing.so.0",))
    monkeypatch.setattr(frozen_zstd.ctypes.util, "find_library", lambda name: None)
    assert frozen_zstd.compressor(1) is None
