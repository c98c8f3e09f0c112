"""HOOK for the full fastpoll pipeline (scheduler -> engine -> checks -> writer) in the benchmark.

The lead connects this once the writer/daemon land: `build_pipeline_poller(spec)` must return
(poll, close) where `await poll(device)` runs ONE complete device-poll through the real pipeline
for a DeviceRef(host, port, community) (engine + ports/availability checks + the store writer
into the database named in spec.get("database_url"), or the embedded SQLite) and returns the
number of varbinds received, raising on failure; `await close()` flushes and stops it. The
harness then measures it exactly like the engine alone (process CPU, latency, RSS).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .workload import PollFn


async def build_pipeline_poller(spec: dict[str, Any]) -> tuple[PollFn, Callable[[], Awaitable[None]]]:
    raise NotImplementedError("full pipeline not wired into the benchmark yet (benchmarks/pipeline.py)")
