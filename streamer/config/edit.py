"""Rewrite one zone or line of a config file, keeping the rest as its author wrote it.

The places editor (issue 26) saves through here. The file is edited as a round-trip YAML
document (ruamel.yaml): comments, key order, quoting, flow or block style and indentation
stay as they were, and only the values of the one place change. The edited text passes
the same :func:`parse_config` as ``streamer validate``, disk checks included (so the same
checks give the same messages), before it replaces the file, atomically; the text it replaces is kept beside it
as a dated backup (``site.yaml.2026-12-06T13-16-50Z.bak``: not ``*.yaml``, so a folder of
camera configs never mistakes one for a camera).

Coordinates come in as fractions 0..1 of the frame. A place written in pixels stays in
pixels (the fractions are scaled by the frame size), so a hand-written file keeps its units.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from streamer.config.loader import parse_config, read_config_text
from streamer.config.models import MAX_POLYGON_POINTS, Config, Point
from streamer.errors import ConfigError, StreamerError

# A ten-thousandth of the frame: under half a pixel of a 4K picture.
FRACTION_DIGITS = 4
# Backups kept per config file; older ones are removed after each save.
KEEP_BACKUPS = 20
MAX_ID_CHARS = 100
_ID = re.compile(r"[^\x00-\x1f\x7f/]+")


class PlaceRefused(ConfigError):
    """An edit that cannot be saved as asked; ``str()`` is the one line to show (HTTP 422)."""


class ConfigChanged(StreamerError):
    """The file changed on disk between reading and writing it (HTTP 409): saving would
    throw that change away."""


@dataclass(frozen=True)
class PlaceShape:
    """A zone's corners or a line's two ends, as fractions 0..1 of the frame."""

    polygon: tuple[Point, ...] | None = None
    start: Point | None = None
    end: Point | None = None

    @property
    def section(self) -> str:
        """The config section it belongs in: ``zones`` or ``lines``."""
        return "zones" if self.polygon is not None else "lines"

    @property
    def points(self) -> tuple[Point, ...]:
        if self.polygon is not None:
            return self.polygon
        assert self.start is not None and self.end is not None
        return (self.start, self.end)

    @classmethod
    def from_json(cls, place_id: str, body: Mapping[str, Any]) -> PlaceShape:
        """``{"polygon": [[x, y], ...]}`` or ``{"start": [x, y], "end": [x, y]}``; any
        point outside 0..1 is refused (a fraction past the frame's edge)."""
        check_place_id(place_id)
        keys = set(body) - {"by"}
        if keys == {"polygon"}:
            raw = body["polygon"]
            if not isinstance(raw, list):
                raise PlaceRefused(f"{place_id}: polygon must be a list of [x, y] corners")
            if len(raw) > MAX_POLYGON_POINTS:
                raise PlaceRefused(f"{place_id}: at most {MAX_POLYGON_POINTS} corners")
            points = tuple(_point(place_id, f"corner {n}", value) for n, value in enumerate(raw, 1))
            return cls(polygon=points)
        if keys == {"start", "end"}:
            return cls(start=_point(place_id, "start", body["start"]), end=_point(place_id, "end", body["end"]))
        raise PlaceRefused(
            f"{place_id}: send {{\"polygon\": [[x, y], ...]}} for a zone or "
            f"{{\"start\": [x, y], \"end\": [x, y]}} for a line (fractions 0..1 of the frame)"
        )


def check_place_id(place_id: str) -> None:
    if not 0 < len(place_id) <= MAX_ID_CHARS or not _ID.fullmatch(place_id) or place_id != place_id.strip():
        raise PlaceRefused(
            f"{place_id[:MAX_ID_CHARS]!r}: a place id is 1 to {MAX_ID_CHARS} characters, "
            f"no control characters, no '/', no spaces at either end"
        )


def _point(place_id: str, what: str, value: Any) -> Point:
    numbers = (
        isinstance(value, list) and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )
    if not numbers:
        raise PlaceRefused(f"{place_id}: {what} must be [x, y], two numbers, got {value!r:.80}")
    x, y = float(value[0]), float(value[1])
    if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise PlaceRefused(
            f"{place_id}: {what} ({x:g}, {y:g}) is out of the frame: coordinates are "
            f"fractions of the frame, from 0 to 1"
        )
    return (x, y)


def is_fractions(points: Sequence[Sequence[float]]) -> bool:
    """A shape whose values all lie in [0, 1] is relative to the frame (the config's rule)."""
    return all(0.0 <= float(v) <= 1.0 for point in points for v in point)


def to_fractions(points: Sequence[Sequence[float]], width: int, height: int) -> list[list[float]]:
    """A place's points as fractions of a ``width`` x ``height`` frame, whatever its units."""
    if is_fractions(points):
        return [[round(float(x), 6), round(float(y), 6)] for x, y in points]
    return [[round(float(x) / width, 6), round(float(y) / height, 6)] for x, y in points]


@dataclass(frozen=True)
class EditedText:
    """The config text with one place changed.

    Attributes:
        text: the whole new file.
        place: the place as written, in fractions (what ``GET /api/places`` will show).
        units: ``fractions`` or ``pixels``: how the file writes this place.
        added: whether the place is new.
    """

    text: str
    place: dict[str, Any]
    units: str
    added: bool


def edit_place(
    text: str, place_id: str, shape: PlaceShape, width: int, height: int, source_name: str = "<config>"
) -> EditedText:
    """``text`` with place ``place_id`` set to ``shape`` (added when the section lacks it).

    Only the place's values change; everything else is dumped as it was read.
    """
    yaml, root = _load_round_trip(text, source_name)
    section = shape.section
    items = root.get(section)
    if items is None:
        items = CommentedSeq()
        root.insert(_section_position(root, section), section, items)
    if not isinstance(items, CommentedSeq):
        raise PlaceRefused(f"{source_name}: `{section}` is not a list; fix the file by hand first")
    entry = next(
        (item for item in items if isinstance(item, CommentedMap) and item.get("id") == place_id), None
    )
    added = entry is None
    if entry is None:
        units = "fractions"
        written = [[round(x, FRACTION_DIGITS), round(y, FRACTION_DIGITS)] for x, y in shape.points]
        if not items:
            items.fa.set_block_style()  # `zones: []` becomes a block list, like its neighbours
        entry = CommentedMap([("id", place_id)])
        if section == "zones":
            entry["polygon"] = _flow([_flow(p) for p in written])
        else:
            entry["start"], entry["end"] = _flow(written[0]), _flow(written[1])
        items.append(entry)
    else:
        existing = _existing_points(entry, shape, place_id, source_name)
        units = "fractions" if is_fractions(existing) else "pixels"
        written = _in_units(shape.points, existing, units, width, height, place_id)
        if section == "zones":
            _set_points(entry["polygon"], written)
        else:
            _set_points(entry["start"], written[0])
            _set_points(entry["end"], written[1])
    out = io.StringIO()
    yaml.dump(root, out)
    fractions = to_fractions(written, width, height)
    place: dict[str, Any] = {"id": place_id}
    if section == "zones":
        place["polygon"] = fractions
    else:
        place["start"], place["end"] = fractions
    return EditedText(out.getvalue(), place, units, added)


def _load_round_trip(text: str, source_name: str) -> tuple[YAML, CommentedMap]:
    try:
        _, sequence_indent, offset = load_yaml_guess_indent(text)
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096  # never re-wrap a long line the author kept on one
        yaml.indent(mapping=_mapping_indent(text), sequence=sequence_indent or 2, offset=offset or 0)
        root = yaml.load(text)
    except YAMLError as exc:
        raise PlaceRefused(f"{source_name}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(root, CommentedMap):
        raise PlaceRefused(f"{source_name}: expected a mapping of sections (camera, models, ...)")
    return yaml, root


def _mapping_indent(text: str) -> int:
    """The indentation of the first nested mapping (``camera:`` then ``  id: ...``)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, following in zip(lines, lines[1:]):
        if not line.startswith((" ", "-")) and line.rstrip().endswith(":"):
            indent = len(following) - len(following.lstrip(" "))
            if indent and not following.lstrip().startswith("- "):
                return indent
    return 2


def _section_position(root: CommentedMap, section: str) -> int:
    """Where a missing ``zones`` or ``lines`` goes: before the sections that follow it in
    the reference order, else at the end."""
    order = ["zones", "lines", "rules", "sinks", "outbox", "monitor"]
    later = order[order.index(section) + 1:]
    keys = list(root.keys())
    return next((keys.index(key) for key in later if key in keys), len(keys))


def _existing_points(
    entry: CommentedMap, shape: PlaceShape, place_id: str, source_name: str
) -> list[list[float]]:
    values = [entry.get("polygon")] if shape.section == "zones" else [entry.get("start"), entry.get("end")]
    points: list[list[float]] = []
    for value in values:
        rows = value if shape.section == "zones" else [value]
        if not isinstance(rows, list) or not all(_is_xy(row) for row in rows):
            raise PlaceRefused(
                f"{source_name}: {place_id} is not written as plain numbers in the file; edit it by hand"
            )
        points += [[float(row[0]), float(row[1])] for row in rows]
    return points


def _is_xy(row: Any) -> bool:
    return isinstance(row, list) and len(row) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in row
    )


def _in_units(
    points: Sequence[Point], existing: list[list[float]], units: str, width: int, height: int, place_id: str
) -> list[list[float]]:
    if units == "fractions":
        return [[round(x, FRACTION_DIGITS), round(y, FRACTION_DIGITS)] for x, y in points]
    whole = all(float(v).is_integer() for point in existing for v in point)
    written: list[list[Any]] = []
    for x, y in points:
        px, py = x * width, y * height
        written.append([int(round(px)), int(round(py))] if whole else [round(px, 1), round(py, 1)])
    if is_fractions(written):
        # Every value in [0, 1] would read as fractions of the frame, not pixels.
        raise PlaceRefused(f"{place_id}: the place would lie within the frame's first pixel")
    return written


def _flow(values: Sequence[Any]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def _set_points(seq: Any, values: Sequence[Any]) -> None:
    """Set a sequence's items in place, so its style and comments stay; new corners copy
    the style of the first one."""
    flow = bool(seq) and isinstance(seq[0], CommentedSeq) and seq[0].fa.flow_style()
    for index, value in enumerate(values):
        if isinstance(value, list) and index < len(seq) and isinstance(seq[index], list):
            _set_points(seq[index], value)
        elif isinstance(value, list):
            new = CommentedSeq(value)
            if flow or not seq:
                new.fa.set_flow_style()
            if index < len(seq):
                seq[index] = new
            else:
                seq.append(new)
        elif index < len(seq):
            seq[index] = value
        else:
            seq.append(value)
    del seq[len(values):]


@dataclass(frozen=True)
class SavedPlace:
    """One saved edit: the place as the file now holds it and where the old file went."""

    edited: EditedText
    config: Config
    backup: Path


class ConfigFile:
    """One camera's config file, as the places editor reads and writes it.

    Saving holds a lock, so two saves from two browsers never interleave; each reads the
    file, edits one place, validates the whole new text, keeps a backup and replaces the
    file atomically (a crash leaves the old file or the new one, never half of one).
    """

    def __init__(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self._env = env
        self._lock = threading.Lock()

    def propose(self, place_id: str, shape: PlaceShape, width: int, height: int) -> tuple[EditedText, Config]:
        """The edit and the config it makes, validated as the file's own (not what it points
        at on disk: the preview's quick check); nothing written.

        Raises :class:`PlaceRefused` (or the loader's :class:`ConfigError`) with the message.
        """
        text = read_config_text(self.path)
        return self._validated(text, place_id, shape, width, height, check_disk=False)

    def save(self, place_id: str, shape: PlaceShape, width: int, height: int) -> SavedPlace:
        """Validate, back up, write; raises before writing anything when the edit is refused."""
        with self._lock:
            text = read_config_text(self.path)
            edited, config = self._validated(text, place_id, shape, width, height, check_disk=True)
            if read_config_text(self.path) != text:
                raise ConfigChanged(f"{self.path.name} changed on disk meanwhile; reload the places and try again")
            backup = self._backup(text)
            _write_atomic(self.path, edited.text)
            self._prune_backups()
        return SavedPlace(edited, config, backup)

    def _validated(
        self, text: str, place_id: str, shape: PlaceShape, width: int, height: int, check_disk: bool
    ) -> tuple[EditedText, Config]:
        """The edit and its config. ``check_disk``: also what ``validate`` checks on disk
        (the source, the model files, every rule's classes); a save does, a preview need not."""
        edited = edit_place(text, place_id, shape, width, height, str(self.path))
        config = parse_config(edited.text, source_name=str(self.path), env=self._env, check_disk=check_disk)
        return edited, config

    def backups(self) -> list[Path]:
        """This file's backups, oldest first (by when they were written: several saves in
        one second get numbered names that do not sort by age)."""
        found: list[tuple[int, str, Path]] = []
        for backup in self.path.parent.glob(f"{glob_escape(self.path.name)}.*.bak"):
            try:
                found.append((backup.stat().st_mtime_ns, backup.name, backup))
            except OSError:
                continue  # removed meanwhile
        return [backup for _, _, backup in sorted(found)]

    def _backup(self, text: str) -> Path:
        stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime())
        for attempt in range(100):
            suffix = f"{stamp}" if attempt == 0 else f"{stamp}-{attempt}"
            backup = self.path.with_name(f"{self.path.name}.{suffix}.bak")
            try:
                with open(backup, "x", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
            except FileExistsError:
                continue
            except OSError as exc:
                raise StreamerError(f"cannot write the backup {backup}: {exc.strerror or exc}") from None
            _copy_mode(self.path, backup)
            return backup
        raise StreamerError(f"cannot name a backup of {self.path}: too many saves this second")

    def _prune_backups(self) -> None:
        for old in self.backups()[:-KEEP_BACKUPS]:
            try:
                old.unlink()
            except OSError:
                pass  # a backup we cannot remove is only disk space


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _copy_mode(source: Path, target: Path) -> None:
    try:
        os.chmod(target, os.stat(source).st_mode & 0o7777)
    except OSError:
        pass


def _write_atomic(path: Path, text: str) -> None:
    """Write beside ``path`` and rename over it: readers (the config watcher) see the old
    file or the new one. A symlinked config is written where the link points."""
    target = path.resolve()
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise StreamerError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _copy_mode(target, Path(temp))
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise StreamerError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:  # the rename itself survives a power cut only once the folder is synced
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
