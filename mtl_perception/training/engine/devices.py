"""Device selection: ``cpu``, ``cuda`` and ``cuda:N`` only, and a GPU that is asked for but
not usable stops the run with one line saying why (no silent fall-back to the CPU)."""

from __future__ import annotations

import os
import re

import torch

from mtl_perception.common.errors import MtlError


class DeviceError(MtlError, RuntimeError):
    """The device asked for is not usable (``usage`` = it is not even a device name)."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage
        self.exit_code = 2 if usage else 1  # a misspelt device is a usage error


def parse_device(text: str | None) -> tuple[str, int | None]:
    """(``cpu``/``cuda``/``auto``, index or None); anything else is a usage error."""
    if text is None:
        return "auto", None
    m = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", text.strip())
    if m is None or (m.group(1) == "cpu" and m.group(2) is not None):
        raise DeviceError(f"unknown device {text!r}; use cpu, cuda or cuda:N", usage=True)
    return m.group(1), int(m.group(2)) if m.group(2) is not None else None


def cuda_unusable_reason(index: int | None = None) -> str | None:
    """Why ``cuda[:index]`` cannot be used here, or None when it can."""
    if torch.version.cuda is None:
        return f"this PyTorch build ({torch.__version__}) has no CUDA support"
    try:
        available = torch.cuda.is_available()
        count = torch.cuda.device_count()
    except Exception as exc:  # a broken driver raises here on some installs
        return f"CUDA does not initialize: {str(exc).strip().splitlines()[0]}"
    if not available or count == 0:
        hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
        return "no CUDA device is visible" + (
            f" (CUDA_VISIBLE_DEVICES={hidden!r})" if hidden is not None else
            " (is the NVIDIA driver loaded?)")
    if index is not None and index >= count:
        return f"there is no GPU {index}: {count} visible (cuda:0..cuda:{count - 1})"
    return None


def resolve_device(text: str | None, local_rank: int | None = None) -> torch.device:
    """The torch device for ``--device TEXT`` (None = cuda when usable, else cpu).

    Under torchrun (``local_rank`` given) ``cuda`` means this rank's GPU.
    """
    kind, index = parse_device(text)
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "auto":
        if cuda_unusable_reason() is not None:
            return torch.device("cpu")
        kind = "cuda"
    if local_rank is not None and index is None:
        index = local_rank
    reason = cuda_unusable_reason(index)
    if reason is not None:
        raise DeviceError(f"--device {text or 'cuda'} is not usable: {reason}")
    return torch.device("cuda", index if index is not None else torch.cuda.current_device())


def describe(device: torch.device, amp: bool) -> str:
    """'cuda:0 (NVIDIA ...), precision fp16 autocast' / 'cpu (N threads), precision fp32'."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"{device} ({name}), precision " + ("fp16 autocast (AMP)" if amp else "fp32")
    return f"cpu ({torch.get_num_threads()} threads), precision fp32"
