"""Image manifests: a JSON-lines or CSV file listing image paths, labels and optional splits.

`manifest_rows` is the reader alone (rows as listed, images not opened), for callers that check the
listed paths before loading; `load_manifest` decodes the images into DataSplits.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...errors import DataError
from ..base import DataSplits
from ..splits import SPLIT_NAMES, encode_labels
from ..storage import require_dir
from .decode import Item, load_items

MANIFEST_LAYOUT = ('a JSON-lines file with one {"file": PATH, "label": LABEL} object per line (PATH relative to the '
                   'manifest; optional "split": train/val/test), a .csv with columns file, label and optional split '
                   '(one row per image, a header first), or a folder holding exactly one *.jsonl (or one *.csv)')
CSV_LAYOUT = ("a .csv manifest: a header row naming the columns file, label and optionally split (train/val/test), "
              "then one row per image, PATH relative to the manifest")
# How CSV rows are numbered in messages ("row 3" is the third row of data).
CSV_ROWS = "rows counted from 1 below the header"

# (image path, raw label, split or "", where in the manifest: "line 3" / "row 3")
ManifestRow = tuple[Path, object, str, str]


def _jsonl_rows(path: Path) -> list[ManifestRow]:
    """Rows of a JSON-lines manifest; blank lines skipped."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{{at}}: invalid JSON ({e.msg}); expected {MANIFEST_LAYOUT}", path=path, row=lineno,
                                unit="line") from e
            if not isinstance(row, dict) or "file" not in row or "label" not in row:
                problem = 'row needs "file" and "label" keys'
                raise DataError(f"{{at}}: {problem}, got {line.strip()[:80]!r}", path=path,
                                row=lineno, unit="line", value=line.strip(), expected=f"the {problem}")
            split = str(row.get("split", "")).lower()
            if split and split not in SPLIT_NAMES:
                raise DataError(f"{{at}}: unknown split {row['split']!r}; valid: train, val, test",
                                path=path, row=lineno, unit="line", value=row["split"],
                                expected="unknown split; valid: train, val, test")
            rows.append((path.parent / str(row["file"]), row["label"], SPLIT_NAMES.get(split, ""), f"line {lineno}"))
    return rows


def _csv_rows(path: Path) -> list[ManifestRow]:
    """Rows of a CSV manifest (pandas, every cell read as text); column names match case-insensitively."""
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
    missing = [c for c in ("file", "label") if c not in columns]
    if missing:
        found = ", ".join(repr(c) for c in header)
        no = f"has no {' and no '.join(repr(c) for c in missing)} column"
        raise DataError(f"CSV manifest {{path}} {no} (found columns: {found}); expected {CSV_LAYOUT}", path=path,
                        value=header, expected=f"the CSV manifest {no}; expected {CSV_LAYOUT}")

    def column(name: str) -> list[str]:
        return body.iloc[:, columns[name]].str.strip().tolist() if name in columns else [""] * len(body)

    rows = []
    for i, (file, label, split) in enumerate(zip(column("file"), column("label"), column("split")), 1):
        where = f"row {i}"
        if not file and not label and not split:
            continue  # an all-empty row (",,"), as spreadsheets leave at the end
        at = dict(path=path, row=i, counting=CSV_ROWS)
        if not file:
            problem = "empty 'file' value; expected an image path relative to the manifest"
            raise DataError(f"{{at}}: {problem}", **at)
        if not label:
            raise DataError(f"{{at}}: empty 'label' value for {file!r}; every row needs a label", value=file,
                            expected="empty 'label' value; every row needs a label", **at)
        if split and split.lower() not in SPLIT_NAMES:
            raise DataError(f"{{at}}: unknown split {split!r} in column 'split'; valid: train, val, test", value=split,
                            expected="unknown split; valid: train, val, test", **at)
        rows.append((path.parent / file, label, SPLIT_NAMES.get(split.lower(), ""), where))
    return rows


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


def manifest_rows(path: Path) -> list[ManifestRow]:
    """The rows of a manifest (`path`, or the one manifest in the folder `path`), as listed: no image is opened."""
    path = _manifest_file(Path(path))
    return _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)


def load_manifest(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
                  image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """Images listed in a JSON-lines or CSV manifest, labels from the rows, optional per-row split."""
    path = _manifest_file(require_dir(data_dir, "manifest", MANIFEST_LAYOUT))
    csv = path.suffix.lower() == ".csv"
    rows = manifest_rows(path)
    if not rows:
        expected = f"expected {CSV_LAYOUT if csv else MANIFEST_LAYOUT}"
        raise DataError(f"manifest {{path}} has no rows; {expected}", path=path)
    (labels,), class_names = encode_labels([r[1] for r in rows])
    has_split = any(r[2] for r in rows)
    if has_split and not all(r[2] for r in rows):
        given = next(r for r in rows if r[2])
        lacking = next(r for r in rows if not r[2])
        note = f"; {CSV_ROWS}" if given[3].startswith("row") else ""
        raise DataError(f"manifest {{path}} gives \"split\" on some rows only ({given[3]} has {given[2]!r}, "
                        f"{lacking[3]} has none{note}); give it on every row or none", path=path)
    splits: dict[str, list[Item]] = {}
    for (file, _, split, _), label in zip(rows, labels):
        splits.setdefault(split or "train", []).append((file, int(label)))
    if "train" not in splits:
        advice = "give some rows split 'train', or leave split out to have train/val/test carved"
        raise DataError(f"manifest {{path}} has no train rows (splits found: {', '.join(sorted(splits))}); {advice}",
                        path=path)
    return load_items("manifest", path, splits, class_names, seed=seed, val_fraction=val_fraction,
                      image_size=image_size, cache_dir=cache_dir, augment_kind=None)
