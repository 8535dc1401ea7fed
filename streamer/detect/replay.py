"""Detections read back from JSONL: for tests and for tuning rules without a model.

Format (design.md): one line per frame,
``{"frame": 12, "detections": [{"class": "person", "x1": .., "y1": .., "x2": .., "y2": ..,
"confidence": 0.9}]}``; frames absent from the file have no detections.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import supervision as sv

from streamer.config.models import ReplayModelConfig
from streamer.detect.base import empty_detections, filter_classes, make_detections
from streamer.errors import ModelError
from streamer.source.frame import Frame


def read_replay_file(path: Path, label: str) -> dict[int, list[dict[str, object]]]:
    """Parse a replay JSONL file into ``frame -> detections``; errors name file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{label}: no such detections file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{label}: cannot read {path}: {exc}") from None
    frames: dict[int, list[dict[str, object]]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            frame = int(row["frame"])
            detections = list(row.get("detections", []))
            for det in detections:
                for key in ("x1", "y1", "x2", "y2"):
                    float(det[key])
                str(det["class"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"{path}:{number}: expected {{\"frame\": N, \"detections\": [{{\"class\", "
                f"\"x1\", \"y1\", \"x2\", \"y2\", \"confidence\"}}]}}: {exc!r}"
            ) from None
        frames.setdefault(frame, []).extend(detections)
    return frames


class ReplayDetector:
    """Plays back recorded detections by frame index."""

    def __init__(self, config: ReplayModelConfig) -> None:
        self.model_id = config.id
        self._config = config
        self._frames = read_replay_file(config.path, f"model {config.id!r}")

    def detect(self, frame: Frame) -> sv.Detections:
        rows = self._frames.get(frame.index)
        if not rows:
            return empty_detections(self.model_id)
        dets = make_detections(
            xyxy=np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows], dtype=np.float32),
            confidence=[float(r.get("confidence", 1.0)) for r in rows],  # type: ignore[arg-type]
            class_names=[str(r["class"]) for r in rows],
            model_id=self.model_id,
        )
        c = self._config
        return filter_classes(dets, c.class_map, c.classes, c.confidence)

    def close(self) -> None:
        self._frames = {}


def detections_to_row(frame_index: int, dets: sv.Detections) -> dict[str, object]:
    """One replay JSONL row for ``--record-detections`` (the inverse of ``detect``)."""
    names = dets.data.get("class_name", np.array([""] * len(dets), dtype=object))
    rows = []
    for (x1, y1, x2, y2), conf, name in zip(dets.xyxy, dets.confidence, names):
        rows.append(
            {
                "class": str(name),
                "x1": round(float(x1), 2),
                "y1": round(float(y1), 2),
                "x2": round(float(x2), 2),
                "y2": round(float(y2), 2),
                "confidence": round(float(conf), 4),
            }
        )
    return {"frame": frame_index, "detections": rows}
