"""Time series from a user's own tables: `--dataset PATH` for a CSV, TSV, Parquet or NumPy file, or a folder of them.

PATH is one file (.csv, .tsv, .parquet, .npz), split here into train/val/test (seeded, stratified),
or a folder holding train.* and test.* (optionally val.*) in those formats.

Layouts of a table (CSV, TSV, Parquet), each with a header row:
- wide: one row per series; a label column ("label" unless label_column says otherwise) and every
  other column a time step, in order. Empty cells at the end of a row make a shorter series
  (padded at the end with NaN, as the UCR archive does); empty cells elsewhere are missing values.
- long (chosen when there is an "id" column): one row per time step; columns id, label, optional
  time (the order within a series; file order otherwise) and one numeric column per channel.
  Series may be multivariate and of different lengths. An id column whose ids are all distinct
  (and no time column) is a wide table that names its series: one step per series is no series.
A .npz file holds arrays x, shape (N, L) or (N, C, L), and y, shape (N,) or (N, K) (K targets per series).

Targets: the label column holds classes, numbers (regression) or tag lists ("cat;dog", multi-label), and
label_column may name several columns ("a,b,c": one target each, numbers or 0/1 tags); data/targets.py's one
table infers which from the training file (or --task says it), and the run's note says what it inferred. An
empty or NaN target cell is a missing label (NaN, masked out of the loss), not an error, except for classes.

Series are prepared exactly as the named datasets of series.py are (series.pad_and_standardise):
padded to the longest series, z-normalised per series for one channel, standardised per channel with
statistics of the training data (train and val, never test) for several; labels sorted as
splits.encode_labels does. `read_table` is the reader alone, for prediction on unlabelled files.

Every error is one UserError line naming the file, the row or column, and what was expected (a DataError
carrying those as fields, and apart from them the value found, which remote readers are not shown). Rows of
CSV/TSV files are counted as a spreadsheet shows them (the header is row 1, the first series row 2);
rows of Parquet files from 1 at the first data row; samples of .npz files from 0.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import DataError, UserError
from .base import DataSplits
from .frames import Where, list_names, missing_columns_error, numeric_values, read_frame, time_order
from .series import trim_padding, pad_and_standardise
from .splits import (SPLIT_NAMES, TEST_FRACTION, ArrayDataset, canonical_label, encode_labels, stratified_split,
                     train_val_test)
from .target_cells import cell, decide, encode_rows, label_columns, shown

EXTENSIONS = (".csv", ".tsv", ".parquet", ".npz")
ID_COLUMN = "id"
TIME_COLUMN = "time"
LAYOUT = ("a .csv, .tsv, .parquet or .npz file (wide: a label column and one column per time step; long: columns "
          "id, label, optional time and one column per channel; npz: arrays x and y), or a folder holding "
          "train.* and test.* (optional val.*) in those formats")


# ---------------------------------------------------------------- one file -> series

@dataclass
class SeriesTable:
    """The series of one file before normalisation."""

    path: Path
    layout: str                    # "wide", "long" or "npz"
    series: list[np.ndarray]       # (C, L_i) float64, trailing padding removed
    labels: list[str | None] | None  # canonical label strings (None where empty); None: no labels or several columns
    ids: list[str]                 # the id (long layout) or the row number as Where counts it
    rows: list[int]                # 0-based data row where each series starts (for messages)
    where: Where
    channel_names: list[str] | None = None  # long layout: the channel columns, in order
    id_column: str = "row"
    targets: list[tuple] | None = None   # the raw target cells of each series (None where empty); None: no labels
    target_columns: list[str] = field(default_factory=list)  # as named in messages ("y" or "y[:, 2]" for an .npz)
    task: str = "classify"               # what the targets are (data/targets.py), decided on a training file
    task_note: str | None = None

    @property
    def channels(self) -> int:
        """Channels per series (every series of a file has as many)."""
        return int(self.series[0].shape[0])


def _cells_of(df, columns: list[str]) -> list[tuple] | None:
    """The raw target cells of each row (None where empty); None when the frame lacks a target column."""
    if any(c not in df.columns for c in columns):
        return None
    return list(zip(*([cell(v) for v in df[c].tolist()] for c in columns)))


def _check_series(s: np.ndarray, where: Where, i: int) -> np.ndarray:
    if not np.isfinite(s).any():
        raise where.error("the series has no values; expected at least one number", i)
    return trim_padding(s)


def _read_wide(df, where: Where, columns: list[str], id_column: str | None = None) -> SeriesTable:
    value_cols = [c for c in df.columns if c not in columns and c != id_column]
    if not value_cols:
        expected = ("expected one column per time step beside the label column (wide layout) or an 'id' column "
                    "(long layout)")
        raise DataError(f"{{path}} has no value columns (found {list_names(df.columns)}); {expected}", path=where.path,
                        value=list(df.columns), expected=f"the file has no value columns; {expected}")
    values = numeric_values(df[value_cols], where)
    cells = _cells_of(df, columns)
    rows = [int(i) for i in df.index]
    series = [_check_series(values[k][None], where, rows[k]) for k in range(len(rows))]
    ids = [str(v) for v in df[id_column]] if id_column else [str(where.number(r)) for r in rows]
    return SeriesTable(where.path, "wide", series, None, ids, rows, where, id_column=id_column or "row",
                       targets=cells, target_columns=list(columns))


def _read_long(df, where: Where, columns: list[str]) -> SeriesTable:
    import pandas as pd

    has_time = TIME_COLUMN in df.columns
    channel_cols = [c for c in df.columns if c not in (ID_COLUMN, TIME_COLUMN) and c not in columns]
    if not channel_cols:
        expected = f"expected id, {', '.join(columns)}, optional time and one numeric column per channel"
        raise DataError(f"{{path}} (long layout: it has an 'id' column) has no channel columns; found "
                        f"{list_names(df.columns)}; {expected}", path=where.path, value=list(df.columns),
                        expected=f"the file (long layout: it has an 'id' column) has no channel columns; {expected}")
    ids = df[ID_COLUMN]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise where.error("the id is missing; every row names its series", int(df.index[i]), ID_COLUMN)
    values = numeric_values(df[channel_cols], where)
    cells = _cells_of(df, columns)
    labels = None if cells is None else [shown(c) for c in cells]
    codes, uniques = pd.factorize(ids, sort=False)
    rows = np.asarray(df.index, dtype=np.int64)
    if has_time:
        t = time_order(df[TIME_COLUMN], where, TIME_COLUMN)
        order = np.lexsort((t, codes))
        sc, st = codes[order], t[order]
        dup = np.flatnonzero((sc[1:] == sc[:-1]) & (st[1:] == st[:-1]))
        if len(dup):
            # the later of the two rows in the file, for every duplicated pair; report the earliest such row
            pairs = [(max(order[k], order[k + 1]), min(order[k], order[k + 1])) for k in dup]
            second, first = min(pairs)
            raise where.error(f"id {str(ids.iloc[second])!r} at time {df[TIME_COLUMN].iloc[second]} already appears "
                              f"in {where.row(int(rows[first]))}; expected one row per id and time", int(rows[second]),
                              TIME_COLUMN, value=(ids.iloc[second], df[TIME_COLUMN].iloc[second]),
                              expected=f"the same id and time already appear in {where.row(int(rows[first]))}; "
                                       f"expected one row per id and time")
    else:
        order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    groups = np.split(order, bounds)
    series, out_labels, starts = [], [], []
    for g in groups:
        start = int(g.min())
        s = values[g].T  # (C, L)
        series.append(_check_series(s, where, int(rows[start])))
        starts.append(int(rows[start]))
        if labels is not None:
            first = labels[start]
            for k in g:
                if labels[k] != first:
                    raise where.error(f"id {str(ids.iloc[k])!r} has label {labels[k]!r} here but {first!r} in "
                                      f"{where.row(int(rows[start]))}; a series has one label", int(rows[k]),
                                      columns[0], value=(ids.iloc[k], labels[k], first),
                                      expected=f"the series has another label in {where.row(int(rows[start]))}; "
                                               f"a series has one label")
            out_labels.append(cells[start])
    return SeriesTable(where.path, "long", series, None, [str(u) for u in uniques], starts, where,
                       channel_names=list(channel_cols), id_column=ID_COLUMN,
                       targets=out_labels if labels is not None else None, target_columns=list(columns))


def _read_npz(path: Path, required: bool) -> SeriesTable:
    where = Where(path, "npz")
    if not path.is_file():
        raise DataError("{path} does not exist or is not a file", path=path)
    if path.stat().st_size == 0:
        expected = "expected a NumPy .npz archive with arrays x and y"
        raise DataError(f"{{path}} is empty; {expected}", path=path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        reason = ' '.join(str(e).split())[:160]
        what = "as a NumPy .npz archive (arrays x and y, no Python objects)"
        raise DataError(f"cannot read {{path}} {what}: {reason}", path=path, value=reason,
                        expected=f"cannot read the file {what}") from None
    if "x" not in arrays or (required and "y" not in arrays):
        missing = [k for k in ("x", "y") if k not in arrays and (k == "x" or required)]
        no = f"has no array {', '.join(repr(m) for m in missing)}"
        expected = "expected x of shape (N, L) or (N, C, L) and y of shape (N,)"
        raise DataError(f"{{path}} {no}; found arrays {list_names(arrays)}; {expected}", path=path,
                        value=list(arrays), expected=f"the file {no}; {expected}")
    x = arrays["x"]
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{{path}} array 'x' holds {x.dtype} values; expected numbers", path=path, column="x")
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[2] == 0:
        problem = (f"array 'x' has shape {tuple(arrays['x'].shape)}; expected (N, L) or (N, C, L) with N and L at "
                   f"least 1")
        raise DataError(f"{{path}} {problem}", path=path, column="x")
    cells, columns = None, ["y"]
    if "y" in arrays:
        y = arrays["y"]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim not in (1, 2) or len(y) != len(x) or (y.ndim == 2 and y.shape[1] == 0):
            problem = (f"array 'y' has shape {tuple(y.shape)}; expected ({len(x)},): one label per series of x, or "
                       f"({len(x)}, K): K targets per series")
            raise DataError(f"{{path}} {problem}", path=path, column="y")
        if y.ndim == 2:
            columns = [f"y[:, {j}]" for j in range(y.shape[1])]
        cells = [tuple(cell(v) for v in (row if y.ndim == 2 else [row])) for row in y.tolist()]
    x = x.astype(np.float64)
    series = [_check_series(x[i], where, i) for i in range(len(x))]
    return SeriesTable(path, "npz", series, None, [str(i) for i in range(len(x))], list(range(len(x))), where,
                       targets=cells, target_columns=columns)


def read_table(path: str | Path, *, label_column: str = "label", labels: bool = True,
               task: str | None = None) -> SeriesTable:
    """Read one series file of any accepted format and layout (module docstring); no normalisation.

    labels=True: every series needs a target (training): the task is `task`, else inferred from this file's
    targets, and a class may not be missing. False: the target columns are optional and empty labels are None
    (prediction). label_column: one column, or several separated by commas.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        kind = f"a {path.suffix} file" if path.suffix else "a file without a suffix"
        valid = f"valid extensions: {', '.join(EXTENSIONS)}"
        raise DataError(f"cannot read {{path}} as series ({kind}); {valid}", path=path)
    columns = label_columns(label_column)
    if suffix == ".npz":
        return _targets(_read_npz(path, labels), labels, task)
    df, where = read_frame(path, {*columns, ID_COLUMN, TIME_COLUMN})
    missing = [c for c in columns if c not in df.columns]
    if labels and missing:
        what = f"a label column {columns[0]!r}" if len(columns) == 1 else f"the target columns {', '.join(map(repr, columns))}"
        raise missing_columns_error(path, missing, list(df.columns),
                                    f"{what} (wide: plus one column per time step; long: plus id, optional time and "
                                    f"one column per channel); name yours with --label-column")
    if ID_COLUMN in df.columns and ID_COLUMN not in columns:
        ids = df[ID_COLUMN]
        if ids.notna().all() and not ids.duplicated().any() and TIME_COLUMN not in df.columns:
            # every id on one row: one series per row (wide) that names its series, not steps of one channel
            return _targets(_read_wide(df, where, columns, id_column=ID_COLUMN), labels, task)
        return _targets(_read_long(df, where, columns), labels, task)
    return _targets(_read_wide(df, where, columns), labels, task)


def _targets(table: SeriesTable, required: bool, task: str | None) -> SeriesTable:
    """The table's labels (canonical text of one column) and, when required, its task: told or inferred."""
    cells, columns = table.targets, table.target_columns
    if cells is None:
        return table
    if len(columns) == 1:
        table.labels = [None if c[0] is None else canonical_label(c[0]) for c in cells]
    if not required:
        return table
    table.task, table.task_note = decide(cells, columns, task, repr(str(table.path)))
    if table.task == "classify":
        for i, lab in enumerate(table.labels):
            if lab is None or lab == "":
                raise table.where.error("the label is missing; every series needs one", table.rows[i], columns[0])
    return table


# ---------------------------------------------------------------- files -> DataSplits

def _split_files(folder: Path) -> dict[str, Path]:
    """train/val/test files of a folder (any accepted extension, names case-insensitive)."""
    found: dict[str, list[Path]] = {}
    for f in sorted(folder.iterdir()):
        stem, suffix = f.stem.lower(), f.suffix.lower()
        if f.is_file() and suffix in EXTENSIONS and stem in SPLIT_NAMES:
            found.setdefault(SPLIT_NAMES[stem], []).append(f)
    for split, files in found.items():
        if len(files) > 1:
            names = [f.name for f in files]
            raise DataError(f"{{path}} holds several {split} files ({list_names(names)}); keep one", path=folder,
                            value=names, expected=f"the folder holds several {split} files; keep one")
    if "train" not in found or "test" not in found:
        missing = "train.*" if "train" not in found else "test.*"
        files = sorted(f.name for f in folder.iterdir())
        expected = f"expected train.* and test.* (optional val.*) with extension {', '.join(EXTENSIONS)}"
        raise DataError(f"{{path}} has no {missing} file (found {list_names(files)}); {expected}", path=folder,
                        value=files, expected=f"the folder has no {missing} file; {expected}")
    return {k: v[0] for k, v in found.items()}


def _check_same_channels(reference: SeriesTable, other: SeriesTable) -> None:
    if other.channels != reference.channels:
        raise DataError(f"{{path}} holds series of {other.channels} channel(s) but {str(reference.path)!r} has "
                        f"{reference.channels}; every file of a dataset needs the same channels", path=other.path,
                        expected=f"the file holds series of {other.channels} channel(s) but the train file has "
                                 f"{reference.channels}; every file of a dataset needs the same channels")
    if reference.channel_names and other.channel_names and reference.channel_names != other.channel_names:
        raise DataError(f"{{path}} has channel columns {list_names(other.channel_names)} but {str(reference.path)!r} "
                        f"has {list_names(reference.channel_names)}; every file needs the same, in the same order",
                        path=other.path, value=(other.channel_names, reference.channel_names),
                        expected="the file's channel columns are not the train file's; every file needs the same, in "
                                 "the same order")


def _check_class_sizes(table: SeriesTable, needed: int, label_column: str, what: str) -> None:
    """A class with fewer than `needed` series cannot be stratified over the splits: say which and where."""
    counts: dict[str, list[int]] = {}
    for lab, row in zip(table.labels, table.rows):
        counts.setdefault(lab, []).append(row)
    for lab, rows in counts.items():
        if len(rows) < needed:
            column = "y" if table.layout == "npz" else label_column
            rule = f"{what} needs at least {needed} of every class; add series of it or remove it"
            raise table.where.error(f"class {lab!r} has {len(rows)} series; {rule}", rows[0], column, value=lab,
                                    expected=f"the class of this row has {len(rows)} series; {rule}")


def _encode(tables: dict[str, SeriesTable]) -> tuple[list[np.ndarray], list[str]]:
    """Every split's targets (train first) as class indices, or float (N, K) targets of regress and multilabel."""
    train = tables["train"]
    if train.task == "classify":
        return encode_labels(*(t.labels for t in tables.values()))

    def place(split: str, i: int | None, j: int, problem: str, expected: str) -> Exception:
        t = tables[split]
        return t.where.error(problem, None if i is None else t.rows[i], t.target_columns[j], expected=expected)

    names = train.target_columns
    if train.layout == "npz":  # y's columns: named as fit names the targets of an array
        k = len(names)
        names = ["target"] if train.task == "regress" and k == 1 else [
            f"{'tag' if train.task == 'multilabel' else 'target'}_{j}" for j in range(k)]
    found = encode_rows({k: t.targets for k, t in tables.items()}, names, train.task, place, train.task_note)
    return [found.y[k].numpy() for k in tables], found.names


def load_path(path: str | Path, *, seed: int = 0, val_fraction: float = 0.2, label_column: str = "label",
              znorm: bool = True, task: str | None = None) -> DataSplits:
    """Series DataSplits from a file (seeded stratified train/val/test) or a train/test[/val] folder.

    The DataSplits is named after the file's stem or the folder's name. meta holds what inference
    needs (series.preprocess_series): length, channels, znorm, padding, norm (+ mean, std), and
    layout, label_column and, for long tables, channel_names.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"series dataset path {{path}} does not exist; expected {LAYOUT}", path=p)
    if p.is_dir():
        files = _split_files(p)
        train = read_table(files["train"], label_column=label_column, task=task)
        val = read_table(files["val"], label_column=label_column, task=train.task) if "val" in files else None
        test = read_table(files["test"], label_column=label_column, task=train.task)
        known = {canonical_label(v) for v in train.labels or ()}
        for split, other in (("val", val), ("test", test)):
            if other is not None:
                _check_same_channels(train, other)
                if train.task != "classify":
                    continue  # numbers and tags: encode names a tag absent from train
                unseen = [i for i, v in enumerate(other.labels) if canonical_label(v) not in known]
                if unseen:
                    # a class the model never trains on could only ever be wrong (the other readers refuse it too)
                    lab = canonical_label(other.labels[unseen[0]])
                    raise other.where.error(
                        f"class {lab!r} is not among the classes of {files['train'].name} ({list_names(sorted(known))})",
                        other.rows[unseen[0]], label_column if other.layout != 'npz' else None, value=lab,
                        expected=f"the label is not among the classes of {files['train'].name}")
        name = p.resolve().name
        if val is None:
            # as series._build: the validation part is carved from train after the statistics are taken on all of it
            (tr, te), meta = pad_and_standardise([train.series, test.series], znorm=znorm, fit=(0,),
                                                 per_series=train.task == "classify")
            (y_tr, y_te), class_names = _encode({"train": train, "test": test})
            full = ArrayDataset(torch.from_numpy(tr), torch.from_numpy(y_tr))
            keep, held = stratified_split(y_tr, val_fraction, seed)
            parts = (full.subset(keep), full.subset(held), ArrayDataset(torch.from_numpy(te), torch.from_numpy(y_te)))
        else:
            (tr, va, te), meta = pad_and_standardise([train.series, val.series, test.series], znorm=znorm,
                                                     fit=(0, 1), per_series=train.task == "classify")
            ys, class_names = _encode({"train": train, "val": val, "test": test})
            parts = tuple(ArrayDataset(torch.from_numpy(a), torch.from_numpy(y)) for a, y in zip((tr, va, te), ys))
        layout = train.layout
        channel_names = train.channel_names
        read = [train, test] + ([val] if val is not None else [])
    else:
        table = read_table(p, label_column=label_column, task=task)
        needed = 1 + (TEST_FRACTION > 0) + (val_fraction > 0)
        if table.task == "classify":
            _check_class_sizes(table, needed, label_column,
                               "a stratified train/val/test split" if needed == 3 else "a stratified train/test split")
        # one file: the tags and the variance are those of all its rows, then a seeded random split (not stratified)
        (y_all,), class_names = _encode({"train": table})
        idx = train_val_test(y_all, val_fraction, seed)
        groups = [[table.series[i] for i in ix] for ix in idx]
        arrays, meta = pad_and_standardise(groups, znorm=znorm, fit=(0, 1), per_series=table.task == "classify")
        parts = tuple(ArrayDataset(torch.from_numpy(a), torch.from_numpy(y_all[ix])) for a, ix in zip(arrays, idx))
        name = p.stem
        layout = table.layout
        channel_names = table.channel_names
        read = [table]
        train = table
    meta.update(layout=layout, label_column=label_column)
    # gaps inside a series (empty cells, n/a) and infinities are not errors: they become the mean (0)
    # after standardisation, as the UCR reader treats them; the run says how many there were
    gaps = sum(int((~np.isfinite(s)).sum()) for t in read for s in t.series)
    cells = sum(int(s.size) for t in read for s in t.series)
    meta["notes"] = [f"{gaps} of {cells} values are missing or infinite (empty cells, n/a, inf); they become 0, the "
                     "mean, after standardisation"] if gaps else []
    if channel_names:
        meta["channel_names"] = list(channel_names)
    train_ds, val_ds, test_ds = parts
    return DataSplits(name=name, domain="series", layout="samples", train=train_ds, val=val_ds, test=test_ds,
                      num_classes=len(class_names), class_names=class_names, in_channels=int(meta["channels"]),
                      meta=meta, task=train.task, task_note=train.task_note)


def table_for_model(path: str | Path, meta: dict) -> SeriesTable:
    """Read a file to predict with a model trained on tables (or any series): labels optional, channels as trained.

    A long table's channel columns are matched to the training channel names (any column order); a
    channel count that differs from the model's is a UserError naming the file.
    """
    table = read_table(path, label_column=str(meta.get("label_column") or "label"), labels=False)
    channels = int(meta.get("channels", table.channels))
    trained = meta.get("channel_names")
    if table.layout == "long" and trained and table.channel_names != list(trained):
        if set(table.channel_names) != set(trained):
            raise UserError(f"{str(table.path)!r} has channel columns {list_names(table.channel_names)}; the model was "
                            f"trained on {list_names(trained)}")
        order = [table.channel_names.index(c) for c in trained]
        table.series = [s[order] for s in table.series]
        table.channel_names = list(trained)
    if table.channels != channels:
        raise UserError(f"{str(table.path)!r} holds series of {table.channels} channel(s); the model was trained on "
                        f"{channels}" + (" (a long table: columns id, optional label and time, one column per channel)"
                                         if channels > 1 and table.layout == "wide" else ""))
    return table


def as_batches(series: Sequence[np.ndarray], meta: dict) -> list[tuple[list[int], torch.Tensor]]:
    """Series prepared as training did (series.preprocess_series), grouped by shape: [(indices, (n, C, L))]."""
    from .series import preprocess_series

    prepared = [preprocess_series(s, meta) for s in series]
    by_shape: dict[tuple, list[int]] = {}
    for i, t in enumerate(prepared):
        by_shape.setdefault(tuple(t.shape), []).append(i)
    return [(idx, torch.stack([prepared[i] for i in idx])) for idx in by_shape.values()]
