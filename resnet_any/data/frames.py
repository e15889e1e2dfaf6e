"""Reading a user's CSV, TSV or Parquet file as a pandas DataFrame, and the one-line errors that name its rows.

The general kit the path readers share (series tables, graph CSV folders): `read_frame` reads a file with
stripped column names and blank rows dropped, `numeric_values` checks its cells are numbers, the `require_*`
checks refuse missing columns, empty cells and duplicates, and `Where` names a row the way the file's user
counts rows (a spreadsheet's CSV rows from the header as row 1, Parquet data rows from 1, .npz samples from 0).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ..errors import DataError, UserError

if TYPE_CHECKING:  # pandas loads on first read: the CLI's --help stays fast
    import pandas as pd

# pandas' default missing-value spellings, plus "?" (the UCR/UEA archives' missing value)
try:
    from pandas._libs.parsers import STR_NA_VALUES as _PANDAS_NA
except ImportError:  # pragma: no cover - a future pandas moving the constant
    _PANDAS_NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                  "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
NA_VALUES = sorted(set(_PANDAS_NA) | {"?"})
_NA_LOWER = {v.lower() for v in NA_VALUES}


# ---------------------------------------------------------------- where things are, for messages

class Where:
    """Names a row of a file the way its user counts rows, for one-line error messages."""

    CONVENTIONS = {"text": "as a spreadsheet counts rows: the header is row 1",
                   "parquet": "data rows counted from 1",
                   "npz": "counted from 0 along the first axis"}

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind

    def number(self, i: int) -> int:
        """The row number a user sees for the 0-based data row `i`."""
        return i + 2 if self.kind == "text" else i + 1 if self.kind == "parquet" else i

    @property
    def unit(self) -> str:
        """What a row is called: a sample of an .npz, a row of a table."""
        return "sample" if self.kind == "npz" else "row"

    def row(self, i: int) -> str:
        """"row 7" (or "sample 7") for the 0-based data row `i`."""
        return f"{self.unit} {self.number(i)}"

    def error(self, problem: str, i: int | None = None, column: str | None = None, *, value: object = None,
              expected: str | None = None) -> DataError:
        """The DataError "'file' row 7 (convention), column 'c': problem" at 0-based data row `i` and `column`.

        When `problem` quotes what was read from the file (`value`), `expected` is `problem` without it.
        """
        return DataError(f"{{at}}: {problem}", path=self.path, row=None if i is None else self.number(i),
                         column=column, value=value, expected=expected, unit=self.unit,
                         counting=None if i is None else self.CONVENTIONS[self.kind])


def list_names(names: Iterable[object], limit: int = 12) -> str:
    """'a', 'b', ... and N more: the columns (or files) found, for messages."""
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "none"


def cell_text(value: object) -> str:
    """A cell's text quoted and cut to 30 characters, for messages."""
    text = str(value)
    return repr(text[:30] + ("..." if len(text) > 30 else ""))


# ---------------------------------------------------------------- reading frames

def read_frame(path: Path, text_columns: Iterable[str] = (), *, exact: bool = True) -> tuple[pd.DataFrame, Where]:
    """A CSV/TSV (by suffix) or Parquet file as a DataFrame with stripped column names and blank rows dropped.

    `text_columns` are read as stripped strings (only an empty cell is missing); the others as numbers
    where pandas can (the caller checks them with `numeric_values`). The frame's index is the 0-based
    data row, so Where(path, kind).row(index) names the row a user sees.
    Returns (frame, Where).
    """
    import pandas as pd

    text_columns = set(text_columns)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataError("{path} does not exist or is not a file", path=path)
    if suffix == ".parquet":
        where = Where(path, "parquet")
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError and more on bad files
            reason = ' '.join(str(e).split())[:200]
            raise DataError(f"cannot read Parquet file {{path}}: {reason}", path=path, value=reason,
                            expected="cannot read it as a Parquet file") from None
        df.columns = [str(c).strip() for c in df.columns]
        if not len(df.columns):
            raise DataError("{path} is empty (no columns); expected a header row naming the columns", path=path)
        for c in df.columns:
            if c in text_columns:
                df[c] = _text(df[c])
        df = df.reset_index(drop=True)
    else:
        where = Where(path, "text")
        sep = "\t" if suffix == ".tsv" else ","
        try:
            header = pd.read_csv(path, sep=sep, nrows=0, skipinitialspace=True)
            names = list(header.columns)
            stripped = {c: str(c).strip() for c in names}
            na_values = {c: ([""] if stripped[c] in text_columns else NA_VALUES) for c in names}
            dtype = {c: str for c in names if stripped[c] in text_columns}
            # index_col=False: a row with more cells than the header is an error, not an index pandas invents
            df = pd.read_csv(path, sep=sep, skipinitialspace=True, keep_default_na=False, na_values=na_values,
                             dtype=dtype, skip_blank_lines=False, index_col=False,
                             float_precision="round_trip" if exact else None)
        except pd.errors.EmptyDataError:
            expected = "expected a header row naming the columns, then one row per record"
            raise DataError(f"{{path}} is empty; {expected}", path=path) from None
        except pd.errors.ParserError as e:
            reason = ' '.join(str(e).split())[:200]
            raise DataError(f"cannot parse {{path}}: {reason} (line 1 is the header)", path=path, value=reason,
                            expected=f"cannot parse it as {'tab' if sep == chr(9) else 'comma'}-separated text; every "
                                     f"row needs as many cells as the header") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{{path}} is not UTF-8 text: {e}", path=path, value=str(e),
                            expected="the file is not UTF-8 text") from None
        except (OSError, ValueError) as e:
            reason = ' '.join(str(e).split())[:200]
            raise DataError(f"cannot read {{path}}: {reason}", path=path, value=reason,
                            expected="cannot read the file") from None
        df.columns = [stripped[c] for c in names]
        for c in df.columns:
            if c in text_columns:
                df[c] = _text(df[c])
        blank = df.isna().all(axis=1)
        if blank.any():
            df = df[~blank]
    if not len(df):
        raise DataError(f"{{path}} has a header ({list_names(df.columns, 6)}) but no data rows", path=path,
                        value=list(df.columns), expected="the file has a header but no data rows")
    unnamed = [i for i, c in enumerate(df.columns) if not str(c) or str(c).startswith("Unnamed: ")]
    if unnamed:
        # pandas' to_csv writes its row index as a first column without a name; read as a time step it would
        # shift every series by one value and train on the row numbers
        i = unnamed[0]
        raise DataError("{at} has no name in the header (pandas writes its index so: save with index=False); name "
                        "the column or drop it", path=path, column=f"#{i + 1}")
    return df, where


def _text(col: pd.Series) -> pd.Series:
    """A column as stripped strings (bytes decoded), with empty cells missing (None)."""
    import pandas as pd

    def one(v: object) -> str | None:
        if v is None or (not isinstance(v, (str, bytes)) and pd.isna(v)):
            return None
        text = (v.decode(errors="replace") if isinstance(v, bytes) else str(v)).strip()
        return text or None

    return pd.Series([one(v) for v in col.tolist()], index=col.index, dtype=object)


def numeric_values(df: pd.DataFrame, where: Where, *, missing: str | None = None, finite: bool = False) -> np.ndarray:
    """The frame's cells as a float64 array; a non-numeric cell is a UserError naming its row and column.

    missing: None to allow empty cells (NaN), else the reason they are not allowed (a UserError names the first).
    finite: also refuse inf.
    """
    import pandas as pd

    first = None  # (row position, column, raw value)
    columns = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            columns[c] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        text = col.map(lambda v: str(v).strip(), na_action="ignore")
        num = pd.to_numeric(text, errors="coerce")
        empty = text.isna() | text.astype(str).str.lower().isin(_NA_LOWER)
        bad = np.flatnonzero((~empty & num.isna()).to_numpy())
        if len(bad) and (first is None or bad[0] < first[0]):
            first = (int(bad[0]), c, col.iloc[bad[0]])
        columns[c] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    if first is not None:
        pos, c, value = first
        expected = "expected numeric values" + (" (empty cells for missing ones)" if missing is None else "")
        raise where.error(f"{cell_text(value)} is not a number; {expected}", int(df.index[pos]), c, value=value,
                          expected=f"the cell is not a number; {expected}")
    values = np.column_stack([columns[c] for c in df.columns]) if columns else np.zeros((len(df), 0))
    if missing is not None or finite:
        bad_mask = np.isnan(values) if missing is not None else np.zeros(values.shape, bool)
        if finite:
            bad_mask |= np.isinf(values)
        if bad_mask.any():
            r, k = (int(v[0]) for v in np.nonzero(bad_mask))
            cell = "empty" if np.isnan(values[r, k]) else f"{values[r, k]}"
            reason = missing or 'expected a finite number'
            raise where.error(f"{cell} cell; {reason}", int(df.index[r]), str(df.columns[k]), value=cell,
                              expected=f"{'empty' if cell == 'empty' else 'infinite'} cell; {reason}")
    return values


def missing_columns_error(path: Path, missing: Sequence[str], found: Sequence[str], expected: str) -> UserError:
    """The UserError for absent required columns, listing the ones found (with hints for common slips)."""
    hint = ""
    if len(found) == 1 and any(s in str(found[0]) for s in (";", "\t", "|")):
        hint = " (the header looks separated by something else than the file's suffix says: save as comma-separated .csv or tab-separated .tsv)"
    elif found and all(_is_number(c) for c in found):
        hint = " (the first row looks like data: the file needs a header row naming its columns)"
    which = ", ".join(repr(m) for m in missing)
    no = f"has no column{'s' if len(missing) > 1 else ''} {which}"
    return DataError(f"{{path}} {no}; found columns {list_names(found)}; expected {expected}{hint}", path=path,
                     value=list(found), expected=f"the file {no}; expected {expected}{hint}")


def _is_number(text: object) -> bool:
    try:
        float(str(text))
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- checks on a frame

def require_columns(df: pd.DataFrame, path: Path, columns: list[str], expected: str) -> None:
    """The frame has every one of `columns`, else the UserError of missing_columns_error."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise missing_columns_error(path, missing, list(df.columns), expected)


def require_values(df: pd.DataFrame, where: Where, column: str, what: str) -> None:
    """Every row has a value in `column` (a text column), else a UserError naming the first row without."""
    empty = df[column].isna().to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise where.error(f"the {what} is missing; every row needs one", int(df.index[i]), column)


def require_unique(df: pd.DataFrame, where: Where, columns: list[str], what: str) -> None:
    """No two rows share the values of `columns`, else a UserError naming the second row and the first."""
    dup = df.duplicated(subset=columns, keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        values = tuple(df[c].iloc[i] for c in columns)
        same = np.ones(len(df), bool)
        for c, v in zip(columns, values):
            same &= (df[c] == v).to_numpy()
        j = int(np.flatnonzero(same)[0])
        shown = " ".join(f"{c} {v!r}" for c, v in zip(columns, values))
        first = where.row(int(df.index[j]))
        verb = "appears" if len(columns) == 1 else "appear"
        raise where.error(f"{shown} already appears in {first}; {what} must be unique", int(df.index[i]), columns[-1],
                          value=values, expected=f"the same {' and '.join(columns)} already {verb} in {first}; "
                                                 f"{what} must be unique")


def read_optional_frame(path: Path, text: set[str]) -> tuple[pd.DataFrame, Where]:
    """read_frame, but a file with a header and no rows is an empty frame (an edge list may be empty)."""
    import pandas as pd

    try:
        return read_frame(path, text, exact=False)
    except UserError as e:
        if "but no data rows" not in str(e):
            raise
        header = pd.read_csv(path, nrows=0, skipinitialspace=True)
        columns = [str(c).strip() for c in header.columns]
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns}), Where(path, "text")


def lookup(index: pd.Index, values: list, df: pd.DataFrame, where: Where, column: str, ref: str, public_ref: str) -> np.ndarray:
    """Positions of `values` in `index`; the first value not found is a UserError naming its row.

    `public_ref` is `ref` naming files by their name only (no folder), for messages to remote users.
    """
    pos = index.get_indexer(values)
    if (pos < 0).any():
        i = int(np.flatnonzero(pos < 0)[0])
        v = values[i]
        raise where.error(f"{v!r} is not {ref}", int(df.index[i]), column, value=v, expected=f"the value is not {public_ref}")
    return pos


def time_order(col: pd.Series, where: Where, column: str) -> np.ndarray:
    """The time column as sortable numbers (numbers, or dates/times as nanoseconds)."""
    import pandas as pd

    empty = col.isna()
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise where.error("the time is missing; expected a number or a date on every row", int(col.index[i]),
                          column)
    num = pd.to_numeric(col, errors="coerce")
    if not num.isna().any():
        return num.to_numpy(dtype=np.float64)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(col, errors="coerce", format="mixed")
    except (ValueError, TypeError):
        stamps = None
    if stamps is not None and not stamps.isna().any():
        return stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
    bad = num.isna() if stamps is None else (num.isna() & stamps.isna())
    i = int(np.flatnonzero(bad.to_numpy())[0])
    expected = "expected the time step's position (numbers) or a date, the same kind on every row"
    raise where.error(f"{cell_text(col.iloc[i])} is neither a number nor a date; {expected}", int(col.index[i]), column,
                      value=col.iloc[i], expected=f"the cell is neither a number nor a date; {expected}")
