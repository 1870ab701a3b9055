"""The layer table of docs/architecture.md, checked on the source itself, row by row.

Each folder of the package may import only the folders below it in the table, and the
torch-free / ROS-free layers never import torch or rclpy, not even lazily inside a function.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "mtl_perception"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# folder -> the package folders it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "inference": {"common"},
    "ros": {"common", "inference"},
    "io": {"common", "inference"},
    "evaluation": {"common", "inference", "io"},
    "synth": {"common", "io"},
    "training": {"common", "inference", "io", "evaluation", "synth"},
    "deploy": {"common", "inference", "io", "evaluation", "training"},
    "devtools": {"common", "inference", "ros", "io", "evaluation", "synth", "training",
                 "deploy"},
    "cli": {"common", "inference", "ros", "io", "evaluation", "synth", "training", "deploy",
            "devtools"},
}
# folder -> third-party modules it never imports
THIRD_PARTY_BANNED: dict[str, set[str]] = {
    "common": {"torch", "torchvision", "onnx", "rclpy", "cv2"},
    "inference": {"torch", "torchvision", "onnx", "rclpy"},
    "ros": {"torch", "torchvision", "onnx"},
    "io": {"torch", "torchvision", "rclpy"},
    "evaluation": {"torch", "torchvision", "rclpy"},
    "synth": {"torch", "torchvision", "rclpy"},
    "training": {"rclpy"},
    "deploy": {"rclpy"},
}
# single modules that run where their folder's extras are absent (the Jetson: no torch)
MODULE_BANNED: dict[str, set[str]] = {
    "deploy/build_engine.py": {"torch", "torchvision", "onnx", "mtl_perception.training"},
    "deploy/calibration.py": {"torch", "torchvision", "onnx", "mtl_perception.training"},
}


def imported_modules(path: Path) -> set[str]:
    """Every absolute import in a file, including those inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; name the layer"
            if node.module:
                names.add(node.module)
    return names


def layer_violations(folder: str, files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        where = path.relative_to(PKG) if PKG in path.parents else path.name
        for name in sorted(imported_modules(path)):
            parts = name.split(".")
            if parts[0] == "mtl_perception" and len(parts) > 1:
                target = parts[1]
                if target != folder and target not in ALLOWED[folder] and target != "__init__":
                    bad.append(f"{where} imports {name} ({target} is not "
                               f"below {folder} in the layer table)")
            elif parts[0] in THIRD_PARTY_BANNED.get(folder, set()):
                bad.append(f"{where} imports {name}")
    return bad


def test_every_folder_is_in_the_table() -> None:
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(ALLOWED), "add the folder to ALLOWED and to docs/architecture.md"
    loose = sorted(p.name for p in PKG.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside any layer folder: {loose}"


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folder_imports_only_the_layers_below_it(folder: str) -> None:
    bad = layer_violations(folder, sorted((PKG / folder).rglob("*.py")))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(MODULE_BANNED))
def test_jetson_side_modules_stay_torch_free(module: str) -> None:
    names = imported_modules(PKG / module)
    bad = [n for n in names for b in MODULE_BANNED[module] if n == b or n.startswith(b + ".")]
    assert not bad, f"{module} imports {bad}"


def test_a_violation_is_caught(tmp_path: Path) -> None:
    """The checker itself: an upward import in a scratch file is reported."""
    scratch = tmp_path / "violation.py"
    scratch.write_text("def f():\n    from mtl_perception.training.model import network\n")
    bad = layer_violations("inference", [scratch])
    assert bad and "training is not below inference" in bad[0]


def test_table_in_docs_matches_the_checked_one() -> None:
    """docs/architecture.md's layer table lists the same 'may import' sets as ALLOWED."""
    rows = {}
    for line in ARCHITECTURE.read_text().splitlines():
        m = re.match(r"\| [^|]* \| `mtl_perception/(\w+)/` \|([^|]*)\|", line)
        if m:
            rows[m.group(1)] = set(re.findall(r"`(\w+)`", m.group(2)))
    assert rows == ALLOWED
