"""Dataset layer: `load_dataset(domain, name, data_dir)` -> DataSplits for images, series, graphs and volumes.

Every domain has an embedded default that needs no network (digits, GunPoint, Cora). Domain
modules are imported on first use: aeon and torch_geometric take seconds to import.

`name` may also be a path to the user's own files: series tables (data/tables.py), graph CSV
folders (data/csv_graphs.py), and for images and volumes whatever their module's `load_path` reads.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from ..errors import UserError
from .base import DataSplits
from .images import augment, normalize, preprocess_image
from .series import preprocess_series
from .splits import ArrayDataset

DOMAINS = {"image": "images", "series": "series", "graph": "graphs", "volume": "volumes"}
# file suffixes that mark a --dataset value as a path (domains whose path readers live in this package)
PATH_SUFFIXES = {"series": (".csv", ".tsv", ".parquet", ".npz"), "graph": (".csv",), "volume": (".npz",)}

__all__ = ["ArrayDataset", "DataSplits", "DOMAINS", "augment", "dataset_path", "default_dataset", "infer_domain", "list_datasets", "load_dataset",
           "normalize", "preprocess_image", "preprocess_series"]


def _module(domain: str) -> ModuleType:
    """The loader module of a domain, or a UserError listing the valid domains."""
    key = str(domain).lower()
    if key not in DOMAINS:
        raise UserError(f"unknown domain {domain!r}; valid: {', '.join(DOMAINS)}", public=True)
    try:
        return importlib.import_module(f".{DOMAINS[key]}", __name__)
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{DOMAINS[key]}":
            raise  # a dependency the module needs: its own message says which
        raise UserError(f"domain {key!r} is not available in this installation ({e.name} is missing)") from None


def list_datasets(domain: str) -> list[str]:
    """Dataset names of a domain, the embedded default first."""
    return _module(domain).list_datasets()


def default_dataset(domain: str) -> str:
    """The embedded, offline default dataset of a domain."""
    return _module(domain).DEFAULT


def dataset_path(domain: str, name: str | None, data_dir: str | None) -> Path | None:
    """`name` as an existing file or folder (with ~ expanded), or None when it is a dataset name.

    A bare word (no separator, no suffix) stays a name when data_dir is given (it names a dataset
    there) or when it is one of the domain's dataset names ("cora", "GunPoint"), even if a folder of
    that name happens to sit in the working directory.
    """
    if name is None or not str(name).strip():
        return None
    text = str(name)
    path = Path(text).expanduser()
    if not path.exists():
        # a missing file spelled as a path gets the reader's "does not exist" (not "unknown dataset")
        looks_like_path = bool(set(text) & {"/", "\\"}) or text.startswith("~") \
            or path.suffix.lower() in PATH_SUFFIXES.get(domain, ())
        return path if looks_like_path and domain in PATH_SUFFIXES else None
    bare = not (set(text) & {"/", "\\", "~"}) and text not in (".", "..") and not path.suffix
    if bare and data_dir is not None:
        return None
    if bare:
        try:
            known = {n.lower() for n in list_datasets(domain)}
        except Exception:  # noqa: BLE001 - a domain module that cannot list names: trust the path
            known = set()
        if text.lower() in known:
            return None
    return path


IMAGE_SUFFIXES = (".jsonl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def infer_domain(name: str | None) -> str | None:
    """The domain a path's files belong to, read from their layout; None for names and unknown layouts."""
    if not name:
        return None
    path = Path(str(name)).expanduser()
    if not path.exists():
        return None
    if path.is_dir():
        entries = {e.name.lower(): e for e in path.iterdir() if not e.name.startswith(".")}
        if {f"{t}.{s}" for t in ("nodes", "edges", "graphs") for s in ("csv", "parquet")} & set(entries):
            return "graph"
        if any(Path(n).stem in ("train", "test") and Path(n).suffix in PATH_SUFFIXES["series"] for n in entries):
            return "series"
        files = [f for d in path.rglob("*") if d.is_dir() for f in list(d.iterdir())[:3] if f.is_file()][:50]
        if any(f.suffix.lower() == ".npy" for f in files):
            return "volume"
        from .images import IMAGE_EXTENSIONS

        return "image" if any(f.suffix.lower() in IMAGE_EXTENSIONS for f in files) else None
    name_lower = path.name.lower()
    if name_lower.endswith(IMAGE_SUFFIXES):
        return "image"
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", errors="replace") as f:
            header, first = f.readline().lower(), f.readline()
        cells = [c.strip().strip('"') for c in header.split(",")]
        if "file" in cells and "label" not in cells and len(first.split(",")) == len(cells):
            # a manifest whose targets are columns (data/images/manifests.py): its file cells name images
            from .images import IMAGE_EXTENSIONS

            cell = first.split(",")[cells.index("file")].strip().strip('"')
            return "image" if Path(cell).suffix.lower() in IMAGE_EXTENSIONS else "series"
        return "image" if {"file", "label"} <= set(cells) else "series"
    if path.suffix.lower() in (".tsv", ".parquet"):
        return "series"
    if path.suffix.lower() == ".npz":
        import zipfile

        import numpy as np

        try:  # the header of x.npy only: loading the array to learn its rank would inflate all of it
            with zipfile.ZipFile(path) as z, z.open("x.npy") as f:
                fmt = np.lib.format
                read = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
                shape = read(f)[0]
            ndim = len(shape)
        except Exception:  # noqa: BLE001 - the reader says what is wrong with the file
            return None
        return {2: "series", 3: "series", 4: "volume", 5: "volume"}.get(ndim)
    return None


def load_dataset(domain: str, name: str | None = None, data_dir: str | None = None, *, seed: int = 0,
                 val_fraction: float = 0.2, image_size: int | None = None, cache_dir: str | None = None,
                 label_column: str = "label", directed: bool = False, task: str | None = None) -> DataSplits:
    """Load dataset `name` (case-insensitive; None = the domain's embedded default) as train/val/test splits.

    `name` may be a path: a series table or folder of tables (label_column names the label column, or several
    target columns "a,b,c"), a graph folder of CSV files (directed keeps edges as given; label_column names the
    target columns of nodes.csv or graphs.csv alike), or an image/volume path. `task` (classify,
    regress, multilabel; None: inferred from the labels, data/targets.py) says what the labels are.
    """
    from .targets import check_task

    check_task(task)
    told = {} if task is None else {"task": task}
    module = _module(domain)
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if image_size is not None and int(image_size) < 1:
        raise UserError(f"image_size must be >= 1, got {image_size}")
    key = str(domain).lower()
    path = dataset_path(key, name, data_dir)
    if path is not None:
        if key == "series":
            from .tables import load_path

            return load_path(path, seed=seed, val_fraction=val_fraction, label_column=label_column, **told)
        if key == "graph":
            from .csv_graphs import load_path

            return load_path(path, seed=seed, val_fraction=val_fraction, directed=directed, label_column=label_column,
                             **told)
        if hasattr(module, "load_path"):
            return module.load_path(path, seed=seed, val_fraction=val_fraction, image_size=image_size,
                                    cache_dir=None if cache_dir is None else str(cache_dir), **told)
    if key == "image" and str(name).lower() == "manifest" and task is not None:
        from .images import load_manifest

        return load_manifest(None if data_dir is None else str(data_dir), seed=seed, val_fraction=val_fraction,
                             image_size=image_size, cache_dir=None if cache_dir is None else str(cache_dir), task=task)
    if task not in (None, "classify"):
        raise UserError(f"--task {task}: dataset {name or module.DEFAULT!r} is a built-in classification set; "
                        "other tasks read your own files (--dataset PATH) or fit's arrays", public=True)
    return module.load(name, None if data_dir is None else str(data_dir), seed=seed, val_fraction=val_fraction,
                       image_size=image_size, cache_dir=None if cache_dir is None else str(cache_dir))
