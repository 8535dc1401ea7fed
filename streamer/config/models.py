"""The YAML reference: every key a config file may hold, with its meaning and bounds.

One base model forbids unknown keys (a typo is an error, not a silent default) and
freezes instances (configs are shared between threads). Cross-references between
sections (a rule naming a zone) are small named checks at the bottom of ``Config``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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
    stall_timeout_s: float = Field(
        10.0,
        gt=0,
        description=(
            "Live sources: no new frame for this long releases the capture and reopens it "
            "(a read still hanging is abandoned on its thread)."
        ),
    )
    frozen_s: float = Field(
        30.0,
        gt=0,
        description="Live sources: an unchanging picture for this long marks the camera `frozen`.",
    )
    health_events: list[Literal["connecting", "live", "stalled", "frozen", "offline"]] = Field(
        default_factory=lambda: ["offline", "frozen"],
        description=(
            "Health states that raise a `custom` event (rule_id `camera-health`) when the "
            "camera enters them; [] for none."
        ),
    )
    loop: bool = Field(False, description="Files only: start again at the end (demos).")
    resize: tuple[int, int] | None = Field(
        None, description="[width, height] every frame is scaled to before inference."
    )


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
    every_n_frames: int = Field(
        1, ge=1, description="Run on every n-th frame; between runs its latest detections "
        "stand (a slow PPE model every 3rd frame still covers every frame)."
    )
    when: str | None = Field(
        None, description="Id of an earlier model: run only on frames where that model "
        "has detections (e.g. PPE only when people are seen); otherwise this model adds none."
    )


OnnxProvider = Literal[
    "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider",
    "OpenVINOExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider",
]


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
    providers: list[OnnxProvider] = Field(
        default_factory=lambda: ["CPUExecutionProvider"], min_length=1,
        description="onnxruntime execution providers, in order of preference "
        "(TensorRT/CUDA need onnxruntime-gpu; CPU is always added last as a fallback).",
    )
    graph_optimization: Literal["disable", "basic", "extended", "all"] = Field(
        "all", description="onnxruntime graph optimisation level."
    )
    fp32_cache: bool = Field(
        True, description="A float16 model on a CPU-only session runs converted to float32 "
        "(converted once, cached under the streamer cache): CPU kernels are float32."
    )


class RoboflowModelConfig(_ModelBase):
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
    Union[OnnxModelConfig, RoboflowModelConfig, HogModelConfig, ReplayModelConfig],
    Field(discriminator="kind"),
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

        # The runtime adds these to every event; the API's 100-key limit counts them too,
        # so an event that would be refused on send is refused here instead.
        added = {"rule_id", "zone", "track_id", "reason"}
        if len(set(value) | added) > 100:
            raise ValueError(
                f"at most {100 - len(added - set(value)) } keys here: the API allows 100 and "
                f"streamer adds rule_id, zone, track_id and reason; got {len(value)}"
            )
        for key, item in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_ -]{1,100}", key):
                raise ValueError(f"key {key!r} must match [A-Za-z0-9_ -]{{1,100}}")
            if isinstance(item, str) and len(item) > 1000:
                raise ValueError(f"value of {key!r} is {len(item)} characters, at most 1000")
        return value


class ScheduleConfig(StreamerModel):
    """When a rule is active, in local time of ``timezone`` (the frame's wall clock)."""

    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(
        None, description="Days the rule is active; default every day."
    )
    hours: list[str] | None = Field(
        None,
        description=(
            'Active windows "HH:MM-HH:MM" (end exclusive; "22:00-06:00" runs past midnight '
            "and belongs to the day it starts). Default: all day."
        ),
    )
    timezone: str = Field("UTC", description="IANA zone name, e.g. Europe/Berlin.")

    @field_validator("hours")
    @classmethod
    def _hours_format(cls, value: list[str] | None) -> list[str] | None:
        import re

        for window in value or []:
            match = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", window.strip())
            if not match:
                raise ValueError(f'expected "HH:MM-HH:MM", got {window!r}')
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
                raise ValueError(f"hours out of range in {window!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (expected an IANA name)") from None
        return value


Anchor = Literal[
    "bottom_center", "center", "top_center", "top_left", "top_right",
    "bottom_left", "bottom_right", "center_left", "center_right",
]
CooldownScope = Literal["rule", "track", "zone"]


class _RuleBase(StreamerModel):
    id: str = Field(min_length=1)
    enabled: bool = True
    classes: list[str] | None = Field(None, description="Classes this rule follows; default all.")
    min_confidence: float = Field(0.0, ge=0, le=1)
    cooldown_s: float = Field(
        30.0, ge=0, description="Seconds of frame time before the same scope fires again."
    )
    schedule: ScheduleConfig | None = Field(
        None, description="Active only on these days/hours; default always."
    )
    event: EventSpec = Field(default_factory=EventSpec)


class _BandSettings(StreamerModel):
    """Hysteresis shared by zone and line rules (README: "Band and travel")."""

    band_px: float | None = Field(
        None,
        ge=0,
        description="How far past the edge or line the anchor must be to count as on the "
        "other side; default band_ratio x the box's height.",
    )
    band_ratio: float = Field(
        0.1, ge=0, le=1, description="The band as a share of the box's height, when band_px is unset."
    )


class ZoneRuleConfig(_BandSettings, _RuleBase):
    type: Literal["zone"]
    zone: str = Field(description="Id of a zone in `zones`.")
    trigger: Literal["enter", "exit"] = "enter"
    min_frames: int = Field(
        3, ge=1, description="Consecutive frames on the new side before a transition counts."
    )
    band_ratio: float = Field(
        0.05, ge=0, le=1, description="The band as a share of the box's height, when band_px is unset."
    )
    anchor: Anchor = Field("bottom_center", description="Point of the box tested against the zone.")
    cooldown_scope: CooldownScope = "track"


class CountRuleConfig(_RuleBase):
    type: Literal["count"]
    zone: str | None = Field(None, description="Count inside this zone; default the whole frame.")
    op: Literal[">=", ">", "<=", "<", "=="] = ">="
    threshold: int = Field(ge=0, description="Number the count is compared with.")
    for_s: float = Field(0.0, ge=0, description="Seconds the condition must hold before firing.")
    clear_s: float = Field(
        1.0, ge=0, description="Seconds the condition must be false before the rule re-arms."
    )
    anchor: Anchor = "bottom_center"
    cooldown_scope: CooldownScope = "rule"
    event: EventSpec = Field(default_factory=lambda: EventSpec(type="inventory_count"))


class LineRuleConfig(_BandSettings, _RuleBase):
    type: Literal["line"]
    line: str = Field(description="Id of a line in `lines`.")
    direction: Literal["left_to_right", "right_to_left", "both"] = Field(
        "both", description="Seen walking from the line's start to its end."
    )
    min_frames: int = Field(
        2, ge=1, description="Frames on each side that make a crossing (no jitter counts)."
    )
    min_travel_px: float = Field(
        20.0,
        ge=0,
        description="A track counts crossings only once its anchor has moved this far "
        "from where it was first seen.",
    )
    anchor: Anchor = "bottom_center"
    cooldown_scope: CooldownScope = "track"


class LoiterRuleConfig(_RuleBase):
    type: Literal["loiter"]
    zone: str = Field(description="Id of a zone in `zones`.")
    dwell_s: float = Field(gt=0, description="Seconds inside the zone before an event.")
    gap_s: float = Field(
        1.0, ge=0, description="Seconds outside or unseen that do not end a visit."
    )
    anchor: Anchor = "bottom_center"
    cooldown_scope: CooldownScope = "track"


class MissingPpeRuleConfig(_RuleBase):
    type: Literal["missing_ppe"]
    person_class: str = Field("person", description="Class of the people checked.")
    required: list[str] = Field(
        default_factory=list, description="Item classes each person must wear, e.g. [helmet]."
    )
    regions: dict[str, Literal["head", "torso", "any"]] = Field(
        default_factory=dict,
        description="Where each item must be: head (top third), torso, any. "
        "Default: helmet/hardhat/hat head, vest torso, others any.",
    )
    violation_classes: list[str] = Field(
        default_factory=list,
        description="Classes that mean an item is missing (no_helmet, no-vest), matched "
        "to persons by the same regions; alternative or addition to `required`.",
    )
    zone: str | None = Field(None, description="Check only persons in this zone.")
    for_s: float = Field(1.0, ge=0, description="Seconds an item must be missing continuously.")
    min_person_height_px: float = Field(
        60.0, ge=0, description="Smaller persons are indeterminate: counted, never alerted."
    )
    edge_margin_px: float = Field(
        2.0, ge=0, description="A box this close to the frame edge is cut: indeterminate."
    )
    cooldown_scope: CooldownScope = "track"

    @field_validator("required")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an item is listed twice")
        return value


RuleConfig = Annotated[
    Union[
        ZoneRuleConfig, CountRuleConfig, LineRuleConfig, LoiterRuleConfig, MissingPpeRuleConfig
    ],
    Field(discriminator="type"),
]


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
    upload_input_image: bool = Field(
        False, description="Also upload the raw frame (inputSourceId) beside the snapshot."
    )
    batch_size: int = Field(
        100, ge=1, le=100, description="Events per POST /vision-events/batch (API limit 100)."
    )

    @property
    def name(self) -> str:
        return self.id or self.type


class WebhookSinkConfig(StreamerModel):
    type: Literal["webhook"]
    id: str | None = None
    url: str = Field(description="http(s) URL each event is POSTed to as JSON.")
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key; the body's hex digest goes in `signature_header`."
    )
    signature_header: str = Field("X-Streamer-Signature", min_length=1)
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    include_images: bool = Field(
        True, description="Embed the JPEGs as base64 `imageBase64`/`inputImageBase64`."
    )
    timeout_s: float = Field(10.0, gt=0)

    @property
    def name(self) -> str:
        return self.id or self.type


class MqttSinkConfig(StreamerModel):
    type: Literal["mqtt"]
    id: str | None = None
    host: str = Field(description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535)
    topic: str = Field(
        "streamer/{device_id}/events", min_length=1,
        description="Topic; {device_id}, {stream_id} and {event_type} are filled in.",
    )
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    qos: Literal[0, 1, 2] = 1
    include_images: bool = Field(False, description="Embed the JPEGs as base64.")
    timeout_s: float = Field(10.0, gt=0, description="Bound on connecting and on each ack.")

    @property
    def name(self) -> str:
        return self.id or self.type


class BundleSinkConfig(StreamerModel):
    type: Literal["bundle"]
    id: str | None = None
    dir: Path = Field(description="Folder receiving one event_<UTC>_<eventId>.tar.gz per event.")
    use_case: str = Field("default", min_length=1, description="useCaseId written into payloads.")
    workflow_id: str | None = None

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
    Union[
        VisionEventsSinkConfig, JsonlSinkConfig, WebhookSinkConfig, MqttSinkConfig,
        BundleSinkConfig,
    ],
    Field(discriminator="type"),
]


class OutboxConfig(StreamerModel):
    path: Path = Field(Path("data/outbox.db"), description="SQLite file holding pending events.")
    max_mb: float = Field(
        2048, gt=0, description="Quota: delivered events go first, then the oldest pending."
    )
    ttl_days: float = Field(7, gt=0, description="Events older than this are removed.")
    queue_size: int = Field(
        256, ge=1, description="Events held in memory between the frame loop and the writer."
    )


class MonitorConfig(StreamerModel):
    enabled: bool = Field(True, description="Serve the live monitor page, API and metrics.")
    bind: str = Field(
        "127.0.0.1:8080",
        description="HOST:PORT; any address but loopback requires `token`. Port 0 = any free.",
    )
    token: SecretStr | None = Field(
        None, description="Required as `Authorization: Bearer` or `?token=` when set."
    )
    max_fps: float = Field(
        5.0, gt=0, description="Cap on annotated frames drawn per second for viewers."
    )

    @model_validator(mode="after")
    def _token_off_loopback(self) -> MonitorConfig:
        host = self.bind.rpartition(":")[0].strip("[]")
        loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
        if self.enabled and not loopback and self.token is None:
            raise ValueError(
                f"bind {self.bind!r} is reachable from other machines: set monitor.token "
                f"(or bind to 127.0.0.1)"
            )
        return self


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
    problems += _check_geometry(config)
    problems += _check_model_gates(config)
    problems += _check_rule_references(config)
    problems += _check_class_names(config)
    problems += _check_event_limits(config)
    return problems


def _check_event_limits(config: Config) -> list[tuple[Loc, str]]:
    """Values the runtime copies into customMetadata must fit the API's 1000 characters,
    so an event the server would refuse is refused at `validate` instead of dying on send."""
    problems: list[tuple[Loc, str]] = []
    zone_ids = {zone.id for zone in config.zones}
    for index, rule in enumerate(config.rules):
        if len(rule.id) > 1000:
            problems.append((("rules", index, "id"), "at most 1000 characters (sent as rule_id)"))
        zone = getattr(rule, "zone", None)
        if isinstance(zone, str) and zone in zone_ids and len(zone) > 1000:
            problems.append((("rules", index, "zone"), "at most 1000 characters (sent as zone)"))
    return problems


def _check_geometry(config: Config) -> list[tuple[Loc, str]]:
    """A zone whose edges cross has no clear inside; a line needs two distinct ends."""
    from streamer.rules.geometry import self_intersects

    problems: list[tuple[Loc, str]] = []
    for index, zone in enumerate(config.zones):
        if self_intersects(zone.polygon):
            problems.append(
                (("zones", index, "polygon"), "the polygon's edges cross each other; "
                 "list the corners in order around the zone")
            )
    for index, line in enumerate(config.lines):
        if tuple(line.start) == tuple(line.end):
            problems.append((("lines", index, "end"), "the line's start and end are the same"))
    return problems


def _check_model_gates(config: Config) -> list[tuple[Loc, str]]:
    """`when` names an earlier model: models run in list order, so a later or own id
    would gate on detections that do not exist yet on this frame."""
    problems: list[tuple[Loc, str]] = []
    earlier: list[str] = []
    for index, model in enumerate(config.models):
        if model.when is not None and model.when not in earlier:
            known = ", ".join(earlier) or "none before this one"
            problems.append(
                (("models", index, "when"),
                 f"unknown model {model.when!r}: `when` must name an earlier model ({known})")
            )
        earlier.append(model.id)
    return problems


def _check_rule_references(config: Config) -> list[tuple[Loc, str]]:
    """Every zone or line a rule names exists."""
    problems: list[tuple[Loc, str]] = []
    zone_ids = {zone.id for zone in config.zones}
    line_ids = {line.id for line in config.lines}
    for index, rule in enumerate(config.rules):
        zone = getattr(rule, "zone", None)
        if zone is not None and zone not in zone_ids:
            known = ", ".join(sorted(zone_ids)) or "none defined"
            problems.append((("rules", index, "zone"), f"unknown zone {zone!r} (zones: {known})"))
        line = getattr(rule, "line", None)
        if line is not None and line not in line_ids:
            known = ", ".join(sorted(line_ids)) or "none defined"
            problems.append((("rules", index, "line"), f"unknown line {line!r} (lines: {known})"))
        if isinstance(rule, MissingPpeRuleConfig) and not (rule.required or rule.violation_classes):
            problems.append(
                (("rules", index, "required"), "name `required` items or `violation_classes`")
            )
    return problems


def known_classes(config: Config) -> set[str] | None:
    """Class names the configured models can output, or None when a model's are unknowable.

    Knowable from the config alone: a model's `classes` filter, its `names` (through
    `class_map`), HOG's single class. A replay file or ONNX metadata needs I/O: no check.
    """
    out: set[str] = set()
    for model in config.models:
        if model.classes is not None:
            out.update(model.classes)
        elif isinstance(model, HogModelConfig):
            out.add(model.class_map.get("person", "person"))
        elif isinstance(model, OnnxModelConfig) and model.names is not None:
            out.update(model.class_map.get(name, name) for name in model.names)
        else:
            return None
    return out


def _check_class_names(config: Config) -> list[tuple[Loc, str]]:
    known = known_classes(config)
    if known is None:
        return []
    listed = ", ".join(sorted(known))
    problems: list[tuple[Loc, str]] = []
    for index, rule in enumerate(config.rules):
        fields: list[tuple[str, list[str]]] = [("classes", rule.classes or [])]
        if isinstance(rule, MissingPpeRuleConfig):
            fields += [
                ("person_class", [rule.person_class]),
                ("required", rule.required),
                ("violation_classes", rule.violation_classes),
            ]
        for key, names in fields:
            for position, name in enumerate(names):
                if name not in known:
                    loc: Loc = ("rules", index, key) if key == "person_class" else (
                        "rules", index, key, position)
                    problems.append(
                        (loc, f"unknown class {name!r}: the models output {listed}")
                    )
    return problems
