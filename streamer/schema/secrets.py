"""Where the config's secrets are: every ``SecretStr`` field's name (for error messages)
and every literal secret value (for :func:`streamer.redact.redact`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

from pydantic import BaseModel, SecretStr

from streamer.schema.bases import ConfigBase


def _types_in(annotation: Any) -> Iterator[Any]:
    """Every type named inside an annotation (through Union, list, dict, Annotated)."""
    yield annotation
    for arg in get_args(annotation):
        yield from _types_in(arg)


def secret_field_names(model: type[BaseModel]) -> frozenset[str]:
    """Names of every ``SecretStr`` field in ``model``'s tree, whatever they are called.

    Derived from the models, so a new secret field is hidden in error messages the day it
    is added, without a hand-kept list to forget.
    """
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            for kind in _types_in(info.annotation):
                if kind is SecretStr:
                    names.add(name)
                elif isinstance(kind, type) and issubclass(kind, BaseModel):
                    visit(kind)

    visit(model)
    return frozenset(names)


def _secret_values(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for _, field_value in value:  # a model iterates over its (field, value) pairs
            yield from _secret_values(field_value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secret_values(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_values(item)


def config_secrets(config: ConfigBase) -> tuple[str, ...]:
    """Literal secret values in a config, for :func:`streamer.redact.redact`.

    Every ``SecretStr`` field (keys, tokens, passwords); the camera URL's password and query
    values; a webhook URL's path and query (Slack, Teams and Discord put the token in the
    path).
    """
    from streamer.redact import url_secrets

    out: list[str] = list(_secret_values(config))
    for source in (config.camera.source, config.camera.detect_source):
        if isinstance(source, str):
            out += url_secrets(source)
    for sink in config.sinks:
        out += sink.secrets()
    return tuple(dict.fromkeys(secret for secret in out if secret))
