"""The config's fixed sections, one model each: ``camera`` (with ``tamper``), ``zones`` and
``lines``, ``tracker``, ``detect``, ``motion``, ``outbox``, ``clips`` and ``monitor``.

They hold no plugin: the plugin sections (``models``, ``rules``, ``sinks``) are typed by
the bases in :mod:`streamer.schema.bases`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal, Union

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from streamer.health_state import EVENT_STATES
from streamer.schema.base import MAX_POLYGON_POINTS, Point, StreamerModel
from streamer.schema.network import (
    HOST_NAME,
    MIN_TOKEN_CHARS,
    bind_host,
    is_loopback_host,
    no_control_chars,
    normal_host,
)
from streamer.schema.rule_parts import ClipSettings


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
    health_events: list[Literal[EVENT_STATES]] = Field(  # type: ignore[valid-type]  # Literal of the states tuple, made when the module runs
        default_factory=lambda: ["offline", "frozen", "moved", "obstructed", "blurred"],
        description=(
            "Health states that raise a `custom` event (rule_id `camera-health`) when the "
            "camera enters them; [] for none. The `live` that ends a listed `moved`, "
            "`obstructed` or `blurred` episode is always sent with it."
        ),
    )
    tamper: TamperConfig = Field(
        default_factory=TamperConfig,
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

    @field_validator("source")
    @classmethod
    def _source_has_no_control_chars(cls, value: Union[int, str]) -> Union[int, str]:
        return no_control_chars(value) if isinstance(value, str) else value


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
                if not HOST_NAME.match(name):
                    raise ValueError(
                        f"{host!r} is not a host name or IP address (no scheme, port or path)"
                    ) from None
            out.append(name)
        return out
