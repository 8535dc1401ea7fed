"""Detections read back from JSONL: for tests and for tuning rules without a model.

Format (docs/architecture.md): one line per frame,
``{"frame": 12, "detections": [{"class": "person", "x1": .., "y1": .., "x2": .., "y2": ..,
"confidence": 0.9}]}``; frames absent from the file have no detections.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import supervision as sv
from pydantic import AfterValidator, Field, TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from streamer.detect.base import (
    NO_CAMERA,
    Detector,
    DetectorContext,
    empty_detections,
    filter_classes,
    make_detections,
    scores_of,
)
from streamer.errors import ModelError
from streamer.schema.bases import ModelBase, ModelFacts
from streamer.source.frame import Frame

# Far beyond any frame in pixels, yet small enough that float32 (the detections' dtype)
# keeps it finite: 1e300 would become inf after the file was accepted.
# --- config ---------------------------------------------------------------------------


class ReplayModelConfig(ModelBase):
    kind: Literal["replay"]
    path: Path = Field(description="JSONL of recorded detections, one line per frame.")

    def build(self, context: DetectorContext = NO_CAMERA) -> ReplayDetector:
        return ReplayDetector(self)

    def replays_detections(self) -> bool:
        return True

    def inspect(self) -> ModelFacts:
        """The classes the recording holds (read and checked the way ``run`` reads it)."""
        try:
            frames = read_replay_file(Path(self.path), f"model {self.id!r}")
        except ModelError as exc:
            message = str(exc).removeprefix(f"model {self.id!r}: ")
            return ModelFacts(problems=((("path",), message),))
        return ModelFacts(recorded_classes(frames))


# --- plugin -----------------------------------------------------------------------------


MAX_COORDINATE = 1e6
# 38 days at 30 fps: `streamer replay` steps through every frame up to the last one.
MAX_FRAME = 10**8

Coordinate = Annotated[float, Field(ge=-MAX_COORDINATE, le=MAX_COORDINATE, allow_inf_nan=False)]

# Checked when the file is read: a bad value would otherwise fail on every frame it is in,
# and stop the run after 25 of them. TypedDicts, not models: a long recording reads 5x faster.
ReplayBox = TypedDict(
    "ReplayBox",
    {
        "class": Annotated[str, Field(min_length=1, strict=True)],
        "x1": Coordinate,
        "y1": Coordinate,
        "x2": Coordinate,
        "y2": Coordinate,
        "confidence": NotRequired[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]],
    },
)


def _ordered(box: ReplayBox) -> ReplayBox:
    if box["x2"] < box["x1"] or box["y2"] < box["y1"]:
        raise ValueError(
            f"negative size: x1..x2 {box['x1']:g}..{box['x2']:g}, y1..y2 "
            f"{box['y1']:g}..{box['y2']:g} (x1 <= x2 and y1 <= y2, in pixels)"
        )
    return box


class ReplayLine(TypedDict):
    frame: Annotated[int, Field(ge=0, le=MAX_FRAME, strict=True)]
    detections: NotRequired[list[Annotated[ReplayBox, AfterValidator(_ordered)]]]


_LINE = TypeAdapter(ReplayLine)


def read_replay_file(path: Path, label: str) -> dict[int, list[ReplayBox]]:
    """Parse a replay JSONL file into ``frame -> boxes``; the first bad line stops it with
    one line naming file, line and key. An empty file is a recording without detections."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{label}: no such detections file: {path}") from None
    except OSError as exc:
        raise ModelError(f"{label}: cannot read {path}: {exc.strerror or exc}") from None
    frames: dict[int, list[ReplayBox]] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = _LINE.validate_json(line)
        except ValidationError as exc:
            raise ModelError(f"{path}:{number}: {_first_problem(exc)}") from None
        frames.setdefault(row["frame"], []).extend(row.get("detections", []))
    return frames


def _first_problem(exc: ValidationError) -> str:
    """One readable line for the first thing wrong, e.g. ``detections[0].x1: ...``."""
    error = exc.errors(include_url=False)[0]
    if error["type"] == "json_invalid":
        return (f"not a JSON line ({error['ctx'].get('error', error['msg'])}); expected "
                f'{{"frame": N, "detections": [{{"class", "x1", "y1", "x2", "y2", "confidence"}}]}}')
    where = ""
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] in ("dict_type", "model_type"):
        message = "expected an object {...}"
    elif "input" in error and not isinstance(error["input"], (dict, list)):
        message += f", got {error['input']!r}"
    return f"{where or 'the line'}: {message[:1].lower()}{message[1:]}"


def recorded_classes(frames: dict[int, list[ReplayBox]]) -> tuple[str, ...]:
    """Every class name in a recording, in order of first appearance."""
    return tuple(dict.fromkeys(box["class"] for boxes in frames.values() for box in boxes))


def replay_detections(boxes: Sequence[ReplayBox], model_id: str) -> sv.Detections:
    """The boxes of one frame as normalised detections."""
    if not boxes:
        return empty_detections(model_id)
    return make_detections(
        xyxy=np.array([[b["x1"], b["y1"], b["x2"], b["y2"]] for b in boxes], dtype=np.float32),
        confidence=[b.get("confidence", 1.0) for b in boxes],
        class_names=[b["class"] for b in boxes],
        model_id=model_id,
    )


class ReplayDetector(Detector):
    """Plays back recorded detections by frame index."""

    def __init__(self, config: ReplayModelConfig) -> None:
        self.model_id = config.id
        self._config = config
        self._frames: dict[int, list[ReplayBox]] = read_replay_file(
            config.path, f"model {config.id!r}"
        )
        self.class_names: list[str] = list(recorded_classes(self._frames))

    def detect(self, frame: Frame) -> sv.Detections:
        dets = replay_detections(self._frames.get(frame.index, []), self.model_id)
        if len(dets) == 0:
            return dets
        c = self._config
        return filter_classes(dets, c.class_map, c.classes, c.confidence)

    def close(self) -> None:
        self._frames = {}


def detections_to_row(frame_index: int, dets: sv.Detections) -> dict[str, object]:
    """One replay JSONL row for ``--record-detections`` (the inverse of ``detect``)."""
    names = dets.data.get("class_name", np.array([""] * len(dets), dtype=object))
    rows = []
    for (x1, y1, x2, y2), conf, name in zip(dets.xyxy, scores_of(dets), names):
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
