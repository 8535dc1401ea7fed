"""One camera's pipeline: ``build_pipeline`` wires the stages; ``Pipeline.run`` runs them.

``run``, ``demo``, ``replay`` and the benchmarks all come through here; nothing else
wires a stage or reaches into one.
"""

from streamer.pipeline.build import build_pipeline
from streamer.pipeline.options import RunOptions, StepHook
from streamer.pipeline.run import Pipeline
from streamer.pipeline.scene import Scene, build_scene, reload_scene
from streamer.pipeline.summary import RunSummary

__all__ = [
    "Pipeline", "RunOptions", "RunSummary", "Scene", "StepHook", "build_pipeline", "build_scene",
    "reload_scene",
]
