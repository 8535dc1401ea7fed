"""Checks that span sections (a rule naming a zone, a class no model outputs), run on
:class:`~streamer.schema.bases.ConfigBase` so they hold for any set of plugins. Each
problem comes with the key path it points at, so the loader can name the YAML line.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamer.schema.base import Loc
from streamer.schema.bases import ConfigBase, ModelBase
from streamer.schema.geometry import mixed_units, self_intersects


def check_references(config: ConfigBase) -> list[tuple[Loc, str]]:
    """Checks that span sections; each problem comes with the key path it points at.

    Run by the loader after the models validate, so the message can name the YAML line.
    A plugin adds its own through ``checks``.
    """
    problems: list[tuple[Loc, str]] = []
    for section, ids in (
        ("models", [model.id for model in config.models]),
        ("zones", [zone.id for zone in config.zones]),
        ("lines", [line.id for line in config.lines]),
        ("rules", [rule.id for rule in config.rules]),
    ):
        seen: set[str] = set()
        for index, item_id in enumerate(ids):
            if item_id in seen:
                problems.append(((section, index, "id"), f"id {item_id!r} is used twice"))
            seen.add(item_id)
    sink_names: set[str] = set()
    for index, sink in enumerate(config.sinks):
        if sink.name in sink_names:
            problems.append(
                (("sinks", index), f"a second sink named {sink.name!r}; give each an `id`")
            )
        sink_names.add(sink.name)
    problems += _check_geometry(config)
    problems += _check_model_gates(config)
    problems += _check_rule_references(config)
    problems += _check_class_names(config)
    problems += _check_event_limits(config)
    for index, sink in enumerate(config.sinks):
        problems += [(("sinks", index, *loc), message) for loc, message in sink.checks(config)]
    return problems


def _check_event_limits(config: ConfigBase) -> list[tuple[Loc, str]]:
    """Values the runtime copies into customMetadata must fit the API's 1000 characters,
    so an event the server would refuse is refused at `validate` instead of dying on send."""
    problems: list[tuple[Loc, str]] = []
    zone_ids = {zone.id for zone in config.zones}
    for index, rule in enumerate(config.rules):
        if len(rule.id) > 1000:
            problems.append((("rules", index, "id"), "at most 1000 characters (sent as rule_id)"))
        for kind, place_id in rule.named_places():
            if kind == "zone" and place_id in zone_ids and len(place_id) > 1000:
                problems.append((("rules", index, kind), "at most 1000 characters (sent as zone)"))
    return problems


def _check_geometry(config: ConfigBase) -> list[tuple[Loc, str]]:
    """A zone whose edges cross has no clear inside; a line needs two distinct ends."""
    problems: list[tuple[Loc, str]] = []
    for index, zone in enumerate(config.zones):
        if self_intersects(zone.polygon):
            problems.append(
                (("zones", index, "polygon"), "the polygon's edges cross each other; "
                 "list the corners in order around the zone")
            )
        mixed = mixed_units(zone.polygon)
        if mixed:
            problems.append((("zones", index, "polygon"), mixed))
    for index, line in enumerate(config.lines):
        mixed = mixed_units([line.start, line.end])
        if mixed:
            problems.append((("lines", index), mixed))
        if tuple(line.start) == tuple(line.end):
            problems.append((("lines", index, "end"), "the line's start and end are the same"))
    return problems


def _check_model_gates(config: ConfigBase) -> list[tuple[Loc, str]]:
    """`when` names an earlier model: models run in list order, so a later or own id
    would gate on detections that do not exist yet on this frame."""
    problems: list[tuple[Loc, str]] = []
    earlier: list[str] = []
    for index, model in enumerate(config.models):
        if model.when is not None and model.when not in earlier:
            known = ", ".join(earlier) or "none before this one"
            problems.append(
                (("models", index, "when"),
                 f"unknown model {model.when!r}: `when` must name an earlier model ({known})")
            )
        earlier.append(model.id)
    return problems


def _check_rule_references(config: ConfigBase) -> list[tuple[Loc, str]]:
    """Every zone or line a rule names exists; then the rule's own checks."""
    problems: list[tuple[Loc, str]] = []
    ids = {"zone": {zone.id for zone in config.zones}, "line": {line.id for line in config.lines}}
    for index, rule in enumerate(config.rules):
        for kind, place_id in rule.named_places():
            if place_id not in ids[kind]:
                known = ", ".join(sorted(ids[kind])) or "none defined"
                problems.append((
                    ("rules", index, kind), f"unknown {kind} {place_id!r} ({kind}s: {known})"
                ))
        problems += [(("rules", index, *loc), message) for loc, message in rule.checks(config)]
    return problems


def known_classes(config: ConfigBase) -> set[str] | None:
    """Class names the configured models can output, or None when a model's are unknowable.

    Knowable from the config alone: a model's `classes` filter, its `names` (through
    `class_map`), HOG's single class. A replay file or ONNX metadata needs I/O: no check.
    """
    out: set[str] = set()
    for model in config.models:
        classes = model.output_classes()
        if classes is None:
            return None
        out |= classes
    return out


def _check_class_names(config: ConfigBase) -> list[tuple[Loc, str]]:
    known = known_classes(config)
    if known is None:
        return []
    listed = ", ".join(sorted(known))
    return [
        (("rules", index, *loc), f"unknown class {name!r}: the models output {listed}")
        for index, rule in enumerate(config.rules)
        for loc, name in rule.class_fields()
        if name not in known
    ]


def model_outputs(model: ModelBase, own: Sequence[str] | None) -> set[str] | None:
    """Classes ``model`` can hand the rules: its own names through ``class_map``, then its
    ``classes`` filter; None when its own names are unknown and nothing filters them."""
    if own is None:
        return set(model.classes) if model.classes is not None else None
    mapped = {model.class_map.get(name, name) for name in own}
    return mapped & set(model.classes) if model.classes is not None else mapped


def check_model_classes(
    config: ConfigBase, own_classes: Sequence[Sequence[str] | None]
) -> list[tuple[Loc, str]]:
    """No blind rule: every ``class_map`` key is a class of its model, every ``classes``
    entry can come out of it, and every class a rule follows comes out of some model.

    ``own_classes`` holds each model's own class names, in ``config.models``' order (from its
    files for ``validate``, from the loaded model for ``run``), None where unknown. A rule's
    class that no model outputs means a rule that never fires, or for PPE one that fires on
    everybody: for a safety camera the worst failure there is, so it is refused.
    """
    problems: list[tuple[Loc, str]] = []
    outputs: set[str] | None = set()
    for index, (model, own) in enumerate(zip(config.models, own_classes)):
        if own is not None:
            listed = ", ".join(own) or "none"
            for key in model.class_map:
                if key not in own:
                    hint = [name for name in own if name.lower() == key.lower()]
                    guess = f"; did you mean {hint[0]!r}?" if hint else ""
                    problems.append((
                        ("models", index, "class_map", key),
                        f"{key!r} is not a class of model {model.id!r} (its classes: {listed}; "
                        f"names are case-sensitive){guess}",
                    ))
            mapped = sorted({model.class_map.get(name, name) for name in own})
            for position, name in enumerate(model.classes or []):
                if name not in mapped:
                    problems.append((
                        ("models", index, "classes", position),
                        f"model {model.id!r} never outputs {name!r} (after class_map it "
                        f"outputs {', '.join(mapped) or 'nothing'}); rename its classes with "
                        f"class_map, e.g. {{{own[0] if own else 'Name'}: {name}}}",
                    ))
        produced = model_outputs(model, own)
        if produced is None or outputs is None:
            outputs = None
        else:
            outputs |= produced
    if outputs is None:
        return problems  # some model's classes are unknown: a rule may rely on them
    listed = ", ".join(sorted(outputs)) or "nothing"
    for index, rule in enumerate(config.rules):
        for loc, name in rule.class_fields():
            if name not in outputs:
                problems.append((
                    ("rules", index, *loc),
                    f"no model outputs {name!r} (after class_map and classes they output "
                    f"{listed}), so this rule can never see it",
                ))
    return problems
