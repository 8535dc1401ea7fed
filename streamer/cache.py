"""Where streamer keeps what it downloads or converts once (demo assets, float32 models).

A neutral low module: detectors find their cache here without importing the demo's assets.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory in effect (not created here)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("STREAMER_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "streamer"
