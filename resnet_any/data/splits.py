"""Seeded stratified splits and the in-memory tensor dataset every classify loader returns."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

# Datasets without an official test split hold out this fraction of everything for test.
TEST_FRACTION = 0.2
# The names a user may give a split (a folder, a file stem, a manifest or nodes.csv cell), lower-cased -> the split.
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


class ArrayDataset(Dataset):
    """(x, y) pairs backed by two tensors; `.x` and `.y` let a trainer batch by indexing, no DataLoader.

    y: class indices (N,), kept as int64; or float targets (N, K) of regression and multi-label (NaN = missing).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        self.x = x
        self.y = y.float() if y.is_floating_point() and y.ndim == 2 else y.long()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        return self.x[i], self.y[i] if self.y.ndim == 2 else int(self.y[i])

    def __repr__(self) -> str:
        return f"ArrayDataset(n={len(self)}, x={tuple(self.x.shape)}, dtype={self.x.dtype})"

    def subset(self, idx: np.ndarray | torch.Tensor) -> "ArrayDataset":
        """A new ArrayDataset holding the samples at `idx` (copies, so the parent can be freed)."""
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return ArrayDataset(self.x[idx].clone(), self.y[idx].clone())


def stratified_split(labels: Sequence[int] | np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (keep, held_out) with about `fraction` of every class held out, seeded.

    The held-out total is round(fraction * n), shared out by largest remainder. A class always
    keeps at least one sample on the kept side, so classes with a single sample end up only
    there instead of failing as sklearn's train_test_split does.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if labels.ndim > 1 or labels.dtype.kind == "f":
        # regression values or tag sets (N, K): no classes to stratify by, a seeded random split
        labels = np.zeros(n, dtype=np.int64)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(classes))]
    counts = np.array([len(m) for m in members])
    capacity = counts - 1
    total = min(int(round(fraction * n)), int(capacity.sum()))
    if fraction > 0 and total == 0 and capacity.sum() > 0:
        total = 1  # a requested split should never come back empty when it can be filled
    raw = fraction * counts if fraction > 0 else np.zeros(len(counts))
    take = np.minimum(np.floor(raw).astype(int), capacity)
    # Largest remainder first; ties broken by class order so the result is deterministic.
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    while take.sum() < total:
        progressed = False
        for k in order:
            if take.sum() >= total:
                break
            if take[k] < capacity[k]:
                take[k] += 1
                progressed = True
        if not progressed:
            break
    while take.sum() > total:
        k = int(np.argmax(take))
        take[k] -= 1
    keep, held = [], []
    for k, m in enumerate(members):
        perm = rng.permutation(m)
        held.append(perm[: take[k]])
        keep.append(perm[take[k]:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def train_val_test(labels: Sequence[int] | np.ndarray, val_fraction: float, seed: int = 0,
                   test_fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded stratified (train, val, test) indices: test first, then val as a fraction of the rest."""
    labels = np.asarray(labels)
    rest, test = stratified_split(labels, test_fraction, seed)
    tr, va = stratified_split(labels[rest], val_fraction, seed + 1)
    return rest[tr], rest[va], test


def label_sort_key(label: str) -> tuple:
    """Sort numeric labels by value ("2" before "10") and the rest as text, numbers first."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def canonical_label(value: object) -> str:
    """The label as a string; numeric labels lose float noise ("1.0000e+00" -> "1")."""
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode()
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if np.isfinite(number) and number == int(number):
        return str(int(number))
    return repr(number)


def encode_labels(*label_lists: Sequence[object]) -> tuple[list[np.ndarray], list[str]]:
    """Map raw labels of several splits to 0..K-1 with class names sorted stably (numeric by value)."""
    texts = [[canonical_label(v) for v in labels] for labels in label_lists]
    names = sorted({t for ts in texts for t in ts}, key=label_sort_key)
    index = {name: i for i, name in enumerate(names)}
    return [np.array([index[t] for t in ts], dtype=np.int64) for ts in texts], names
