"""PNG plots of the training log and of PR curves (matplotlib, headless)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def log_figure(rows: list[dict[str, str]]) -> Any:
    """Losses, validation metrics and the learning rate per epoch, with the phase boundary
    marked: the total loss drops there because the segmentation terms leave the sum."""
    epochs = [int(r["epoch"]) for r in rows]
    fig, (ax_l, ax_m, ax_lr) = plt.subplots(1, 3, figsize=(16, 4.5))
    for key in rows[0]:
        values = [r.get(key, "") for r in rows]
        pts = [(e, float(v)) for e, v in zip(epochs, values, strict=True) if v not in ("", None)]
        if not pts or key in ("epoch", "phase", "time_s"):
            continue
        ax = ax_lr if key == "lr" else ax_l if key.startswith("loss_") else \
            ax_m if key.startswith("val_") else None
        if ax is not None:
            ax.plot(*zip(*pts, strict=True), marker="." if len(pts) < 30 else None, label=key)
    ax_l.set(title="training losses", xlabel="epoch", yscale="log")
    ax_m.set(title="validation metrics", xlabel="epoch", ylim=(0, 1))
    ax_lr.set(title="learning rate (at epoch start)", xlabel="epoch", yscale="log")
    phase2 = [e for e, r in zip(epochs, rows, strict=True) if str(r.get("phase")) == "2"]
    if phase2 and phase2[0] > epochs[0]:
        for ax in (ax_l, ax_m, ax_lr):
            ax.axvline(phase2[0] - 0.5, color="grey", linestyle="--",
                       label="phase 2: seg heads frozen" if ax is ax_l else None)
    for ax in (ax_l, ax_m, ax_lr):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_log(csv_path: str | Path, png_path: str | Path) -> None:
    """``log.csv`` as ``curves.png`` (see :func:`log_figure`)."""
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    fig = log_figure(rows)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def plot_pr_curves(curves: dict[str, dict[str, Any] | None], png_path: str | Path) -> None:
    """Precision-recall at IoU 0.5, one line per named curve (e.g. all classes, vehicle)."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, curve in curves.items():
        if curve and curve.get("precision"):
            ax.plot(curve["recall"], curve["precision"], label=name)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title="PR curve @ IoU 0.5 (mean over classes)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
