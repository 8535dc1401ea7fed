"""Results pages written by the benchmark scripts (benchmarks/publish.py): a page says what
wrote it, when and on what machine, then holds the script's own tables; and every results
page can be reached from the site (the benchmarks index and the nav)."""

from __future__ import annotations

import calendar
import re
import sys
from pathlib import Path

import publish  # benchmarks/publish.py, loaded by conftest.py
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = ROOT / "docs" / "results"

TABLE = "| K | detections/s |\n|---|---|\n| 1 | 3.50 |\n| 2 | 2.91 |\n"


def test_a_page_names_its_command_time_and_machine_then_holds_the_tables(tmp_path: Path) -> None:
    machine = publish.Machine("Test CPU @ 2.0GHz", 2, "1.21.0", (1.5, 0.75, 0.1))
    written = calendar.timegm((2026, 12, 6, 17, 50, 0))
    page = publish.publish("cameras-per-box-static", "Cameras per box, the static clip", TABLE,
                           docs=tmp_path, machine=machine, written=written,
                           command="python benchmarks/cameras_per_box.py --clip static --publish")

    assert page == tmp_path / "results" / "cameras-per-box-static.md"
    text = page.read_text(encoding="utf-8")
    title, intro, *rest = text.split("\n\n")
    assert title == "# Cameras per box, the static clip"
    for part in ("`benchmarks/cameras_per_box.py`", "not by hand",
                 "`python benchmarks/cameras_per_box.py --clip static --publish`",
                 "2026-12-06 17:50 UTC", "Test CPU @ 2.0GHz (2 cores)", "onnxruntime 1.21.0",
                 "load average 1.50 / 0.75 / 0.10", "before the run"):
        assert part in intro, part
    assert "\n\n".join(rest) == TABLE
    assert [p.name for p in (tmp_path / "results").iterdir()] == [page.name]  # no half-page
    assert page.stat().st_mode & 0o777 == 0o644  # readable by the server of the site


def test_publishing_again_replaces_the_page(tmp_path: Path) -> None:
    publish.publish("rules", "Rules", "old figures", docs=tmp_path)
    publish.publish("rules", "Rules", "new figures", docs=tmp_path)
    text = (tmp_path / "results" / "rules.md").read_text(encoding="utf-8")
    assert "new figures" in text and "old figures" not in text
    assert "onnxruntime " in text and f"({publish.BEFORE.cores} cores)" in text


def test_a_page_name_that_is_no_plain_file_name_is_refused(tmp_path: Path) -> None:
    for name in ("../index", "Rules", "a b", ""):
        with pytest.raises(ValueError, match="results page name"):
            publish.publish(name, "x", "y", docs=tmp_path)
    assert not (tmp_path / "index.md").exists()


def test_the_command_is_written_as_typed_from_the_repository_root() -> None:
    argv = [str(BENCHMARKS / "tamper.py"), "--detector", "onnx", "--publish"]
    assert publish.command_line(argv) == "python benchmarks/tamper.py --detector onnx --publish"


def test_what_a_script_prints_is_kept_for_its_page() -> None:
    with publish.Transcript() as printed:
        print("clip    recall  count")
        print("vtest   0.958   0.989", flush=True)
    assert printed.text == "clip    recall  count\nvtest   0.958   0.989\n"
    assert publish.text_block(printed.text) == (
        "```text\nclip    recall  count\nvtest   0.958   0.989\n```\n")


def test_with_publish_a_script_prints_as_usual_and_its_page_holds_its_tables_and_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(publish, "DOCS", tmp_path)

    def main() -> int:
        print("clip    recall")
        print("vtest   0.958")
        publish.summary(publish.markdown_table(("clip", "recall"), [("vtest", "0.958")]))
        return 0

    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / "int8_parity.py"), "--clips", "vtest"])
    assert publish.run(main, "int8-parity", "int8 against fp32") == 0
    assert not (tmp_path / "results").exists()  # without --publish: printed only

    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / "int8_parity.py"), "--clips", "vtest", "--publish"])
    assert publish.run(main, "int8-parity", "int8 against fp32") == 0
    printed = capsys.readouterr().out
    assert printed.count("clip    recall\nvtest   0.958\n") == 2
    page = (tmp_path / "results" / "int8-parity.md").read_text(encoding="utf-8")
    assert "`python benchmarks/int8_parity.py --clips vtest --publish`" in page
    assert page.endswith("| clip | recall |\n| --- | --- |\n| vtest | 0.958 |\n\n"
                         "## What it printed\n\n```text\nclip    recall\nvtest   0.958\n```\n")
    assert f"published {tmp_path / 'results' / 'int8-parity.md'}" in printed


def test_a_run_that_fails_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "DOCS", tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmarks/rules.py", "--publish"])
    assert publish.run(lambda: 1, "rules", "Rules") == 1
    assert not (tmp_path / "results").exists()


def nav_pages(entries: object) -> list[str]:
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in nav_pages(value)]
    return []


def test_every_results_page_is_linked_from_the_index_and_listed_in_the_nav() -> None:
    pages = sorted(path.name for path in RESULTS.glob("*.md"))
    assert pages
    index = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    nav = nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    unlinked = [name for name in pages if f"(results/{name})" not in index]
    unlisted = [name for name in pages if f"results/{name}" not in nav]
    assert not unlinked, f"docs/benchmarks.md links no results/{unlinked}"
    assert not unlisted, f"mkdocs.yml's nav lists no results/{unlisted}"


def test_every_script_that_publishes_has_its_page() -> None:
    """Before a script's first run with --publish its page says how to make it, so the
    links stay whole; a script that publishes under a new name needs that page."""
    names: set[str] = set()
    for script in BENCHMARKS.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        names.update(re.findall(r'run\(main, "([a-z0-9-]+)"', source))
        if 'f"cameras-per-box-{args.clip}"' in source:
            clips = re.search(r'"--clip", choices=\(([^)]*)\)', source)
            assert clips is not None
            names.update(f"cameras-per-box-{clip}" for clip in re.findall(r'"(\w+)"', clips[1]))
    assert len(names) >= 15
    missing = sorted(name for name in names if not (RESULTS / f"{name}.md").is_file())
    assert not missing, f"no docs/results/ page for {missing}"
