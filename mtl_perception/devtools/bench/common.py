"""What every benchmark shares: its error class, the machine line, the section frame.

Every table and section names the command that produced it and the machine it ran on, since
absolute timings belong to that machine; ``machine()`` is that line and ``section()`` the
frame (title, command, machine, run time) around a table.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

from mtl_perception.common.errors import MtlError


class BenchError(MtlError, RuntimeError):
    """A benchmark could not run or measure (one line, exit status 1)."""


def default_cache_dir() -> str:
    """Where exported benchmark models are cached (``$MTL_CACHE_DIR/bench``)."""
    root = os.environ.get("MTL_CACHE_DIR", str(Path.home() / ".cache" / "mtl_perception"))
    return root + "/bench"


def machine() -> str:
    """CPU, logical CPUs, GPU if any, kernel, Python and onnxruntime versions, in one line."""
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    if shutil.which("nvidia-smi"):
        q = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                           capture_output=True, text=True, check=False)
        gpu = f", GPU {q.stdout.strip()}" if q.returncode == 0 else ""
    import onnxruntime

    return (f"{cpu}, {os.cpu_count()} logical CPUs{gpu}; Linux {platform.release()}, "
            f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}")


def run_line(started: float, finished: float | None = None) -> str:
    """``Run: 2026-12-03 13:50, 86 s``: when a measurement started and how long it took."""
    took = (time.time() if finished is None else finished) - started
    return f"Run: {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}, {took:.0f} s"


def section(title: str, command: str, body: list[str], machine_line: str,
            run: str) -> str:
    """One section of docs/benchmarks.md: title, command, machine, run, then the body."""
    return "\n".join([f"## {title}", "", f"Command: `{command}`  ", f"Machine: {machine_line}  ",
                      run, "", *body, ""])
