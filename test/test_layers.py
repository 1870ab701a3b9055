"""The layer boundaries in docs/architecture.md, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mtl_perception"
FORBIDDEN = {
    "inference": {"torch", "torchvision", "rclpy", "mtl_perception.training",
                  "mtl_perception.ros", "mtl_perception.devtools"},
    "ros": {"torch", "torchvision", "mtl_perception.training"},
    # shared by every layer, so it may import none of them
    "common": {"torch", "torchvision", "rclpy", "mtl_perception.training",
               "mtl_perception.ros", "mtl_perception.devtools", "mtl_perception.inference"},
    "evaluation": {"torch", "torchvision", "rclpy", "mtl_perception.training",
                   "mtl_perception.ros", "mtl_perception.devtools"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_never_imports_forbidden_modules(layer: str) -> None:
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(PKG)} imports {name}")
    assert not bad, "\n".join(bad)
