"""What the targets are: classes, numbers (regression) or tag sets (multi-label), read from the labels or told.

Every reader (image manifests, series tables, graph files, volumes, `fit`'s arrays, the app's uploads) hands
its label cells here, so one table decides the task for all of them (`--task` overrides it):

- several target columns, every cell 0/1 (or empty)    -> multilabel, one tag per column
- several target columns, every cell a number          -> regress, one output per column
- one column whose cells list tags ("cat;dog")         -> multilabel, the tags found in training
- one column of numbers, some not integers             -> regress (also when up to a tenth of the cells are text:
                                                          encode then names the first such cell as an error)
- one column of integers or words                      -> classify (with a note naming --task regress when
                                                          integers take many values: a count, an age)
- an array y of shape (N, K): 0/1 -> multilabel, other numbers -> regress; a float (N,) array with a
  non-integer value -> regress; integers -> classify.

An empty or NaN cell is a missing label: a NaN in y, masked out of the loss and the metrics (the molecular
multi-task convention), never an error. A cell holding only the separator (";") is a tag set with no tag.
Regression targets stay in the user's units here; the plan standardizes them on the training split
(`scaling`) and records the mean and standard deviation in the checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..errors import UserError

TASKS = ("classify", "regress", "multilabel")
TAG_SEPARATOR = ";"
# integer labels taking more distinct values than this (and more than a tenth of the samples) read as
# classes still, but the note names --task regress: 110 "classes" from 140 series is a count or a rate
MANY_INTEGER_CLASSES = 20
# one column whose cells are at least this share of numbers, some not integers, is a regression target whose other
# cells are mistakes (encode names the first), not thousands of classes
MOSTLY_NUMBERS = 0.9

# reports a bad cell: (split, sample index within it (None: the whole column), column index, problem, what would be
# valid) -> Exception
ErrorAt = Callable[[str, "int | None", int, str, str], Exception]


@dataclass(frozen=True)
class Targets:
    """Encoded targets of every split: y float (N, K) with NaN where missing, the K names, and what was inferred."""

    task: str
    y: dict[str, torch.Tensor]
    names: list[str]
    note: str | None = None


def check_task(task: str | None) -> str | None:
    """`task` itself when valid (or None: infer it), else a UserError naming the valid ones."""
    if task is None or task in TASKS:
        return task
    raise UserError(f"unknown --task {task!r}; valid: {', '.join(TASKS)}", public=True)


def _number(cell: str | None) -> float | None:
    """The cell as a float (NaN for a missing cell), or None when it is not a number."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return math.nan
    text = str(cell).strip()
    if not text or text.lower() == "nan":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _missing(cell: Any) -> bool:
    return cell is None or (isinstance(cell, float) and math.isnan(cell)) or not str(cell).strip() \
        or str(cell).strip().lower() == "nan"


def infer_task(rows: Sequence[Sequence[Any]], columns: Sequence[str], task: str | None = None,
               flag: str = "--task") -> tuple[str, str | None]:
    """(task, note) for training rows of label cells (one list per sample, one cell per target column).

    `task` given wins (no note). Otherwise the table in the module docstring decides, and the note says what
    was inferred and how to override it (`flag`: how the caller spells the option).
    """
    check_task(task)
    if task is not None:
        return task, None
    cells = [c for row in rows for c in row if not _missing(c)]
    numbers = [_number(c) for c in cells]
    numeric = bool(cells) and all(v is not None for v in numbers)
    if len(columns) > 1:
        if numeric and all(v in (0.0, 1.0) for v in numbers):
            return "multilabel", (f"task: multilabel, inferred from {len(columns)} target columns of 0/1 "
                                  f"({', '.join(map(str, columns[:4]))}{', ...' if len(columns) > 4 else ''}); "
                                  f"{flag} regress reads them as numbers")
        return "regress", (f"task: regress, inferred from {len(columns)} numeric target columns; "
                           f"{flag} multilabel reads 0/1 columns as tags")
    if any(TAG_SEPARATOR in str(c) for c in cells):
        return "multilabel", (f"task: multilabel, inferred from labels listing several tags "
                              f"(separated by {TAG_SEPARATOR!r}); {flag} classify reads each list as one class")
    parsed = [v for v in numbers if v is not None]
    if (numeric or len(parsed) >= MOSTLY_NUMBERS * len(cells)) and any(v != round(v) for v in parsed):
        # a few text cells among non-integer numbers are typos in a regression target: encode names the first
        return "regress", f"task: regress, inferred from non-integer numeric labels; {flag} classify reads them as classes"
    distinct = len(set(numbers)) if numeric else 0
    if numeric and distinct > MANY_INTEGER_CLASSES and distinct > len(cells) / 10:
        return "classify", (f"task: classify, though the labels are {distinct} distinct integers; if they are "
                            f"quantities (a count, an age), {flag} regress predicts numbers")
    return "classify", None


def encode(splits: Mapping[str, Sequence[Sequence[Any]]], columns: Sequence[str], task: str,
           error: ErrorAt, note: str | None = None) -> Targets:
    """Label cells per split (train first; one row per sample) as float targets (N, K) for regress or multilabel.

    Tag names are those of the training split, sorted; a tag found only in another split, a cell that is not
    a number (regress) or not 0/1 (multilabel columns), a target without variance in training: `error`.
    """
    if task not in ("regress", "multilabel"):
        raise ValueError(f"encode takes regress or multilabel targets, not {task!r}")
    train = splits["train"]
    if task == "multilabel" and len(columns) == 1:
        tags = sorted({t for row in train for t in _tags(row[0])})
        if not tags:
            raise error("train", None, 0, "no sample of the training split has a tag", "tags separated by ';'")
        index = {t: i for i, t in enumerate(tags)}
        y = {}
        for split, rows in splits.items():
            out = torch.full((len(rows), len(tags)), math.nan)
            for i, row in enumerate(rows):
                if _missing(row[0]):
                    continue
                out[i] = 0.0
                for t in _tags(row[0]):
                    if t not in index:
                        raise error(split, i, 0, f"tag {t!r} is not among the tags of the training split",
                                    f"one of the {len(tags)} tags of the training split")
                    out[i, index[t]] = 1.0
            y[split] = out
        return Targets(task, y, tags, note)
    y = {}
    for split, rows in splits.items():
        out = torch.empty((len(rows), len(columns)), dtype=torch.float64)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                value = _number(cell)
                if value is None:
                    raise error(split, i, j, f"target {str(cell)[:40]!r} is not a number",
                                "a number, or an empty cell for a missing target")
                if task == "multilabel" and not (math.isnan(value) or value in (0.0, 1.0)):
                    raise error(split, i, j, f"tag column holds {value:g}", "0, 1 or an empty cell (missing)")
                out[i, j] = value
        y[split] = out.float()
    if task == "regress":
        for j, present in constant_targets(y["train"]):
            raise error("train", None, j, "the target does not vary in the training split "
                        f"({len(present)} values{f', all {float(present[0]):g}' if len(present) else ''})",
                        "a target that takes at least two values in the training split")
    return Targets(task, y, [str(c) for c in columns], note)


def _tags(cell: Any) -> list[str]:
    """The tags a cell lists (none for an empty cell or one holding only the separator)."""
    if _missing(cell):
        return []
    return [t.strip() for t in str(cell).split(TAG_SEPARATOR) if t.strip()]


def from_array(y: Any, task: str | None, what: str = "y") -> tuple[str, torch.Tensor | None, str | None]:
    """(task, float targets (N, K) or None for classes, note) of an array of targets, by the module's table.

    None as targets: classify, the caller encodes classes as it always did.
    """
    check_task(task)
    arr = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y)
    if arr.dtype.kind not in "biuf":
        if task in ("regress", "multilabel"):
            raise UserError(f"{what} holds {arr.dtype} values; --task {task} needs numbers")
        return task or "classify", None, None
    values = arr.astype(np.float64)
    finite = values[~np.isnan(values)]
    binary = bool(finite.size) and bool(np.isin(finite, (0.0, 1.0)).all())
    note = None
    if task is None:
        if arr.ndim == 2 and arr.shape[1] > 1:
            task = "multilabel" if binary else "regress"
            note = (f"task: {task}, inferred from {what} of shape {tuple(arr.shape)} "
                    f"{'of 0/1' if binary else 'of numbers'}; task= overrides it")
        elif arr.dtype.kind == "f" and finite.size and (finite != np.round(finite)).any():
            task = "regress"
            note = "task: regress, inferred from non-integer targets; task='classify' reads them as classes"
        else:
            distinct = len(np.unique(finite))
            many = arr.ndim == 1 and distinct > MANY_INTEGER_CLASSES and distinct > finite.size / 10
            return "classify", None, (f"task: classify, though {what} holds {distinct} distinct integers; if they are "
                                      "quantities (a count, an age), task='regress' predicts numbers") if many else None
    if task == "classify":
        return task, None, None
    if arr.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise UserError(f"{what} has shape {tuple(arr.shape)}; --task {task} takes (N,) or (N, K) targets")
    if np.isinf(values).any():
        raise UserError(f"{what} holds an infinite value; targets are numbers, or NaN where missing")
    if task == "multilabel" and not binary:
        bad = finite[~np.isin(finite, (0.0, 1.0))]
        raise UserError(f"{what} holds {bad[0]:g}; multi-label targets are 0, 1 or NaN (missing)")
    return task, torch.as_tensor(values, dtype=torch.float32), note


def check_variance(y: torch.Tensor, names: Sequence[str], what: str = "the training targets") -> None:
    """A UserError naming a regression target that does not vary in training (it cannot be standardized)."""
    for j, _ in constant_targets(y):
        raise UserError(f"target {names[j]!r} does not vary in {what}; a regression needs a target that "
                        "takes at least two values")


def constant_targets(y: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
    """(column, its present values) of every target of (N, K) `y` with fewer than two values or no variance."""
    out = []
    for j in range(y.shape[1]):
        present = y[:, j][~torch.isnan(y[:, j])].double()
        if len(present) < 2 or float(present.std()) == 0.0:
            out.append((j, present))
    return out


def scaling(y: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-target mean and standard deviation of the present values (regression is trained on (y - mean) / std)."""
    y = y.double()
    mean, std = [], []
    for j in range(y.shape[1]):
        col = y[:, j][~torch.isnan(y[:, j])]
        mean.append(float(col.mean()) if len(col) else 0.0)
        s = float(col.std()) if len(col) > 1 else 1.0
        std.append(s if s > 0 else 1.0)
    return mean, std
