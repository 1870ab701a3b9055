"""package.xml declares exactly what the runtime imports, so rosdep installs what the node needs."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = [ROOT / "mtl_perception" / d for d in ("inference", "ros", "common")]
RUNTIME += [ROOT / "mtl_perception" / "ros/dds_env.py", ROOT / "launch"]
# Python module -> rosdep key, where the two differ
ROSDEP_KEY = {"numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml"}
# Backends the node loads lazily when asked for; none of them is a rosdep key.
OPTIONAL_BACKENDS = {"onnxruntime", "tensorrt", "pycuda"}


def _runtime_files() -> list[Path]:
    files: list[Path] = []
    for path in RUNTIME:
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def runtime_imports() -> set[str]:
    """Top-level third-party modules the runtime imports (stdlib and the package left out)."""
    found: set[str] = set()
    for path in _runtime_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "mtl_perception"
            and m != "__future__"}


def declared_exec_depends() -> set[str]:
    root = ET.parse(ROOT / "package.xml").getroot()
    return {e.text.strip() for tag in ("exec_depend", "depend") for e in root.iter(tag)
            if e.text}


def test_package_xml_lists_exactly_the_runtime_imports() -> None:
    needed = {ROSDEP_KEY.get(m, m) for m in runtime_imports() - OPTIONAL_BACKENDS}
    declared = declared_exec_depends()
    assert not needed - declared, f"imported but not in package.xml: {sorted(needed - declared)}"
    assert not declared - needed, f"in package.xml but never imported: {sorted(declared - needed)}"


def test_optional_backends_are_imported_lazily() -> None:
    """A module-level import of a backend would make it a hard dependency of the node."""
    eager = []
    for path in _runtime_files():
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            eager += [f"{path.relative_to(ROOT)}: {n}" for n in names if n in OPTIONAL_BACKENDS]
    assert not eager, eager
