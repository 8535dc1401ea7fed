"""The scripts in benchmarks/ import their helpers by name (Python puts a script's own folder
on its path); these tests import the same helpers by the same names. Only those modules are
loaded, so the scripts' own names (rules, clips, delivery...) shadow nothing else."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

for name in ("publish", "timing"):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
