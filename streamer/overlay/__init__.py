"""Overlay: draw detections, track ids, zones with their counts, lines and events.

Drawing runs only on demand (a saved video, an event snapshot, later the monitor), never
inside the detect -> rules path, and always on a copy: supervision's annotators draw in
place and the frame is shared with other threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import supervision as sv

from streamer.config.models import Config
from streamer.detect.base import pick
from streamer.rules.base import RuleEvent
from streamer.rules.geometry import anchor_points, points_in_polygon, to_pixels
from streamer.source.frame import Frame

_ZONE_COLOR = sv.Color.from_hex("#ffb000")
_LINE_COLOR = sv.Color.from_hex("#00c8ff")
_EVENT_COLOR = sv.Color.from_hex("#ff2040")
_REGION_COLOR = sv.Color.from_hex("#c8c8c8")


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

    def draw(
        self, frame: Frame, dets: sv.Detections, counts: Mapping[str, int] | None = None
    ) -> np.ndarray:
        """The annotated picture: zones with live counts, lines, boxes with ids.

        ``counts``: zone id -> what its rule counts (a zone rule's people inside, a count
        rule's count), so the picture and the page's rule card say the same number; a zone
        without a rule counts the tracked objects whose anchor is inside (an object the
        tracker has not given an id yet is in no rule, so it is in no count either).
        """
        scene = frame.image.copy()
        if frame.region is not None:
            self._draw_region(scene, frame.region)
        self._draw_geometry(scene, dets, counts=counts or {})
        if len(dets):
            shown = dets
            if dets.tracker_id is None:
                shown = pick(dets, slice(None))
                shown.tracker_id = np.full(len(dets), -1, dtype=int)
            scene = self._boxes.annotate(scene, shown)
            scene = self._labels.annotate(scene, shown, labels=_labels(shown))
        return scene

    def _draw_region(self, scene: np.ndarray, region: tuple[float, float, float, float]) -> None:
        """The part of the picture the models look at (``detect.region``), dashed grey, so
        nobody wonders why a person outside it has no box."""
        height, width = scene.shape[:2]
        x0, y0 = region[0] * (width - 1), region[1] * (height - 1)
        x1, y1 = region[2] * (width - 1), region[3] * (height - 1)
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
        _dashed(scene, corners, color=_REGION_COLOR, thickness=1)
        self._label(scene, "detection area", (x0 + 2, y0 + 14), _REGION_COLOR,
                    self._text_scale * 0.6, 2)

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

    def draw_places(self, image: np.ndarray) -> np.ndarray:
        """A copy of ``image`` with every zone and line and their ids (``streamer snapshot``)."""
        scene = image.copy()
        self._draw_geometry(scene, None)
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
        self,
        scene: np.ndarray,
        dets: sv.Detections | None,
        highlight: str | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        labels = self.zone_labels(dets, counts)
        for zone_id, polygon in self.zones.items():
            color = _EVENT_COLOR if zone_id == highlight else _ZONE_COLOR
            points = polygon.round().astype(np.int32)
            # int32: OpenCV draws only int32 points; supervision's hint names the platform int.
            sv.draw_filled_polygon(scene, points, color=color, opacity=0.15)  # type: ignore[arg-type]  # int32, see above
            sv.draw_polygon(scene, points, color=color, thickness=2)  # type: ignore[arg-type]  # int32, see above
            label = labels[zone_id]
            top = polygon[np.argmin(polygon[:, 1])]
            self._label(scene, label, (top[0], top[1] - 12), color, self._text_scale * 0.8, 4)
        for line_id, (start, end) in self.lines.items():
            sv.draw_line(
                scene,
                sv.Point(x=int(start[0]), y=int(start[1])),
                sv.Point(x=int(end[0]), y=int(end[1])),
                color=_LINE_COLOR,
                thickness=2,
            )
            self._label(scene, line_id, start, _LINE_COLOR, self._text_scale * 0.7, 3)

    def zone_labels(
        self, dets: sv.Detections | None, counts: Mapping[str, int] | None = None
    ) -> dict[str, str]:
        """Each zone's label: its id, and with detections its count (see :meth:`draw`)."""
        tracked = dets
        if dets is not None and len(dets):
            tracked = pick(dets, dets.tracker_id >= 0 if dets.tracker_id is not None else slice(0))
        anchors = anchor_points(tracked) if tracked is not None and len(tracked) else None
        labels: dict[str, str] = {}
        for zone_id, polygon in self.zones.items():
            label = zone_id
            if counts is not None and zone_id in counts:
                label += f": {counts[zone_id]}"
            elif anchors is not None:
                label += f": {int(points_in_polygon(anchors, polygon).sum())}"
            elif dets is not None:
                label += ": 0"
            labels[zone_id] = label
        return labels

    @staticmethod
    def _label(
        scene: np.ndarray, label: str, at: Sequence[float], color: sv.Color, scale: float,
        padding: int,
    ) -> None:
        x, y = label_anchor(label, at, scale, padding, scene.shape[1], scene.shape[0])
        sv.draw_text(
            scene, label, text_anchor=sv.Point(x=x, y=y), text_color=sv.Color.BLACK,
            text_scale=scale, text_padding=padding, background_color=color,
        )


def label_anchor(
    label: str, at: Sequence[float], scale: float, padding: int, width: int, height: int
) -> tuple[int, int]:
    """The centre for a label wanted at ``at``, moved just enough that its box (text plus
    padding) stays whole inside a ``width`` x ``height`` picture: a zone along the frame's
    top or right edge would otherwise cut its own name off."""
    (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    half_w, half_h = text_w // 2 + padding + 1, text_h // 2 + padding + 1
    x = int(min(max(at[0], half_w), max(width - half_w - 1, half_w)))
    y = int(min(max(at[1], half_h), max(height - half_h - 1, half_h)))
    return x, y


def _apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    moved: np.ndarray = np.asarray(points, np.float64) @ transform[:, :2].T + transform[:, 2]
    return moved


def _dashed(scene: np.ndarray, points: np.ndarray, dash_px: float = 12.0,
            color: sv.Color = _EVENT_COLOR, thickness: int = 2) -> None:
    """A dashed polyline: what it outlines must not read as a configured place."""
    bgr = color.as_bgr()
    for a, b in zip(points[:-1], points[1:]):
        length = float(np.hypot(*(b - a)))
        steps = max(1, int(length // dash_px))
        for i in range(0, steps, 2):
            p = a + (b - a) * (i / steps)
            q = a + (b - a) * (min(i + 1, steps) / steps)
            cv2.line(scene, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), bgr, thickness, cv2.LINE_AA)


def _labels(dets: sv.Detections) -> list[str]:
    names = dets.data.get("class_name")
    out = []
    for i in range(len(dets)):
        name = str(names[i]) if names is not None else "object"
        track = int(dets.tracker_id[i]) if dets.tracker_id is not None else -1
        conf = float(dets.confidence[i]) if dets.confidence is not None else 1.0
        out.append(f"{name} #{track} {conf:.2f}" if track >= 0 else f"{name} {conf:.2f}")
    return out


_GRID_COLOR = (255, 255, 255)


def draw_grid(image: np.ndarray, step: float = 0.1) -> np.ndarray:
    """A copy of ``image`` with a coordinate grid every ``step`` of the frame, each line
    labelled with its fraction and its pixel (``x 0.3 = 192 px``), for writing zone corners
    in either unit without guessing."""
    scene = image.copy()
    height, width = scene.shape[:2]
    scale = max(0.35, min(0.6, width / 1600))
    count = max(1, round(1 / step))
    overlay = scene.copy()
    for index in range(1, count):
        x = round(width * index / count)
        y = round(height * index / count)
        cv2.line(overlay, (x, 0), (x, height - 1), _GRID_COLOR, 1)
        cv2.line(overlay, (0, y), (width - 1, y), _GRID_COLOR, 1)
    cv2.addWeighted(overlay, 0.45, scene, 0.55, 0, dst=scene)
    (_, text_h), _ = cv2.getTextSize("0", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = 2 * (text_h + 5)  # the x labels' two rows along the top
    for index in range(1, count):
        fraction = index / count
        x, y = round(width * fraction), round(height * fraction)
        # x: the fraction above its pixel, centred on the line, along the top edge
        for row, label in enumerate((f"{fraction:g}", f"{x}px")):
            (text_w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            left = min(max(x - text_w // 2, 0), width - text_w - 1)
            _text_box(scene, label, left, (row + 1) * (text_h + 5), scale)
        # y: "0.4 = 109px" at the left edge, on its line, or under it near the top
        top = y - 3 if y - 3 - text_h - 2 > band else y + text_h + 4
        _text_box(scene, f"{fraction:g} = {y}px", 3, min(top, height - 2), scale)
    corner = f"{width}x{height}px: all values 0..1 = fractions of the frame, else pixels"
    _text_box(scene, corner, 3, height - 4, scale)
    return scene


def _text_box(scene: np.ndarray, label: str, left: int, baseline: int, scale: float) -> None:
    """White text on a black box, readable on any picture."""
    (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(scene, (left - 2, baseline - text_h - 2), (left + text_w + 2, baseline + 3),
                  (0, 0, 0), -1)
    cv2.putText(scene, label, (left, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, _GRID_COLOR, 1,
                cv2.LINE_AA)
