"""Helpers for the deployment tests: the deploy/ scripts, loaded by path (deploy/ is no package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load_script(relative: str) -> ModuleType:
    """Import deploy/<relative> as a module (cached in sys.modules under a private name)."""
    path = DEPLOY / relative
    name = "_deploy_" + relative.replace("/", "_").removesuffix(".py")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
