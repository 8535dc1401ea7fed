"""The YAML reference: every key a config file may hold, with its meaning and bounds.

One base model forbids unknown keys (a typo is an error, not a silent default) and
freezes instances (configs are shared between threads). Cross-references between
sections (a rule naming a zone) are small named checks at the bottom of ``Config``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import string
from pathlib import Path
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from streamer.health import EVENT_STATES

Point = tuple[float, float]
# The crossing-edges check is quadratic: 256 corners take a fraction of a second, 30000
# took minutes. A drawn zone has a handful.
MAX_POLYGON_POINTS = 256


class StreamerModel(BaseModel):
    """Base of every config section: unknown keys are errors; instances are immutable.

    YAML spells infinity and NaN `.inf`/`.nan`: no setting means either (a NaN passes every
    `gt=0` check by comparing false), so every float must be finite.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    reconnect_max_s: float | None = Field(
        None,
        ge=0.5,
        le=600,
        description=(
            "Live sources: longest wait between two reconnect attempts (they start at 1 s "
            "and double up to it, jittered 0-20 % shorter). Default 3 s for RTSP and USB "
            "cameras, so the picture is back within 10 s of the camera's return; 30 s for "
            "http(s) streams, which are as often a remote server as a camera. Files never "
            "reconnect."
        ),
    )
    frozen_s: float = Field(
        30.0,
        gt=0,
        description="Live sources: an unchanging picture for this long marks the camera `frozen`.",
    )
    health_events: list[Literal[EVENT_STATES]] = Field(  # type: ignore[valid-type]
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
        max_length=MAX_POLYGON_POINTS,
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
        added = {"rule_id", "zone", "track_id", "reason", "detections_cut"}
        if len(set(value) | added) > 100:
            raise ValueError(
                f"at most {100 - len(added - set(value)) } keys here: the API allows 100 and "
                f"streamer adds rule_id, zone, track_id, reason and detections_cut; "
                f"got {len(value)}"
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


class ZoneRuleConfig(_RuleBase):
    type: Literal["zone"]
    zone: str = Field(description="Id of a zone in `zones`.")
    trigger: Literal["enter", "exit"] = "enter"
    min_frames: int = Field(
        3, ge=1, description="Consecutive frames on the new side before a transition counts."
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


class LineRuleConfig(_RuleBase):
    type: Literal["line"]
    line: str = Field(description="Id of a line in `lines`.")
    direction: Literal["left_to_right", "right_to_left", "both"] = Field(
        "both", description="Seen walking from the line's start to its end."
    )
    min_frames: int = Field(
        2, ge=1, description="Frames on each side that make a crossing (no jitter counts)."
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
    api_key: SecretStr = Field(
        description="Key with the vision-events:write scope; use ${ROBOFLOW_API_KEY}."
    )
    use_case: str = Field(min_length=1, description="useCaseId; must exist on the server.")
    workflow_id: str | None = None
    timeout_s: float = Field(
        30.0, gt=0, description="Bound on each event POST (a batch of 100 is ~200 KiB, "
        "as big as a snapshot)."
    )
    upload_timeout_s: float = Field(
        30.0, gt=0, description="Bound on each JPEG upload (~250 KiB for 1080p: 8 s at "
        "256 kbit/s); the reference client allows 30 s."
    )
    upload_input_image: bool = Field(
        False, description="Also upload the raw frame (inputSourceId) beside the snapshot."
    )
    batch_size: int = Field(
        100, ge=1, le=100, description="Events per POST /vision-events/batch (API limit 100)."
    )
    max_in_flight: int = Field(
        8, ge=1, le=32, description="JPEG uploads in flight at once (1: one after another); "
        "on a 100 ms uplink 8 drain a backlog ~10x faster than 1 (benchmarks/delivery.py)."
    )
    allow_insecure_http: bool = Field(
        False, description="Allow an http:// api_url off loopback (the key then travels "
        "unencrypted)."
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
    allow_insecure_http: bool = Field(
        False, description="Allow an http:// url off loopback although a `secret` or an "
        "Authorization header goes with it."
    )

    @property
    def name(self) -> str:
        return self.id or self.type

    @field_validator("headers")
    @classmethod
    def _sendable(cls, value: dict[str, str]) -> dict[str, str]:
        """HTTP refuses these on every send; say so at `validate` instead."""
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name (letters, digits, -)")
            if any(char in text for char in "\r\n\0"):
                raise ValueError(f"header {name!r}: a value cannot hold a line break")
        return value


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


MQTT_TOPIC_FIELDS = ("device_id", "stream_id", "event_type")


class MqttSinkConfig(StreamerModel):
    type: Literal["mqtt"]
    id: str | None = None
    host: str = Field(min_length=1, description="Broker host name or address.")
    port: int | None = Field(None, ge=1, le=65535, description="Default 1883, 8883 with tls.")
    topic: str = Field(
        "streamer/{device_id}/events", min_length=1, max_length=1000,
        description="Topic; {device_id}, {stream_id} and {event_type} are filled in.",
    )
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    qos: Literal[0, 1, 2] = 1
    include_images: bool = Field(False, description="Embed the JPEGs as base64.")
    timeout_s: float = Field(10.0, gt=0, description="Bound on connecting and on each ack.")
    tls: bool = Field(False, description="Connect over TLS, verifying the broker's certificate.")
    ca_file: Path | None = Field(
        None, description="PEM CA(s) that signed the broker's certificate; default: the system's."
    )
    cert_file: Path | None = Field(None, description="PEM client certificate, if the broker asks.")
    key_file: Path | None = Field(None, description="Its private key, unless cert_file holds it.")
    allow_insecure: bool = Field(
        False, description="Send a password without TLS to a broker off this machine."
    )

    @property
    def name(self) -> str:
        return self.id or self.type

    @property
    def broker_port(self) -> int:
        return self.port if self.port is not None else (8883 if self.tls else 1883)

    @field_validator("topic")
    @classmethod
    def _topic_template(cls, value: str) -> str:
        """A bad template would fail every publish, not `validate`: check it here."""
        check_mqtt_topic(value, "")
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
        except ValueError as exc:
            raise ValueError(f"not a valid template ({exc}); write {{{{ and }}}} for braces")
        for field in fields:
            if field not in MQTT_TOPIC_FIELDS:
                known = ", ".join(f"{{{name}}}" for name in MQTT_TOPIC_FIELDS)
                raise ValueError(f"unknown field {{{field}}} (known: {known})")
        return value

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


def check_mqtt_topic(topic: str, what: str) -> None:
    """Raise ValueError for what a broker refuses in a topic to publish to."""
    for bad, why in (("+", "a wildcard"), ("#", "a wildcard"), ("\0", "a NUL character")):
        if bad in topic:
            raise ValueError(f"{what}{bad!r} is {why}: not allowed in a topic to publish to")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine, judged as written (no DNS): ``localhost`` or a
    loopback address; a name such as ``127.example.com`` is not."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FileLimitsConfig(StreamerModel):
    """Limits of a sink that leaves files on disk; unset, the outbox's own apply."""

    max_mb: float | None = Field(
        None, gt=0, description="Quota on the sink's files, oldest evicted first; default: outbox.max_mb."
    )
    ttl_days: float | None = Field(
        None, gt=0, description="Files older than this are removed; default: outbox.ttl_days."
    )


class BundleSinkConfig(FileLimitsConfig):
    type: Literal["bundle"]
    id: str | None = None
    dir: Path = Field(description="Folder receiving one event_<UTC>_<eventId>.tar.gz per event.")
    use_case: str | None = Field(
        None, min_length=1, description="useCaseId written into payloads; default none "
        "(the uploader supplies it, as with Roboflow's own bundle writer)."
    )
    workflow_id: str | None = None

    @property
    def name(self) -> str:
        return self.id or self.type


class JsonlSinkConfig(FileLimitsConfig):
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
    backlog_mb: float = Field(
        64,
        gt=0,
        description=(
            "Events (as JPEG) held in memory while the outbox cannot be written (disk full, "
            "read-only, I/O error) and the write is retried; past it the oldest is given up "
            "and counted unstored. 64 MB is about 100-200 events at 1080p."
        ),
    )


MIN_TOKEN_CHARS = 16


def bind_host(bind: str) -> str:
    """The host part of ``HOST:PORT`` (``[::1]:80`` gives ``::1``)."""
    return bind.rpartition(":")[0].strip().strip("[]")


def normal_host(host: str) -> str:
    """One spelling per host name: no brackets, no trailing dot, lower case."""
    return host.strip().strip("[]").rstrip(".").lower()


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; an empty host, which the monitor binds to 127.0.0.1."""
    host = normal_host(host)
    return host == "" or is_loopback(host)


_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$")


class MonitorConfig(StreamerModel):
    enabled: bool = Field(True, description="Serve the live monitor page, API and metrics.")
    bind: str = Field(
        "127.0.0.1:8080",
        description="HOST:PORT; any address but loopback requires `token`. Port 0 = any free.",
    )
    token: SecretStr | None = Field(
        None,
        validate_default=True,
        description=(
            "Required as `Authorization: Bearer` or `?token=` when set; off loopback it must "
            f"be set, with at least {MIN_TOKEN_CHARS} characters. Empty on loopback = none."
        ),
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Extra names the monitor answers to in the Host header (e.g. edge-box-07.local). "
            "Always allowed: the bind address, localhost, 127.0.0.1, [::1]; on a 0.0.0.0 or "
            ":: bind also any IP address. Other names get 421 (no DNS rebinding)."
        ),
    )
    max_fps: float = Field(
        5.0, gt=0, description="Cap on annotated frames drawn per second for viewers."
    )

    @field_validator("token")
    @classmethod
    def _token_off_loopback(cls, token: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Off loopback the monitor shows the camera to the network: a real token, always.

        An empty token (``token: ""`` or an unset ``${MONITOR_TOKEN:-}``) means no token
        on loopback and is refused elsewhere, so it can never open the monitor."""
        bind = info.data.get("bind")
        if bind is None:
            return token  # bind failed its own check; that error is reported
        value = token.get_secret_value().strip() if token is not None else ""
        if not info.data.get("enabled", True) or is_loopback_host(bind_host(bind)):
            return token if value else None
        reach = f"bind {bind!r} is reachable from other machines"
        if token is None:
            raise ValueError(
                f"{reach}: set monitor.token (at least {MIN_TOKEN_CHARS} characters) "
                f"or bind to 127.0.0.1"
            )
        if not value:
            raise ValueError(
                f"is empty (an unset ${{NAME:-}} gives an empty value), but {reach}: "
                f"set a token of at least {MIN_TOKEN_CHARS} characters"
            )
        if len(value) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"has {len(value)} characters; {reach}: use at least {MIN_TOKEN_CHARS}"
            )
        return token

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        out = []
        for host in hosts:
            name = normal_host(host)
            try:
                ipaddress.ip_address(name)
            except ValueError:
                if not _HOST_NAME.match(name):
                    raise ValueError(
                        f"{host!r} is not a host name or IP address (no scheme, port or path)"
                    ) from None
            out.append(name)
        return out


# --- the whole file -------------------------------------------------------------------


class Config(StreamerModel):
    device_id: str = Field(
        default_factory=socket.gethostname, min_length=1,
        description="Vision Events deviceId.",
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
    problems += _check_sink_transport(config)
    problems += _check_mqtt_sinks(config)
    return problems


def _check_sink_transport(config: Config) -> list[tuple[Loc, str]]:
    """A key, a signing secret or an Authorization header never travels over plain http
    off this machine unless the sink says so (issue 11): anyone on the path could read it."""
    from urllib.parse import urlsplit

    problems: list[tuple[Loc, str]] = []
    for index, sink in enumerate(config.sinks):
        if isinstance(sink, VisionEventsSinkConfig):
            key, url, what = "api_url", sink.api_url, "the API key"
        elif isinstance(sink, WebhookSinkConfig):
            signed = sink.secret is not None
            auth = any(name.lower() == "authorization" for name in sink.headers)
            if not (signed or auth):
                continue
            key, url = "url", sink.url
            what = "the Authorization header" if auth else "signed events"
        else:
            continue
        try:
            parts = urlsplit(url.strip())
            host = parts.hostname
        except ValueError:
            problems.append((("sinks", index, key), f"not a valid URL: {url!r}"))
            continue
        if parts.scheme.lower() not in ("http", "https") or not host:
            problems.append((("sinks", index, key), "expected an http(s):// URL"))
        elif parts.scheme.lower() == "http" and not is_loopback(host) and not (
            sink.allow_insecure_http
        ):
            problems.append((
                ("sinks", index, key),
                f"http:// to {host} sends {what} unencrypted; use https:// "
                f"(or set allow_insecure_http: true)",
            ))
    return problems


def _check_mqtt_sinks(config: Config) -> list[tuple[Loc, str]]:
    """TLS settings that hang together, no password in clear off this machine, and a
    topic the broker takes once this camera's ids are filled in."""
    problems: list[tuple[Loc, str]] = []
    for index, sink in enumerate(config.sinks):
        if not isinstance(sink, MqttSinkConfig):
            continue
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(sink, key) is not None and not sink.tls:
                problems.append((("sinks", index, key), "given without `tls: true`"))
        if sink.key_file is not None and sink.cert_file is None:
            problems.append((("sinks", index, "key_file"), "needs cert_file"))
        elif sink.tls:
            from streamer.sinks.mqtt import TlsFileError, tls_context

            try:
                tls_context(sink)
            except TlsFileError as exc:
                problems.append((("sinks", index, exc.key), str(exc)))
        if sink.password is not None and not (
            sink.tls or sink.allow_insecure or is_loopback(sink.host)
        ):
            problems.append(
                (("sinks", index, "password"),
                 f"would cross the network in clear to {sink.host}: set `tls: true` "
                 f"(or `allow_insecure: true` on a network you trust)")
            )
        for field, value in (("device_id", config.device_id), ("stream_id", config.camera.id)):
            if f"{{{field}}}" in sink.topic:
                try:
                    check_mqtt_topic(value, f"{field} {value!r} fills the topic: ")
                except ValueError as exc:
                    problems.append((("sinks", index, "topic"), str(exc)))
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


# --- secrets --------------------------------------------------------------------------


def _types_in(annotation: Any) -> Iterator[Any]:
    """Every type named inside an annotation (through Union, list, dict, Annotated)."""
    yield annotation
    for arg in get_args(annotation):
        yield from _types_in(arg)


def secret_field_names(model: type[BaseModel] = Config) -> frozenset[str]:
    """Names of every ``SecretStr`` field in ``model``'s tree, whatever they are called.

    Derived from the models, so a new secret field is hidden in error messages the day it
    is added, without a hand-kept list to forget.
    """
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            for kind in _types_in(info.annotation):
                if kind is SecretStr:
                    names.add(name)
                elif isinstance(kind, type) and issubclass(kind, BaseModel):
                    visit(kind)

    visit(model)
    return frozenset(names)


def _secret_values(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_values(getattr(value, name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secret_values(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_values(item)


def config_secrets(config: Config) -> tuple[str, ...]:
    """Literal secret values in a config, for :func:`streamer.redact.redact`.

    Every ``SecretStr`` field (keys, tokens, passwords); the camera URL's password and query
    values; a webhook URL's path and query (Slack, Teams and Discord put the token in the
    path).
    """
    from urllib.parse import urlsplit

    from streamer.redact import url_secrets

    out: list[str] = list(_secret_values(config))
    if isinstance(config.camera.source, str):
        out += url_secrets(config.camera.source)
    for sink in config.sinks:
        if isinstance(sink, WebhookSinkConfig):
            parts = urlsplit(sink.url)
            out += [parts.path] if parts.path.strip("/") else []
            out += url_secrets(sink.url)
    return tuple(dict.fromkeys(secret for secret in out if secret))
