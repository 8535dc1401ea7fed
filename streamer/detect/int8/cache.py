"""int8 copies on disk: ``<streamer cache>/int8/<key>.onnx`` + ``.json`` (the parity report),
the key a hash of the model file, the calibration set, onnxruntime's version and the
settings that change the result (``Int8Request.key``). Whether int8 is used is decided from
the report against the config's thresholds at each start (cheap), so changing a threshold
never calibrates again."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamer.cache import cache_root
from streamer.detect.fp16 import file_digest
from streamer.detect.int8.calibrate import Int8Request, Progress, build
from streamer.detect.int8.frames import calibration_digest, is_live
from streamer.detect.int8.parity import Decoder
from streamer.errors import ModelError


@dataclass(frozen=True)
class Int8Plan:
    """A cached (or just made) int8 copy and its parity report."""

    path: Path
    report: dict[str, Any]
    calibrated_now: bool

    @property
    def confidence(self) -> float:
        return float(self.report["int8_confidence"])

    def verdict(self, min_recall: float, max_count_error: float) -> str | None:
        """Why int8 falls short of these thresholds, or None when it passes (or was forced)."""
        if self.report.get("forced"):
            return None
        best = self.report["eval"]
        reasons = []
        if best["recall"] < min_recall:
            reasons.append(f"recall {best['recall']:.3f} < {min_recall}")
        if abs(best["count_ratio"] - 1) > max_count_error:
            reasons.append(
                f"box count {best['count_ratio']:.3f}x fp32's, outside ±{max_count_error:.0%}"
            )
        return "; ".join(reasons) or None


def cache_paths(request: Int8Request, cache_dir: Path | None = None) -> tuple[Path, Path]:
    """(model, report) paths for this request; hashing the calibration set reads it."""
    where = f"model {request.model_id!r}: calibration"
    source = request.calibration
    if not is_live(source) and not Path(str(source)).exists():
        raise ModelError(f"{where}: no such file or folder: {source}")
    key = request.key(file_digest(request.model_path), calibration_digest(source))
    folder = (cache_dir or cache_root()) / "int8"
    return folder / f"{key}.onnx", folder / f"{key}.json"


def load_or_build(request: Int8Request, decode: Decoder, letterbox: Callable[[np.ndarray], np.ndarray],
                  class_names: Sequence[str], progress: Progress,
                  cache_dir: Path | None = None, rebuild: bool = False) -> Int8Plan:
    """The cached int8 copy for ``request``, made first when missing (or ``rebuild``)."""
    model_path, report_path = cache_paths(request, cache_dir)
    if not rebuild and model_path.is_file():
        try:
            report = json.loads(report_path.read_text())
            return Int8Plan(model_path, report, calibrated_now=False)
        except (OSError, ValueError):
            pass  # a half-written report: make it again
    report = build(request, decode, letterbox, class_names, progress, model_path)
    _write_atomic(report_path, json.dumps(report, indent=1).encode())
    return Int8Plan(model_path, report, calibrated_now=True)


def save_report(plan: Int8Plan, cache_dir: Path | None, request: Int8Request) -> None:
    """Rewrite a plan's report (``optimize --force`` records the override)."""
    _write_atomic(cache_paths(request, cache_dir)[1], json.dumps(plan.report, indent=1).encode())


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


