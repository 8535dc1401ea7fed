"""The package's shape, read from its source: no class longer than 300 lines and no
function longer than 80, so each piece stays one job a reader holds in their head.

Lines are counted from the ``def``/``class`` line to the last line of the body
(decorators excluded), docstrings and comments included: they are read too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "streamer"

MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 80

# Pieces allowed over the limit while the work that splits them is under way, as
# "path::qualname". Empty: keep it so; an entry is a debt with a named end, and the test
# below fails once the piece is split, so an entry cannot outlive its reason.
KNOWN_OVER: frozenset[str] = frozenset()


def oversized(root: Path) -> list[tuple[str, str, int, int]]:
    """``(path::qualname, "class"/"function", first line, lines)`` of every class over
    ``MAX_CLASS_LINES`` and every function or method over ``MAX_FUNCTION_LINES`` under
    ``root``, nested ones included."""
    found: list[tuple[str, str, int, int]] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        _visit(tree, "", path.relative_to(root.parent).as_posix(), found)
    return found


def _visit(node: ast.AST, prefix: str, relative: str, found: list[tuple[str, str, int, int]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            kind, limit = "class", MAX_CLASS_LINES
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kind, limit = "function", MAX_FUNCTION_LINES
        else:
            _visit(child, prefix, relative, found)
            continue
        name = f"{prefix}{child.name}"
        lines = (child.end_lineno or child.lineno) - child.lineno + 1
        if lines > limit:
            found.append((f"{relative}::{name}", kind, child.lineno, lines))
        _visit(child, name + ".", relative, found)


def test_no_class_over_300_lines_and_no_function_over_80() -> None:
    over = [entry for entry in oversized(PACKAGE) if entry[0] not in KNOWN_OVER]
    lines = [
        f"{name.split('::')[0]}:{line}: {kind} {name.split('::')[1]} is {count} lines "
        f"(limit {MAX_CLASS_LINES if kind == 'class' else MAX_FUNCTION_LINES}); split it by job"
        for name, kind, line, count in over
    ]
    assert not lines, "\n".join(lines)


def test_every_known_exception_is_still_over() -> None:
    """An entry whose piece was split (or renamed) is taken off the list."""
    current = {entry[0] for entry in oversized(PACKAGE)}
    stale = sorted(KNOWN_OVER - current)
    assert not stale, f"no longer over the limit, remove from KNOWN_OVER: {stale}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n" + "    x = 1\n" * 80, [("function", 1, 81)]),
        ("def f():\n" + "    x = 1\n" * 79, []),
        ("class C:\n    def m(self):\n" + "        x = 1\n" * 80,
         [("function", 2, 81)]),
        ("class C:\n" + "    x = 1\n" * 300, [("class", 1, 301)]),
    ],
)
def test_the_counter_finds_long_pieces(
    tmp_path: Path, source: str, expected: list[tuple[str, int, int]]
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text(source, encoding="utf-8")
    assert [entry[1:] for entry in oversized(package)] == expected
