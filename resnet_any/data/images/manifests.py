"""Image manifests: a JSON-lines or CSV file listing image paths, labels and optional splits.

`manifest_rows` is the reader alone (rows as listed, images not opened), for callers that check the
listed paths before loading; `load_manifest` decodes the images into DataSplits.

Targets (data/targets.py's one table infers the task from the training rows; --task overrides it):
- a `label` column (a "label" key in JSON lines): a class, a number (regression) or a tag list "cat;dog"
  (multi-label; in JSON lines a list ["cat", "dog"] too); other columns beside file, label and split are ignored;
- no `label` column: every column (key) other than file and split is a target column, one target each:
  all 0/1 -> multi-label (the column names are the tags), numbers -> multi-output regression. A manifest
  with neither a label nor another column is an error.
An empty target cell (or a JSON null, or a key a line leaves out) is a missing label (NaN, masked out of the
loss), never an error, except for classes: a class may not be missing.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...errors import DataError
from ..base import DataSplits
from ..splits import SPLIT_NAMES, encode_labels
from ..target_cells import cell, decide, encode_rows
from ..storage import require_dir
from .decode import Item, load_items

MANIFEST_LAYOUT = ('a JSON-lines file with one {"file": PATH, "label": LABEL} object per line (PATH relative to the '
                   'manifest; optional "split": train/val/test; LABEL a class, a number or tags "a;b"; without "label", every '
                   'other key is a target), a .csv with columns file, label and optional split (one row per image, a '
                   'header first; without label, every other column is a target), or a folder holding exactly one '
                   '*.jsonl (or one *.csv)')
CSV_LAYOUT = ("a .csv manifest: a header row naming the columns file, label and optionally split (train/val/test), "
              "then one row per image, PATH relative to the manifest (without a label column, every column other "
              "than file and split is a target: numbers, or 0/1 tags)")
# How CSV rows are numbered in messages ("row 3" is the third row of data).
CSV_ROWS = "rows counted from 1 below the header"

# (image path, raw label (a tuple of cells, one per target column, without a label column), split or "",
# where in the manifest: "line 3" / "row 3")
ManifestRow = tuple[Path, object, str, str]
PLACE = ("file", "split")  # the columns that are not targets


def _jsonl_rows(path: Path) -> tuple[list[ManifestRow], list[str]]:
    """Rows of a JSON-lines manifest (blank lines skipped) and its target columns."""
    rows, records = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{{at}}: invalid JSON ({e.msg}); expected {MANIFEST_LAYOUT}", path=path, row=lineno,
                                unit="line") from e
            if not isinstance(row, dict) or "file" not in row:
                problem = 'row needs a "file" key and a "label" key (or target keys)'
                raise DataError(f"{{at}}: {problem}, got {line.strip()[:80]!r}", path=path,
                                row=lineno, unit="line", value=line.strip(), expected=f"the {problem}")
            split = str(row.get("split", "")).lower()
            if split and split not in SPLIT_NAMES:
                raise DataError(f"{{at}}: unknown split {row['split']!r}; valid: train, val, test",
                                path=path, row=lineno, unit="line", value=row["split"],
                                expected="unknown split; valid: train, val, test")
            records.append((row, SPLIT_NAMES.get(split, ""), lineno))
    columns = ["label"] if any("label" in r for r, _, _ in records) else list(
        dict.fromkeys(k for r, _, _ in records for k in r if k not in PLACE))
    if records and not columns:
        raise DataError(f"{{path}}: no line has a \"label\" key nor any target key beside \"file\" and \"split\"; "
                        f"expected {MANIFEST_LAYOUT}", path=path)
    for row, split, lineno in records:
        label = row.get("label") if columns == ["label"] else tuple(cell(row.get(c)) for c in columns)
        if isinstance(label, list):  # ["cat", "dog"]: a tag set
            label = ";".join(str(t) for t in label) or ";"
        rows.append((path.parent / str(row["file"]), label, split, f"line {lineno}"))
    return rows, columns


def _csv_rows(path: Path) -> tuple[list[ManifestRow], list[str]]:
    """Rows of a CSV manifest (pandas, every cell read as text) and its target columns; column names match
    case-insensitively."""
    import pandas as pd

    if path.stat().st_size == 0:
        raise DataError(f"CSV manifest {{path}} is empty (0 bytes); expected {CSV_LAYOUT}", path=path)
    try:
        # header=None: the header is read as the first row, so a row longer than it is an error instead of
        # pandas silently taking the first column as an index.
        table = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skipinitialspace=True,
                            encoding="utf-8-sig")
    except pd.errors.EmptyDataError as e:
        raise DataError(f"CSV manifest {{path}} is empty (no header row); expected {CSV_LAYOUT}", path=path) from e
    except pd.errors.ParserError as e:
        reason = " ".join(str(e).replace("Error tokenizing data. C error: ", "").split())
        raise DataError(f"cannot parse CSV manifest {{path}}: {reason} (lines counted from 1, the header "
                        f"included); expected {CSV_LAYOUT}", path=path, value=reason,
                        expected=f"cannot parse the CSV manifest; every row needs as many cells as the header; "
                                 f"expected {CSV_LAYOUT}") from e
    except UnicodeDecodeError as e:
        raise DataError(f"CSV manifest {{path}} is not UTF-8 text ({e.reason} at byte {e.start}); expected {CSV_LAYOUT}",
                        path=path) from e
    header = [str(v).strip() for v in table.iloc[0].fillna("")]
    body = table.iloc[1:].fillna("")
    columns: dict[str, int] = {}
    for i, c in enumerate(header):
        columns.setdefault(c.lower(), i)
    targets = ["label"] if "label" in columns else [c for c in header if c and c.lower() not in PLACE]
    missing = [c for c in ("file", "label") if c not in columns and (c == "file" or not targets)]
    if missing:
        found = ", ".join(repr(c) for c in header)
        no = f"has no {' and no '.join(repr(c) for c in missing)} column"
        raise DataError(f"CSV manifest {{path}} {no} (found columns: {found}); expected {CSV_LAYOUT}", path=path,
                        value=header, expected=f"the CSV manifest {no}; expected {CSV_LAYOUT}")

    def column(name: str) -> list[str]:
        return body.iloc[:, columns[name]].str.strip().tolist() if name in columns else [""] * len(body)

    rows = []
    cells = list(zip(*(column(c.lower()) if c == "label" else body.iloc[:, header.index(c)].str.strip().tolist()
                       for c in targets)))
    for i, (file, label, split) in enumerate(zip(column("file"), cells, column("split")), 1):
        where = f"row {i}"
        if not file and not any(label) and not split:
            continue  # an all-empty row (",,"), as spreadsheets leave at the end
        at = dict(path=path, row=i, counting=CSV_ROWS)
        if not file:
            problem = "empty 'file' value; expected an image path relative to the manifest"
            raise DataError(f"{{at}}: {problem}", **at)
        if split and split.lower() not in SPLIT_NAMES:
            raise DataError(f"{{at}}: unknown split {split!r} in column 'split'; valid: train, val, test", value=split,
                            expected="unknown split; valid: train, val, test", **at)
        rows.append((path.parent / file, label[0] if targets == ["label"] else tuple(cell(c) for c in label),
                     SPLIT_NAMES.get(split.lower(), ""), where))
    return rows, targets


def _manifest_file(path: Path) -> Path:
    """The manifest itself: `path`, or the one *.jsonl (else the one *.csv) in the folder `path`."""
    if not path.is_dir():
        return path
    found = sorted(path.glob("*.jsonl"))
    if not found:
        found = sorted(path.glob("*.csv"))
        if len(found) != 1:
            what = f"found no *.jsonl and {len(found)} *.csv files"
            raise DataError(f"{what} in {{path}}; expected {MANIFEST_LAYOUT}", path=path)
    if len(found) != 1:
        raise DataError(f"found {len(found)} *.jsonl files in {{path}}; expected {MANIFEST_LAYOUT}", path=path)
    return found[0]


def _read(path: Path) -> tuple[list[ManifestRow], list[str]]:
    return _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)


def manifest_rows(path: Path) -> list[ManifestRow]:
    """The rows of a manifest (`path`, or the one manifest in the folder `path`), as listed: no image is opened."""
    return _read(_manifest_file(Path(path)))[0]


def load_manifest(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
                  image_size: int | None = None, cache_dir: str | None = None, task: str | None = None) -> DataSplits:
    """Images listed in a JSON-lines or CSV manifest, targets from the rows (module docstring), optional split."""
    path = _manifest_file(require_dir(data_dir, "manifest", MANIFEST_LAYOUT))
    csv = path.suffix.lower() == ".csv"
    rows, columns = _read(path)
    if not rows:
        expected = f"expected {CSV_LAYOUT if csv else MANIFEST_LAYOUT}"
        raise DataError(f"manifest {{path}} has no rows; {expected}", path=path)
    has_split = any(r[2] for r in rows)
    if has_split and not all(r[2] for r in rows):
        given = next(r for r in rows if r[2])
        lacking = next(r for r in rows if not r[2])
        note = f"; {CSV_ROWS}" if given[3].startswith("row") else ""
        raise DataError(f"manifest {{path}} gives \"split\" on some rows only ({given[3]} has {given[2]!r}, "
                        f"{lacking[3]} has none{note}); give it on every row or none", path=path)
    by_split: dict[str, list[ManifestRow]] = {}
    for r in rows:
        by_split.setdefault(r[2] or "train", []).append(r)
    if "train" not in by_split:
        advice = "give some rows split 'train', or leave split out to have train/val/test carved"
        raise DataError(f"manifest {{path}} has no train rows (splits found: {', '.join(sorted(by_split))}); {advice}",
                        path=path)
    order = ["train"] + [k for k in ("val", "test") if k in by_split]
    cells = {k: [r[1] if isinstance(r[1], tuple) else (cell(r[1]),) for r in by_split[k]] for k in order}
    task, note = decide(cells["train"], columns, task, repr(str(path)))

    def at(r: ManifestRow, column: str | None = None) -> dict:
        unit, number = r[3].split()
        return dict(path=path, row=int(number), unit=unit, counting=CSV_ROWS if csv else None, column=column)

    if task == "classify":
        for r, c in zip((r for k in order for r in by_split[k]), (c for k in order for c in cells[k])):
            if c[0] is None:
                file = str(r[0].relative_to(path.parent)) if r[0].is_relative_to(path.parent) else str(r[0])
                raise DataError(f"{{at}}: empty 'label' value for {file!r}; every row needs a label",
                                value=file, expected="empty 'label' value; every row needs a label", **at(r))
        (labels,), class_names = encode_labels([c[0] for k in order for c in cells[k]])
        labels = iter(labels.tolist())
        splits: dict[str, list[Item]] = {k: [(r[0], next(labels)) for r in by_split[k]] for k in order}
    else:
        def place(split: str, i: int | None, j: int, problem: str, expected: str) -> Exception:
            where = at(by_split[split][i], columns[j]) if i is not None else dict(path=path, column=columns[j])
            return DataError(f"{{at}}: {problem}", expected=expected, **where)

        found = encode_rows(cells, columns, task, place, note)
        class_names = found.names
        splits = {k: [(r[0], tuple(v)) for r, v in zip(by_split[k], found.y[k].tolist())] for k in order}
    return load_items("manifest", path, splits, class_names, seed=seed, val_fraction=val_fraction,
                      image_size=image_size, cache_dir=cache_dir, augment_kind=None, task=task, task_note=note)
