"""A real Payload CMS 3 (tests/payload_app) for the sync tests, built and started by the suite itself.

Session fixture ``payload_server``: ``npm ci`` when node_modules is missing or older than package-lock.json,
``next build`` when .next is missing or older than the sources (sync/collections/*.ts included), then
``next start`` on a free loopback port with a throw-away in-memory DB, and the first user registered with a
known API key. ``payload`` (per test) empties the collections and yields (base_url, api_key).
``PayloadServer`` can also be started on a file DB and stopped/restarted by a test (``restartable_payload``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.net import free_tcp_port

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "tests" / "payload_app"
COLLECTIONS = REPO / "sync" / "collections"
BUILD_INPUTS = ("src", "package.json", "package-lock.json", "next.config.mjs", "tsconfig.json")


def _require(condition: bool, what: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but not available")
    pytest.skip(f"{what} not available")


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_dir():
            for sub in path.rglob("*"):
                if sub.is_file():
                    newest = max(newest, sub.stat().st_mtime)
        elif path.exists():
            newest = max(newest, path.stat().st_mtime)
    return newest


def prepare_app() -> None:
    """npm ci / copy collections / next build, each only when needed."""
    env = dict(os.environ, NEXT_TELEMETRY_DISABLED="1")
    lock = APP / "package-lock.json"
    modules = APP / "node_modules" / ".package-lock.json"  # npm writes it at the end of an install
    if not modules.exists() or modules.stat().st_mtime < lock.stat().st_mtime:
        _run(["npm", "ci", "--no-audit", "--no-fund"], env)
    _run(["node", "scripts/copy-collections.mjs"], env)
    build_id = APP / ".next" / "BUILD_ID"
    inputs = [APP / name for name in BUILD_INPUTS] + [COLLECTIONS]
    if not build_id.exists() or build_id.stat().st_mtime < _newest_mtime(inputs):
        _run(["node_modules/.bin/next", "build"], env)


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, cwd=APP, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


@dataclass
class PayloadServer:
    """One ``next start`` of the test app. ``database_uri`` ':memory:' loses everything at stop."""

    log_path: Path
    database_uri: str = ":memory:"
    api_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    port: int = field(default_factory=free_tcp_port)
    secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        env = dict(
            os.environ,
            NEXT_TELEMETRY_DISABLED="1",
            DATABASE_URI=self.database_uri,
            PAYLOAD_SECRET=self.secret,
        )
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(APP / "node_modules" / ".bin" / "next"),
                    "start",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                ],
                cwd=APP,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        init = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"next start exited; see {self.log_path}")
            try:
                init = httpx.get(f"{self.base_url}/api/users/init", timeout=2).json()
                break
            except (httpx.HTTPError, ValueError):
                time.sleep(0.2)
        if init is None:
            self.stop()
            raise RuntimeError(f"Payload did not answer within {timeout:.0f}s; see {self.log_path}")
        if not init.get("initialized"):
            response = httpx.post(
                f"{self.base_url}/api/users/first-register",
                json={
                    "email": "fastpoll@example.test",
                    "password": "fastpoll-test",
                    "enableAPIKey": True,
                    "apiKey": self.api_key,
                },
                timeout=10,
            )
            response.raise_for_status()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # `next start` run from node_modules/.bin is a single process
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def payload_app() -> Path:
    _require(shutil.which("node") is not None and shutil.which("npm") is not None, "node and npm")
    prepare_app()
    return APP


@pytest.fixture(scope="session")
def payload_server(payload_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PayloadServer]:
    server = PayloadServer(tmp_path_factory.mktemp("payload") / "next.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wipe(base_url: str, api_key: str) -> None:
    headers = {"Authorization": f"users API-Key {api_key}", "Content-Type": "application/json"}
    for collection in ("crisis-events", "network-devices"):
        r = httpx.delete(
            f"{base_url}/api/{collection}", params={"where[id][exists]": "true"}, headers=headers, timeout=60
        )
        r.raise_for_status()


@pytest.fixture
def payload(payload_server: PayloadServer) -> tuple[str, str]:
    """(base_url, api_key) of the session Payload, with both collections emptied."""
    _wipe(payload_server.base_url, payload_server.api_key)
    return payload_server.base_url, payload_server.api_key


@pytest.fixture
def restartable_payload(payload_app: Path, tmp_path: Path) -> Iterator[PayloadServer]:
    """A Payload of its own on a file DB, so that data survives ``stop()``/``start()``."""
    server = PayloadServer(tmp_path / "next.log", database_uri=f"file:{tmp_path / 'payload.db'}")
    server.start()
    try:
        yield server
    finally:
        server.stop()
