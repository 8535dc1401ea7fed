"""``streamer optimize CONFIG [--force]``: make each onnx model's int8 copy ahead of time.

The first ``run`` with ``precision: int8`` would do the same (minutes on a small CPU); doing
it here keeps that out of a camera's start, and prints the parity report against fp32 on
held-out frames so a person decides with figures. Below the config's thresholds fp32 stays,
unless ``--force`` (recorded in the cache, so later runs use int8 too).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from streamer.cli.flags import command

if TYPE_CHECKING:
    from streamer.cli.flags import Commands


def add_optimize_command(sub: Commands) -> None:
    parser = command(
        sub, "optimize",
        "calibrate int8 copies of the config's onnx models on the camera's frames and "
        "print their parity with fp32 (cached; `run` with precision: int8 then reuses them)",
        cmd_optimize,
    )
    parser.add_argument("--force", action="store_true",
                        help="use int8 even below the parity thresholds")
    parser.add_argument("--rebuild", action="store_true",
                        help="calibrate again even when a cached copy exists")


def cmd_optimize(args: argparse.Namespace) -> int:
    from streamer.config import load_config
    from streamer.detect.base import DetectorContext
    from streamer.detect.int8 import format_report, save_report
    from streamer.detect.onnx import OnnxDetector, OnnxModelConfig

    config = load_config(args.config)
    models: list[OnnxModelConfig] = [
        model for model in config.models if isinstance(model, OnnxModelConfig)
    ]
    if not models:
        print(f"{args.config}: no onnx model to optimize")
        return 0
    for model in models:
        camera = DetectorContext(camera_source=config.camera.source)
        detector = OnnxDetector(model.model_copy(update={"precision": "fp32"}), camera)
        try:
            plan = detector.int8_plan(rebuild=args.rebuild)
            if plan.report.get("forced") != args.force:
                plan.report["forced"] = args.force
                save_report(plan, None, detector.int8_request())
        finally:
            detector.close()
        print(f"model {model.id!r}: {plan.path}")
        for line in format_report(plan.report):
            print(line)
        plan.report["forced"] = False
        reason = plan.verdict(model.int8_min_recall, model.int8_max_count_error)
        if reason is None:
            verdict = "int8 passes"
        elif args.force:
            verdict = f"int8 forced (below thresholds: {reason})"
        else:
            verdict = f"keeping fp32: {reason} (--force to use int8 anyway)"
        if model.precision != "int8" and (reason is None or args.force):
            verdict += "; set `precision: int8` on this model to use it"
        print(f"model {model.id!r}: {verdict}")
    return 0
