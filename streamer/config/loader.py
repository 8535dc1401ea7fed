"""Read a YAML config: ``${ENV}`` substitution, validation, errors that name file:line key.

``streamer validate`` and ``streamer run`` both go through :func:`load_config`, so a file
that validates is a file that runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import ValidationError

from streamer.config.models import (
    PLUGINS,
    Config,
    ConfigBase,
    Plugins,
    check_references,
    secret_field_names,
)
from streamer.errors import ConfigError
from streamer.redact import redact

Loc = tuple[Union[str, int], ...]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# A per-camera config is a few KiB. These bounds are far above any real file and far below
# what would keep `validate` (or the hot-reload thread beside a running camera) busy.
MAX_CONFIG_BYTES = 256 * 1024  # PyYAML reads ~100-300 KB/s: this bounds `validate` to seconds
MAX_VALUES = 50_000  # scalars, lists and mappings, counted with every alias expanded
MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def load_config(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    plugins: Plugins = PLUGINS,
    check_disk: bool = False,
) -> Config:
    """Load and validate ``path``; raise :class:`ConfigError` listing every problem found.

    ``check_disk`` (``validate`` and ``run``) also checks what the file points at: the
    source, the model files and extras, and that every rule's classes can come out of a
    model (:mod:`streamer.config.disk`).
    """
    path = Path(path)
    return parse_config(
        read_config_text(path), source_name=str(path), env=env, plugins=plugins,
        check_disk=check_disk,
    )


def read_config_text(path: Path) -> str:
    """The file's text, refused in one line when it is missing, huge or not UTF-8.

    At most ``MAX_CONFIG_BYTES + 1`` bytes are read: a video or ``/dev/zero`` handed in by
    mistake is refused without being read whole.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB, too large for a config file "
            f"(is it the right file?)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            f"save the file as UTF-8"
        ) from None


def parse_config(
    text: str,
    source_name: str = "<config>",
    env: Mapping[str, str] | None = None,
    plugins: Plugins = PLUGINS,
    check_disk: bool = False,
) -> Config:
    """Validate YAML ``text``; ``source_name`` is the file name used in messages.

    ``plugins`` are the detectors, rules and sinks the file may name (built-in by default);
    ``check_disk`` as in :func:`load_config`. The config keeps where each key was written
    (:func:`config_where`), so a check made later (``run``'s, with the loaded models) names
    the file and line too.
    """
    env = os.environ if env is None else env
    root = compose_yaml(text, source_name)
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
        # Any set of plugins validates to the same root shape; typed as the built-in one.
        config: Config = plugins.config_model().model_validate(data)  # type: ignore[assignment]  # every plugin set's root has Config's fields
    except ValidationError as exc:
        secret_keys = secret_field_names(plugins.config_model())
        messages = [
            _format_error(err, data, lines, source_name, secret_keys) for err in exc.errors()
        ]
        raise ConfigError("\n".join(dict.fromkeys(messages))) from None
    where = _Where(source_name, lines)
    config._where = where
    references = check_references(config)
    if not references and check_disk:
        from streamer.config.disk import disk_problems

        references = disk_problems(config)
    if references:
        raise ConfigError("\n".join(where.line(loc, message) for loc, message in references))
    return config


class _Where:
    """``file:line key`` for a key path of one parsed file."""

    def __init__(self, source_name: str, lines: dict[Loc, int]) -> None:
        self.source_name, self._lines = source_name, lines

    def line(self, loc: Loc, message: str) -> str:
        return f"{_where(self.source_name, self._lines, loc)} {_keypath(loc)}: {message}"


def config_where(config: ConfigBase, problems: list[tuple[Loc, str]]) -> str:
    """The problems as ``file:line key: message`` lines, for a config from :func:`parse_config`
    (one built in code, without a file, gets its key paths alone)."""
    where = config._where
    if not isinstance(where, _Where):
        return "\n".join(f"{_keypath(loc)}: {message}" for loc, message in problems)
    return "\n".join(where.line(loc, message) for loc, message in problems)


class _Refused(yaml.YAMLError):
    """A document :class:`BoundedLoader` will not compose: where, which key, why."""

    def __init__(self, mark: yaml.Mark, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.mark, self.loc, self.message = mark, loc, message


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with bounds on what aliases, nesting and size can make it build.

    An alias shares its anchor's node, so nine lines of nine aliases each describe 10**9
    values ("billion laughs", 352 bytes): composing is instant, but any walk of the result
    (our line-tracking builder, pydantic) expands it, for minutes and gigabytes. An alias
    used inside its own anchor (``a: &x [*x]``) makes a cycle no walk leaves. So while
    composing, each finished node's expanded size (itself plus its children, an alias
    counting the whole node it repeats) is kept, and the document is refused past
    ``MAX_VALUES``; an alias to a node whose size is not known yet points into itself.
    The expanded depth is bounded the same way (aliases nested in aliases stack up).
    Aliases stay allowed: a shared ``event:`` block is a fair use.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) expanded
        self._path: list[Union[str, int]] = []
        self._aliased = False
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # unannotated in types-PyYAML
        part = _path_part(index)
        loc = (*self._path, part) if part is not None else tuple(self._path)
        if self.check_event(yaml.AliasEvent):
            anchor = self.peek_event().anchor  # type: ignore[no-untyped-call]  # unannotated in types-PyYAML
            node = super().compose_node(parent, index)
            assert node is not None  # PyYAML composes a node wherever it is asked to
            if id(node) not in self._sizes:
                raise _Refused(mark, loc, f"alias *{anchor} is used inside its own anchor "
                               f"&{anchor}: a config cannot contain itself")
            self._aliased = True
            return node
        if self._depth >= MAX_DEPTH:  # PyYAML composes recursively: 10**5 `[` overflow it
            raise _Refused(mark, loc[:4], f"nested deeper than {MAX_DEPTH} levels")
        self._depth += 1
        if part is not None:
            self._path.append(part)
        try:
            composed = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if part is not None:
                self._path.pop()
        assert composed is not None  # PyYAML composes a node wherever it is asked to
        node = composed
        children = [self._sizes[id(child)] for child in _children(node)]
        size = 1 + sum(values for values, _ in children)
        depth = 1 + max((levels for _, levels in children), default=0)
        if size > MAX_VALUES:
            why = "its aliases (*name) expand it to" if self._aliased else "it holds"
            raise _Refused(mark, loc, f"{why} more than {MAX_VALUES} values; "
                           f"a config this large is refused")
        if depth > MAX_DEPTH:
            raise _Refused(mark, loc[:4], f"its aliases (*name) nest it deeper than {MAX_DEPTH} levels")
        self._sizes[id(node)] = (size, depth)
        return node


def _path_part(index: Any) -> Union[str, int, None]:
    """The key path step PyYAML's composer is taking (index: key node, position or None)."""
    if isinstance(index, int):
        return index
    if isinstance(index, yaml.ScalarNode):
        return str(index.value)
    return None  # the root, or a mapping key itself


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def compose_yaml(text: str, source_name: str) -> yaml.Node | None:
    """Compose one YAML document with :class:`BoundedLoader`; any problem is one line."""
    loader: BoundedLoader | None = None
    try:
        loader = BoundedLoader(text)  # checks the characters: may raise ReaderError
        return loader.get_single_node()
    except _Refused as exc:
        raise ConfigError(
            f"{source_name}:{exc.mark.line + 1} {_keypath(exc.loc)}: {exc.message}"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source_name}:{mark.line + 1}" if mark else source_name
        problem = str(exc.problem or exc.context)
        if exc.problem and exc.context:
            problem = f"{exc.problem} ({exc.context})"
        if "'\\t'" in str(problem):
            problem += " (indent with spaces: YAML does not allow tabs)"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(
            f"{source_name}:{line}: invalid YAML: character #x{exc.character:04x} is not "
            f"allowed in a YAML file"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source_name}: invalid YAML: {str(exc).splitlines()[0]}") from None
    finally:
        if loader is not None:
            loader.dispose()


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
    if node.tag not in _COLLECTION_TAGS and not isinstance(node, yaml.ScalarNode):
        problems.append(f"{source_name}:{node.start_mark.line + 1} {_keypath(loc)}: "
                        f"cannot read this value: unknown tag {node.tag!r}")
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                # `<<: *defaults`: the anchor's keys, below every key written here. Their
                # lines go to a scratch map, so errors in them point at this `<<` line.
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        problems.append(f"{source_name}:{key_line} {_keypath(loc)}: "
                                        f"`<<` merges a mapping (*anchor) or a list of them")
                        continue
                    built = _build(source, loc, {}, problems, source_name, env)
                    for key, value in built.items():
                        merged.setdefault(key, value)
                        lines.setdefault((*loc, key), key_line)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(f"{source_name}:{key_line} {_keypath(loc)}: "
                                f"a key must be a plain name, not a list or mapping")
                continue
            key = _read_scalar(key_node, loc, problems, source_name)
            child = (*loc, key if isinstance(key, (str, int)) else str(key))
            if key in out:
                problems.append(f"{source_name}:{key_line} {_keypath(child)}: key given twice")
            lines[child] = key_line
            out[key] = _build(value_node, child, lines, problems, source_name, env)
        return {**merged, **out}
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*loc, index), lines, problems, source_name, env)
            for index, item in enumerate(node.value)
        ]
    value = _read_scalar(node, loc, problems, source_name)
    if isinstance(value, str) and "${" in value:
        value = _substitute(value, loc, node.start_mark.line + 1, problems, source_name, env)
    if isinstance(value, str) and "\0" in value:  # a "\0" escape: no path or URL may hold it
        problems.append(f"{source_name}:{node.start_mark.line + 1} {_keypath(loc)}: "
                        f"a NUL character cannot be part of a value")
    return value


def _read_scalar(node: yaml.Node, loc: Loc, problems: list[str], source_name: str) -> Any:
    """:func:`_scalar`, with a value YAML cannot make (a 5000-digit number, an unknown
    ``!tag``) recorded as a problem instead of escaping as a traceback."""
    try:
        return _scalar(node)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        reason = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else exc
        problems.append(
            f"{source_name}:{node.start_mark.line + 1} {_keypath(loc)}: "
            f"cannot read this value: {str(reason).splitlines()[0]}"
        )
        return None


def _scalar(node: yaml.Node) -> Any:
    """Construct one scalar with YAML's usual typing (ints, floats, bools, null)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        if loader is not None:
            loader.dispose()


def _substitute(
    value: str,
    loc: Loc,
    line: int,
    problems: list[str],
    source_name: str,
    env: Mapping[str, str],
) -> str:
    """Expand ``${NAME}`` and ``${NAME:-default}``; a default may hold references itself
    (``${CAMERA_URL:-rtsp://u:${CAM_PASSWORD:-}@host/s}``), expanded only when it is used,
    so an unset inner variable is no error once the outer one is set."""

    def missing(name: str) -> str:
        problems.append(
            f"{source_name}:{line} {_keypath(loc)}: environment variable {name} is not set "
            f"(write ${{{name}:-default}} to give a default)"
        )
        return ""

    return _expand(value, env, missing)


def _expand(text: str, env: Mapping[str, str], missing: Callable[[str], str]) -> str:
    out: list[str] = []
    at = 0
    while True:
        start = text.find("${", at)
        match = _ENV_NAME.match(text, start + 2) if start >= 0 else None
        if match is None:
            if start < 0:
                out.append(text[at:])
                return "".join(out)
            out.append(text[at : start + 2])  # `${` not followed by a name stays as written
            at = start + 2
            continue
        out.append(text[at:start])
        name, after = match.group(), match.end()
        if text.startswith("}", after):
            out.append(env[name] if name in env else missing(name))
            at = after + 1
            continue
        if not text.startswith(":-", after):
            out.append(text[start:after])
            at = after
            continue
        end = _closing_brace(text, after + 2)
        if end < 0:  # no closing brace: left as written, as the single-level form did
            out.append(text[start:])
            return "".join(out)
        default = text[after + 2 : end]
        out.append(env[name] if name in env else _expand(default, env, missing))
        at = end + 1


def _closing_brace(text: str, at: int) -> int:
    """Index of the ``}`` that closes a default starting at ``at`` (nested ``${`` counted)."""
    depth = 0
    index = at
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


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


def _format_error(
    err: Mapping[str, Any], data: Any, lines: dict[Loc, int], source: str,
    secret_keys: frozenset[str],
) -> str:
    """One line for one validation error; a wrong-typed secret is never echoed back."""
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
        secret = any(str(part) in secret_keys for part in loc)
        if "input" in err and not secret and not isinstance(err["input"], (dict, list)):
            message += f", got {err['input']!r}"
    return redact(f"{_where(source, lines, loc)} {_keypath(loc)}: {message}")
