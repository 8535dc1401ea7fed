"""The config reference page and `streamer schema` come from the models, never by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamer.cli import main
from streamer.config.reference import config_json_schema, config_reference_markdown
from streamer.plugins import PLUGINS

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "config.md"


def test_the_published_reference_is_the_generated_one() -> None:
    generated = config_reference_markdown()
    published = PAGE.read_text(encoding="utf-8")
    assert published == generated, (
        "docs/reference/config.md differs from the config models; regenerate it with "
        "`streamer schema --markdown -o docs/reference/config.md`"
    )


def test_every_key_of_every_plugin_is_in_the_reference() -> None:
    page = config_reference_markdown()
    for group in (PLUGINS.models, PLUGINS.rules, PLUGINS.sinks):
        for model in group:
            for key in model.model_fields:
                assert f"| `{key}` |" in page, f"{model.__name__}.{key} missing"


def test_schema_command_prints_json_schema_an_editor_can_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False  # a typo is an error in the editor too
    assert {"camera", "models", "rules", "sinks"} <= set(schema["properties"])
    assert schema == json.loads(json.dumps(config_json_schema()))


def test_schema_command_writes_the_markdown_page(tmp_path: Path) -> None:
    target = tmp_path / "config.md"
    assert main(["schema", "--markdown", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == config_reference_markdown()


def test_schema_command_names_a_file_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "-o", str(tmp_path / "missing" / "x.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and "Traceback" not in err
