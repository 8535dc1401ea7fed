"""Missing-PPE rule: people without their required items, held for ``for_s``.

Items bypass the tracker: ByteTrack's output keeps every input detection, unmatched ones
with ``tracker_id == -1``, so items are read from the same detections whatever their id.
Each frame, an item belongs to the person whose region (head = top third, torso, any)
holds the item's centre; when several could take it, the nearest pair wins and one item
goes to one person. A person too small or cut by the frame edge is indeterminate:
counted, shown, never alerted (an alert must mean something happened).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import supervision as sv
from pydantic import Field, field_validator

from streamer.detect.base import pick
from streamer.rules.base import PlaceTally, RuleContext, RuleEvent, plural, view
from streamer.rules.common import RuleCore
from streamer.rules.cooldown import EPS_S
from streamer.schema.base import Loc
from streamer.schema.bases import ConfigBase, PlaceKind, RuleBase
from streamer.schema.rule_parts import CooldownScope

# Vertical slice of the person box per region, as fractions of its height.
# --- config ---------------------------------------------------------------------------


class MissingPpeRuleConfig(RuleBase):
    type: Literal["missing_ppe"]
    person_class: str = Field("person", description="Class of the people checked.")
    required: list[str] = Field(
        default_factory=list, description="Item classes each person must wear, e.g. [helmet]."
    )
    regions: dict[str, Literal["head", "torso", "any"]] = Field(
        default_factory=dict,
        description="Where each item must be: head (top third), torso, any. "
        "Default: helmet/hardhat/hat head, vest torso, others any.",
    )
    violation_classes: list[str] = Field(
        default_factory=list,
        description="Classes that mean an item is missing (no_helmet, no-vest), matched "
        "to persons by the same regions; alternative or addition to `required`.",
    )
    zone: str | None = Field(None, description="Check only persons in this zone.")
    for_s: float = Field(1.0, ge=0, description="Seconds an item must be missing continuously.")
    min_person_height_px: float = Field(
        60.0, ge=0, description="Smaller persons are indeterminate: counted, never alerted."
    )
    edge_margin_px: float = Field(
        2.0, ge=0, description="A box this close to the frame edge is cut: indeterminate."
    )
    cooldown_scope: CooldownScope = "track"

    @field_validator("required")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an item is listed twice")
        return value

    def named_places(self) -> list[tuple[PlaceKind, str]]:
        return [("zone", self.zone)] if self.zone is not None else []

    def expected(self) -> tuple[list[str] | None, str | None, str]:
        return [self.person_class], self.zone, "bottom_center"

    def build(self, context: RuleContext) -> MissingPpeRule:
        return MissingPpeRule(self, context.zone(self.zone), context.size, context.forget_after_s)

    def class_fields(self) -> list[tuple[Loc, str]]:
        return super().class_fields() + [
            (("person_class",), self.person_class),
            *((("required", index), name) for index, name in enumerate(self.required)),
            *((("violation_classes", index), name)
              for index, name in enumerate(self.violation_classes)),
        ]

    def checks(self, config: ConfigBase) -> list[tuple[Loc, str]]:
        if self.required or self.violation_classes:
            return []
        return [(("required",), "name `required` items or `violation_classes`")]


# --- plugin -----------------------------------------------------------------------------


_REGIONS = {"head": (0.0, 1 / 3), "torso": (0.2, 0.7), "any": (0.0, 1.0)}


def default_region(item: str) -> str:
    """Helmets and hats on the head, vests on the torso, anything else anywhere."""
    name = item.lower()
    if "helmet" in name or "hat" in name or "head" in name:
        return "head"
    if "vest" in name or "jacket" in name:
        return "torso"
    return "any"


def missing_item_of(violation: str) -> str:
    """``no_helmet`` / ``no-vest`` / ``NO-Hardhat`` -> the item it says is missing."""
    name = violation
    for prefix in ("no_", "no-", "no ", "NO_", "NO-", "No-", "No_", "without_", "without-"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


class MissingPpeRule(RuleCore):
    """Args: config; zone polygon in pixels or None; frame size; forget_after_s."""

    kind = "missing_ppe"

    def __init__(
        self,
        config: MissingPpeRuleConfig,
        polygon: np.ndarray | None,
        frame_size: tuple[int, int],
        forget_after_s: float,
    ) -> None:
        super().__init__(config, forget_after_s)
        self.config: MissingPpeRuleConfig = config
        self.polygon = None if polygon is None else np.asarray(polygon, dtype=np.float64)
        self.width, self.height = frame_size
        self._region_of = {
            name: config.regions.get(name, default_region(name))
            for name in [*config.required, *config.violation_classes]
        }
        self._violation_item = {v: missing_item_of(v) for v in config.violation_classes}
        self._item_classes = list(self._region_of)
        self._regions_key = tuple(sorted(self._region_of.items()))
        # Columns of the per-person state: every item that can be missing.
        self._items = sorted({*config.required, *self._violation_item.values()})
        self._column = {name: k for k, name in enumerate(self._items)}
        # Per-track state in rows of two arrays (vectorised: 60 people x 3 rules must
        # stay well under a millisecond, benchmarks/rules.py): since when each item has
        # been missing (NaN: not missing) and whether this episode was already alerted.
        self._row: dict[int, int] = {}
        self._free: list[int] = []
        self._since = np.full((0, len(self._items)), np.nan)
        self._alerted_rows = np.zeros((0, len(self._items)), dtype=bool)
        self._last_seen: dict[int, float] = {}
        self.persons = 0
        self.indeterminate = 0

    def _reset(self) -> None:
        self._row.clear()
        self._free.clear()
        self._since = np.full((0, len(self._items)), np.nan)
        self._alerted_rows = np.zeros((0, len(self._items)), dtype=bool)
        self._last_seen.clear()

    def _slot(self, track_id: int) -> int:
        row = self._row.get(track_id)
        if row is None:
            if self._free:
                row = self._free.pop()
            else:
                row = len(self._since)
                grow = max(8, row)
                self._since = np.vstack([self._since, np.full((grow, len(self._items)), np.nan)])
                self._alerted_rows = np.vstack(
                    [self._alerted_rows, np.zeros((grow, len(self._items)), dtype=bool)]
                )
                self._free.extend(range(row + grow - 1, row, -1))
            self._since[row] = np.nan
            self._alerted_rows[row] = False
            self._row[track_id] = row
        return row

    def _step(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]:
        c = self.config
        v = view(dets)
        names, ids, xyxy = v.names, v.ids, v.xyxy
        people = np.flatnonzero(v.mask([c.person_class], c.min_confidence))
        if self.polygon is not None and len(people):
            people = people[v.inside("bottom_center", self.polygon)[people]]
        items = np.flatnonzero(v.mask(self._item_classes, c.min_confidence))
        # Rules with the same people and item regions share one association per frame.
        key = ("ppe", c.person_class, c.min_confidence, self._regions_key, people.tobytes())
        pairs = v.shared.get(key)
        if pairs is None:
            pairs = v.shared[key] = self._associate(xyxy, names, people, items)
        self.persons = len(people)
        unsure = self._indeterminate(xyxy[people])
        self.indeterminate = int(np.count_nonzero(unsure))

        # missing[j, k]: person j (of people) lacks item k this frame.
        missing = np.zeros((len(people), len(self._items)), dtype=bool)
        required = [self._column[name] for name in c.required]
        if required:
            have = np.zeros((len(people), len(self._items)), dtype=bool)
            for item, j in pairs:
                name = str(names[item])
                if name in self._column:
                    have[j, self._column[name]] = True
            missing[:, required] = ~have[:, required]
        for item, j in pairs:
            lacks = self._violation_item.get(str(names[item]))
            if lacks is not None:
                missing[j, self._column[lacks]] = True

        tids = ids[people].tolist()
        for j in np.flatnonzero(unsure).tolist():
            # Unknown is not missing: an interrupted observation restarts the clock.
            row = self._row.get(tids[j])
            if row is not None:
                self._since[row] = np.nan
        judged = np.flatnonzero(~unsure & (ids[people] >= 0))  # -1: cannot be timed yet
        if len(judged) == 0:
            return self._sweep(t_s, [])
        rows = np.array([self._slot(tids[j]) for j in judged.tolist()], dtype=int)
        for j in judged.tolist():
            self._last_seen[tids[j]] = t_s
        now_missing = missing[judged]
        since = self._since[rows]
        since = np.where(now_missing, np.where(np.isnan(since), t_s, since), np.nan)
        alerted = self._alerted_rows[rows] & now_missing  # an item worn again ends its episode
        with np.errstate(invalid="ignore"):
            due = now_missing & (t_s - since + EPS_S >= c.for_s) & ~alerted
        self._since[rows] = since
        self._alerted_rows[rows] = alerted | due

        events: list[RuleEvent] = []
        for n in np.flatnonzero(due.any(axis=1)).tolist():
            j = int(judged[n])
            track_id = tids[j]
            if not self._try_fire(track_id, c.zone, t_s):
                continue
            what = ", ".join(self._items[k] for k in np.flatnonzero(due[n]).tolist())
            person = int(people[j])
            indices = [person, *(item for item, owner in pairs if owner == j)]
            events.append(
                RuleEvent(
                    rule_id=c.id,
                    t_s=t_s,
                    spec=c.event,
                    detections=pick(dets, np.asarray(indices, dtype=int)),
                    reason=f"{c.person_class} #{track_id} without {what}",
                    zone_id=c.zone,
                    track_id=track_id,
                    class_name=c.person_class,
                    extra={"missing": what},
                )
            )
        return self._sweep(t_s, events)

    def _sweep(self, t_s: float, events: list[RuleEvent]) -> list[RuleEvent]:
        if not self._forget_due(t_s):
            return events
        for track_id in [t for t, s in self._last_seen.items() if t_s - s > self._forget_after_s]:
            del self._last_seen[track_id]
            row = self._row.pop(track_id, None)
            if row is not None:
                self._free.append(row)
            self._cooldown.forget(track_id, t_s)
        return events

    def _indeterminate(self, boxes: np.ndarray) -> np.ndarray:
        """Too small, or cut by the frame edge: the items cannot be judged."""
        m = self.config.edge_margin_px
        cut: np.ndarray = (boxes[:, 0] <= m) | (boxes[:, 1] <= m)
        cut |= (boxes[:, 2] >= self.width - m) | (boxes[:, 3] >= self.height - m)
        cut |= (boxes[:, 3] - boxes[:, 1]) < self.config.min_person_height_px
        return cut

    def _associate(
        self, xyxy: np.ndarray, names: np.ndarray, people: np.ndarray, items: np.ndarray
    ) -> list[tuple[int, int]]:
        """(item index, position in ``people``) pairs: each item to at most one person,
        at most one item of a class per person, nearest region centre first."""
        if len(people) == 0 or len(items) == 0:
            return []
        item_names = names[items]
        top = np.zeros(len(items))
        bottom = np.ones(len(items))
        for name, region in self._region_of.items():
            where = item_names == name
            top[where], bottom[where] = _REGIONS[region]
        it, pe = xyxy[items], xyxy[people]
        cx = ((it[:, 0] + it[:, 2]) / 2)[:, None]
        cy = ((it[:, 1] + it[:, 3]) / 2)[:, None]
        height = (pe[:, 3] - pe[:, 1])[None, :]
        ry1 = pe[None, :, 1] + top[:, None] * height
        ry2 = pe[None, :, 1] + bottom[:, None] * height
        fits = (cx >= pe[None, :, 0]) & (cx <= pe[None, :, 2]) & (cy >= ry1) & (cy <= ry2)
        rows, cols = np.nonzero(fits)
        if len(rows) == 0:
            return []
        if len(np.unique(rows)) == len(rows):
            # Each item fits one person only; without two of a class on one person
            # there is nothing to arbitrate (the usual case).
            keys = cols * (len(self._region_of) + 1) + np.searchsorted(
                np.array(sorted(self._region_of)), item_names[rows]
            )
            if len(np.unique(keys)) == len(keys):
                return list(zip(items[rows].tolist(), cols.tolist()))
        px = (pe[cols, 0] + pe[cols, 2]) / 2
        distance = np.hypot(cx[rows, 0] - px, cy[rows, 0] - (ry1[rows, cols] + ry2[rows, cols]) / 2)
        distance /= np.maximum(height[0, cols], 1.0)
        out: list[tuple[int, int]] = []
        taken: set[int] = set()
        worn: set[tuple[int, str]] = set()
        # Nearest pairs first; ties broken by position in the frame's list (deterministic).
        order = np.lexsort((cols, rows, distance))
        for i, j, name in zip(
            items[rows[order]].tolist(), cols[order].tolist(), item_names[rows[order]].tolist()
        ):
            if i in taken or (j, name) in worn:
                continue
            taken.add(i)
            worn.add((j, name))
            out.append((i, j))
        return out

    def tally(self, places: PlaceTally) -> None:
        places.undecided(self.indeterminate)

    def headline(self) -> str | None:
        return plural(self.indeterminate, "person", "people") + " unclear" if self.indeterminate else None

    def geometry(self) -> tuple[float, ...]:
        return () if self.polygon is None else tuple(self.polygon.ravel().tolist())

    def state(self) -> dict[str, object]:
        t = self._last_t_s
        timers: dict[str, dict[str, float]] = {}
        for track_id, row in self._row.items():
            running = {
                self._items[k]: round(t - float(self._since[row, k]), 3)
                for k in np.flatnonzero(~np.isnan(self._since[row])).tolist()
            }
            if running:
                timers[str(track_id)] = running
        return {
            **self._base_state(),
            "zone": self.config.zone,
            "persons": self.persons,
            "indeterminate": self.indeterminate,
            "missing_s": timers,
        }
