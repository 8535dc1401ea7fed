"""The worked examples in configs/ validate, through the real `streamer validate`.

Each is a site's starting point (PPE, forklift lane, crowding, line counting at a gate);
a rule type or key renamed later must break this test, not the operator's first start.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, run_cli

from streamer.config import load_config
from streamer.config.models import MissingPpeRuleConfig, RoboflowModelConfig

pytestmark = pytest.mark.integration

EXAMPLES = sorted(path for path in (ROOT / "configs").glob("*.yaml") if path.name != "demo.yaml")
# What an operator exports before the first start; every other ${VAR} has a default.
SITE_ENV = {"ROBOFLOW_API_KEY": "rf_example_key"}


def test_the_four_worked_examples_are_there() -> None:
    names = {path.stem for path in EXAMPLES}
    assert {"ppe", "forklift-lane", "crowding", "gate-line"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_validates(path: Path) -> None:
    """With the demo's person model in place (`validate` reads its class names: Normal and
    Fall, which each example maps to person). A Roboflow model needs the `roboflow` extra:
    without it the only complaint is that, one line per such model."""
    from streamer.assets import person_model

    result = run_cli("validate", str(path), env={**SITE_ENV, "PERSON_MODEL": str(person_model())})
    roboflow = path.read_text().count("kind: roboflow")
    if roboflow and importlib.util.find_spec("inference") is None:
        assert result.returncode == 2
        lines = result.stderr.splitlines()
        assert len(lines) == roboflow, result.stderr
        assert all(".kind: kind roboflow needs the inference package" in line for line in lines)
        return
    assert result.returncode == 0, result.stderr
    assert f"{path}: ok" in result.stdout


def test_ppe_example_gates_the_ppe_model_on_people_and_names_its_classes() -> None:
    config = load_config(ROOT / "configs" / "ppe.yaml", env=SITE_ENV)
    people, ppe = config.models
    assert isinstance(ppe, RoboflowModelConfig)
    assert ppe.when == people.id and ppe.every_n_frames == 2
    # Universe PPE names mapped onto the rule's words; the model's own Person dropped.
    assert ppe.class_map["NO-Hardhat"] == "no-helmet" and "person" not in (ppe.classes or [])
    rule = config.rules[0]
    assert isinstance(rule, MissingPpeRuleConfig)
    assert set(rule.required) | set(rule.violation_classes) <= set(ppe.classes or [])


def test_ppe_example_without_the_api_key_names_the_variable() -> None:
    env = {name: value for name, value in os.environ.items() if name != "ROBOFLOW_API_KEY"}
    result = subprocess.run([sys.executable, "-m", "streamer", "validate",
                             str(ROOT / "configs" / "ppe.yaml")],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "ROBOFLOW_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_the_model_only_when_something_moves(path: Path) -> None:
    from streamer.detect.gate import detect_plan

    plan = detect_plan(load_config(path, env=SITE_ENV))
    assert (plan.mode, plan.motion, plan.fps) == ("monitoring", True, 5.0)


def test_the_demo_opts_in_to_motion_gating_though_it_reads_a_file() -> None:
    from streamer.config import parse_config
    from streamer.demo import demo_config_text
    from streamer.detect.gate import detect_plan

    env = {"STREAMER_DEMO_VIDEO": "/tmp/bikes.mp4", "STREAMER_DEMO_MODEL": "/tmp/person.onnx",
           "STREAMER_DEMO_OUT": "/tmp/demo-out"}
    plan = detect_plan(parse_config(demo_config_text(), source_name="demo.yaml", env=env))
    assert (plan.mode, plan.motion) == ("analysis", True)
