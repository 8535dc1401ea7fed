"""The bases of plugin configs and the root model they hang from.

A detector, rule or sink keeps its own config model beside its code (subclassing
:class:`ModelBase`, :class:`RuleBase` or :class:`SinkBase`) and says there how it is built
and what it checks across sections; :mod:`streamer.plugins` gathers them into the file's
root model, derived from :class:`ConfigBase`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr

from streamer.schema.base import Loc, StreamerModel
from streamer.schema.rule_parts import (
    Anchor,
    ClipSettings,
    CooldownScope,
    EventSpec,
    ScheduleConfig,
)
from streamer.schema.sections import (
    CameraConfig,
    ClipsConfig,
    DetectConfig,
    LineConfig,
    MonitorConfig,
    MotionConfig,
    OutboxConfig,
    TrackerConfig,
    ZoneConfig,
)


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

    def build(self, context: Any) -> Any:
        """The detector for this config (a ``streamer.detect.base.Detector``); ``context`` is
        a ``streamer.detect.base.DetectorContext`` (what it may take from its camera)."""
        raise NotImplementedError(f"model kind {self.kind!r} has no factory")

    def share_key(self, context: Any) -> str | None:
        """What makes two cameras' models one loaded model in a box (equal keys: one
        ``SharedDetector``, a view per camera); None: each camera loads its own. Default:
        None (a replay file is the camera's own; a plugin shares nothing unless it says)."""
        return None

    def replays_detections(self) -> bool:
        """Whether this model reads recorded detections instead of looking at frames, so
        every frame must go to it (the motion gate is off). Default: no."""
        return False

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


# What a rule's place is: a zone (a polygon) or a line (two points).
PlaceKind = Literal["zone", "line"]


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

    def named_places(self) -> list[tuple[PlaceKind, str]]:
        """The zones and lines this rule's config names, each as (kind, id); the kind is
        also the key it is written at. ``validate`` checks that each exists. Default: none
        (a rule over the whole frame)."""
        return []

    def watched_places(self) -> list[tuple[PlaceKind, str]] | None:
        """The zones and lines this rule looks at, so motion elsewhere need not run the
        models (docs/motion.md); None: the whole frame. Default: the places it names, or
        the whole frame when it names none (the safe answer for a plugin)."""
        return self.named_places() or None

    def class_fields(self) -> list[tuple[Loc, str]]:
        """Every class name this rule follows, with the key path it is written at."""
        return [(("classes", index), name) for index, name in enumerate(self.classes or [])]

    def checks(self, config: ConfigBase) -> list[tuple[Loc, str]]:
        """Problems only the whole file shows, with key paths inside this rule."""
        return []

    def places(self) -> set[str]:
        """Ids of the zones and lines this rule names (the places editor previews the
        rules on a place it changes)."""
        return {place_id for _, place_id in self.named_places()}


class TrackRuleBase(RuleBase):
    """A rule that follows each track through one place (zone, line, loiter): it tests one
    point of the box, and by default cools down per track."""

    anchor: Anchor = Field("bottom_center", description="Point of the box tested against the place.")
    cooldown_scope: CooldownScope = "track"


class ZoneScoped:
    """Mixed into the configs of rules whose place is their ``zone`` key (zone, loiter,
    count; None: the whole frame): it is the place they name, and where
    ``expect_within_h`` looks for their classes, by their anchor."""

    if TYPE_CHECKING:
        zone: str | None
        classes: list[str] | None
        anchor: Anchor

    def named_places(self) -> list[tuple[PlaceKind, str]]:
        return [("zone", self.zone)] if self.zone is not None else []

    def expected(self) -> tuple[list[str] | None, str | None, str]:
        return self.classes, self.zone, self.anchor


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

    def events_file(self) -> Path | None:
        """The file this sink writes the events into, which a run's summary names; None:
        none a person would open (a server, a broker, a folder of bundles)."""
        return None

    def sends_input_image(self) -> bool:
        """Whether this sink sends the camera's own frame beside the annotated snapshot, so
        the event stage keeps it with each event. Default: no."""
        return False


def rule_clip(rule: RuleBase, clips: ClipsConfig) -> ClipSettings | None:
    """The clip a rule's events get: its own ``clip``, else the camera-wide default."""
    if rule.clip is False:
        return None
    return rule.clip or clips.default


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
