"""Roboflow-trained models through Roboflow's ``inference`` package (``streamer[roboflow]``).

A model id is ``project/version``. ``inference`` looks in its model cache first
(``<MODEL_CACHE_DIR>/<project>/<version>/`` with ``weights.onnx``, ``class_names.txt``,
``model_type.json``, ``environment.json``) and only asks the Roboflow API when the model is
not there, so a box that had the model placed (or downloaded once) runs with no network.

``inference`` reads its settings from the environment once, at import; this module sets
them first (docs/architecture.md, "Measured"): no release check (it calls a URL at import), no metrics, no
persistent telemetry queue (it would write ``usage.db`` into the model cache).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import supervision as sv
from pydantic import Field, SecretStr

from streamer.detect.base import (
    NO_CAMERA,
    Detector,
    DetectorContext,
    filter_classes,
    make_detections,
)
from streamer.errors import ModelError
from streamer.redact import redact
from streamer.schema.bases import ModelBase, ModelFacts
from streamer.source.frame import Frame

# --- config ---------------------------------------------------------------------------


class RoboflowModelConfig(ModelBase):
    kind: Literal["roboflow"]
    model_id: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+/[0-9]+$",
        description="Roboflow model id `project/version`, e.g. ppe-detection/3.",
    )
    api_key: SecretStr | None = Field(
        None, description="Roboflow API key; default ROBOFLOW_API_KEY. Not needed for a "
        "model already in the local cache."
    )
    model_cache_dir: Path | None = Field(
        None, description="The inference package's MODEL_CACHE_DIR; default its own "
        "(/tmp/cache). A model placed there runs fully offline."
    )
    iou: float = Field(0.5, gt=0, le=1, description="IoU above which NMS merges boxes.")

    def build(self, context: DetectorContext = NO_CAMERA) -> RoboflowDetector:
        # This module imports nothing heavy; the detector imports `inference` on load and
        # turns its absence into a ModelError naming the extra to install.
        return RoboflowDetector(self)

    def inspect(self) -> ModelFacts:
        """The extra must be installed; the classes are known when the model sits in the
        local cache (``class_names.txt``), else only once ``run`` has loaded it."""
        import importlib.util

        if importlib.util.find_spec("inference") is None:
            return ModelFacts(problems=((("kind",), f"kind roboflow needs the inference "
                                         f"package, which is not installed: {EXTRA_HINT}"),))
        folder = self.cache_folder()
        try:
            text = (folder / "class_names.txt").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return ModelFacts()  # not cached yet: fetched on the first start
        names = tuple(line.strip() for line in text.splitlines() if line.strip())
        return ModelFacts(names or None)

    def cache_folder(self) -> Path:
        """Where inference keeps this model: ``<MODEL_CACHE_DIR>/<project>/<version>``."""
        root = self.model_cache_dir or Path(os.environ.get("MODEL_CACHE_DIR", "/tmp/cache"))
        return Path(root) / self.model_id


# --- plugin -----------------------------------------------------------------------------


log = logging.getLogger("streamer.detect.roboflow")

OFFLINE_ENV = {
    "DISABLE_VERSION_CHECK": "True",
    "METRICS_ENABLED": "False",
    "TELEMETRY_USE_PERSISTENT_QUEUE": "False",
}
EXTRA_HINT = "pip install 'streamer[roboflow]' (inference==0.59.1, Python < 3.13)"


def _import_get_model(config: RoboflowModelConfig) -> Any:
    """``inference.get_model``, imported with this process's settings in place."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    wanted = str(config.model_cache_dir) if config.model_cache_dir is not None else None
    if wanted is not None:
        loaded = _loaded_cache_dir()
        if loaded is not None and Path(loaded) != Path(wanted):
            # inference binds MODEL_CACHE_DIR at import: one directory per process.
            raise ModelError(
                f"model {config.id!r}: model_cache_dir {wanted} differs from {loaded}, "
                "already in use in this process; give every roboflow model the same one"
            )
        os.environ["MODEL_CACHE_DIR"] = wanted
    try:
        with warnings.catch_warnings():
            # It warns once per optional model family it was installed without.
            warnings.simplefilter("ignore")
            from inference import get_model
        # Its rich console handler prints multi-line reports of what we turn into one
        # ModelError line; the errors still reach the user, once.
        logging.getLogger("inference").setLevel(logging.CRITICAL)
    except ImportError as exc:
        raise ModelError(
            f"model {config.id!r}: kind roboflow needs the inference package: {EXTRA_HINT} "
            f"({exc})"
        ) from None
    return get_model


def _loaded_cache_dir() -> str | None:
    import sys

    env_module = sys.modules.get("inference.core.env")
    return getattr(env_module, "MODEL_CACHE_DIR", None) if env_module else None


class RoboflowDetector(Detector):
    """One Roboflow object-detection model; ``detect`` runs on the frame-loop thread.

    Attributes:
        class_names: the model's own class names (before ``class_map``).
        last_inference_s: seconds in the model's ``infer`` on the latest call.
    """

    def __init__(self, config: RoboflowModelConfig) -> None:
        """Load the model from the cache, or from the Roboflow API when it is not cached.

        Raises:
            ModelError: the extra is not installed, the model is neither cached nor
                reachable, the key is refused, or the cached files are broken.
        """
        self.config = config
        self.model_id: str = config.id
        self.last_inference_s = 0.0
        key = config.api_key.get_secret_value() if config.api_key is not None else None
        key = key or os.environ.get("ROBOFLOW_API_KEY") or None
        self._secrets = tuple(secret for secret in (key,) if secret)
        get_model = _import_get_model(config)
        try:
            with warnings.catch_warnings():
                # onnxruntime warns for each absent GPU provider inference asks for.
                warnings.simplefilter("ignore")
                self._model: Any = get_model(config.model_id, api_key=key)
        except Exception as exc:  # inference raises a dozen unrelated types
            raise self._fail(_explain_load_error(exc, config.model_id)) from None
        names = getattr(self._model, "class_names", None)
        if not names:
            raise self._fail(f"{config.model_id} has no class names (is it a detection model?)")
        self.class_names: list[str] = [str(name) for name in names]
        task = getattr(self._model, "task_type", "object-detection")
        if task != "object-detection":
            raise self._fail(f"{config.model_id} is a {task} model; expected object-detection")

    def _fail(self, message: str) -> ModelError:
        return ModelError(redact(f"model {self.model_id!r}: {message}", self._secrets))

    def detect(self, frame: Frame) -> sv.Detections:
        """Detections in ``frame``'s pixels (the package undoes its own letterbox)."""
        if self._model is None:
            raise self._fail("detector is closed")
        started = time.perf_counter()
        try:
            responses = self._model.infer(
                frame.image, confidence=self.config.confidence, iou_threshold=self.config.iou
            )
        except Exception as exc:
            raise self._fail(f"inference failed: {type(exc).__name__}: {exc}") from None
        self.last_inference_s = time.perf_counter() - started
        response = responses[0] if isinstance(responses, list) else responses
        predictions = list(getattr(response, "predictions", []) or [])
        centre = np.array(
            [[p.x, p.y, p.width, p.height] for p in predictions], dtype=np.float32
        ).reshape(-1, 4)
        xyxy = np.empty_like(centre)
        xyxy[:, :2] = centre[:, :2] - centre[:, 2:] / 2
        xyxy[:, 2:] = centre[:, :2] + centre[:, 2:] / 2
        dets = make_detections(
            xyxy,
            [p.confidence for p in predictions],
            [p.class_name for p in predictions],
            self.model_id,
            class_ids=[p.class_id for p in predictions],
        )
        return filter_classes(
            dets, self.config.class_map, self.config.classes, self.config.confidence
        )

    def close(self) -> None:
        self._model = None


def _explain_load_error(exc: Exception, model_id: str) -> str:
    """One line a site engineer can act on, by what went wrong rather than by type name."""
    kind = type(exc).__name__
    # inference often wraps the useful message as the cause of an empty one.
    cause = exc if str(exc).strip() or exc.__cause__ is None else exc.__cause__
    detail = " ".join(str(cause).split())[:200]
    if kind in ("RoboflowAPINotAuthorizedError", "RoboflowAPIForbiddenError",
                "MissingApiKeyError", "WorkspaceLoadError"):
        return (f"the Roboflow API refused the API key for {model_id} ({kind}); check "
                "api_key / ROBOFLOW_API_KEY")
    if kind in ("RoboflowAPINotNotFoundError", "DatasetLoadError", "InvalidModelIDError"):
        return f"no model {model_id} in Roboflow ({kind}: {detail})"
    if kind in ("RoboflowAPIConnectionError", "RoboflowAPITimeoutError", "ConnectionError"):
        cache = _loaded_cache_dir() or "MODEL_CACHE_DIR"
        return (f"{model_id} is not in the local model cache and the Roboflow API cannot be "
                f"reached (offline?); place it under {Path(cache) / model_id}/ ({kind})")
    if kind == "ModelArtefactError":
        # inference deletes a model folder that fails to load; say so, or the operator
        # will look for files that are gone.
        return (f"the cached files of {model_id} are broken (inference removed them from "
                f"its cache; place them again): {detail}")
    return f"cannot load {model_id}: {kind}: {detail}"


__all__ = ["RoboflowDetector"]
