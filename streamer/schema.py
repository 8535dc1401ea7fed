"""The config's building blocks: the sections every camera has, the bases of plugin configs.

The lowest layer of the package: it imports no other streamer module but ``redact``. A
detector, rule or sink keeps its own config model beside its code (subclassing
:class:`ModelBase`, :class:`RuleBase` or :class:`SinkBase`) and says there how it is built
and what it checks across sections; :mod:`streamer.plugins` gathers them into the file's
root model. One base model forbids unknown keys (a typo is an error, not a silent default)
and freezes instances (configs are shared between threads). Cross-references between
sections (a rule naming a zone) are small named checks at the bottom, run on
:class:`ConfigBase` so they hold for any set of plugins.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from streamer.health import EVENT_STATES

Point = tuple[float, float]
Loc = tuple[Union[str, int], ...]
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def no_control_chars(value: str) -> str:
    """Refuse CR, LF and every other C0 control or DEL in a URL or host name: FFmpeg sent
    a CR/LF from an RTSP URL inside its request, and an HTTP client would fail on every
    send. Said at `validate`, without echoing the value (it may hold a password)."""
    found = _CONTROL_CHARS.search(value)
    if found is not None:
        raise ValueError(f"holds a control character (U+{ord(found.group()):04X} at position "
                         f"{found.start()}); a URL or host name cannot carry one")
    return value


# Every URL or host name in the config: the camera's source, sinks, webhooks.
Url = Annotated[str, AfterValidator(no_control_chars)]

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


class TamperConfig(StreamerModel):
    """`camera.tamper`: does the camera still see what its places were drawn on? (moved,
    obstructed, blurred; see docs/camera-health.md)."""

    enabled: bool | None = Field(
        None,
        description=(
            "Compare the picture with the camera's reference view. Default: on for live "
            "cameras (and files with `realtime: true`), off for files read frame by frame."
        ),
    )
    every_s: float = Field(
        2.0, ge=0.2, le=60, description="Seconds of frame time between two checks (each costs a few ms "
        "on its own thread, never on the frame loop).",
    )
    moved_fraction: float = Field(
        0.03, gt=0, le=1,
        description="A shift of the scene by more than this share of the frame's width is `moved`.",
    )
    moved_hold_s: float = Field(4.0, ge=0, description="`moved` only once the shift held this long.")
    obstructed_fraction: float = Field(
        0.6, gt=0, le=1,
        description=(
            "Share of the picture's textured area that went flat (covered) or dark (unless "
            "the reference is a night view) beyond which the camera is `obstructed`."
        ),
    )
    obstructed_hold_s: float = Field(
        6.0, ge=0, description="`obstructed` only once it held this long (a truck passing does not count)."
    )
    blurred_ratio: float = Field(
        0.4, gt=0, lt=1,
        description="Sharpness at or below this share of the reference view's is `blurred`.",
    )
    blurred_hold_s: float = Field(8.0, ge=0, description="`blurred` only once it held this long.")


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
        default_factory=lambda: ["offline", "frozen", "moved", "obstructed", "blurred"],
        description=(
            "Health states that raise a `custom` event (rule_id `camera-health`) when the "
            "camera enters them; [] for none. The `live` that ends a listed `moved`, "
            "`obstructed` or `blurred` episode is always sent with it."
        ),
    )
    tamper: TamperConfig = Field(
        default_factory=TamperConfig,  # type: ignore[arg-type]
        description="Checks that the camera still sees what its places were drawn on (moved, "
        "obstructed, blurred) against its reference view.",
    )
    loop: bool = Field(False, description="Files only: start again at the end (demos).")
    resize: tuple[int, int] | None = Field(
        None, description="[width, height] every frame is scaled to before inference."
    )
    detect_source: Union[int, str] | None = Field(
        None,
        description=(
            "A second, smaller stream of the same camera (most IP cameras offer a "
            "sub-stream) that the models and the motion check read instead of `source`; "
            "clips, snapshots and the live view still come from `source`, and boxes are "
            "scaled to its size. Each main frame is paired with the newest sub-stream "
            "frame captured no later than it. Default: detect on `source`."
        ),
    )


# --- models ---------------------------------------------------------------------------

    @field_validator("source")
    @classmethod
    def _source_has_no_control_chars(cls, value: Union[int, str]) -> Union[int, str]:
        return no_control_chars(value) if isinstance(value, str) else value


class ModelBase(StreamerModel):
    """Base of every detector's config; ``kind`` (a Literal in each plugin) picks the plugin."""

    if TYPE_CHECKING:
        kind: str
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

    def build(self) -> Any:
        """The detector for this config (a ``streamer.detect.Detector``)."""
        raise NotImplementedError(f"model kind {self.kind!r} has no factory")

    def output_classes(self) -> set[str] | None:
        """Class names this model can output, judged from the config alone; None when
        unknowable without I/O (a replay file, ONNX metadata)."""
        return set(self.classes) if self.classes is not None else None

    def inspect(self) -> ModelFacts:
        """The model's own class names (before ``class_map``) read from its files without
        running it, and what is wrong with those files; called by ``validate`` and ``run``
        before the first frame. Default: nothing knowable, nothing checked."""
        return ModelFacts()


@dataclass(frozen=True)
class ModelFacts:
    """What a model's files say before it runs (see :meth:`ModelBase.inspect`).

    ``classes`` is None when they cannot be known here (a Roboflow model not in the cache).
    ``problems`` are key paths inside the model's config with one message each.
    """

    classes: tuple[str, ...] | None = None
    problems: tuple[tuple[Loc, str], ...] = ()


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


class ClipSettings(StreamerModel):
    """An event's video clip (issue 17): the seconds before the event and after it."""

    pre_s: float = Field(5.0, ge=0, le=60, description="Seconds of picture before the event.")
    post_s: float = Field(5.0, ge=0, le=60, description="Seconds of picture after the event.")
    annotated: bool = Field(
        False,
        description=(
            "Draw the overlay (boxes, zones, lines) on the clip. Off: the camera's own "
            "H.264 packets are copied, no re-encode; on: the frames are drawn and encoded "
            "with H.264 off the frame loop."
        ),
    )


class RuleBase(StreamerModel):
    """Base of every rule's config; ``type`` (a Literal in each plugin) picks the plugin."""

    if TYPE_CHECKING:
        type: str
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
    clip: ClipSettings | Literal[False] | None = Field(
        None,
        description=(
            "A video clip with each event: {pre_s, post_s, annotated}; `false` turns the "
            "camera-wide `clips.default` off for this rule. Default: `clips.default`."
        ),
    )

    expect_within_h: float | None = Field(
        None, gt=0, le=24 * 366,
        description=(
            "Warn (a `rule_blind` event) when no object of this rule's classes has been in "
            "its place for this many hours of picture (time the camera was away does not "
            "count): the rule is probably blind. Default: never."
        ),
    )

    def expected(self) -> tuple[list[str] | None, str | None, str]:
        """What ``expect_within_h`` waits for: the classes (None: any), the zone (None:
        anywhere in view) and the point of the box tested against it."""
        return self.classes, None, "bottom_center"

    def build(self, context: Any) -> Any:
        """The rule for this config (a ``streamer.rules.Rule``); ``context`` is a
        ``streamer.rules.base.RuleContext`` (zones and lines in pixels, frame size)."""
        raise NotImplementedError(f"rule type {self.type!r} has no factory")

    def watched_places(self) -> list[tuple[Literal["zone", "line"], str]] | None:
        """The zones and lines this rule looks at, so motion elsewhere need not run the
        models (docs/motion.md); None: the whole frame (the safe answer for a plugin)."""
        return None

    def class_fields(self) -> list[tuple[Loc, str]]:
        """Every class name this rule follows, with the key path it is written at."""
        return [(("classes", index), name) for index, name in enumerate(self.classes or [])]

    def checks(self, config: ConfigBase) -> list[tuple[Loc, str]]:
        """Problems only the whole file shows, with key paths inside this rule."""
        return []

    def places(self) -> set[str]:
        """Ids of the zones and lines this rule watches (the places editor previews the
        rules on a place it changes). A rule type whose place keys are not ``zone`` or
        ``line`` overrides this."""
        return {value for key in ("zone", "line") if isinstance(value := getattr(self, key, None), str)}


class TrackRuleBase(RuleBase):
    """A rule that follows each track through one place (zone, line, loiter): it tests one
    point of the box, and by default cools down per track."""

    anchor: Anchor = Field("bottom_center", description="Point of the box tested against the place.")
    cooldown_scope: CooldownScope = "track"


class BandSettings(StreamerModel):
    """Hysteresis shared by zone and line rules (docs/rules.md, "Band and travel")."""

    band_px: float | None = Field(
        None,
        ge=0,
        description="How far past the edge or line the anchor must be to count as on the "
        "other side; default band_ratio x the box's height.",
    )
    band_ratio: float = Field(
        0.1, ge=0, le=1, description="The band as a share of the box's height, when band_px is unset."
    )


# --- tracker --------------------------------------------------------------------------


class TrackerConfig(StreamerModel):
    lost_buffer_s: float = Field(
        2.0, gt=0, description="Seconds of frame time a lost object keeps its id."
    )
    activation_confidence: float = Field(
        0.3, ge=0, le=1, description="Minimum score for a detection to start a track."
    )
    min_iou: float = Field(0.1, gt=0, le=1, description="IoU to match a detection to a track.")
    rejoin: bool = Field(
        True,
        description="A track born where a track was lost under 0.4 s before, no further than "
        "a person moves, takes the lost track's id; a track whose box jumps, or changes size "
        "more than a person's does, is shown without an id meanwhile (docs: Rules and tuning, "
        "\"Band and travel\").",
    )


# --- when the detector runs (docs/motion.md) ----------------------------------------


class DetectConfig(StreamerModel):
    """When the models run. A camera (a live source, or a file with ``realtime: true``)
    is *monitoring*: the models run only when something moves where the rules look, at
    most ``fps`` times a second. A file read frame by frame is *analysis*: every frame."""

    fps: float | None = Field(
        None,
        ge=0,
        description=(
            "Most model runs per second of frame time, whatever the camera sends; 0 = "
            "every frame. Default: 5 for a camera, every frame for a file read frame by frame."
        ),
    )
    keepalive_s: float = Field(
        1.0,
        gt=0,
        description=(
            "While objects are tracked, the models run at least this often even when "
            "nothing moves, so a person standing still stays tracked (keep it under "
            "`tracker.lost_buffer_s`)."
        ),
    )
    motion: bool | None = Field(
        None,
        description=(
            "Run the models only on frames where motion touches the watched area (zones "
            "and lines the rules name, with `motion.margin`; the whole frame when a rule "
            "watches it). Default: on for a camera, off for a file read frame by frame."
        ),
    )
    region: bool | None = Field(
        None,
        description=(
            "Run the models only on the part of the picture the rules watch (the box "
            "around their zones and lines, grown by `region_margin`), at the scale the "
            "whole frame would get: a YOLOv8/YOLO11 ONNX model then costs that share of "
            "a run. Objects outside it are not detected nor drawn. Default: on for a "
            "camera, off for a file read frame by frame."
        ),
    )
    region_margin: float = Field(
        0.25,
        ge=0,
        le=1,
        description=(
            "How far the region reaches around the watched zones and lines, as a share "
            "of the frame's height: a person whose feet are in a zone must fit whole."
        ),
    )


class MotionConfig(StreamerModel):
    """The cheap motion check that gates the models (``detect.motion``)."""

    mask: list[list[Point]] = Field(
        default_factory=list,
        description=(
            "Polygons where motion is ignored (a clock, a tree, a road beside the site); "
            "each corner in [0, 1] = relative to the frame, else pixels."
        ),
    )
    margin: float = Field(
        0.1,
        ge=0,
        le=1,
        description=(
            "How far around zones and lines motion still counts, as a share of the "
            "frame's height: a person walking up to a line is tracked before they reach it."
        ),
    )
    threshold: int = Field(
        20,
        ge=1,
        le=255,
        description="Grey levels a pixel must differ from the background to count as moving.",
    )
    min_area: float = Field(
        0.0005,
        ge=0,
        le=1,
        description="Share of the frame that must move (inside the watched area) to count as motion.",
    )

    @field_validator("mask")
    @classmethod
    def _polygons(cls, value: list[list[Point]]) -> list[list[Point]]:
        for index, polygon in enumerate(value):
            if not 3 <= len(polygon) <= MAX_POLYGON_POINTS:
                raise ValueError(
                    f"polygon {index} has {len(polygon)} corners; expected 3 to {MAX_POLYGON_POINTS}"
                )
        return value


# --- sinks ----------------------------------------------------------------------------


class SinkBase(StreamerModel):
    """Base of every sink's config; ``type`` (a Literal in each plugin) picks the plugin,
    its ``id`` names it (each plugin declares both, so its keys keep their order)."""

    if TYPE_CHECKING:
        type: str
        id: str | None

    @property
    def name(self) -> str:
        return self.id or self.type

    def build(self, context: Any) -> Any:
        """The sink for this config (a ``streamer.sinks.base.Sink``); ``context`` is a
        ``streamer.sinks.base.SinkContext`` (the outbox's limits, HTTP clients the run closes)."""
        raise NotImplementedError(f"sink type {self.type!r} has no factory")

    def checks(self, config: ConfigBase) -> list[tuple[Loc, str]]:
        """Problems only the whole file shows, with key paths inside this sink."""
        return []

    def secrets(self) -> list[str]:
        """Secrets this sink holds outside ``SecretStr`` fields (a webhook URL's path)."""
        return []


def insecure_http(key: str, url: str, what: str, allowed: bool) -> list[tuple[Loc, str]]:
    """A key, a signing secret or an Authorization header never travels over plain http
    off this machine unless the sink says so (issue 11): anyone on the path could read it."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return [((key,), f"not a valid URL: {url!r}")]
    if parts.scheme.lower() not in ("http", "https") or not host:
        return [((key,), "expected an http(s):// URL")]
    if parts.scheme.lower() == "http" and not is_loopback(host) and not allowed:
        return [(
            (key,),
            f"http:// to {host} sends {what} unencrypted; use https:// "
            f"(or set allow_insecure_http: true)",
        )]
    return []



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


class ClipsConfig(StreamerModel):
    """Clips for the camera's events: the memory they may use and the rules' default."""

    buffer_mb: float = Field(
        64,
        gt=0,
        le=4096,
        description=(
            "Memory for the picture kept before events. The camera's own packets take "
            "about 3 MB for 5 s of 1080p at 10 fps; decoded frames (annotated clips, USB "
            "and HTTP cameras) about 6 MB each at 1080p. Past it a clip starts later and "
            "says so."
        ),
    )
    default: ClipSettings | None = Field(
        None, description="Clip settings for every rule that has no `clip` of its own."
    )


def rule_clip(rule: RuleBase, clips: ClipsConfig) -> ClipSettings | None:
    """The clip a rule's events get: its own ``clip``, else the camera-wide default."""
    if rule.clip is False:
        return None
    return rule.clip or clips.default


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


class ConfigBase(StreamerModel):
    """The root of a config file, with plugin sections typed by their bases.

    :mod:`streamer.plugins` derives the model files are validated with, whose ``models``,
    ``rules`` and ``sinks`` are the registered plugins' discriminated unions; everything
    below reads only what the bases promise, so it holds for any set of plugins.
    """

    device_id: str = Field(
        default_factory=socket.gethostname, min_length=1,
        description="Vision Events deviceId.",
    )
    camera: CameraConfig
    models: list[ModelBase] = Field(min_length=1)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    rules: list[RuleBase] = Field(default_factory=list)
    sinks: list[SinkBase] = Field(default_factory=list)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    clips: ClipsConfig = Field(default_factory=ClipsConfig)
    # Set by the loader: turns a key path into `file:line key` for checks made later.
    _where: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _models_know_the_camera(self) -> ConfigBase:
        """A model that calibrates on the camera's frames (int8) learns its source here."""
        for model in self.models:
            adopt = getattr(model, "adopt_camera", None)
            if adopt is not None:
                adopt(self.camera.source)
        return self


def check_references(config: ConfigBase) -> list[tuple[Loc, str]]:
    """Checks that span sections; each problem comes with the key path it points at.

    Run by the loader after the models validate, so the message can name the YAML line.
    A plugin adds its own through ``checks``.
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
    for index, sink in enumerate(config.sinks):
        problems += [(("sinks", index, *loc), message) for loc, message in sink.checks(config)]
    return problems


def _check_event_limits(config: ConfigBase) -> list[tuple[Loc, str]]:
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


def segments_intersect(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    """Whether segments p1-p2 and q1-q2 properly cross (touching ends do not count)."""

    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def self_intersects(polygon: Any) -> bool:
    """Whether two non-adjacent edges of the closed polygon cross (a zone so drawn has no
    clear inside; checked here, below the rules, because `validate` refuses it)."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    n = len(poly)
    edges = [(poly[i], poly[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if segments_intersect(*edges[i], *edges[j]):
                return True
    return False


def _check_geometry(config: ConfigBase) -> list[tuple[Loc, str]]:
    """A zone whose edges cross has no clear inside; a line needs two distinct ends."""
    problems: list[tuple[Loc, str]] = []
    for index, zone in enumerate(config.zones):
        if self_intersects(zone.polygon):
            problems.append(
                (("zones", index, "polygon"), "the polygon's edges cross each other; "
                 "list the corners in order around the zone")
            )
        mixed = _mixed_units(zone.polygon)
        if mixed:
            problems.append((("zones", index, "polygon"), mixed))
    for index, line in enumerate(config.lines):
        mixed = _mixed_units([line.start, line.end])
        if mixed:
            problems.append((("lines", index), mixed))
        if tuple(line.start) == tuple(line.end):
            problems.append((("lines", index, "end"), "the line's start and end are the same"))
    return problems


def _mixed_units(points: Sequence[Point]) -> str | None:
    """Points in [0, 1] are fractions of the frame only when every value is; a place with
    both 0.35 and 640 would be read as pixels and shrink to the frame's top-left corner."""
    values = [value for point in points for value in point]
    pixels = [value for value in values if value > 1 or value < 0]
    fractions = [value for value in values if 0 < value < 1]
    if not pixels or not fractions:
        return None
    return (
        f"mixes fractions of the frame ({fractions[0]:g}) and pixels ({pixels[0]:g}); "
        f"write every corner as fractions 0..1 or every corner in pixels"
    )


def _check_model_gates(config: ConfigBase) -> list[tuple[Loc, str]]:
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


def _check_rule_references(config: ConfigBase) -> list[tuple[Loc, str]]:
    """Every zone or line a rule names exists; then the rule's own checks."""
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
        problems += [(("rules", index, *loc), message) for loc, message in rule.checks(config)]
    return problems


def known_classes(config: ConfigBase) -> set[str] | None:
    """Class names the configured models can output, or None when a model's are unknowable.

    Knowable from the config alone: a model's `classes` filter, its `names` (through
    `class_map`), HOG's single class. A replay file or ONNX metadata needs I/O: no check.
    """
    out: set[str] = set()
    for model in config.models:
        classes = model.output_classes()
        if classes is None:
            return None
        out |= classes
    return out


def _check_class_names(config: ConfigBase) -> list[tuple[Loc, str]]:
    known = known_classes(config)
    if known is None:
        return []
    listed = ", ".join(sorted(known))
    return [
        (("rules", index, *loc), f"unknown class {name!r}: the models output {listed}")
        for index, rule in enumerate(config.rules)
        for loc, name in rule.class_fields()
        if name not in known
    ]


def model_outputs(model: ModelBase, own: Sequence[str] | None) -> set[str] | None:
    """Classes ``model`` can hand the rules: its own names through ``class_map``, then its
    ``classes`` filter; None when its own names are unknown and nothing filters them."""
    if own is None:
        return set(model.classes) if model.classes is not None else None
    mapped = {model.class_map.get(name, name) for name in own}
    return mapped & set(model.classes) if model.classes is not None else mapped


def check_model_classes(
    config: ConfigBase, own_classes: Sequence[Sequence[str] | None]
) -> list[tuple[Loc, str]]:
    """No blind rule: every ``class_map`` key is a class of its model, every ``classes``
    entry can come out of it, and every class a rule follows comes out of some model.

    ``own_classes`` holds each model's own class names, in ``config.models``' order (from its
    files for ``validate``, from the loaded model for ``run``), None where unknown. A rule's
    class that no model outputs means a rule that never fires, or for PPE one that fires on
    everybody: for a safety camera the worst failure there is, so it is refused.
    """
    problems: list[tuple[Loc, str]] = []
    outputs: set[str] | None = set()
    for index, (model, own) in enumerate(zip(config.models, own_classes)):
        if own is not None:
            listed = ", ".join(own) or "none"
            for key in model.class_map:
                if key not in own:
                    hint = [name for name in own if name.lower() == key.lower()]
                    guess = f"; did you mean {hint[0]!r}?" if hint else ""
                    problems.append((
                        ("models", index, "class_map", key),
                        f"{key!r} is not a class of model {model.id!r} (its classes: {listed}; "
                        f"names are case-sensitive){guess}",
                    ))
            mapped = sorted({model.class_map.get(name, name) for name in own})
            for position, name in enumerate(model.classes or []):
                if name not in mapped:
                    problems.append((
                        ("models", index, "classes", position),
                        f"model {model.id!r} never outputs {name!r} (after class_map it "
                        f"outputs {', '.join(mapped) or 'nothing'}); rename its classes with "
                        f"class_map, e.g. {{{own[0] if own else 'Name'}: {name}}}",
                    ))
        produced = model_outputs(model, own)
        if produced is None or outputs is None:
            outputs = None
        else:
            outputs |= produced
    if outputs is None:
        return problems  # some model's classes are unknown: a rule may rely on them
    listed = ", ".join(sorted(outputs)) or "nothing"
    for index, rule in enumerate(config.rules):
        for loc, name in rule.class_fields():
            if name not in outputs:
                problems.append((
                    ("rules", index, *loc),
                    f"no model outputs {name!r} (after class_map and classes they output "
                    f"{listed}), so this rule can never see it",
                ))
    return problems


# --- secrets --------------------------------------------------------------------------


def _types_in(annotation: Any) -> Iterator[Any]:
    """Every type named inside an annotation (through Union, list, dict, Annotated)."""
    yield annotation
    for arg in get_args(annotation):
        yield from _types_in(arg)


def secret_field_names(model: type[BaseModel]) -> frozenset[str]:
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


def config_secrets(config: ConfigBase) -> tuple[str, ...]:
    """Literal secret values in a config, for :func:`streamer.redact.redact`.

    Every ``SecretStr`` field (keys, tokens, passwords); the camera URL's password and query
    values; a webhook URL's path and query (Slack, Teams and Discord put the token in the
    path).
    """
    from streamer.redact import url_secrets

    out: list[str] = list(_secret_values(config))
    for source in (config.camera.source, config.camera.detect_source):
        if isinstance(source, str):
            out += url_secrets(source)
    for sink in config.sinks:
        out += sink.secrets()
    return tuple(dict.fromkeys(secret for secret in out if secret))
