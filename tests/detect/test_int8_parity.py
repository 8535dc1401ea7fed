"""The int8 threshold matches fp32's box count on a busy scene, where many boxes score just
above the threshold (on vtest.avi a third of fp32's boxes score within 0.05 of 0.5)."""

from __future__ import annotations

import numpy as np

from streamer.detect.int8 import choose_threshold, parity


def decode_scores(raw: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stand-in decoder: each raw value is one box's score (boxes far apart, no NMS)."""
    keep = raw[raw >= threshold]
    xyxy = np.array([[10.0 * i, 0, 10.0 * i + 5, 5] for i in range(len(keep))]).reshape(-1, 4)
    return xyxy, keep, np.zeros(len(keep), int)


def test_threshold_hits_the_count_on_a_dense_score_band() -> None:
    # 60 boxes a frame scoring 0.5000 .. 0.5059, four frames: 240 boxes within 0.006 of the cut
    raws = [0.5 + 0.0001 * np.arange(60) + 0.00002 * frame for frame in range(4)]
    for target in (17, 101, 203):
        threshold = choose_threshold(raws, decode_scores, 0.5, target)
        kept = sum(len(decode_scores(raw, threshold)[1]) for raw in raws)
        assert kept == target, (target, threshold, kept)


def test_threshold_stays_at_the_configured_one_when_the_count_already_matches() -> None:
    raws = [np.array([0.2, 0.45, 0.55, 0.9]), np.array([0.3, 0.6])]
    assert choose_threshold(raws, decode_scores, 0.5, 3) == 0.5


def test_parity_counts_fp32_boxes_found() -> None:
    box = np.array([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    ref = [(box, np.array([0.6, 0.7]), np.array([0, 0]))]
    got = [(box[:1] + 0.5, np.array([0.61]), np.array([0]))]
    figures = parity(ref, got, ["person"])
    assert figures["recall"] == 0.5 and figures["count_ratio"] == 0.5 and figures["precision"] == 1
