"""Dataset layer: `load_dataset(domain, name, data_dir)` -> DataSplits for images, series and graphs.

Every domain has an embedded default that needs no network (digits, GunPoint, Cora). Domain
modules are imported on first use: aeon and torch_geometric take seconds to import.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UserError
from .base import DataSplits
from .images import augment, normalize, preprocess_image
from .series import preprocess_series
from .splits import ArrayDataset

DOMAINS = {"image": "images", "series": "series", "graph": "graphs"}

__all__ = ["ArrayDataset", "DataSplits", "DOMAINS", "augment", "default_dataset", "list_datasets", "load_dataset",
           "normalize", "preprocess_image", "preprocess_series"]


def _module(domain: str) -> ModuleType:
    """The loader module of a domain, or a UserError listing the valid domains."""
    key = str(domain).lower()
    if key not in DOMAINS:
        raise UserError(f"unknown domain {domain!r}; valid: {', '.join(DOMAINS)}")
    return importlib.import_module(f".{DOMAINS[key]}", __name__)


def list_datasets(domain: str) -> list[str]:
    """Dataset names of a domain, the embedded default first."""
    return _module(domain).list_datasets()


def default_dataset(domain: str) -> str:
    """The embedded, offline default dataset of a domain."""
    return _module(domain).DEFAULT


def load_dataset(domain: str, name: str | None = None, data_dir: str | None = None, *, seed: int = 0,
                 val_fraction: float = 0.2, image_size: int | None = None,
                 cache_dir: str | None = None) -> DataSplits:
    """Load dataset `name` (case-insensitive; None = the domain's embedded default) as train/val/test splits."""
    module = _module(domain)
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if image_size is not None and int(image_size) < 1:
        raise UserError(f"image_size must be >= 1, got {image_size}")
    return module.load(name, None if data_dir is None else str(data_dir), seed=seed, val_fraction=val_fraction,
                       image_size=image_size, cache_dir=None if cache_dir is None else str(cache_dir))
