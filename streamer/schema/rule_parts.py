"""Settings that many rule types share: what a firing becomes (``event``), when a rule is
active (``schedule``), its clip, the point of the box it tests and its hysteresis band.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field, field_validator

from streamer.schema.base import StreamerModel


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
