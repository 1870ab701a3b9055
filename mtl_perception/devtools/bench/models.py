"""Models for the benchmarks: exported once per (recipe, resolution, tasks) and cached.

Why: latency and memory do not depend on trained weights, so the benchmarks export
randomly initialized models from the repo's recipes (no download, no training) and reuse
them across runs. torch is imported only here, inside functions.

* ``contract_model``: the node's graph (``mtl-export``'s export_model: uint8 in, decoded boxes,
  argmax masks), used for latency, so the table times what the node runs.
* ``raw_model``: the network's own outputs (detection maps, mask logits) for any ``tasks``
  subset, used for multi-task vs single-task, where the contract graph (which needs all
  three tasks) cannot be built.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mtl_perception.common.package_data import data_path

# Short names: the paper's two recipes, and the deployment recipe built for speed.
RECIPES = {"mobilenetv2": "mobilenetv2_bifpn.yaml", "resnet50": "resnet50_bifpn.yaml",
           "mobilenetv2_fast": "mobilenetv2_bifpn_fast.yaml"}
# What each recipe's speed is compared with: the paper's recipe of the same backbone.
FAITHFUL = {"mobilenetv2_fast": "mobilenetv2"}


def recipe_path(name_or_path: str) -> Path:
    """A benchmark recipe by short name (installed with the package), or a YAML path."""
    known = RECIPES.get(name_or_path)
    return data_path("config", "models", known) if known else Path(name_or_path)


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _recipe(name_or_path: str, hw: tuple[int, int], tasks: list[str] | None = None) -> dict:
    from mtl_perception.training.config.recipe import load_recipe, normalize_recipe, with_input_size

    path = recipe_path(name_or_path)
    recipe = with_input_size(load_recipe(path), hw)
    recipe["backbone"] = {**recipe["backbone"], "pretrained": False}
    if tasks is not None:
        recipe["tasks"] = list(tasks)
    return normalize_recipe(recipe)


def contract_model(recipe: str, hw: tuple[int, int], cache: Path) -> Path:
    """The node's ONNX graph for ``recipe`` at ``hw`` (random weights), cached."""
    path = cache / f"{Path(recipe).stem}_{hw[0]}x{hw[1]}_{_key(recipe, hw, 'c1')}.onnx"
    if path.is_file():
        return path
    import torch

    from mtl_perception.deploy.export import export_model
    from mtl_perception.training.model.network import build_model

    torch.manual_seed(0)
    cache.mkdir(parents=True, exist_ok=True)
    export_model(build_model(_recipe(recipe, hw)).eval(), path, hw)
    return path


def raw_model(recipe: str, hw: tuple[int, int], tasks: list[str], cache: Path) -> Path:
    """ONNX of the network's raw head outputs for a ``tasks`` subset (float NCHW input)."""
    tag = "+".join(tasks)
    path = cache / f"{Path(recipe).stem}_{tag}_{hw[0]}x{hw[1]}_{_key(recipe, hw, tasks)}.onnx"
    if path.is_file():
        return path
    import torch

    from mtl_perception.training.model.network import build_model

    torch.manual_seed(0)
    model = build_model(_recipe(recipe, hw, tasks)).eval()

    class Flat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.model(x)
            flat: list[torch.Tensor] = []
            for key in ("det", "drivable", "lane"):
                value = out.get(key)
                if value is None:
                    continue
                flat.extend(value if isinstance(value, list | tuple) else [value])
            return tuple(flat)

    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with torch.no_grad():
        torch.onnx.export(Flat().eval(), (torch.zeros(1, 3, *hw),), str(tmp), opset_version=17,
                          input_names=["input"], do_constant_folding=True, dynamo=False)
    tmp.replace(path)
    return path


def model_file_mb(path: Path) -> float:
    return path.stat().st_size / 1e6
