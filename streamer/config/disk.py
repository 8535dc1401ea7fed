"""Checks that read the disk: a config that validates is one that can start and see.

Run by ``streamer validate`` and ``streamer run`` (``load_config(..., check_disk=True)``)
after the file itself validates: the camera source can exist, each model's file is there
and readable, its kind's extra is installed, and, from each model's own class names read
without running it, no rule follows a class that no model can output.
"""

from __future__ import annotations

from streamer.redact import redact
from streamer.schema.base import Loc
from streamer.schema.bases import ConfigBase
from streamer.schema.checks import check_model_classes
from streamer.source.openers import source_problem


def disk_problems(config: ConfigBase) -> list[tuple[Loc, str]]:
    """Every problem found, each with the key path it points at (for ``file:line key``)."""
    problems: list[tuple[Loc, str]] = []
    for key, source in (("source", config.camera.source), ("detect_source", config.camera.detect_source)):
        why = source_problem(source) if source is not None else None
        if why is not None:
            problems.append((("camera", key), redact(why)))
    classes: list[tuple[str, ...] | None] = []
    for index, model in enumerate(config.models):
        facts = model.inspect()
        problems += [(("models", index, *loc), redact(message)) for loc, message in facts.problems]
        # A model whose files are broken has unknown classes: its own error says enough.
        classes.append(None if facts.problems else facts.classes)
    return problems + check_model_classes(config, classes)
