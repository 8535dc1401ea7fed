"""The package's layers, read from its source: no import runs from a lower layer to a
higher one, lazy imports inside functions included, and no two modules import each other
in a ring, nor two packages (lazy imports included).

The order (issue 12): the config's sections < the stages (source, detect, track, rules) <
events < sinks < the plugin registry and the assembled config < overlay and monitor < the
pipeline < the CLI. The registry sits above the sinks because it is the one place that
names every plugin; plugins build on ``streamer.schema`` (the sections and the plugin
bases), below them all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "streamer"

# Lowest first. A module belongs to the first entry naming it or a package above it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("streamer", "streamer.errors", "streamer.redact", "streamer.backoff",
              "streamer.imaging", "streamer.cache", "streamer.health_state", "streamer.rate")),
    ("config sections", ("streamer.schema",)),
    ("stages", ("streamer.source", "streamer.detect", "streamer.track", "streamer.rules")),
    ("events", ("streamer.events", "streamer.clips")),
    ("sinks", ("streamer.sinks",)),
    ("registry", ("streamer.plugins", "streamer.config")),
    ("views", ("streamer.overlay", "streamer.monitor")),
    ("pipeline", ("streamer.pipeline", "streamer.runtime", "streamer.replay", "streamer.demo",
                  "streamer.assets", "streamer.snapshot")),
    ("cli", ("streamer.cli", "streamer.__main__")),
]
ORDER = ["base", "config sections", "stages", "events", "sinks", "registry", "views",
         "pipeline", "cli"]


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every streamer module ``path`` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "streamer"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "streamer":
                continue
            found.add(node.module)
            # `from streamer.sinks import jsonl` imports the module streamer.sinks.jsonl.
            found |= {f"{node.module}.{a.name}" for a in node.names} & known
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write it absolute")
    return found & known


def layer_of(module: str) -> str:
    best: tuple[int, str] | None = None
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), layer)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[1]


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(path, set(mods)) - {name} for name, path in mods.items()}


def test_every_module_has_a_layer() -> None:
    for module in modules():
        assert layer_of(module) in ORDER


def test_no_import_runs_from_a_lower_layer_to_a_higher_one() -> None:
    backwards = [
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
        for module, targets in sorted(graph().items())
        for target in sorted(targets)
        if ORDER.index(layer_of(target)) > ORDER.index(layer_of(module))
    ]
    assert not backwards, "imports against the layer order:\n" + "\n".join(backwards)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One ring of imports, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (ring := visit(target)) is not None:
                return ring
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (ring := visit(node)) is not None:
            return ring
    return None


def test_no_import_cycles() -> None:
    edges = graph()
    # A package's __init__ that re-exports its submodules is not a ring with them.
    for module in edges:
        edges[module] = {t for t in edges[module] if not module.startswith(t + ".")}
    ring = find_cycle(edges)
    assert ring is None, "import cycle: " + " -> ".join(ring or [])


def package_of(module: str) -> str:
    """``streamer.events.outbox`` -> ``streamer.events``; a top-level module (``streamer.runtime``)
    is a unit of its own, and the root ``streamer`` (``__version__``) belongs to none."""
    return ".".join(module.split(".")[:2])


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which package imports which, from the module graph (lazy imports included)."""
    out: dict[str, set[str]] = {}
    for module, targets in edges.items():
        source = package_of(module)
        for target in targets:
            into = package_of(target)
            if "streamer" not in (source, into) and into != source:
                out.setdefault(source, set()).add(into)
    return out


def test_no_import_cycles_between_packages() -> None:
    """Packages import one another one way only: ``streamer.events`` using ``streamer.config``
    while ``streamer.config`` uses ``streamer.events`` (even lazily, inside a function) would
    be a ring that no module-level check sees."""
    ring = find_cycle(package_graph(graph()))
    assert ring is None, "import cycle between packages: " + " -> ".join(ring or [])


def test_the_package_graph_joins_modules_into_their_packages() -> None:
    edges = {"streamer.a.x": {"streamer.b.y"}, "streamer.b.z": {"streamer.a"}, "streamer.c": {"streamer"}}
    graph_ = package_graph(edges)
    assert graph_ == {"streamer.a": {"streamer.b"}, "streamer.b": {"streamer.a"}}
    assert find_cycle(graph_) == ["streamer.a", "streamer.b", "streamer.a"]


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_the_cycle_finder_finds_rings(edges: dict[str, set[str]], expected: list[str] | None) -> None:
    assert find_cycle(edges) == expected


def test_a_lazy_import_counts(tmp_path: Path) -> None:
    """An import hidden inside a function is read like one at the top."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from streamer.runtime import Runtime\n", encoding="utf-8")
    assert imports_of(source, {"streamer.runtime"}) == {"streamer.runtime"}
