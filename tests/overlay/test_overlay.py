"""The overlay says what the page says, and its labels stay inside the picture."""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from streamer.config import parse_config
from streamer.overlay import Overlay, label_anchor
from streamer.pipeline.step import zone_counts
from streamer.rules import build_rules, rules_state
from streamer.source.frame import Frame

CONFIG = """
camera: {source: clip.mp4}
models: [{id: people, kind: hog}]
zones: [{id: walkway, polygon: [[0.55, 0.0], [1.0, 0.0], [1.0, 1.0], [0.55, 1.0]]}]
rules: [{id: walkway-intrusion, type: zone, zone: walkway, classes: [person], min_frames: 1}]
"""


def person(track_id: int) -> sv.Detections:
    dets = sv.Detections(xyxy=np.array([[500, 100, 540, 300]], dtype=np.float32),
                         confidence=np.array([0.9], dtype=np.float32),
                         class_id=np.array([0]), tracker_id=np.array([track_id]))
    dets.data["class_name"] = np.array(["person"], dtype=object)
    return dets


def test_a_person_without_a_track_id_counts_nowhere_yet() -> None:
    """The tracker's first frame of a person gives no id: the zone rule cannot see them,
    so the picture must not say `walkway: 1` while the rule card says 0 people inside."""
    config = parse_config(CONFIG)
    overlay = Overlay(config, 640, 360)
    rules = build_rules(config, 640, 360)
    for t_s, track_id in ((0.0, -1), (0.1, 7)):
        dets = person(track_id)
        rules[0].update(t_s, dets)
        state = rules_state(rules, t_s)
        card = state["rules"]["walkway-intrusion"]["inside"]  # what the page's card says
        assert card == (0 if track_id < 0 else 1)
        assert overlay.zone_labels(dets, zone_counts(state))["walkway"] == f"walkway: {card}"
        # and without the rules' numbers, the overlay's own count agrees too
        assert overlay.zone_labels(dets)["walkway"] == f"walkway: {card}"


def test_the_overlay_takes_the_rule_cards_number() -> None:
    overlay = Overlay(parse_config(CONFIG), 640, 360)
    assert overlay.zone_labels(person(3), {"walkway": 0})["walkway"] == "walkway: 0"
    assert zone_counts({"zones": {"walkway": 2}}) == {"walkway": 2}


def test_labels_at_the_frames_edges_stay_whole() -> None:
    for at in ((640, 0), (0, 0), (640, 360), (-20, -12), (320, -12)):
        x, y = label_anchor("forklift-lane: 12", at, 0.5, 4, 640, 360)
        (w, h), _ = cv2.getTextSize("forklift-lane: 12", cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        assert 0 <= x - w // 2 - 4 and x + w // 2 + 4 < 640, at
        assert 0 <= y - h // 2 - 4 and y + h // 2 + 4 < 360, at
    assert label_anchor("a", (320, 180), 0.5, 4, 640, 360) == (320, 180)  # room: unmoved


def test_a_zone_on_the_right_edge_draws_its_label_inside() -> None:
    config = parse_config(CONFIG.replace(
        "[[0.55, 0.0], [1.0, 0.0], [1.0, 1.0], [0.55, 1.0]]",
        "[[1.0, 0.0], [1.0, 1.0], [0.55, 1.0], [0.55, 0.0]]"))  # its top corner: x = 640)
    frame = Frame(image=np.zeros((360, 640, 3), np.uint8), index=0, t_s=0.0, wall_ts=0.0)
    picture = Overlay(config, 640, 360).draw(frame, person(-1))
    # The label "walkway: 0" is drawn whole: its amber box (and the text on it) lies left
    # of the right edge, several columns wide on each side of the text.
    amber = np.all(picture[:40] == (0, 176, 255), axis=2)
    columns = np.flatnonzero(amber.sum(axis=0) > 10)
    (text_w, _), _ = cv2.getTextSize("walkway: 0", cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    assert columns.size and columns.max() - columns.min() >= text_w


def test_the_detection_area_is_outlined_where_the_models_look_only_there() -> None:
    """detect.region: a grey dashed outline and its label, so a person outside with no box
    is not a surprise; without a region nothing of the kind is drawn."""
    overlay = Overlay(parse_config(CONFIG), 640, 360)
    black = np.zeros((360, 640, 3), np.uint8)
    plain = overlay.draw(Frame(black, 0, 0.0, 0.0), sv.Detections.empty())
    outlined = overlay.draw(Frame(black, 0, 0.0, 0.0, region=(0.25, 0.5, 0.75, 1.0)),
                            sv.Detections.empty())

    def greys(image: np.ndarray) -> np.ndarray:
        channels = image.astype(int)
        return (channels.max(axis=2) - channels.min(axis=2) <= 6) & (channels.min(axis=2) > 100)

    grey = greys(outlined)
    assert not greys(plain).any()
    top, left = int(0.5 * 359), int(0.25 * 639)  # the outline's top and left edges
    assert grey[top - 1 : top + 2, left:480].any(axis=0).sum() > 100  # dashed: ~half of 320 px
    assert grey[220:, left - 1 : left + 2].any(axis=1).sum() > 50  # the left edge, below the label
    assert not grey[:top - 20].any()  # nothing above the area but its label
