"""The confusion matrix of a scored split and its PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from resnet_any.figures import figure, png_bytes, write_png


def confusion_matrix(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts [true class, predicted class]."""
    flat = targets * num_classes + logits.argmax(1)
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def plot_confusion(result: dict[str, Any]) -> bytes:
    """PNG bytes of the confusion matrix, counts written in the cells when there are few classes."""
    cm = result["confusion_matrix"]
    names = result["class_names"]
    k = len(names)
    # at least 5 inches: a 2-class matrix's title would otherwise be wider than its figure
    side = min(max(3 + 0.45 * k, 5.0), 20)
    fig = figure(side, side)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if k <= 30:
        ax.set_xticks(range(k), names, rotation=90 if k > 10 else 0)
        ax.set_yticks(range(k), names)
    if k <= 20:
        top = max(max(row) for row in cm) or 1
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i][j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i][j] > top / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{result['model']} on {result['dataset']} {result['split']}\naccuracy {result['accuracy']:.4f}")
    return png_bytes(fig)


def write_confusion_png(result: dict[str, Any], folder: str | Path) -> Path:
    """Draw the result's confusion matrix into `folder` as confusion_<dataset>_<split>.png; returns its path."""
    return write_png(plot_confusion(result), folder, f"confusion_{result['dataset']}_{result['split']}.png")


def default_png_folder(checkpoint: str | Path) -> Path:
    """Where evaluate draws the confusion matrix without --out: beside the checkpoint, as the run's other files are.

    A checkpoint shipped inside the installed package is the exception (its folder is the library's, perhaps
    read-only): its picture goes to the current folder.
    """
    import resnet_any

    folder = Path(checkpoint).expanduser().resolve().parent
    package = Path(resnet_any.__file__).resolve().parent
    return Path.cwd() if folder == package or package in folder.parents else folder
