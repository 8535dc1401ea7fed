"""The `roboflow` model kind on a real model placed in inference's local cache, no network.

The person model (the demo's weights) is laid out as inference's cache expects
(``<MODEL_CACHE_DIR>/<project>/<version>/`` with weights.onnx, class_names.txt,
model_type.json, environment.json). ``API_BASE_URL`` points at a local server that
records every request and answers 401, so "no network" is checked, not assumed, and the
wrong-key case gets a real refusal. The CLI cases run in a subprocess: inference reads its
settings once per process, at import.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import best_iou, read_jsonl, require_module, run_cli, write_config

from streamer import assets

pytestmark = pytest.mark.integration

PROJECT = "site-people/3"


def place_in_cache(cache: Path, model_id: str, weights: Path) -> Path:
    """Lay a YOLOv8 ONNX out as inference 0.59.1 reads it from its cache."""
    folder = cache / model_id
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, folder / "weights.onnx")
    (folder / "class_names.txt").write_text("Normal\nFall\n")
    (folder / "model_type.json").write_text(
        json.dumps({"project_task_type": "object-detection", "model_type": "yolov8n"})
    )
    (folder / "environment.json").write_text(json.dumps({"PREPROCESSING": {"resize": {
        "enabled": True, "format": "Fit (grey edges) in", "width": 640, "height": 640}}}))
    return folder


class RefusingApi:
    """A stand-in Roboflow API on 127.0.0.1: records each request, answers 401."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                api.requests.append(self.path)
                body = json.dumps({"error": {"message": "This API key does not exist",
                                             "type": "OAuthException"}}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[RefusingApi]:
    server = RefusingApi()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One per module: inference binds MODEL_CACHE_DIR at import, once per process.
    require_module("inference", "roboflow")
    root = tmp_path_factory.mktemp("model-cache")
    place_in_cache(root, PROJECT, assets.person_model())
    return root


def _frames(wanted: set[int]) -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(assets.sample_video()))
    frames: dict[int, np.ndarray] = {}
    for index in range(max(wanted) + 1):
        ok, image = capture.read()
        assert ok
        if index in wanted:
            frames[index] = image
    capture.release()
    return frames


def _config(tmp_path: Path, cache: Path, model_id: str = PROJECT, **extra: object) -> Path:
    model = {"id": "people", "kind": "roboflow", "model_id": model_id,
             "model_cache_dir": str(cache), "confidence": 0.5, **extra}
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "cam", "source": str(assets.sample_video())},
        "models": [model],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    })


def _offline_env(api: RefusingApi, key: str | None = None) -> dict[str, str]:
    return {"API_BASE_URL": api.url, "ROBOFLOW_API_KEY": key or ""}


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]


def test_cached_model_runs_offline_through_the_cli(
    tmp_path: Path, cache: Path, api: RefusingApi
) -> None:
    recorded = tmp_path / "detections.jsonl"
    config = _config(tmp_path, cache, class_map={"Normal": "person", "Fall": "person"})
    result = run_cli("run", str(config), "--max-frames", "3", "--record-detections",
                     str(recorded), env=_offline_env(api))
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(recorded)) == 3
    assert api.requests == []


def test_same_people_as_the_onnx_backend_on_the_same_weights(cache: Path) -> None:
    """In-process (inference binds its cache dir at import: one dir for the module).

    Same weights through both backends on frames where people are in view: the same
    boxes (IoU >= 0.9), class names read from the model, frame pixels, model id kept.
    """
    from streamer.config.models import OnnxModelConfig, RoboflowModelConfig
    from streamer.detect.onnx import OnnxDetector
    from streamer.detect.roboflow import RoboflowDetector
    from streamer.source.frame import Frame

    frames = _frames({30, 40, 52, 105, 200})
    theirs = RoboflowDetector(RoboflowModelConfig(
        id="people", kind="roboflow", model_id=PROJECT, model_cache_dir=cache, confidence=0.3))
    # inference letterboxes into the model's own 640x640 square: so does ours here
    # (fit_input runs the frame's own shape; tests/detect/test_onnx_body.py compares the two).
    ours = OnnxDetector(OnnxModelConfig(
        id="people", kind="onnx", path=assets.person_model(), confidence=0.3, fit_input=False))
    assert theirs.class_names == ["Normal", "Fall"]
    matched = total = 0
    try:
        for index, image in frames.items():
            frame = Frame(image, index, index / 25, 0.0)
            a, b = ours.detect(frame), theirs.detect(frame)
            assert set(b.data["model_id"]) <= {"people"}
            assert set(b.data["class_name"]) <= {"Normal", "Fall"}
            for box, name in zip(a.xyxy, a.data["class_name"]):
                total += 1
                same = b.xyxy[b.data["class_name"] == name]
                matched += best_iou(same, box.tolist()) >= 0.9
    finally:
        ours.close()
        theirs.close()
    assert total >= len(frames)
    assert matched / total >= 0.9, f"{matched} of {total} boxes matched"


def test_unknown_model_offline_is_one_clear_line(tmp_path: Path, cache: Path) -> None:
    # Nothing listens on the API address: the box is offline.
    result = run_cli("run", str(_config(tmp_path, cache, model_id="forklifts/2")),
                     "--max-frames", "2", env={"API_BASE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "forklifts/2 is not in the local model cache" in line
    assert str(cache / "forklifts" / "2") in line


def test_wrong_key_is_one_clear_line_without_the_key(
    tmp_path: Path, cache: Path, api: RefusingApi
) -> None:
    key = "rf_wrong_key_0123456789"
    result = run_cli("run", str(_config(tmp_path, cache, model_id="hardhats/7")),
                     "--max-frames", "2", env=_offline_env(api, key))
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "refused the API key for hardhats/7" in line
    assert key not in result.stderr + result.stdout
    assert any(path.startswith("/ort/hardhats/7") for path in api.requests)


def test_corrupt_cached_weights_are_one_clear_line(
    tmp_path: Path, cache: Path, api: RefusingApi
) -> None:
    folder = place_in_cache(cache, "broken-ppe/1", assets.person_model())
    (folder / "weights.onnx").write_bytes(assets.person_model().read_bytes()[:5000])
    result = run_cli("run", str(_config(tmp_path, cache, model_id="broken-ppe/1")),
                     "--max-frames", "2", env=_offline_env(api))
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "cached files of broken-ppe/1 are broken" in line
    assert "weights.onnx" in line


def test_model_id_must_be_project_slash_version(tmp_path: Path, cache: Path) -> None:
    result = run_cli("validate", str(_config(tmp_path, cache, model_id="site-people")))
    assert result.returncode == 2
    assert "model_id" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_the_extra_the_kind_says_how_to_install_it(tmp_path: Path) -> None:
    """What a user with a plain install sees (the other tests need the extra)."""
    if importlib.util.find_spec("inference") is not None:
        pytest.skip("inference is installed: this is the case without the roboflow extra")
    config = _config(tmp_path, tmp_path / "model-cache")
    for command in ("validate", "run"):  # a config error, found before anything starts
        result = run_cli(command, str(config), "--max-frames", "2") if command == "run" else \
            run_cli(command, str(config))
        assert result.returncode == 2, result.stderr
        line = _one_error_line(result.stderr)
        assert line.startswith(f"error: {config}:") and " models[0].kind: " in line
        assert "kind roboflow needs the inference package" in line
        assert "pip install 'streamer[roboflow]'" in line
