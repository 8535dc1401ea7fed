"""YOLOv8/YOLO11-style ONNX detector on onnxruntime (CPU), with no torch and no ultralytics.

The model must take one image ``[1, 3, H, W]`` and return ``[1, 4 + classes, N]``: per
anchor ``cx, cy, w, h`` in input pixels, then one score per class (no objectness column,
no NMS inside the graph). Every problem with the file is found at load, as a ``ModelError``
naming the model, so a bad file stops ``run`` before the first frame, not during it.
Split by job:

- ``session``: providers (checked against this onnxruntime build), session options,
  TensorRT's engine cache, the one-line load errors;
- ``model``: the input/output contract and the class names (config, file or metadata);
- ``cache``: opening the file, through its cached float32 copy where that runs faster;
- ``decode``: letterbox in, boxes out (class-aware NMS), letterbox undone;
- ``detector``: the config model (YAML keys) and the detector that ties them together.
"""

from __future__ import annotations

from streamer.detect.onnx.detector import OnnxDetector, OnnxModelConfig, OnnxProvider
from streamer.detect.onnx.model import parse_names_metadata, read_names_file
from streamer.detect.onnx.session import GRAPH_OPTIMIZATION

__all__ = [
    "GRAPH_OPTIMIZATION", "OnnxDetector", "OnnxModelConfig", "OnnxProvider",
    "parse_names_metadata", "read_names_file",
]
