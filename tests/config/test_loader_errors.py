"""Config loading: the YAML reference, ${ENV}, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run_cli

from streamer.config import load_config
from streamer.errors import ConfigError

pytestmark = pytest.mark.integration

GOOD = """\
device_id: edge-box-07
camera:
  id: dock-3
  source: rtsp://viewer:${CAM_PASSWORD}@cam-dock-3/stream1
  fps: 10
models:
  - id: people
    kind: onnx
    path: models/person.onnx
    classes: [person]
    class_map: {Normal: person, Fall: person}
    confidence: 0.4
zones:
  - id: forklift-lane
    polygon: [[0.10, 0.55], [0.60, 0.55], [0.70, 0.95], [0.05, 0.95]]
lines:
  - id: gate
    start: [0.5, 0.1]
    end: [0.5, 0.9]
rules:
  - id: lane-intrusion
    type: zone
    zone: forklift-lane
    classes: [person]
    trigger: enter
    min_frames: 3
    cooldown_s: 30
    cooldown_scope: track
    event: {type: safety_alert, alert_type: zone_intrusion, severity: high,
            description: "Person in forklift lane"}
sinks:
  - type: vision_events
    api_url: https://api.roboflow.com
    api_key: ${ROBOFLOW_API_KEY}
    use_case: site-safety
  - type: jsonl
    path: data/events.jsonl
outbox: {path: data/outbox.db, max_mb: 2048, ttl_days: 7}
monitor: {bind: 127.0.0.1:8080}
"""

ENV = {"CAM_PASSWORD": "s3cret-pw", "ROBOFLOW_API_KEY": "rf_live_key_987654"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, env: dict[str, str] = ENV) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env=env)
    return str(caught.value)


def test_the_design_example_loads_with_env(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env=ENV)
    assert config.camera.source == "rtsp://viewer:s3cret-pw@cam-dock-3/stream1"
    assert config.sinks[0].api_key.get_secret_value() == "rf_live_key_987654"
    assert "rf_live_key" not in repr(config)
    assert config.rules[0].min_frames == 3


def test_env_default_is_used_when_unset(tmp_path: Path) -> None:
    text = GOOD.replace("${CAM_PASSWORD}", "${CAM_PASSWORD:-guest}")
    config = load_config(write(tmp_path, text), env={"ROBOFLOW_API_KEY": "k" * 8})
    assert config.camera.source == "rtsp://viewer:guest@cam-dock-3/stream1"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("cooldown_s: 30", "cooldown_s: -5"),
         "site.yaml:27 rules[0].cooldown_s: input should be greater than or equal to 0, got -5"),
        (("    min_frames: 3", "    min_frame: 3"), "site.yaml:26 rules[0].min_frame: unknown key"),
        (("zone: forklift-lane\n    classes", "zone: fork-lane\n    classes"),
         "site.yaml:23 rules[0].zone: unknown zone 'fork-lane' (zones: forklift-lane)"),
        (("kind: onnx", "kind: tensorflow"), "site.yaml:7 models[0]: input tag 'tensorflow'"),
        (("    polygon: [[0.10, 0.55], [0.60, 0.55], [0.70, 0.95], [0.05, 0.95]]",
          "    polygon: [[0.10, 0.55], [0.60, 0.55]]"),
         "site.yaml:15 zones[0].polygon: list should have at least 3 items"),
        (("  fps: 10", "  fps: ten"), "site.yaml:5 camera.fps: input should be a valid number"),
        (("    use_case: site-safety\n", ""), "site.yaml:32 sinks[0].use_case: required key is missing"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    old, new = edit
    assert old in GOOD
    message = error_of(tmp_path, GOOD.replace(old, new))
    assert expected in message
    assert str(tmp_path) in message


def test_missing_env_variable_is_named(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD, env={"CAM_PASSWORD": "x" * 6})
    assert "site.yaml:34 sinks[0].api_key: environment variable ROBOFLOW_API_KEY is not set" in message


def test_invalid_yaml_and_duplicate_keys(tmp_path: Path) -> None:
    assert "site.yaml:3: invalid YAML" in error_of(tmp_path, "camera:\n  id: [unclosed\nmodels: []\n")
    message = error_of(tmp_path, GOOD.replace("  fps: 10", "  fps: 10\n  fps: 12"))
    assert "site.yaml:6 camera.fps: key given twice" in message


def test_secrets_never_echoed_in_errors(tmp_path: Path) -> None:
    text = GOOD.replace("api_key: ${ROBOFLOW_API_KEY}", "api_key: ${ROBOFLOW_API_KEY}\n    bogus: 1")
    text = text.replace("  fps: 10", "  fps: -1")
    message = error_of(tmp_path, text)
    assert "bogus: unknown key" in message and "camera.fps" in message
    assert "s3cret-pw" not in message and "rf_live_key" not in message


def test_custom_metadata_limits_are_checked(tmp_path: Path) -> None:
    text = GOOD.replace('description: "Person in forklift lane"}',
                        'description: "x", custom_metadata: {"bad/key": 1}}')
    assert "rules[0].event.custom_metadata: key 'bad/key' must match" in error_of(tmp_path, text)


def test_validate_command_exit_codes(tmp_path: Path) -> None:
    from streamer.assets import person_model

    # validate reads the model file (its class names): the demo's person model, in place.
    good = write(tmp_path, GOOD.replace("path: models/person.onnx", f"path: {person_model()}"))
    ok = run_cli("validate", str(good), env=ENV)
    assert ok.returncode == 0, ok.stderr
    assert "ok" in ok.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("cooldown_s: 30", "cooldown_s: -5"), encoding="utf-8")
    refused = run_cli("validate", str(bad), env=ENV)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {bad}:27 rules[0].cooldown_s")
    assert "Traceback" not in refused.stderr

    missing = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such config file" in missing.stderr


PLAIN_HTTP = GOOD.replace("api_url: https://api.roboflow.com", "api_url: http://api.example.com")


@pytest.mark.parametrize("command", ["validate", "run"])
def test_plain_http_api_url_off_loopback_is_refused_with_one_line(
    tmp_path: Path, command: str
) -> None:
    path = write(tmp_path, PLAIN_HTTP)
    result = run_cli(command, str(path), env=ENV)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: {path}:33 sinks[0].api_url: http:// to api.example.com sends the API key "
        "unencrypted; use https:// (or set allow_insecure_http: true)")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "http://localhost:9000",
                                 "http://[::1]:9000", "http://127.8.0.1"])
def test_plain_http_to_loopback_is_fine(tmp_path: Path, url: str) -> None:
    text = GOOD.replace("api_url: https://api.roboflow.com", f"api_url: {url}")
    assert load_config(write(tmp_path, text), env=ENV).sinks[0].api_url == url


def test_allow_insecure_http_lets_plain_http_through(tmp_path: Path) -> None:
    text = PLAIN_HTTP.replace("    use_case: site-safety\n",
                              "    use_case: site-safety\n    allow_insecure_http: true\n")
    assert load_config(write(tmp_path, text), env=ENV).sinks[0].allow_insecure_http


@pytest.mark.parametrize(
    ("extra", "refused"),
    [("", False), ("    secret: hmac-key-123\n", True),
     ("    headers: {Authorization: Bearer abc}\n", True),
     ("    secret: hmac-key-123\n    allow_insecure_http: true\n", False)],
)
def test_plain_http_webhook_is_refused_when_it_carries_a_secret(
    tmp_path: Path, extra: str, refused: bool
) -> None:
    text = GOOD.replace("    path: data/events.jsonl\n", "    path: data/events.jsonl\n"
                        "  - type: webhook\n    url: http://hooks.example.com/in\n" + extra)
    path = write(tmp_path, text)
    if not refused:
        load_config(path, env=ENV)
        return
    message = error_of(tmp_path, text)
    assert message.startswith(f"{path}:39 sinks[2].url: http:// to hooks.example.com sends ")
    assert "hmac-key-123" not in message and "abc" not in message


def test_every_secret_field_is_known_by_type_not_by_name() -> None:
    """Derived from the models: each SecretStr field, whatever it is called."""
    from pydantic import SecretStr

    from streamer.config.models import (
        Config,
        MonitorConfig,
        MqttSinkConfig,
        RoboflowModelConfig,
        VisionEventsSinkConfig,
        WebhookSinkConfig,
        secret_field_names,
    )

    expected = {
        name
        for model in (VisionEventsSinkConfig, WebhookSinkConfig, MqttSinkConfig, MonitorConfig,
                      RoboflowModelConfig)
        for name, info in model.model_fields.items()
        if SecretStr in (info.annotation, *getattr(info.annotation, "__args__", ()))
    }
    assert expected == {"api_key", "secret", "password", "token"}
    assert secret_field_names(Config) == expected


@pytest.mark.integration
def test_a_wrong_typed_secret_is_never_echoed(tmp_path: Path) -> None:
    """The webhook's `secret` was missing from a hand-kept list and came back in the message."""
    text = GOOD.replace("    path: data/events.jsonl\n", "    path: data/events.jsonl\n"
                        "  - type: webhook\n    url: https://hooks.example/x\n"
                        "    secret: 918273645546372819\n")
    path = write(tmp_path, text)
    result = run_cli("validate", str(path), env=ENV)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    number = text.splitlines().index("    secret: 918273645546372819") + 1
    assert line.startswith(f"error: {path}:{number} sinks[2].secret: input should be a valid string"), line
    assert "918273645546372819" not in result.stderr + result.stdout
