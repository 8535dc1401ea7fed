"""The scripts in benchmarks/ import their helpers by name (Python puts a script's own folder
on its path); these tests import them the same way."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
