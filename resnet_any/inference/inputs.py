"""The user's input files as predict and explain take them: image files, and CSV files of series."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

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
