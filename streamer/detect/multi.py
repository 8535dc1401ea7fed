"""Several models on one camera: which run on a frame, and one merged result.

Decided (issue 8): a model skipped by ``every_n_frames`` contributes its latest
detections again, so rules see every frame covered (a PPE model every 3rd frame does not
make helmets blink out on the other two, which ``missing_ppe`` would count as missing).
The repeated boxes are at most ``every_n_frames - 1`` frames old. A model skipped by
``when`` (its gate found nothing this frame) contributes nothing, and its held result is
dropped: with nobody in view there is nobody to check, and a stale PPE box must not
reappear when the next person arrives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from streamer.detect.base import (
    Detector,
    empty_detections,
    invalid_boxes_total,
    note_invalid_boxes,
    pick,
    scores_of,
    valid_box_mask,
)
from streamer.schema.bases import ModelBase
from streamer.source.frame import Frame


@dataclass
class _Slot:
    detector: Detector
    config: ModelBase
    held: sv.Detections | None = None
    runs_total: int = 0
    skipped_total: int = 0
    last_run_s: float = 0.0


@dataclass
class DetectorSet:
    """The camera's models in config order; ``detect`` runs on the frame-loop thread.

    ``frame_count`` (not ``frame.index``) paces ``every_n_frames``, so a live source that
    drops frames still runs each model on every n-th frame it actually processes.
    """

    slots: list[_Slot] = field(default_factory=list)
    frame_count: int = 0

    @classmethod
    def of(cls, detectors: Sequence[Detector], configs: Sequence[ModelBase]) -> DetectorSet:
        return cls([_Slot(detector, config) for detector, config in zip(detectors, configs)])

    def __iter__(self) -> Iterator[Detector]:
        return (slot.detector for slot in self.slots)

    def __len__(self) -> int:
        return len(self.slots)

    def detect(self, frame: Frame) -> sv.Detections:
        """Run the models due on ``frame`` and merge every model's contribution.

        Each detection keeps its model in ``data["model_id"]``. Raises whatever a
        backend raises (``ModelError``); the frame loop handles it per frame.
        """
        position = self.frame_count
        self.frame_count += 1
        found: dict[str, int] = {}
        results: list[sv.Detections] = []
        for slot in self.slots:
            config = slot.config
            if config.when is not None and found.get(config.when, 0) == 0:
                slot.held = None
                slot.skipped_total += 1
                dets = empty_detections(config.id)
            elif position % config.every_n_frames == 0 or slot.held is None:
                started = time.perf_counter()
                dets = slot.detector.detect(frame)
                slot.last_run_s = time.perf_counter() - started
                dets = _valid_only(dets, config.id)
                slot.runs_total += 1
                slot.held = dets
            else:
                slot.skipped_total += 1
                # A fresh object: the tracker downstream may write into what it is given.
                dets = pick(slot.held, np.arange(len(slot.held)))
            found[config.id] = len(dets)
            results.append(dets)
        if len(results) == 1:
            return results[0]
        merged = sv.Detections.merge(results)
        # merge() skips empty parts and, when all are empty, returns one without our data
        # keys; downstream reads data["class_name"] unguarded.
        return merged if len(merged) else empty_detections()

    def close(self) -> None:
        for slot in self.slots:
            slot.detector.close()

    def stats(self) -> list[dict[str, object]]:
        """Per model: runs, skipped frames and the latest run's seconds (for status)."""
        return [
            {
                "model_id": slot.config.id,
                "runs_total": slot.runs_total,
                "skipped_total": slot.skipped_total,
                "last_run_s": round(slot.last_run_s, 4),
                "invalid_boxes_total": invalid_boxes_total(slot.config.id),
            }
            for slot in self.slots
        ]


def _valid_only(dets: sv.Detections, model_id: str) -> sv.Detections:
    """``dets`` without boxes of negative size (supervision lets those through; a backend
    built outside this package might give them), each one counted."""
    if len(dets) == 0:
        return dets
    valid = valid_box_mask(dets.xyxy, scores_of(dets))
    if valid.all():
        return dets
    note_invalid_boxes(model_id, int(len(dets) - valid.sum()))
    return pick(dets, valid)


__all__ = ["DetectorSet"]
