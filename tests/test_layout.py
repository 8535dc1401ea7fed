"""The tests mirror the package, so the tests of a module are found by its path: those of
``streamer/events/sender.py`` in ``tests/events/test_sender*.py``, those of a top-level module
such as ``streamer/redact.py`` in ``tests/test_redact*.py``. Only the few tests that cut across
the whole project live at the top without a module of their own (tests/README.md)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PACKAGE = ROOT / "streamer"

# Top-level tests that check the project as a whole, not one module.
CROSS_CUTTING = {
    "test_configs_examples.py",  # every worked example in configs/ validates
    "test_docker_image.py",  # the edge image, built and run
    "test_layers.py",  # imports point downstream, lazy ones included
    "test_layout.py",  # this file
    "test_packaging.py",  # the wheel carries every subpackage
    "test_secret_scan.py",  # a real run, every output searched for planted secrets
    "test_structure.py",  # no class over 300 lines, no function over 80
}
# Folders of tests/ that hold no package's tests: the shared helpers, and the tests of the
# scripts in deploy/ and benchmarks/ (tests/deploy/test_<script>.py, tests/benchmarks/...).
NOT_A_PACKAGE = {"support": TESTS / "support", "deploy": ROOT / "deploy",
                 "benchmarks": ROOT / "benchmarks"}


def names_a_module(stem: str, folder: Path, packages: bool = True) -> bool:
    """``test_<module>`` or ``test_<module>_<aspect>`` naming a module that is in ``folder``
    (or a subpackage, unless ``packages`` is false: a package's tests have a folder)."""
    words = stem.removeprefix("test_").split("_")
    candidates = ("_".join(words[:n]) for n in range(1, len(words) + 1))
    return any((folder / f"{name}.py").is_file()
               or (packages and (folder / name / "__init__.py").is_file()) for name in candidates)


def test_a_top_level_test_file_tests_a_top_level_module_or_the_whole_project() -> None:
    misplaced = [path.name for path in sorted(TESTS.glob("test_*.py"))
                 if path.name not in CROSS_CUTTING
                 and not names_a_module(path.stem, PACKAGE, packages=False)]
    assert not misplaced, (
        f"{', '.join(f'tests/{name}' for name in misplaced)}: a module's tests go beside the module's path, tests/<package>/"
        "test_<module>[_<aspect>].py (or tests/test_<module>.py for a top-level module); "
        "a test of the whole project belongs in CROSS_CUTTING in tests/test_layout.py")


def test_each_folder_of_tests_is_named_for_a_package() -> None:
    folders = [path for path in sorted(TESTS.iterdir())
               if path.is_dir() and not path.name.startswith((".", "_"))]
    strays = [path.name for path in folders
              if path.name not in NOT_A_PACKAGE and not (PACKAGE / path.name / "__init__.py").is_file()]
    assert not strays, (f"{', '.join(f'tests/{name}/' for name in strays)}: no streamer/<name>/ "
                        "package of that name; a package's tests are in tests/<package>/, "
                        "shared helpers in tests/support/")
    assert all(folder.is_dir() for folder in NOT_A_PACKAGE.values())


def test_the_layout_check_refuses_a_theme_name_and_takes_a_module_name() -> None:
    assert names_a_module("test_redact", PACKAGE)
    assert names_a_module("test_sender_faults", PACKAGE / "events")
    assert names_a_module("test_int8", PACKAGE / "detect")  # a subpackage
    assert not names_a_module("test_delivery_faults", PACKAGE)
    assert not names_a_module("test_hostile_config", PACKAGE)
    assert not names_a_module("test_schema", PACKAGE, packages=False)  # tests/schema/ has them
