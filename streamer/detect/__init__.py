"""Detectors: one protocol, several backends, chosen by the model's ``kind``.

Backends import their heavy libraries (onnxruntime) inside their own module, so ``hog``
and ``replay`` work without them and a missing one is a clear error, not an import crash.
"""

from __future__ import annotations

from streamer.config.models import (
    HogModelConfig,
    ModelConfig,
    OnnxModelConfig,
    ReplayModelConfig,
    RoboflowModelConfig,
)
from streamer.detect.base import Detector, empty_detections, make_detections
from streamer.detect.multi import DetectorSet
from streamer.errors import ModelError

__all__ = ["Detector", "DetectorSet", "build_detector", "empty_detections", "make_detections"]


def build_detector(config: ModelConfig) -> Detector:
    """Load the backend for ``config``; raises :class:`ModelError` with one clear line."""
    if isinstance(config, ReplayModelConfig):
        from streamer.detect.replay import ReplayDetector

        return ReplayDetector(config)
    if isinstance(config, HogModelConfig):
        from streamer.detect.hog import HogDetector

        return HogDetector(config)
    if isinstance(config, OnnxModelConfig):
        try:
            from streamer.detect.onnx import OnnxDetector
        except ImportError as exc:
            raise ModelError(
                f"model {config.id!r}: the onnx backend needs onnxruntime ({exc})"
            ) from None
        return OnnxDetector(config)
    if isinstance(config, RoboflowModelConfig):
        # The module itself imports nothing heavy; it imports `inference` on load and
        # turns its absence into a ModelError naming the extra to install.
        from streamer.detect.roboflow import RoboflowDetector

        return RoboflowDetector(config)
    raise ModelError(f"model {config.id!r}: unknown kind {config.kind!r}")
