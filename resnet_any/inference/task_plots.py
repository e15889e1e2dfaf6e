"""evaluate's picture for numbers and tag sets, where classes get the confusion matrix (confusion.py).

regress:    per target (the first MAX_TARGETS), predicted against true values with the diagonal, and the
            residuals (predicted - true) against the predicted value with the zero line, in the user's units;
multilabel: per tag, precision and recall at the checkpoint's thresholds as paired bars (support in the label).
The app's Train tab draws the same pictures after a run (app/jobs.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from resnet_any.figures import figure, png_bytes, write_png

MAX_TARGETS = 6    # rows of scatter plots drawn; the scores cover every target
MAX_TAGS = 60      # bars drawn; the scores cover every tag


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"


def plot_regression(result: dict[str, Any], values: torch.Tensor, targets: torch.Tensor) -> bytes:
    """PNG bytes: predicted vs true and residuals vs predicted, one row per target; missing targets left out."""
    names = result["class_names"][:MAX_TARGETS]
    values, targets = values.double().view(len(values), -1), targets.double().view(len(targets), -1)
    fig = figure(10, 3.6 * len(names) + 0.6)
    axes = fig.subplots(len(names), 2, squeeze=False)
    for j, name in enumerate(names):
        present = ~torch.isnan(targets[:, j])
        p, t = values[present, j].numpy(), targets[present, j].numpy()
        scores = result["per_class"].get(name, {})
        left, right = axes[j]
        left.scatter(t, p, s=10, alpha=0.6)
        if len(t):
            lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
            left.plot([lo, hi], [lo, hi], color="gray", linewidth=1, linestyle="--")
        left.set_xlabel(f"true {name}")
        left.set_ylabel(f"predicted {name}")
        left.set_title(f"{name}: RMSE {_fmt(scores.get('rmse'))}  MAE {_fmt(scores.get('mae'))}  "
                       f"R² {_fmt(scores.get('r2'))}", fontsize=10)
        right.scatter(p, p - t, s=10, alpha=0.6, color="#ea580c")
        right.axhline(0.0, color="gray", linewidth=1, linestyle="--")
        right.set_xlabel(f"predicted {name}")
        right.set_ylabel("residual (predicted - true)")
        right.set_title(f"{name}: residuals ({len(t)} samples)", fontsize=10)
    more = len(result["class_names"]) - len(names)
    fig.suptitle(f"{result['model']} on {result['dataset']} {result['split']}: RMSE {_fmt(result['rmse'])}  "
                 f"R² {_fmt(result['r2'])}" + (f"  ({more} more targets not drawn)" if more > 0 else ""))
    return png_bytes(fig)


def plot_multilabel(result: dict[str, Any]) -> bytes:
    """PNG bytes: per-tag precision and recall at the thresholds, as paired horizontal bars."""
    per = list(result["per_class"].items())[:MAX_TAGS]
    k = len(per)
    fig = figure(8, min(max(2.0 + 0.35 * k, 3.5), 24))
    ax = fig.add_subplot(1, 1, 1)
    ys = torch.arange(k, dtype=torch.float64).numpy()
    ax.barh(ys - 0.2, [c["precision"] for _, c in per], height=0.4, label="precision", color="#1d4ed8")
    ax.barh(ys + 0.2, [c["recall"] for _, c in per], height=0.4, label="recall", color="#ea580c")
    ax.set_yticks(ys, [f"{name} (n={c['support']}, t={c['threshold']:.2f})" for name, c in per])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("at each tag's threshold")
    ax.legend(loc="lower right")
    more = len(result["per_class"]) - k
    ax.set_title(f"{result['model']} on {result['dataset']} {result['split']}\nmAP {_fmt(result['map'])}  "
                 f"macro F1 {_fmt(result['macro_f1'])}  micro F1 {_fmt(result['micro_f1'])}"
                 + (f"  ({more} more tags not drawn)" if more > 0 else ""), fontsize=10)
    return png_bytes(fig)


def plot_result(result: dict[str, Any]) -> tuple[str, bytes]:
    """(file stem, PNG bytes) of a regress or multilabel result of evaluate_checkpoint(keep_outputs=True)."""
    if result["task"] == "regress":
        return "regression", plot_regression(result, result["outputs"], result["targets"])
    return "labels", plot_multilabel(result)


def write_result_png(result: dict[str, Any], folder: str | Path) -> Path:
    """Draw the result's picture into `folder` as <regression|labels>_<dataset>_<split>.png; returns its path."""
    stem, data = plot_result(result)
    dataset = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(result["dataset"]))
    return write_png(data, folder, f"{stem}_{dataset}_{result['split']}.png")
