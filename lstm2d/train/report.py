"""What a run leaves in ``--out`` besides checkpoints: ``metrics.csv`` and the loss curve ``loss.png``."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

PLOT_SKIPPED = "loss.png skipped: matplotlib is not installed (pip install 'lstm2d[train]'); metrics.csv has the same numbers"


def can_plot() -> bool:
    """Whether matplotlib is installed: without it a run trains as usual and only the loss curve is left out."""
    return importlib.util.find_spec("matplotlib") is not None


def write_metrics_csv(path: Path, history: list[dict[str, float]]) -> None:
    """One row per epoch, columns as in the history rows (epoch, step, lr, train_*, val_*, baseline_*, ...)."""
    if not history:
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def plot_loss_curve(path: Path, history: list[dict[str, float]], names: list[str], *, title: str) -> None:
    """A panel per column name in ``names`` (the loss, then metrics: ``mse``, ``mae``, or ``out_mae``), each with its
    train and validation values per epoch and the trivial baseline as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.88, wspace=0.25)
    for axis, name in zip(axes[0], names, strict=True):
        axis.plot(epochs, [row[f"train_{name}"] for row in history], "o-", label="train")
        axis.plot(epochs, [row[f"val_{name}"] for row in history], "o-", label="validation")
        axis.axhline(history[-1][f"baseline_{name}"], color="grey", linestyle="--", label="trivial baseline (validation)")
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        if not name.endswith("accuracy"):
            axis.set_yscale("log")
        axis.legend()
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    plt.close(figure)
