"""The frame loop's one step: detect, track, run the scene's rules, hand events on.

On a frame the gate lets go without a model run (docs/motion.md) the tracker is not fed
an empty frame (that would read as everyone gone): the rules, clips and overlay get the
tracked objects of the last run again, at this frame's time, as if detected now.

Everything here runs on the frame-loop thread. What monitor threads read is either an
immutable value replaced whole (``scene``, ``rules_state``) or counters read atomically.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import IO

import cv2
import numpy as np
import supervision as sv

from streamer.clips import ClipRecorder
from streamer.config.models import Config
from streamer.detect.base import empty_detections, pick
from streamer.detect.gate import (
    STILL_REASONS,
    DetectGate,
    DetectPlan,
    detect_plan,
    detect_region,
    motion_region,
    still_region,
)
from streamer.detect.motion import MotionCheck, relative
from streamer.detect.multi import DetectorSet
from streamer.detect.replay import detections_to_row
from streamer.events.clips import ClipPlan
from streamer.monitor import LiveView
from streamer.pipeline.events import EventsStage
from streamer.pipeline.scene import Scene, build_scene
from streamer.rules import rules_state, watched_places
from streamer.rules.base import RuleEvent
from streamer.rules.geometry import to_pixels
from streamer.rules.history import RuleHistory
from streamer.rules.snooze import SnoozeBook
from streamer.schema.bases import rule_clip
from streamer.schema.rule_parts import ClipSettings
from streamer.source import Frame
from streamer.source.substream import SubStream
from streamer.track import Tracker

# Rule state is copied for the monitor at most this often, on the frame loop.
RULES_STATE_EVERY_S = 0.25
# How long sinks that carry clips wait for one before they send the event without it:
# post_s of picture may take up to CLIP_SLOWDOWN times as long to arrive (a file read by
# a model slower than its own rate), plus CLIP_GRACE_S to write and store it. The
# recorder attaches every clip, ready or failed, well before that on a healthy box.
CLIP_SLOWDOWN = 10.0
CLIP_GRACE_S = 60.0


class FrameStep:
    """``step(frame) -> events``; the scene and tracker come with the first frame's size."""

    def __init__(self, config: Config, detectors: DetectorSet, events: EventsStage,
                 observe_inference: Callable[[float], None]) -> None:
        self._config = config
        self.detectors = detectors
        self._events = events
        self._observe_inference = observe_inference
        # Set once while the pipeline is wired, before any thread starts.
        self.live: LiveView | None = None
        self.scene: Scene | None = None  # swapped whole by begin() and reload
        self.rules_state: dict[str, object] = {}  # replaced whole, never changed in place
        self._rules_state_at = 0.0
        self._tracker: Tracker | None = None
        self.video: cv2.VideoWriter | None = None
        self.recorder: IO[str] | None = None
        self.snoozes: SnoozeBook | None = None  # operators' snoozes (issue 16)
        self.last_wall_ts: float | None = None  # the newest frame's wall time
        self.clips: ClipRecorder | None = None  # event clips (issue 17)
        self.history: RuleHistory | None = None  # recent frames, for the places preview (issue 26)
        self._clip_rules: tuple[Scene | None, dict[str, ClipSettings]] = (None, {})
        # While the camera is `moved`: reference -> live pixels, to draw the places where
        # they now fall on the picture (issue 27). None: tamper checks off.
        self.view_transform: Callable[[], np.ndarray | None] | None = None
        self.plan: DetectPlan = detect_plan(config)
        self.gate: DetectGate | None = None  # built by begin() where the plan gates
        self.detect_feed: SubStream | None = None  # camera.detect_source, when set
        self._watched_scene: Scene | None = None  # the scene the motion check watches
        # The part of the picture the models look at (detect.region), for _region_scene.
        self._region: tuple[float, float, float, float] | None = None
        self._region_scene: Scene | None = None
        self._held = _no_tracks()  # the last run's tracked objects
        self._coasting: set[int] = set()  # ids carried over one missed run (_coast)
        self._sought_boxes: dict[int, np.ndarray] = {}  # where the gate's sought ids were last
        self.last_tracked = self._held  # what the rules saw on the latest frame

    def begin(self, width: int, height: int, fps: float) -> None:
        """The camera's size and rate are known: build the tracker and the scene."""
        self._tracker = Tracker(self._config.tracker, fps)
        self.scene = build_scene(self._config, width, height)
        self._clip_settings(self.scene)  # annotated clips: the recorder keeps frames from now
        if self.plan.gated:
            self.gate = DetectGate(self.plan, MotionCheck(self._config.motion, None))

    def step(self, frame: Frame) -> list[RuleEvent]:
        scene, tracker = self.scene, self._tracker
        assert scene is not None and tracker is not None, "begin() comes first"
        tracked = self.last_tracked = self._detect_and_track(scene, tracker, frame)
        if self.clips is not None:
            self.clips.note(frame, tracked)
        fired: list[RuleEvent] = []
        self.last_wall_ts = frame.wall_ts
        for rule in scene.rules:
            events = rule.update(frame.t_s, tracked, frame.wall_ts)
            if self.snoozes is not None:  # a snoozed rule's events go nowhere (counted)
                events = self.snoozes.filter(events, frame.wall_ts)
            for event in events:
                self._submit(scene, event, frame)
                fired.append(event)
        if self.history is not None:
            self.history.add(frame.t_s, frame.wall_ts, tracked, fired)
        if self._region is not None and (self.video is not None or self.live is not None):
            frame = dataclasses.replace(frame, region=self._region)  # drawn on the overlay
        if self.video is not None:
            self.video.write(scene.overlay.draw(frame, tracked))
        if self.live is not None:
            self.live.publish(frame, tracked)
        now = time.monotonic()
        if now - self._rules_state_at >= RULES_STATE_EVERY_S:
            # Copied here, on the frame loop, so monitor threads never read a rule while it changes.
            self._rules_state_at = now
            self.rules_state = rules_state(list(scene.rules), frame.t_s)
        return fired

    def _detect_and_track(self, scene: Scene, tracker: Tracker, frame: Frame) -> sv.Detections:
        """This frame's tracked objects: a model run and the tracker where the gate lets
        it run, else the last run's tracked objects held (a still person stays put)."""
        seen = self.detect_feed.frame_for(frame) if self.detect_feed is not None else None
        picture = seen if seen is not None else frame
        gate = self.gate
        if gate is not None:
            if scene is not self._watched_scene:
                self._watch(scene, gate)
            if not gate.due(picture.image, frame.t_s, len(self._held) > 0):
                held = pick(self._held, np.arange(len(self._held)))  # a copy: rules may annotate it
                if self.recorder is not None:
                    self.recorder.write(json.dumps(detections_to_row(frame.index, held)) + "\n")
                return held
        reason = gate.reason if gate is not None else None
        routine = reason == "keepalive"
        if self.plan.region:
            if scene is not self._region_scene:
                self._region_scene, self._region = scene, self._region_of(scene)
            region = self._region
            boxes = np.concatenate([self._held.xyxy.reshape(-1, 4),
                                    *(b.reshape(1, 4) for b in self._sought_boxes.values())])
            if reason in STILL_REASONS:  # nothing moved: look where objects were (still_region)
                region = still_region(boxes, frame.width, frame.height, region)
            elif reason == "motion" and gate is not None and gate.moved_box is not None:
                region = motion_region(gate.moved_box, boxes, frame.width, frame.height, region)
            if region is not None:
                picture = dataclasses.replace(picture, region=region)
        if routine:
            picture = dataclasses.replace(picture, routine=True)
        detect_started = time.perf_counter()
        # every_n_frames / when are decided inside; see streamer/detect/multi.py.
        dets = self.detectors.detect(picture)
        self._observe_inference(time.perf_counter() - detect_started)
        if picture is not frame:
            dets = _scaled(dets, picture, frame)
        if self.recorder is not None:
            self.recorder.write(json.dumps(detections_to_row(frame.index, dets)) + "\n")
        tracked = tracker.update(frame.t_s, dets)
        if gate is not None:
            tracked = self._coast(gate, tracked, frame.t_s)
        self._held = tracked
        return tracked

    def _coast(self, gate: DetectGate, tracked: sv.Detections, t_s: float) -> sv.Detections:
        """A confirmed track the model missed on this run stays where it was last seen
        until the next run (once: missed again, it is gone).

        Why: the rules forget a track unseen for 0.4 s (track.continuity). With the model
        on every frame of a 10 fps camera that takes four misses in a row; thinned to
        ``detect.fps`` 5 it would take two, and a weak detection crossing a line would lose
        its side where the ungated run keeps it. Carried one run, the gated run tolerates
        about as much as the ungated one."""
        found = {int(i) for i in _ids(tracked)}
        held_ids = _ids(self._held)
        missing = [k for k, i in enumerate(held_ids.tolist())
                   if i >= 0 and i not in found and i not in self._coasting]
        lost = {int(i) for i in held_ids.tolist() if i >= 0 and i not in found}
        gate.ran(t_s, missing=lost, found=found)
        sought = gate.sought()
        for k, track_id in enumerate(held_ids.tolist()):
            if track_id in lost:
                self._sought_boxes[track_id] = self._held.xyxy[k]
        self._sought_boxes = {i: box for i, box in self._sought_boxes.items() if i in sought}
        if not missing or not gate.plan.fps:
            self._coasting = set()
            return tracked
        self._coasting = {int(held_ids[k]) for k in missing}
        carried = pick(self._held, np.array(missing))
        merged = sv.Detections.merge([tracked, carried]) if len(tracked) else carried
        return merged

    def _region_of(self, scene: Scene) -> tuple[float, float, float, float] | None:
        """Where the models look for this scene's rules (after a reload too); None: the
        whole picture (a rule that watches it all, or places spread over most of it)."""
        places = watched_places(scene.config, scene.width, scene.height)
        if places is None:
            return None
        return detect_region([*places.zones, *places.lines], scene.width, scene.height,
                             self.plan.region_margin)

    def _watch(self, scene: Scene, gate: DetectGate) -> None:
        """Point the motion check at the places this scene's rules watch (after a reload too)."""
        self._watched_scene = scene
        if gate.motion is None:
            return
        width, height = scene.width, scene.height
        places = watched_places(scene.config, width, height)
        mask = [
            relative(to_pixels(polygon, width, height), width, height)
            for polygon in self._config.motion.mask
        ]
        gate.motion.watch(
            None if places is None else [relative(z, width, height) for z in places.zones],
            [] if places is None else [relative(line, width, height) for line in places.lines],
            mask,
        )

    def _submit(self, scene: Scene, event: RuleEvent, frame: Frame) -> None:
        """Hand the event on; where its rule has a clip, the recorder starts it."""
        settings = self._clip_settings(scene).get(event.rule_id) if self.clips else None
        if settings is None or self.clips is None:
            self._events.submit(event, frame)
            return
        plan = ClipPlan(
            settings.pre_s, settings.post_s, settings.annotated,
            due_ts=time.time() + settings.post_s * CLIP_SLOWDOWN + CLIP_GRACE_S,
        )
        event_id = str(uuid.uuid4())
        if self._events.submit(event, frame, event_id=event_id, clip=plan):
            self.clips.begin(event_id, plan, frame)

    def _clip_settings(self, scene: Scene) -> dict[str, ClipSettings]:
        """Each rule's clip in this scene (worked out again after a reload)."""
        known, settings = self._clip_rules
        if known is not scene:
            config = scene.config
            settings = {
                rule.id: clip for rule in config.rules
                if (clip := rule_clip(rule, config.clips)) is not None
            }
            self._clip_rules = (scene, settings)
            if self.clips is not None:
                self.clips.want_frames = any(clip.annotated for clip in settings.values())
        return settings

    # --- drawing, for other threads: they read the scene current at the time -----------

    def draw_live(self, frame: Frame, dets: sv.Detections) -> np.ndarray:
        scene = self.scene
        if scene is None:
            return frame.image.copy()
        picture = scene.overlay.draw(frame, dets, counts=zone_counts(self.rules_state))
        transform = self.view_transform() if self.view_transform is not None else None
        if transform is not None:
            scene.overlay.draw_moved(picture, transform)
        return picture

    def draw_event(self, frame: Frame, event: RuleEvent) -> np.ndarray:
        """The overlay's drawing, or the bare picture while the camera's size is unknown."""
        scene = self.scene
        return scene.overlay.draw_event(frame, event) if scene is not None else frame.image.copy()

    def status(self) -> dict[str, object]:
        """``/api/status``'s ``models``, ``rules`` and ``places``."""
        state = self.rules_state
        return {
            "models": self.detectors.stats(),
            "detect": self._detect_status(),
            "rules": state.get("rules", {}),
            "places": {key: state.get(key) for key in ("zones", "lines", "indeterminate_persons")},
        }

    def _detect_status(self) -> dict[str, object]:
        gate, feed = self.gate, self.detect_feed
        out: dict[str, object] = gate.status() if gate is not None else {
            "mode": self.plan.mode, "fps": self.plan.fps, "motion": False,
        }
        # The part of the picture the models look at, as fractions (x0, y0, x1, y1); null:
        # all of it (docs/motion.md, "Only where the rules look").
        out["region"] = list(self._region) if self._region is not None else None
        if feed is not None:
            out["detect_source"] = feed.status()
        return out

    def close(self) -> None:
        if self.detect_feed is not None:
            self.detect_feed.close()
        if self.video is not None:
            self.video.release()
        if self.recorder is not None:
            self.recorder.close()
        self.detectors.close()


def zone_counts(state: Mapping[str, object]) -> dict[str, int]:
    """Zone id -> the number the page shows for it (``rules_state``'s per-zone count: a
    zone rule's people inside, a count rule's count), for the overlay's zone labels, so
    the picture and the rule card never disagree."""
    zones = state.get("zones")
    return {str(k): int(v) for k, v in zones.items()} if isinstance(zones, dict) else {}


def _no_tracks() -> sv.Detections:
    out = empty_detections()
    out.tracker_id = np.array([], dtype=int)
    return out


def _ids(dets: sv.Detections) -> np.ndarray:
    return np.asarray(dets.tracker_id if dets.tracker_id is not None else [], dtype=int)


def _scaled(dets: sv.Detections, seen: Frame, shown: Frame) -> sv.Detections:
    """Boxes found on the detection stream's picture, in pixels of the main stream's."""
    if len(dets) == 0 or (seen.width, seen.height) == (shown.width, shown.height):
        return dets
    sx, sy = shown.width / seen.width, shown.height / seen.height
    dets.xyxy = (np.asarray(dets.xyxy, dtype=np.float32) * np.array([sx, sy, sx, sy], np.float32))
    return dets
