"""The file readers' side of data/targets.py: the target columns a user names, the cells read, and their errors.

Every path reader (series tables, image manifests, graph CSV folders, volume .npz files) keeps one tuple of raw
cells per sample, one cell per target column (None where the cell is empty or NaN), and hands them here:
`decide` infers the task from the training rows by targets.py's one table (or checks the one told), `encode`
turns every split's rows into float targets (N, K) with NaN where a label is missing, and a bad cell becomes
the reader's own one-line DataError naming the file, the row and the column, through `at` (which the reader
gives: how its rows are counted differs from file to file).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from ..errors import UserError
from .targets import Targets, encode, infer_task

# (split, 0-based sample of that split or None for the whole column, target column index, problem, expected) ->
# the reader's DataError at that place; `expected` is the problem without what the file holds (for remote readers)
Place = Callable[[str, "int | None", int, str, str], Exception]


def label_columns(label_column: str | Sequence[str]) -> list[str]:
    """The target columns of --label-column: one name, or several separated by commas ("a,b,c")."""
    names = [str(c).strip() for c in (label_column.split(",") if isinstance(label_column, str) else label_column)]
    if not names or not all(names):
        raise UserError(f"--label-column {label_column!r} names an empty column; give one column or several "
                        "separated by commas (a,b,c)", public=True)
    seen = [c for i, c in enumerate(names) if c in names[:i]]
    if seen:
        raise UserError(f"--label-column {label_column!r} names column {seen[0]!r} twice", public=True)
    return names


def cell(value: Any) -> Any:
    """A raw label cell as read: None when missing (None, NaN, empty or blank text), bytes decoded, else as is."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        return None if not text or text.lower() == "nan" else text
    try:
        if math.isnan(float(value)):
            return None
    except (TypeError, ValueError):
        pass
    return value


def shown(row: Sequence[Any]) -> str:
    """A row of cells for a message: the one cell, or the cells separated by commas."""
    from .splits import canonical_label

    text = ["" if c is None else canonical_label(c) for c in row]
    return text[0] if len(text) == 1 else ", ".join(text)


def decide(train_rows: Sequence[Sequence[Any]], columns: Sequence[str], task: str | None, source: str,
           flag: str = "--task") -> tuple[str, str | None]:
    """(task, note) of the training rows (targets.infer_task); classes come from one label column only."""
    task, note = infer_task(train_rows, columns, task, flag)
    if task == "classify" and len(columns) > 1:
        raise UserError(f"{source}: --task classify reads one label column; {len(columns)} were named "
                        f"({', '.join(map(repr, columns))}): name one, or train them as regress or multilabel targets",
                        public=f"--task classify reads one label column; {len(columns)} were named")
    return task, note


def encode_rows(splits: Mapping[str, Sequence[Sequence[Any]]], columns: Sequence[str], task: str,
                place: Place, note: str | None = None) -> Targets:
    """targets.encode of every split's rows (train first), a bad cell reported by the reader's `place`."""
    def error(split: str, i: int | None, j: int, problem: str, valid: str) -> Exception:
        return place(split, i, j, f"{problem}; expected {valid}", f"expected {valid}")

    return encode(splits, columns, task, error, note)
