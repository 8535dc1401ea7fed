"""No blind rule: `validate` and `run` refuse a config that could never see what its rules
watch, from each model's own class names read without running it, and a source, model
file or extra that cannot work; each problem is one `file:line key` line, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import helper
from support import box, make_video, run_cli, write_config, write_replay
from support.yolo_model import make_yolo_onnx

from streamer.config import load_config, parse_config
from streamer.errors import ConfigError


def named_model(path: Path, names: list[str]) -> Path:
    """A tiny YOLO-shaped ONNX whose metadata names its classes, as Ultralytics exports do."""
    make_yolo_onnx(path, classes=len(names))
    model = onnx.load(str(path))
    del model.metadata_props[:]
    helper.set_model_props(model, {"names": repr(dict(enumerate(names)))})
    onnx.save(model, str(path))
    return path


def site(tmp_path: Path, *, model: dict[str, Any] | None = None, rule: dict[str, Any] | None = None,
         source: str | None = None, polygon: list[list[float]] | None = None) -> Path:
    """A one-camera config on a real little video and a real ONNX model with names
    Normal and Fall (the demo's person model's), with a zone rule on `person`."""
    video = tmp_path / "clip.mp4"
    if not video.exists():
        make_video(video, frames=5, size=(160, 120))
    onnx_path = tmp_path / "person.onnx"
    if not onnx_path.exists():
        named_model(onnx_path, ["Normal", "Fall"])
    people = {"id": "people", "kind": "onnx", "path": str(onnx_path),
              "class_map": {"Normal": "person", "Fall": "person"}, "classes": ["person"]}
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock", "source": source if source is not None else str(video)},
        "models": [model if model is not None else people],
        "zones": [{"id": "lane", "polygon": polygon or [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}],
        "rules": [rule or {"id": "lane-intrusion", "type": "zone", "zone": "lane", "classes": ["person"]}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    })


def line_of(path: Path, text: str) -> int:
    """1-based line of the first line of ``path`` holding ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_disk=True)
    return str(caught.value).splitlines()


# --- the checks, in process -------------------------------------------------------------


def test_a_good_site_passes_and_the_file_alone_check_stays_as_it_was(tmp_path: Path) -> None:
    path = site(tmp_path)
    assert load_config(path, check_disk=True).models[0].id == "people"


def test_rule_on_a_class_the_model_never_outputs(tmp_path: Path) -> None:
    """configs/crowding.yaml with the demo's model: `classes: [person]`, no class_map."""
    path = site(tmp_path, model={"id": "people", "kind": "onnx", "path": str(tmp_path / "person.onnx"),
                                 "classes": ["person"]})
    found = problems(path)
    assert load_config(path).rules[0].id == "lane-intrusion"  # the file alone cannot tell
    assert f"{path}:{line_of(path, '- person') } models[0].classes[0]: model 'people' never " \
           "outputs 'person' (after class_map it outputs Fall, Normal)" in found[0]
    assert found[1].startswith(f"{path}:") and " rules[0].classes[0]: no model outputs 'person'" in found[1]


def test_a_class_map_key_the_model_does_not_have(tmp_path: Path) -> None:
    ppe = named_model(tmp_path / "ppe.onnx", ["hardhat", "head", "vest"])
    path = site(tmp_path, model={"id": "ppe", "kind": "onnx", "path": str(ppe),
                                 "class_map": {"Hardhat": "helmet", "head": "person", "vest": "vest"}},
                rule={"id": "no-helmet", "type": "missing_ppe", "required": ["helmet", "vest"]})
    found = problems(path)
    assert found[0] == (f"{path}:{line_of(path, 'Hardhat')} models[0].class_map.Hardhat: 'Hardhat' is "
                        "not a class of model 'ppe' (its classes: hardhat, head, vest; names are "
                        "case-sensitive); did you mean 'hardhat'?")
    assert "rules[0].required[0]: no model outputs 'helmet'" in found[1]


def test_replay_classes_come_from_its_recording(tmp_path: Path) -> None:
    replay = write_replay(tmp_path / "dets.jsonl", {0: [box("forklift", 0, 0, 10, 10)]})
    path = site(tmp_path, model={"id": "rec", "kind": "replay", "path": str(replay)})
    assert problems(path) == [f"{path}:{line_of(path, '- person')} rules[0].classes[0]: no model "
                              "outputs 'person' (after class_map and classes they output forklift), "
                              "so this rule can never see it"]


def test_hog_is_person(tmp_path: Path) -> None:
    assert load_config(site(tmp_path, model={"id": "hog", "kind": "hog"}), check_disk=True)
    path = site(tmp_path, model={"id": "hog", "kind": "hog", "class_map": {"people": "person"}})
    assert "models[0].class_map.people: 'people' is not a class of model 'hog'" in problems(path)[0]


@pytest.mark.parametrize("contents, why", [
    (None, "no such file"), (b"not a model at all", "is not a readable ONNX model"),
])
def test_missing_or_unreadable_model_file(tmp_path: Path, contents: bytes | None, why: str) -> None:
    model_path = tmp_path / "models" / "people.onnx"
    if contents is not None:
        model_path.parent.mkdir()
        model_path.write_bytes(contents)
    path = site(tmp_path, model={"id": "people", "kind": "onnx", "path": str(model_path)})
    found = problems(path)
    assert len(found) == 1 and " models[0].path: " in found[0] and why in found[0]


def test_a_names_file_that_cannot_be_read(tmp_path: Path) -> None:
    site(tmp_path)  # makes the model file
    path = site(tmp_path, model={"id": "people", "kind": "onnx", "path": str(tmp_path / "person.onnx"),
                                 "names_file": str(tmp_path / "names.txt")})
    assert " models[0].names_file: cannot read " in problems(path)[0]


def test_names_that_do_not_match_the_models_outputs(tmp_path: Path) -> None:
    site(tmp_path)
    path = site(tmp_path, model={"id": "people", "kind": "onnx", "path": str(tmp_path / "person.onnx"),
                                 "names": ["person", "bicycle", "car"]})
    assert problems(path) == [f"{path}:{line_of(path, 'names:')} models[0].names: gives 3 class "
                              "names but the model outputs 2 classes"]


@pytest.mark.parametrize("source, why", [
    ("rtps://viewer:hunter2@cam/stream1", "unknown URL scheme 'rtps://'"),
    ("videos/dock-3.mp4", "no such file or device: videos/dock-3.mp4"),
])
def test_a_source_that_can_never_open(tmp_path: Path, source: str, why: str) -> None:
    path = site(tmp_path, source=source)
    found = problems(path)
    assert found == [f"{path}:{line_of(path, 'source:')} camera.source: " + found[0].split(": ", 1)[1]]
    assert why in found[0] and "hunter2" not in found[0]


def test_the_detection_stream_is_checked_too(tmp_path: Path) -> None:
    path = site(tmp_path)
    path.write_text(path.read_text().replace("  id: dock\n", "  id: dock\n  detect_source: rtps://cam/sub\n"))
    assert problems(path) == [f"{path}:{line_of(path, 'detect_source')} camera.detect_source: unknown "
                              "URL scheme 'rtps://' (a camera URL starts with rtsp://, rtsps://, "
                              "http://, https://)"]


@pytest.mark.parametrize("source", ["0", "/dev/video63", "rtsp://cam/stream1", "https://cam/mjpeg",
                                    "RTSPS://cam/s"])
def test_devices_and_known_urls_pass(tmp_path: Path, source: str) -> None:
    assert load_config(site(tmp_path, source=source), check_disk=True)


def test_a_polygon_mixing_fractions_and_pixels(tmp_path: Path) -> None:
    path = site(tmp_path, polygon=[[0.5, 0.1], [640, 0], [640, 360], [0.5, 360]])
    with pytest.raises(ConfigError) as caught:
        load_config(path)  # the file alone shows it: validate, run and the page's save
    assert str(caught.value) == (
        f"{path}:{line_of(path, 'polygon:')} zones[0].polygon: mixes fractions of the frame (0.5) "
        "and pixels (640); write every corner as fractions 0..1 or every corner in pixels")


def test_roboflow_without_its_extra(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("inference") is not None:
        pytest.skip("the roboflow extra is installed here")
    path = site(tmp_path, model={"id": "ppe", "kind": "roboflow", "model_id": "ppe/3",
                                 "classes": ["person"]})
    assert problems(path) == [f"{path}:{line_of(path, 'kind: roboflow')} models[0].kind: kind roboflow "
                              "needs the inference package, which is not installed: pip install "
                              "'streamer[roboflow]' (inference==0.59.1, Python < 3.13)"]


def test_roboflow_classes_from_its_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache's class_names.txt tells the classes without loading the model."""
    from streamer.detect.roboflow import RoboflowModelConfig

    cache = tmp_path / "cache"
    (cache / "ppe" / "3").mkdir(parents=True)
    (cache / "ppe" / "3" / "class_names.txt").write_text("hardhat\nhead\n")
    config = RoboflowModelConfig(kind="roboflow", id="ppe", model_id="ppe/3", model_cache_dir=cache)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())  # extra present
    assert config.inspect().classes == ("hardhat", "head")
    uncached = RoboflowModelConfig(kind="roboflow", id="ppe", model_id="ppe/4", model_cache_dir=cache)
    assert uncached.inspect().classes is None and not uncached.inspect().problems


def test_run_checks_again_with_the_loaded_models(tmp_path: Path) -> None:
    """A config that skipped the disk checks (built in code, or a model changed since
    validate) still stops before the first frame, naming file, line and key."""
    from streamer.pipeline import RunOptions, build_pipeline

    path = site(tmp_path, model={"id": "hog", "kind": "hog", "class_map": {"Person": "person"}})
    config = parse_config(path.read_text(), source_name=str(path))
    with pytest.raises(ConfigError) as caught:
        build_pipeline(config, RunOptions(deliver=False))
    assert str(caught.value).startswith(
        f"{path}:{line_of(path, 'Person')} models[0].class_map.Person: 'Person' is not a class of "
        "model 'hog' (its classes: person;")


# --- the real CLI: `validate` and `run` both refuse, naming the key ----------------------


def _hardhat(tmp_path: Path) -> Path:
    ppe = named_model(tmp_path / "ppe.onnx", ["hardhat", "head", "vest"])
    return site(tmp_path, model={"id": "ppe", "kind": "onnx", "path": str(ppe),
                                 "class_map": {"Hardhat": "helmet", "head": "person"}},
                rule={"id": "no-helmet", "type": "missing_ppe", "required": ["helmet"]})


BLIND = {
    "rule class no model outputs": (
        lambda tmp: site(tmp, model={"id": "people", "kind": "onnx", "classes": ["person"],
                                     "path": str(named_model(tmp / "person.onnx", ["Normal", "Fall"]))}),
        "rules[0].classes[0]: no model outputs 'person'"),
    "class_map key not a class": (_hardhat, "models[0].class_map.Hardhat: 'Hardhat' is not a class"),
    "model file missing": (
        lambda tmp: site(tmp, model={"id": "people", "kind": "onnx", "path": str(tmp / "gone.onnx")}),
        "models[0].path: no such file"),
    "model file unreadable": (
        lambda tmp: (tmp / "bad.onnx").write_bytes(b"\x00garbage")
        and site(tmp, model={"id": "people", "kind": "onnx", "path": str(tmp / "bad.onnx")}),
        "models[0].path: "),
    "source scheme typo": (lambda tmp: site(tmp, source="rtps://cam/stream1"),
                           "camera.source: unknown URL scheme 'rtps://'"),
    "source file missing": (lambda tmp: site(tmp, source=str(tmp / "nope.mp4")),
                            "camera.source: no such file or device"),
    "polygon mixes units": (lambda tmp: site(tmp, polygon=[[0.5, 0.1], [640, 0], [640, 360]]),
                            "zones[0].polygon: mixes fractions of the frame"),
    "roboflow without its extra": (
        lambda tmp: site(tmp, model={"id": "ppe", "kind": "roboflow", "model_id": "ppe/3"}),
        "models[0].kind: kind roboflow needs the inference package"),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(BLIND))
def test_validate_and_run_exit_2_naming_the_key(tmp_path: Path, case: str) -> None:
    make, key = BLIND[case]
    if case == "roboflow without its extra":
        import importlib.util

        if importlib.util.find_spec("inference") is not None:
            pytest.skip("the roboflow extra is installed here")
    path = make(tmp_path)
    for command in ("validate", "run"):
        result = run_cli(command, str(path), "--max-frames", "2") if command == "run" else \
            run_cli(command, str(path))
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"error: {path}:") and key in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "outbox.db").exists()  # `run` stopped before it opened anything


@pytest.mark.integration
def test_the_crowding_example_with_the_demo_model(tmp_path: Path) -> None:
    """The shipped example passes with the demo's person model (class_map Normal/Fall ->
    person); the same file without its class_map is refused: its rule could never fire."""
    from streamer.assets import person_model

    example = Path(__file__).resolve().parents[2] / "configs" / "crowding.yaml"
    env = {"PERSON_MODEL": str(person_model())}
    assert run_cli("validate", str(example), env=env).returncode == 0
    blind = tmp_path / "crowding.yaml"
    blind.write_text(example.read_text().replace("class_map: {Normal: person, Fall: person}", ""))
    result = run_cli("validate", str(blind), env=env)
    assert result.returncode == 2
    assert "rules[0].classes[0]: no model outputs 'person'" in result.stderr


def test_a_hot_reload_that_would_blind_a_rule_is_refused(tmp_path: Path) -> None:
    """The running camera's config watcher checks an edit as `validate` does: an edit
    that drops the class_map (so `person` never comes out) keeps the old config running."""
    import os
    import threading

    from streamer.config.watch import ConfigWatcher

    path = site(tmp_path)
    watcher = ConfigWatcher(path, threading.Event())
    path.write_text(path.read_text().replace("Normal: person", "Normal: standing")
                    .replace("Fall: person", "Fall: fallen"))
    os.utime(path, ns=(1, 1))  # a new modification time, however fast the edit
    assert watcher.check() is False and watcher.take() is None
    assert watcher.refused_total == 1 and "rules[0].classes[0]: no model outputs 'person'" in \
        watcher.last_error
