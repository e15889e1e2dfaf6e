"""The Train tab's loss and accuracy plots as data, without gradio: curve frames and their axis ranges."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from resnet_any.app.jobs import TASK_METRIC, Progress

LOSS_COLUMNS = ["epoch", "loss", "curve"]
ACC_COLUMNS = ["epoch", "accuracy", "curve"]
LOSS_CURVES = ("train (running)", "train", "val")
ACC_CURVES = ("train", "val")
CURVE_COLORS = {"train (running)": "#93c5fd", "train": "#1d4ed8", "val": "#ea580c"}


def nice_top(values: Any) -> float:
    """A round upper bound of the values (1, 1.2, 1.5, 2, ... 10 times a power of ten; 1 for none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v)) and float(v) > 0]
    if not finite:
        return 1.0
    top = max(finite)
    step = 10 ** math.floor(math.log10(top))
    return next(m * step for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * step >= top)


def curve_frame(rows: list[dict[str, Any]], columns: list[str], curves: tuple[str, ...]) -> pd.DataFrame:
    """Curve points as a plot frame, led by one empty point per curve name.

    The plot fixes its colour domain from the first value it renders and later only swaps the data, so
    every frame names all curves up front (as NaN points, which are not drawn).
    """
    x, y, c = columns
    seed = [{x: float("nan"), y: float("nan"), c: name} for name in curves]
    return pd.DataFrame(seed + rows, columns=columns).astype({x: "float64", y: "float64", c: "str"})


def empty_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loss, accuracy) frames with no point yet: what the plots show before a run's first record."""
    return curve_frame([], LOSS_COLUMNS, LOSS_CURVES), curve_frame([], ACC_COLUMNS, ACC_CURVES)


def plot_values(progress: Progress) -> tuple[dict[str, Any], dict[str, Any]]:
    """(loss, metric) plot properties of a job's progress: the frame and axis ranges each plot is updated with.

    The second plot shows the task's metric (TASK_METRIC): accuracy for classes, RMSE (in the user's units,
    its range from the values) for numbers, mAP for tags; its label names it."""
    loss_rows = progress.loss_rows()
    # a new axis range makes a plot lay itself out again (a new frame alone only swaps the data, keeping the
    # margins of the empty chart drawn in the hidden tab, which clipped the tick labels and axis titles);
    # round ranges change rarely
    x_lim = [0, nice_top(r["epoch"] for r in loss_rows)]
    return (dict(value=curve_frame(loss_rows, LOSS_COLUMNS, LOSS_CURVES), x_lim=x_lim,
                 y_lim=[0, nice_top(r["loss"] for r in loss_rows)]),
            metric_plot(progress, x_lim))


def metric_plot(progress: Progress, x_lim: list[float]) -> dict[str, Any]:
    """The metric plot's properties: accuracy keeps the layout's label and [0, 1] range; others say what they show."""
    rows = progress.acc_rows()
    out: dict[str, Any] = dict(value=curve_frame(rows, ACC_COLUMNS, ACC_CURVES), x_lim=x_lim, y_title="accuracy")
    task = progress.task
    if task != "classify":
        name = TASK_METRIC[task][1]
        lower = " (lower is better)" if task == "regress" else ""
        out.update(label=f"{name}{lower}: val (orange); none without a validation split", y_title=name,
                   y_lim=[0, nice_top(r["accuracy"] for r in rows)] if task == "regress" else [0, 1])
    return out
