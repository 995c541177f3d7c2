"""Shared helpers: the load-test tools live in jmeter/ as scripts, not as a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
JMETER_DIR = ROOT / "jmeter"


def load_tool(name: str) -> ModuleType:
    """jmeter/<name>.py as a module (cached in sys.modules under loadtest_<name>)."""
    key = f"loadtest_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, JMETER_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module
