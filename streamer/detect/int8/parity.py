"""int8 against fp32: matching boxes, recall/precision/count, the count-matching threshold
and the report table ``streamer optimize`` prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

MATCH_IOU = 0.5
NEAR_MARGIN = 0.05  # score margin of the report's diagnostic recall_near

Boxes = tuple[np.ndarray, np.ndarray, np.ndarray]  # xyxy, scores, class ids
# raw output [4+nc, N] -> (xyxy, scores, class ids) above a threshold, after NMS
Decoder = Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray, np.ndarray]]



def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    iou: np.ndarray = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    return iou


def _match(ref: np.ndarray, got: np.ndarray) -> list[float]:
    """IoUs of a greedy one-to-one matching (best pairs first) at IoU >= MATCH_IOU."""
    ious = _iou_matrix(ref, got)
    matched: list[float] = []
    used_ref: set[int] = set()
    used_got: set[int] = set()
    for flat in np.argsort(-ious, axis=None):
        i, j = divmod(int(flat), ious.shape[1])
        if ious[i, j] < MATCH_IOU:
            break
        if i in used_ref or j in used_got:
            continue
        used_ref.add(i)
        used_got.add(j)
        matched.append(float(ious[i, j]))
    return matched


def parity(reference: Sequence[Boxes], candidate: Sequence[Boxes],
           class_names: Sequence[str]) -> dict[str, Any]:
    """Recall and precision of the reference's boxes, count ratio and mean IoU of matched
    boxes, overall and per class (matched within a class only). Class ids that share a
    name (a ``class_map`` sending ``Normal`` and ``Fall`` to ``person``) are one class:
    a box int8 calls Fall where fp32 said Normal is the same person to the rules."""
    per_class: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(class_names):
        ids = [class_id for class_id, other in enumerate(class_names) if other == name]
        ref_n = got_n = 0
        ious: list[float] = []
        for (ref_xyxy, _, ref_cls), (got_xyxy, _, got_cls) in zip(reference, candidate):
            ref_boxes = ref_xyxy[np.isin(ref_cls, ids)]
            got_boxes = got_xyxy[np.isin(got_cls, ids)]
            ref_n += len(ref_boxes)
            got_n += len(got_boxes)
            ious += _match(ref_boxes, got_boxes)
        if ref_n or got_n:
            per_class[name] = _figures(ref_n, got_n, ious)
    ref_total = sum(c["fp32_boxes"] for c in per_class.values())
    got_total = sum(c["int8_boxes"] for c in per_class.values())
    matched = sum(c["matched"] for c in per_class.values())
    iou_sum = sum(c["mean_iou"] * c["matched"] for c in per_class.values())
    overall = _figures(ref_total, got_total, [iou_sum / matched] * matched if matched else [])
    return {**overall, "per_class": per_class}


def _figures(ref_n: int, got_n: int, ious: list[float]) -> dict[str, Any]:
    return {
        "fp32_boxes": ref_n, "int8_boxes": got_n, "matched": len(ious),
        "recall": len(ious) / ref_n if ref_n else 1.0,
        "precision": len(ious) / got_n if got_n else 1.0,
        "count_ratio": got_n / ref_n if ref_n else (1.0 if got_n == 0 else float("inf")),
        "mean_iou": float(np.mean(ious)) if ious else 0.0,
    }


def choose_threshold(raws: Sequence[np.ndarray], decode: Decoder, confidence: float,
                     target: int) -> float:
    """The int8 threshold whose box count on these frames is closest to ``target`` (fp32's),
    nearest the configured one on ties. NMS at a lower threshold then filtering by score is
    the same as NMS at the higher one (a box is only suppressed by higher-scoring ones)."""
    low = max(0.01, confidence - 0.3)
    scores = np.concatenate([decode(raw, low)[1] for raw in raws]) if raws else np.zeros(0)
    grid = np.round(np.arange(low, min(0.99, confidence + 0.3) + 1e-9, 0.0025), 4)
    counts = np.array([(scores >= t).sum() for t in grid])
    cost = np.abs(counts - target) + np.abs(grid - confidence) * 1e-3
    return float(grid[int(np.argmin(cost))])


def filter_boxes(boxes: Boxes, threshold: float) -> Boxes:
    keep = boxes[1] >= threshold
    return boxes[0][keep], boxes[1][keep], boxes[2][keep]


def format_report(report: dict[str, Any]) -> list[str]:
    """The parity report as table lines for ``streamer optimize``."""
    figures = report["eval"]
    lines = [
        f"int8 ({report['method']}, threshold {report['int8_confidence']:.3f} for fp32's "
        f"{report['confidence']}) on {report['frames']['eval']} frames never calibrated on, "
        "each judged with a threshold chosen without it:",
        f"  {'class':<16}{'fp32':>6}{'int8':>6}{'recall':>8}{'prec.':>8}{'count':>8}{'IoU':>7}",
    ]
    rows = [("all", figures)] + list(figures["per_class"].items())
    for name, row in rows:
        lines.append(
            f"  {name:<16}{row['fp32_boxes']:>6}{row['int8_boxes']:>6}{row['recall']:>8.3f}"
            f"{row['precision']:>8.3f}{row['count_ratio']:>7.3f}x{row['mean_iou']:>7.3f}"
        )
    if "recall_near" in figures:
        lines.append(f"  recall counting int8 boxes up to {NEAR_MARGIN} under its threshold "
                     f"(not judged): {figures['recall_near']:.3f}")
    speedup = report["fp32_ms"] / report["int8_ms"] if report["int8_ms"] else 0.0
    lines.append(f"  speed: fp32 {report['fp32_ms']:.1f} ms, int8 {report['int8_ms']:.1f} ms "
                 f"per inference ({speedup:.2f}x)")
    for candidate in report["candidates"]:
        row = candidate["eval"]
        lines.append(f"  tried {candidate['method']:<10} threshold {candidate['int8_confidence']:.3f}"
                     f" recall {row['recall']:.3f} count {row['count_ratio']:.3f}x "
                     f"({candidate['seconds']} s)")
    return lines
