"""When two sightings under one track id can be the same person, and when a newborn track
is a lost one reborn: one definition for the tracker's re-join and the rules' guards.

Measured with benchmarks/alert_quality.py (docs/rules.md, "Band and travel"): a walking person
moves about one box height a second, a running one two; a detector's jitter adds a tenth
of the box. A track unseen for longer than MAX_GAP_S may be someone else when it comes
back. The rules call an anchor that moved faster than MAX_SPEED_H_PER_S an id switch
(generous: a side forgotten by mistake loses a real crossing); the tracker joins a
newborn track to a lost one only within JOIN_SPEED_H_PER_S (strict: a wrong join gives
one person another's side).
"""

from __future__ import annotations

import math

MAX_SPEED_H_PER_S = 4.0
JOIN_SPEED_H_PER_S = 2.0
JUMP_SLACK_H = 0.1
# 10 frames at 25 fps: a miss or two, a short occlusion. 0.6 s let a track lost to a
# false box pick up a person walking in from the frame's edge (TUD-Campus).
MAX_GAP_S = 0.4


def lost(last_s: float, t_s: float, previous_s: float) -> bool:
    """Whether an object last seen at frame time ``last_s`` may be someone else at ``t_s``:
    unseen for over MAX_GAP_S and for over two frame intervals (``previous_s`` is the frame
    before this one), so a person the detector missed once is not lost when seen again,
    whatever the rate: a pipeline at 5 frames a second sees them 0.4 s after their last
    sighting, at 2 frames a second 1 s after it."""
    return t_s - last_s > max(MAX_GAP_S, 2 * (t_s - previous_s)) + 1e-9  # 1e-9: float sums


def jumped(last: list[float] | tuple[float, float], height: float, last_s: float,
           x: float, y: float, t_s: float, speed_h_per_s: float = MAX_SPEED_H_PER_S) -> bool:
    """Whether a point now at (x, y), on a box ``height`` tall, is too far from where it
    was last seen (``last`` at ``last_s``) to be the same object moving at most
    ``speed_h_per_s`` box heights a second."""
    reach = height * (JUMP_SLACK_H + speed_h_per_s * (t_s - last_s))
    return math.hypot(x - last[0], y - last[1]) > reach
