"""The user's input files as predict and explain take them: image files and folders of them, CSV files of series."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from resnet_any.errors import UserError, read_text_file


def open_image(path: str | Path) -> Any:
    """Open and fully decode an image file, or raise a UserError naming it."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"image file {str(p)!r} does not exist")
    try:
        with warnings.catch_warnings():
            # PIL only warns between its limit and twice it: a 150-megapixel file would still be decoded
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                img.load()
                return img.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"image {str(p)!r} is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise UserError(f"cannot read image {str(p)!r}: {' '.join(str(e).split()) or type(e).__name__}") from None


def read_series_csv(path: str | Path, channels: int = 1) -> list[np.ndarray]:
    """Series from a CSV file: one series per row (univariate), or one series of `channels` rows per file."""
    p = Path(path)
    text = read_text_file(p, "series file")
    rows = []
    dialect = "excel-tab" if "\t" in text else "excel"
    for n, row in enumerate(csv.reader(text.splitlines(), dialect=dialect), 1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        try:
            rows.append(np.array([float(c) for c in cells]))
        except ValueError:
            hint = ("; a table with a header row (and ids or labels) is read by --dataset FILE" if n == 1 else "")
            raise UserError(f"{str(p)!r} line {n}: series values must be numbers, got {row[:3]!r}...{hint}") from None
    if not rows:
        raise UserError(f"series file {str(p)!r} holds no rows")
    if channels == 1:
        return rows
    if len(rows) != channels or len({len(r) for r in rows}) != 1:
        raise UserError(f"{str(p)!r}: a {channels}-channel model needs {channels} rows of equal length per file")
    return [np.stack(rows)]


def image_paths(args: Sequence[str]) -> list[str]:
    """FILE arguments of an image model as files: a folder stands for every image under it, as a folder dataset reads it."""
    from resnet_any.data.images.decode import IMAGE_EXTENSIONS, image_files

    out: list[str] = []
    for a in args:
        p = Path(a).expanduser()
        if not p.is_dir():
            out.append(a)
            continue
        found = image_files(p)  # recursive, sorted, hidden files skipped: the folder dataset's own walk
        if not found:
            raise UserError(f"folder {a!r} holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        out += [str(f) for f in found]
    return out


TABLE_SUFFIXES = (".parquet", ".npz")


def is_table(path: str | Path) -> bool:
    """Whether a series FILE argument is a table (read as --dataset FILE reads it), not rows of bare numbers.

    Parquet and npz files are always tables; a CSV or TSV file is one when its first line holds a cell that is
    not a number (a header row), the same line that read_series_csv refuses with that advice.
    """
    p = Path(path).expanduser()
    if p.suffix.lower() in TABLE_SUFFIXES:
        return True
    if not p.is_file():
        return False
    try:
        with open(p, encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False  # read_series_csv reports it
    cells = [c.strip() for c in next(csv.reader([first], dialect="excel-tab" if "\t" in first else "excel"), [])]
    for c in cells:
        if c:
            try:
                float(c)
            except ValueError:
                return True
    return False


def node_folder(path: Path, data: dict[str, Any]) -> tuple[Any, Any]:
    """(the node table, its one graph) of a nodes.csv/edges.csv folder, features prepared as training prepared them."""
    from resnet_any.data import csv_graphs

    table = csv_graphs.read_nodes(path, directed=bool(data.get("directed", False)), labels=False,
                                 label_columns=tuple(data.get("target_columns") or ("label",)))
    graph = csv_graphs.node_data(table)
    csv_graphs.features_for_model([graph], table.feature_columns, data, path / csv_graphs.NODES)
    return table, graph


def graph_folder(path: Path, data: dict[str, Any]) -> Any:
    """The graph table of a graphs.csv folder, every graph's features prepared as training prepared them."""
    from resnet_any.data import csv_graphs

    gt = csv_graphs.read_graphs(path, directed=bool(data.get("directed", False)), labels=False,
                                label_columns=tuple(data.get("target_columns") or ("label",)))
    csv_graphs.features_for_model(gt.graphs, gt.feature_columns, data,
                                  path / (csv_graphs.NODES if gt.has_nodes_file else csv_graphs.EDGES))
    return gt
