"""The YAML reference: every key a config file may hold, with its meaning and bounds.

One base model forbids unknown keys (a typo is an error, not a silent default) and
freezes instances (configs are shared between threads). Cross-references between
sections (a rule naming a zone) are small named checks at the bottom of ``Config``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Point = tuple[float, float]


class StreamerModel(BaseModel):
    """Base of every config section: unknown keys are errors; instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- camera ---------------------------------------------------------------------------


class CameraConfig(StreamerModel):
    id: str = Field("camera", min_length=1, description="Vision Events streamId of this camera.")
    source: Union[int, str] = Field(
        description=(
            "Where frames come from: a file path, rtsp:// or http(s):// URL, or a USB "
            "device index (0, 1, ...). `${CAM_PASSWORD}` keeps passwords out of the file."
        )
    )
    fps: float | None = Field(
        None, gt=0, description="Cap on frames per second handed to the models (live sources)."
    )
    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport.")
    realtime: bool = Field(
        False,
        description=(
            "Files only: pace the file at its own fps and drop frames like a live camera. "
            "Default false: every frame is processed, in order."
        ),
    )
    open_timeout_s: float = Field(10.0, gt=0, description="Bound on opening a network stream.")
    read_timeout_s: float = Field(5.0, gt=0, description="Bound on one read from a network stream.")


# --- models ---------------------------------------------------------------------------


class _ModelBase(StreamerModel):
    id: str = Field(min_length=1, description="Name of this model; kept on each detection.")
    classes: list[str] | None = Field(
        None, description="Keep only these classes (names after `class_map`). Default: all."
    )
    class_map: dict[str, str] = Field(
        default_factory=dict, description="Rename classes, e.g. {Normal: person, Fall: person}."
    )
    confidence: float = Field(0.4, ge=0, le=1, description="Drop detections below this score.")


class OnnxModelConfig(_ModelBase):
    kind: Literal["onnx"]
    path: Path = Field(description="YOLOv8/YOLO11-style ONNX file, output [1, 4+classes, N].")
    names: list[str] | None = Field(
        None, description="Class names by index; default: the model's metadata."
    )
    names_file: Path | None = Field(None, description="Text file with one class name per line.")
    iou: float = Field(0.5, gt=0, le=1, description="IoU above which NMS merges boxes.")
    input_size: int | None = Field(
        None, gt=0, description="Square input size when the model's input is dynamic."
    )
    threads: int | None = Field(
        None, ge=1, description="onnxruntime intra-op threads; default: all cores."
    )


class HogModelConfig(_ModelBase):
    kind: Literal["hog"]
    confidence: float = Field(
        0.3, ge=0, description="Minimum SVM score of OpenCV's HOG people detector."
    )
    scale: float = Field(1.05, gt=1, description="Image pyramid step.")
    max_width: int = Field(
        640, ge=64, description="Frames wider than this are scaled down before detection."
    )


class ReplayModelConfig(_ModelBase):
    kind: Literal["replay"]
    path: Path = Field(description="JSONL of recorded detections, one line per frame.")


ModelConfig = Annotated[
    Union[OnnxModelConfig, HogModelConfig, ReplayModelConfig], Field(discriminator="kind")
]


# --- geometry -------------------------------------------------------------------------


class ZoneConfig(StreamerModel):
    id: str = Field(min_length=1)
    polygon: list[Point] = Field(
        min_length=3,
        description="Corners; all values in [0, 1] = relative to the frame, else pixels.",
    )


class LineConfig(StreamerModel):
    id: str = Field(min_length=1)
    start: Point
    end: Point


# --- rules ----------------------------------------------------------------------------


class EventSpec(StreamerModel):
    """What a firing becomes in Vision Events (snake_case of the API's field names)."""

    type: Literal["safety_alert", "inventory_count", "quality_check", "custom"] = "safety_alert"
    alert_type: str | None = Field(None, max_length=1000)
    severity: Literal["low", "medium", "high"] = "medium"
    description: str | None = Field(None, max_length=1000)
    item_type: str | None = Field(None, max_length=1000)
    location: str | None = Field(None, max_length=1000)
    result: Literal["pass", "fail"] | None = None
    value: str | None = Field(None, max_length=1000)
    external_id: str | None = Field(None, max_length=1000)
    custom_metadata: dict[str, Union[str, int, float, bool]] = Field(
        default_factory=dict, description="Extra key/values sent with each event (<= 100 keys)."
    )

    @field_validator("custom_metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, object]) -> dict[str, object]:
        import re

        if len(value) > 100:
            raise ValueError(f"at most 100 keys, got {len(value)}")
        for key, item in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_ -]{1,100}", key):
                raise ValueError(f"key {key!r} must match [A-Za-z0-9_ -]{{1,100}}")
            if isinstance(item, str) and len(item) > 1000:
                raise ValueError(f"value of {key!r} is {len(item)} characters, at most 1000")
        return value


class _RuleBase(StreamerModel):
    id: str = Field(min_length=1)
    enabled: bool = True
    classes: list[str] | None = Field(None, description="Classes this rule follows; default all.")
    min_confidence: float = Field(0.0, ge=0, le=1)
    cooldown_s: float = Field(
        30.0, ge=0, description="Seconds of frame time before the same scope fires again."
    )
    event: EventSpec = Field(default_factory=EventSpec)


class ZoneRuleConfig(_RuleBase):
    type: Literal["zone"]
    zone: str = Field(description="Id of a zone in `zones`.")
    trigger: Literal["enter", "exit"] = "enter"
    min_frames: int = Field(
        3, ge=1, description="Consecutive frames on the new side before a transition counts."
    )
    cooldown_scope: Literal["rule", "track"] = "track"


RuleConfig = Annotated[Union[ZoneRuleConfig], Field(discriminator="type")]


# --- tracker --------------------------------------------------------------------------


class TrackerConfig(StreamerModel):
    lost_buffer_s: float = Field(
        2.0, gt=0, description="Seconds of frame time a lost object keeps its id."
    )
    activation_confidence: float = Field(
        0.3, ge=0, le=1, description="Minimum score for a detection to start a track."
    )
    min_iou: float = Field(0.1, gt=0, le=1, description="IoU to match a detection to a track.")


# --- sinks ----------------------------------------------------------------------------


class VisionEventsSinkConfig(StreamerModel):
    type: Literal["vision_events"]
    id: str | None = Field(None, description="Name in counters and the outbox; default: type.")
    api_url: str = Field("https://api.roboflow.com", description="Base URL of the API.")
    api_key: SecretStr = Field(description="Key with visionEvents.write; use ${ROBOFLOW_API_KEY}.")
    use_case: str = Field(min_length=1, description="useCaseId; must exist on the server.")
    workflow_id: str | None = None
    timeout_s: float = Field(10.0, gt=0, description="Bound on each HTTP request.")

    @property
    def name(self) -> str:
        return self.id or self.type


class JsonlSinkConfig(StreamerModel):
    type: Literal["jsonl"]
    id: str | None = None
    path: Path = Field(description="File to append one Vision Events payload per line to.")
    snapshots_dir: Path | None = Field(
        None, description="Where snapshots are written; default: <path stem>_snapshots/."
    )

    @property
    def name(self) -> str:
        return self.id or self.type


SinkConfig = Annotated[
    Union[VisionEventsSinkConfig, JsonlSinkConfig], Field(discriminator="type")
]


class OutboxConfig(StreamerModel):
    path: Path = Field(Path("data/outbox.db"), description="SQLite file holding pending events.")
    max_mb: float = Field(2048, gt=0)
    ttl_days: float = Field(7, gt=0)
    queue_size: int = Field(
        256, ge=1, description="Events held in memory between the frame loop and the writer."
    )


class MonitorConfig(StreamerModel):
    bind: str = "127.0.0.1:8080"
    token: SecretStr | None = None


# --- the whole file -------------------------------------------------------------------


class Config(StreamerModel):
    device_id: str = Field(
        default_factory=socket.gethostname, description="Vision Events deviceId."
    )
    camera: CameraConfig
    models: list[ModelConfig] = Field(min_length=1)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    sinks: list[SinkConfig] = Field(default_factory=list)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)



Loc = tuple[Union[str, int], ...]


def check_references(config: Config) -> list[tuple[Loc, str]]:
    """Checks that span sections; each problem comes with the key path it points at.

    Run by the loader after the models validate, so the message can name the YAML line.
    """
    problems: list[tuple[Loc, str]] = []
    for section, items in (
        ("models", config.models),
        ("zones", config.zones),
        ("lines", config.lines),
        ("rules", config.rules),
    ):
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.id in seen:
                problems.append(((section, index, "id"), f"id {item.id!r} is used twice"))
            seen.add(item.id)
    sink_names: set[str] = set()
    for index, sink in enumerate(config.sinks):
        if sink.name in sink_names:
            problems.append(
                (("sinks", index), f"a second sink named {sink.name!r}; give each an `id`")
            )
        sink_names.add(sink.name)
    zone_ids = {zone.id for zone in config.zones}
    for index, rule in enumerate(config.rules):
        if rule.zone not in zone_ids:
            known = ", ".join(sorted(zone_ids)) or "none defined"
            problems.append(
                (("rules", index, "zone"), f"unknown zone {rule.zone!r} (zones: {known})")
            )
    return problems
