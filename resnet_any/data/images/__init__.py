"""Image dataset readers: digits, MNIST (IDX), CIFAR (pickles), image folders and manifests (JSON lines, CSV).

Each reader returns DataSplits whose samples are uint8 tensors (C, H, W), decoded once through
`preprocess_image` and kept in memory, with meta (image_size, channels, mean, std, augment, ink)
computed from the training images. `load(name, data_dir)` picks a reader by name; `load_path(path)`
by what a path is (folder, manifest or archive).

The readers: named.py (digits, MNIST, CIFAR), folders.py (image trees and their archives), manifests.py
(JSON-lines and CSV lists of images; `manifest_rows` reads one without opening an image), decode.py
(decoding files through `preprocess_image`, the decode cache, the DataSplits they all return). The
per-image preprocessing lives in data/preprocess.py, batch augmentation in data/augmentation.py, archive
extraction in data/archives.py; `augment`, `normalize` and `preprocess_image` are re-exported here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ...errors import DataError, UserError
from ..archives import ARCHIVE_SUFFIXES, archive_stem, is_archive
from ..augmentation import augment
from ..base import DataSplits
from ..preprocess import normalize, preprocess_image
from .decode import IMAGE_EXTENSIONS
from .folders import load_folder
from .manifests import load_manifest, manifest_rows
from .named import load_cifar10, load_cifar100, load_digits, load_mnist, read_idx

__all__ = ["DATASETS", "DEFAULT", "IMAGE_EXTENSIONS", "augment", "list_datasets", "load", "load_cifar10", "load_cifar100",
           "load_digits", "load_folder", "load_manifest", "load_mnist", "load_path", "manifest_rows", "normalize",
           "preprocess_image", "read_idx"]

DEFAULT = "digits"

PATH_KINDS = ("a folder of class subfolders (ROOT/<class>/*.jpg, or ROOT/train/<class>/*.jpg with val/ and/or test/ "
              "alike), a manifest (.jsonl or .csv), or an archive (" + ", ".join(ARCHIVE_SUFFIXES) + ") of such a folder")


def load_path(path: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.2, image_size: int | None = None,
              cache_dir: str | None = None, task: str | None = None) -> DataSplits:
    """Load whatever `path` is: a folder or an archive (folder loader), a .jsonl or .csv file (manifest loader).

    The DataSplits is named after the folder, or the file without its suffix ("pets.csv" -> "pets"). `task`:
    what a manifest's targets are (None: inferred); a folder's labels are its class folders (classify).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"dataset path {{path}} does not exist; expected {PATH_KINDS}", path=p)
    kw = dict(seed=seed, val_fraction=val_fraction, image_size=image_size, cache_dir=cache_dir)
    targets = task not in (None, "classify")
    if targets and p.is_dir() and (any(p.glob("*.jsonl")) or any(p.glob("*.csv"))):
        splits, name = load_manifest(str(p), **kw, task=task), p.resolve().name  # a folder holding its manifest
    elif targets and p.suffix.lower() not in (".jsonl", ".csv"):
        raise UserError(f"--task {task}: an image folder's labels are its class folders; list numbers or tags in a "
                        "manifest (.csv or .jsonl: file, label 'a;b' or target columns)", public=True)
    elif p.is_dir():
        splits, name = load_folder(str(p), **kw), p.resolve().name
    elif p.suffix.lower() in (".jsonl", ".csv"):
        splits, name = load_manifest(str(p), **kw, task=task), p.stem
    elif is_archive(p):
        splits, name = load_folder(str(p), **kw), archive_stem(p)
    else:
        kind = f"a {p.suffix} file" if p.suffix else "a file without a suffix"
        raise DataError(f"cannot load {{path}} as an image dataset ({kind}); accepted: {PATH_KINDS}", path=p)
    splits.name = name or splits.name
    return splits


DATASETS: dict[str, Callable[..., DataSplits]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "folder": load_folder,
    "manifest": load_manifest,
}


def list_datasets() -> list[str]:
    """Image dataset names, default first."""
    return [DEFAULT] + sorted(n for n in DATASETS if n != DEFAULT)


def load(name: str | None, data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
         image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """Load an image dataset by (case-insensitive) name."""
    key = (name or DEFAULT).lower()
    if key not in DATASETS:
        raise UserError(f"unknown image dataset {name!r}; valid: {', '.join(list_datasets())}", public=True)
    return DATASETS[key](data_dir, seed=seed, val_fraction=val_fraction, image_size=image_size, cache_dir=cache_dir)
