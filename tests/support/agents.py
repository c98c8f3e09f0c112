"""Real SNMP agents for tests: snmpsim serving ../shared/snmprec (or any data dir)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .net import free_udp_port, wait_for_agent


@dataclass(frozen=True)
class Agent:
    host: str
    port: int


def _snmpsim_exe() -> str:
    exe = Path(sys.executable).parent / "snmpsim-command-responder"
    if exe.exists():
        return str(exe)
    found = shutil.which("snmpsim-command-responder")
    if not found:
        raise RuntimeError("snmpsim-command-responder not installed (pip install -e '.[dev]')")
    return found


@contextmanager
def snmpsim(
    data_dir: Path, probe_community: str, cache_dir: Path, extra_args: tuple[str, ...] = ()
) -> Iterator[Agent]:
    """Start snmpsim on 127.0.0.1:<free port> serving data_dir; stop it on exit."""
    port = free_udp_port()
    env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
    cmd = [
        _snmpsim_exe(),
        f"--data-dir={data_dir}",
        f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        f"--cache-dir={cache_dir}",
        "--log-level=error",
        *extra_args,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_for_agent("127.0.0.1", port, probe_community, timeout=90)
        except TimeoutError:
            proc.kill()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"snmpsim did not start: {err[-2000:]}") from None
        yield Agent("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
