"""Overlay: draw detections, track ids, zones with their counts, lines and events.

Drawing runs only on demand (a saved video, an event snapshot, later the monitor), never
inside the detect -> rules path, and always on a copy: supervision's annotators draw in
place and the frame is shared with other threads.
"""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from streamer.config.models import Config
from streamer.rules.base import RuleEvent
from streamer.rules.geometry import anchor_points, points_in_polygon, to_pixels
from streamer.source.frame import Frame

_ZONE_COLOR = sv.Color.from_hex("#ffb000")
_LINE_COLOR = sv.Color.from_hex("#00c8ff")
_EVENT_COLOR = sv.Color.from_hex("#ff2040")


class Overlay:
    """Draws one camera's scene; built once per run for its frame size."""

    def __init__(self, config: Config, width: int, height: int) -> None:
        self.zones = {z.id: to_pixels(z.polygon, width, height) for z in config.zones}
        self.lines = {
            line.id: to_pixels([line.start, line.end], width, height) for line in config.lines
        }
        scale = max(0.4, min(1.2, width / 1280))
        self._text_scale = scale
        self._boxes = sv.BoxAnnotator(thickness=2, color_lookup=sv.ColorLookup.TRACK)
        self._labels = sv.LabelAnnotator(
            text_scale=scale * 0.8, text_padding=3, color_lookup=sv.ColorLookup.TRACK
        )
        self._event_boxes = sv.BoxAnnotator(thickness=3, color=_EVENT_COLOR)

    def draw(self, frame: Frame, dets: sv.Detections) -> np.ndarray:
        """The annotated picture: zones with live counts, lines, boxes with ids."""
        scene = frame.image.copy()
        self._draw_geometry(scene, dets)
        if len(dets):
            shown = dets
            if dets.tracker_id is None:
                shown = dets[:]
                shown.tracker_id = np.full(len(dets), -1, dtype=int)
            scene = self._boxes.annotate(scene, shown)
            scene = self._labels.annotate(scene, shown, labels=_labels(shown))
        return scene

    def draw_event(self, frame: Frame, event: RuleEvent) -> np.ndarray:
        """An event's snapshot: the scene's geometry, the firing boxes in red, the reason."""
        scene = frame.image.copy()
        self._draw_geometry(scene, None, highlight=event.zone_id)
        if len(event.detections):
            scene = self._event_boxes.annotate(scene, event.detections)
        sv.draw_text(
            scene,
            event.reason,
            text_anchor=sv.Point(x=scene.shape[1] // 2, y=int(18 * self._text_scale) + 8),
            text_color=sv.Color.WHITE,
            text_scale=self._text_scale * 0.8,
            text_padding=6,
            background_color=_EVENT_COLOR,
        )
        return scene

    def draw_moved(self, scene: np.ndarray, transform: np.ndarray) -> None:
        """The places where they now fall on a camera that moved (``transform``: 2x3,
        reference view pixels to live pixels), dashed in the alert colour, in place."""
        for zone_id, polygon in self.zones.items():
            moved = _apply(transform, polygon)
            _dashed(scene, np.vstack([moved, moved[:1]]))
            top = moved[np.argmin(moved[:, 1])]
            sv.draw_text(
                scene, f"{zone_id} (view moved)",
                text_anchor=sv.Point(x=int(top[0]), y=int(max(top[1] - 12, 12))),
                text_color=sv.Color.WHITE, text_scale=self._text_scale * 0.7, text_padding=3,
                background_color=_EVENT_COLOR,
            )
        for points in self.lines.values():
            _dashed(scene, _apply(transform, points))

    def _draw_geometry(
        self, scene: np.ndarray, dets: sv.Detections | None, highlight: str | None = None
    ) -> None:
        anchors = anchor_points(dets) if dets is not None and len(dets) else None
        for zone_id, polygon in self.zones.items():
            color = _EVENT_COLOR if zone_id == highlight else _ZONE_COLOR
            points = polygon.round().astype(np.int32)
            sv.draw_filled_polygon(scene, points, color=color, opacity=0.15)
            sv.draw_polygon(scene, points, color=color, thickness=2)
            label = zone_id
            if anchors is not None:
                label += f": {int(points_in_polygon(anchors, polygon).sum())}"
            elif dets is not None:
                label += ": 0"
            top = polygon[np.argmin(polygon[:, 1])]
            sv.draw_text(
                scene,
                label,
                text_anchor=sv.Point(x=int(top[0]), y=int(max(top[1] - 12, 12))),
                text_color=sv.Color.BLACK,
                text_scale=self._text_scale * 0.8,
                text_padding=4,
                background_color=color,
            )
        for line_id, (start, end) in self.lines.items():
            sv.draw_line(
                scene,
                sv.Point(x=int(start[0]), y=int(start[1])),
                sv.Point(x=int(end[0]), y=int(end[1])),
                color=_LINE_COLOR,
                thickness=2,
            )
            sv.draw_text(
                scene,
                line_id,
                text_anchor=sv.Point(x=int(start[0]), y=int(start[1])),
                text_color=sv.Color.BLACK,
                text_scale=self._text_scale * 0.7,
                text_padding=3,
                background_color=_LINE_COLOR,
            )


def _apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    moved: np.ndarray = np.asarray(points, np.float64) @ transform[:, :2].T + transform[:, 2]
    return moved


def _dashed(scene: np.ndarray, points: np.ndarray, dash_px: float = 12.0) -> None:
    """A dashed polyline: the moved places must not read as the configured ones."""
    color = _EVENT_COLOR.as_bgr()
    for a, b in zip(points[:-1], points[1:]):
        length = float(np.hypot(*(b - a)))
        steps = max(1, int(length // dash_px))
        for i in range(0, steps, 2):
            p = a + (b - a) * (i / steps)
            q = a + (b - a) * (min(i + 1, steps) / steps)
            cv2.line(scene, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), color, 2, cv2.LINE_AA)


def _labels(dets: sv.Detections) -> list[str]:
    names = dets.data.get("class_name")
    out = []
    for i in range(len(dets)):
        name = str(names[i]) if names is not None else "object"
        track = int(dets.tracker_id[i]) if dets.tracker_id is not None else -1
        conf = float(dets.confidence[i]) if dets.confidence is not None else 1.0
        out.append(f"{name} #{track} {conf:.2f}" if track >= 0 else f"{name} {conf:.2f}")
    return out
