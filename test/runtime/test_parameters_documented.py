"""config/perception.yaml and docs/parameters.md say what the node's parameter table says.

The table in ``ros/parameters.py`` is the one definition: the yaml must set every parameter
to the node's own default (or show it commented out when it is unset by default), and the
docs' row must show the same default, the same run-time flag and the same choices.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
yaml = pytest.importorskip("yaml")

from mtl_perception.ros.parameters import PARAMS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "perception.yaml"
DOCS = ROOT / "docs" / "parameters.md"


def _yaml_params() -> dict:
    return yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]


def _docs_rows() -> dict:
    rows = {}
    for line in DOCS.read_text().splitlines():
        m = re.match(r"\| `(\w+)` \|([^|]+)\|([^|]+)\|([^|]*)\|([^|]+)\|", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.groups()[1:]]
    return rows


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'`"{value}"`' if value == "" else f"`{value}`"
    return str(value)


@pytest.mark.parametrize("spec", PARAMS, ids=lambda s: s.name)
def test_yaml_sets_the_node_default(spec) -> None:
    params = _yaml_params()
    if spec.default is None or spec.default == [] or spec.name not in params:
        # unset by default: only shown, commented out
        assert re.search(rf"^\s*# {spec.name}:", CONFIG.read_text(), re.M), spec.name
        assert spec.name not in params or spec.default in (None, []), spec.name
    else:
        assert params[spec.name] == spec.default, f"{spec.name}: yaml {params[spec.name]!r}"


def test_yaml_has_nothing_the_node_does_not_declare() -> None:
    assert set(_yaml_params()) <= {s.name for s in PARAMS}


@pytest.mark.parametrize("spec", PARAMS, ids=lambda s: s.name)
def test_docs_row_matches_the_table(spec) -> None:
    rows = _docs_rows()
    assert spec.name in rows, f"{spec.name} has no row in docs/parameters.md"
    _type, default, choices, run_time = rows[spec.name]
    if spec.default not in (None, []):
        assert default.strip("`") == _shown(spec.default).strip("`"), (spec.name, default)
    assert (run_time == "read-only") == spec.read_only, (spec.name, run_time)
    for choice in spec.choices:
        assert choice in choices, (spec.name, choice, choices)
