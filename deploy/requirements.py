"""Print streamer's dependencies from pyproject.toml, one per line, with those of the extras
named in the first argument ("roboflow,mqtt"), for ``pip install -r``.

The image installs them in a layer before streamer's own code, so a code change rebuilds
only a small layer (minutes saved per arm64 build under emulation). Standard library only:
Python 3.10 (the Jetson base) has no ``tomllib``, so pip's vendored ``tomli`` reads it there.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [name for name in extras if name not in optional]
    if unknown:
        raise SystemExit(f"unknown extra(s) {', '.join(unknown)}; pyproject.toml has "
                         f"{', '.join(sorted(optional))}")
    return list(project["dependencies"]) + [dep for name in extras for dep in optional[name]]


if __name__ == "__main__":
    names = [name.strip() for name in (sys.argv[1] if len(sys.argv) > 1 else "").split(",")]
    print("\n".join(requirements(Path("pyproject.toml"), [name for name in names if name])))
