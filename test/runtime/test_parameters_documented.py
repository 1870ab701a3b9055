"""Every parameter of the node's table is in config/perception.yaml and docs/parameters.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from mtl_perception.ros.parameters import PARAMS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("spec", PARAMS, ids=lambda s: s.name)
def test_parameter_in_config_and_docs(spec) -> None:
    config = (ROOT / "config" / "perception.yaml").read_text()
    # set (`name: value`) or, for parameters unset by default, shown commented out
    assert re.search(rf"^\s*(# )?{spec.name}:", config, re.M), f"{spec.name} not in the yaml"
    docs = (ROOT / "docs" / "parameters.md").read_text()
    assert f"| `{spec.name}` |" in docs, f"{spec.name} has no row in docs/parameters.md"
