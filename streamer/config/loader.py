"""Read a YAML config: ``${ENV}`` substitution, validation, errors that name file:line key.

``streamer validate`` and ``streamer run`` both go through :func:`load_config`, so a file
that validates is a file that runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import ValidationError

from streamer.config.models import Config, check_references, secret_field_names
from streamer.errors import ConfigError
from streamer.redact import redact

Loc = tuple[Union[str, int], ...]

_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
# Every SecretStr field of the models: a wrong-typed secret is never echoed back.
_SECRET_KEYS = secret_field_names(Config)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate ``path``; raise :class:`ConfigError` listing every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    return parse_config(text, source_name=str(path), env=env)


def parse_config(
    text: str, source_name: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate YAML ``text``; ``source_name`` is the file name used in messages."""
    env = os.environ if env is None else env
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source_name}:{mark.line + 1}" if mark else source_name
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source_name}: invalid YAML: {exc}") from None
    if root is None:
        raise ConfigError(f"{source_name}: the config file is empty")

    lines: dict[Loc, int] = {}
    problems: list[str] = []
    data = _build(root, (), lines, problems, source_name, env)
    if problems:
        raise ConfigError("\n".join(problems))
    if not isinstance(data, dict):
        raise ConfigError(f"{source_name}:1: expected a mapping of sections (camera, models, ...)")

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        messages = [_format_error(err, data, lines, source_name) for err in exc.errors()]
        raise ConfigError("\n".join(dict.fromkeys(messages))) from None
    references = check_references(config)
    if references:
        raise ConfigError(
            "\n".join(
                f"{_where(source_name, lines, loc)} {_keypath(loc)}: {message}"
                for loc, message in references
            )
        )
    return config


def _build(
    node: yaml.Node,
    loc: Loc,
    lines: dict[Loc, int],
    problems: list[str],
    source_name: str,
    env: Mapping[str, str],
) -> Any:
    """Turn a composed YAML node into Python data, recording each key path's line."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            child = (*loc, key if isinstance(key, (str, int)) else str(key))
            if key in out:
                problems.append(
                    f"{source_name}:{key_node.start_mark.line + 1} {_keypath(child)}: "
                    f"key given twice"
                )
            lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, lines, problems, source_name, env)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*loc, index), lines, problems, source_name, env)
            for index, item in enumerate(node.value)
        ]
    value = _scalar(node)
    if isinstance(value, str) and "${" in value:
        value = _substitute(value, loc, node.start_mark.line + 1, problems, source_name, env)
    return value


def _scalar(node: yaml.Node) -> Any:
    """Construct one scalar with YAML's usual typing (ints, floats, bools, null)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _substitute(
    value: str,
    loc: Loc,
    line: int,
    problems: list[str],
    source_name: str,
    env: Mapping[str, str],
) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            f"{source_name}:{line} {_keypath(loc)}: environment variable {name} is not set "
            f"(write ${{{name}:-default}} to give a default)"
        )
        return ""

    return _ENV_REF.sub(replace, value)


def _keypath(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _where(source_name: str, lines: dict[Loc, int], loc: Loc) -> str:
    """``file:line`` of the deepest part of ``loc`` that the file has."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return f"{source_name}:{lines[loc[:end]]}"
    return source_name


def _resolve(loc: tuple[Any, ...], data: Any) -> Loc:
    """Map pydantic's error location onto the YAML's key path.

    Pydantic inserts union tags ('onnx', 'function-after[...]') between real keys; keep
    only the parts that walk the data, plus a final missing key.
    """
    out: list[Union[str, int]] = []
    current = data
    for index, part in enumerate(loc):
        tagged = isinstance(current, dict) and part in (current.get("kind"), current.get("type"))
        if tagged and index < len(loc) - 1:
            continue  # the union tag pydantic inserts, e.g. ('rules', 0, 'zone', 'zone')
        if isinstance(current, dict) and part in current:
            out.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            out.append(part)
            current = current[part]
        elif index == len(loc) - 1 and isinstance(part, (str, int)):
            out.append(part)
    return tuple(out)


def _format_error(err: Mapping[str, Any], data: Any, lines: dict[Loc, int], source: str) -> str:
    loc = _resolve(tuple(err["loc"]), data)
    kind = err["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        message = message[:1].lower() + message[1:]
        secret = any(str(part) in _SECRET_KEYS for part in loc)
        if "input" in err and not secret and not isinstance(err["input"], (dict, list)):
            message += f", got {err['input']!r}"
    return redact(f"{_where(source, lines, loc)} {_keypath(loc)}: {message}")
