"""PNG plots of the training log and of PR curves (matplotlib, headless)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_log(csv_path: str | Path, png_path: str | Path) -> None:
    """One panel for losses, one for validation metrics, x = epoch."""
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epochs = [int(r["epoch"]) for r in rows]
    fig, (ax_l, ax_m) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key in rows[0]:
        values = [r.get(key, "") for r in rows]
        pts = [(e, float(v)) for e, v in zip(epochs, values, strict=True) if v not in ("", None)]
        if not pts or key in ("epoch", "phase", "lr"):
            continue
        ax = ax_l if key.startswith("loss_") else ax_m if key.startswith("val_") else None
        if ax is not None:
            ax.plot(*zip(*pts, strict=True), marker="." if len(pts) < 30 else None, label=key)
    ax_l.set(title="training losses", xlabel="epoch", yscale="log")
    ax_m.set(title="validation metrics", xlabel="epoch", ylim=(0, 1))
    for ax in (ax_l, ax_m):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
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
