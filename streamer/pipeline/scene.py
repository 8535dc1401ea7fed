"""The scene: zones, lines, rules and their overlay geometry, as one immutable value.

Hot reload builds a new scene and swaps it in with one assignment; the frame loop and
the monitor's drawing read whichever scene is current, never a half-changed one.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamer.config.models import Config
from streamer.overlay import Overlay
from streamer.rules import Rule, build_rules, carry_state
from streamer.source.openers import classify
from streamer.source.view import Places

# Sections a reload cannot change without reopening the stream or the outbox.
RESTART_SECTIONS = (
    "device_id", "camera", "models", "tracker", "detect", "motion", "sinks", "outbox", "monitor",
)


@dataclass(frozen=True)
class Scene:
    """What the rules look at and what the overlay draws, for one frame size.

    The rules keep state and are updated by the frame loop only; the tuple never changes.
    """

    config: Config
    rules: tuple[Rule, ...]
    overlay: Overlay
    width: int
    height: int


def build_scene(config: Config, width: int, height: int) -> Scene:
    return Scene(
        config, tuple(build_rules(config, width, height)), Overlay(config, width, height), width, height
    )


def reload_scene(scene: Scene, new: Config) -> tuple[Scene, str]:
    """The scene for a reloaded config, and the line that says what changed.

    Rules whose settings and geometry did not change keep their timers and tracks.
    """
    fresh, kept = carry_state(list(scene.rules), build_rules(new, scene.width, scene.height))
    before, after = scene.config.model_dump(include=set(RESTART_SECTIONS)), new.model_dump(include=set(RESTART_SECTIONS))
    ignored = [name for name in RESTART_SECTIONS if after[name] != before[name]]
    config = scene.config.model_copy(update={"zones": new.zones, "lines": new.lines, "rules": new.rules})
    line = f"config reloaded: {len(fresh)} rule(s), {kept} kept their state" + (
        f"; changes to {', '.join(ignored)} need a restart" if ignored else ""
    )
    return Scene(config, tuple(fresh), Overlay(new, scene.width, scene.height), scene.width, scene.height), line


def tamper_enabled(config: Config) -> bool:
    """``camera.tamper.enabled``, or its default: on for a camera (a live source, or a
    file paced as one), off for a file read frame by frame (analysis, benchmarks)."""
    enabled = config.camera.tamper.enabled
    if enabled is not None:
        return enabled
    return classify(config.camera.source) != "file" or config.camera.realtime


def places_of(config: Config) -> Places:
    """The places as configured, as the reference view's JSON keeps them."""
    return {
        "zones": {zone.id: [list(p) for p in zone.polygon] for zone in config.zones},
        "lines": {line.id: [list(line.start), list(line.end)] for line in config.lines},
    }
