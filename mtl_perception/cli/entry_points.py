"""The console scripts, each a thin wrapper that names the missing extra in one line.

Why: the node installs without torch (a Jetson needs none), so a workstation command started
from a runtime-only install must say what to install instead of ending in an ImportError
traceback. Each command imports its module only when it runs, so listing the commands costs
nothing and every one of them exists in every install.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from mtl_perception.common.cli_args import EXIT_RUNTIME, run_cli

DIST = "mtl_perception"
# top-level module -> the extra of setup.py that installs it
EXTRA_OF_MODULE = {
    "torch": "training",
    "torchvision": "training",
    "onnx": "training",
    "onnxslim": "training",
    "rosbags": "tools",
    "pycocotools": "tools",
    "tqdm": "tools",
    "matplotlib": "tools",
    "onnxruntime": "onnxruntime",
}


def missing_extra_message(prog: str, exc: ModuleNotFoundError) -> str | None:
    """The one line for a module that an extra provides, or None for any other import error."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return (f"{prog}: needs the '{extra}' extra ({top} is not installed): "
            f"pip install '{DIST}[{extra}]'")


def run_tool(prog: str, module: str, func: str = "main") -> int:
    """Import ``module`` and run its ``func``: a missing extra or a ``MtlError`` is one line."""
    try:
        entry = getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as exc:
        line = missing_extra_message(prog, exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_RUNTIME
    return run_cli(prog, lambda _argv: entry())


def _entry(prog: str, module: str) -> Callable[[], int]:
    def main() -> int:
        return run_tool(prog, module)

    main.__name__ = prog.replace("-", "_")
    main.__doc__ = f"``{prog}``: {module}.main"
    return main


mtl_synth = _entry("mtl-synth", "mtl_perception.synth.generate")
mtl_train = _entry("mtl-train", "mtl_perception.training.engine.trainer")
mtl_eval = _entry("mtl-eval", "mtl_perception.training.engine.evaluate")
mtl_export = _entry("mtl-export", "mtl_perception.deploy.export")
mtl_quantize = _entry("mtl-quantize", "mtl_perception.deploy.quantize")
mtl_build_engine = _entry("mtl-build-engine", "mtl_perception.deploy.build_engine")
mtl_bdd2bag = _entry("mtl-bdd2bag", "mtl_perception.devtools.bdd2bag")
mtl_play = _entry("mtl-play", "mtl_perception.devtools.play")
mtl_offline = _entry("mtl-offline", "mtl_perception.evaluation.offline")
mtl_bench = _entry("mtl-bench", "mtl_perception.devtools.bench.main")
mtl_demo = _entry("mtl-demo", "mtl_perception.devtools.demo.main")
