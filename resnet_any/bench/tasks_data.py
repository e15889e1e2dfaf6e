"""The data of `bench tasks`: regression and multi-label sets built from real data, each with a documented meaning.

Series (aeon ships them):
- Covid3Month, CardanoSentiment: the two extrinsic-regression problems of Tan et al. (2021) that aeon ships, with
  their own train/test splits (`aeon.datasets.load_regression`).
- forecasting windows (`windows`): a forecasting series cut into overlapping windows. Input: `w` consecutive values
  (one channel, raw units); target: the mean of the `k` values that follow the window. Windows are split by time:
  the earliest `1 - test_fraction` of them train, the latest test, and the `k - 1` windows between are dropped
  so that no training target shares a time step with a test target. Airline (monthly passengers 1949-1960, 144
  values): w = 24 months, k = 3 (the mean of the next quarter); its test windows lie above every training level
  (the trend), so it asks for extrapolation. solar (half-hourly national solar generation over 6 days, 289
  values): w = 48 (one day), k = 6 (the mean of the next 3 hours); the daily cycle carries the signal.

Images (MNIST, ../shared/data/MNIST/raw): `canvases` pastes 2-4 MNIST digits, each cropped to the bounding box of
its ink, at random non-overlapping positions on a black square canvas (uint8, (N, 1, S, S)); the pixels of the
canvas are the maximum of the digits pasted there. Multi-label target: the set of digit classes present, multi-hot
float (N, 10) (a class pasted twice is one tag); count target: the number of digits pasted, float (N, 1). Train and
validation canvases take their digits from MNIST's training images, test canvases from its test images.

Graphs (MUTAG, ../shared/data/TUDataset): the target of each molecule is its number of rings, the cycle rank of its
undirected graph, E - N + C (edges, atoms, connected components; hydrogens are not in MUTAG), which is the number of
independent cycles (the length of a cycle basis, networkx's `cycle_basis`; naphthalene's two fused rings give 2). It
is stored as y float of shape [1]; the node features (one-hot atom type) and edges are MUTAG's own; the split is a
seeded random permutation.
"""
from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_any.errors import UserError

# name -> (aeon loader, window w, horizon k): the forecasting-window sets and their documented windows
WINDOW_SETS = {"Airline-w24-k3": ("load_airline", 24, 3), "solar-w48-k6": ("load_solar", 48, 6)}
EXTRINSIC = ("Covid3Month", "CardanoSentiment")


def shared_root(data_dir: str | None = None) -> Path:
    """../shared/data beside the repository (or RESNET_ANY_SHARED_DATA, or --data-dir): MNIST/ and TUDataset/."""
    env = data_dir or os.environ.get("RESNET_ANY_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    if not root.is_dir():
        raise UserError(f"shared data not found at {root}; pass --data-dir or set RESNET_ANY_SHARED_DATA to the "
                        "folder holding MNIST/ and TUDataset/")
    return root


@dataclass
class Split:
    """One regression set: train and test arrays, and what it is."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meaning: str


# ---------------------------------------------------------------- series


def extrinsic(name: str) -> Split:
    """Covid3Month or CardanoSentiment with their own train/test splits, (N, C, L) float32 and y float64 (N,)."""
    from aeon.datasets import load_regression

    x_tr, y_tr = load_regression(name, split="train")
    x_te, y_te = load_regression(name, split="test")
    return Split(name, np.asarray(x_tr, np.float32), np.asarray(y_tr, np.float64), np.asarray(x_te, np.float32),
                 np.asarray(y_te, np.float64), "Tan et al. 2021 extrinsic regression, the archive's own split")


def windows(series: np.ndarray, w: int, k: int, test_fraction: float = 0.3) -> tuple[np.ndarray, ...]:
    """Windows of `w` values -> the mean of the next `k`; (x_train (N,1,w), y_train, x_test, y_test), split by time.

    Window i is series[i:i+w] and its target series[i+w:i+w+k].mean(). The last round(test_fraction * n) windows
    test; the k - 1 windows before the first test window are dropped, so no training target overlaps a test target.
    """
    s = np.asarray(series, np.float64).ravel()
    n = len(s) - w - k + 1
    if n < 2 * k + 4:
        raise UserError(f"a series of {len(s)} values is too short for windows of {w} + {k}")
    x = np.stack([s[i:i + w] for i in range(n)])[:, None].astype(np.float32)
    y = np.array([s[i + w:i + w + k].mean() for i in range(n)])
    first_test = n - max(1, round(test_fraction * n))
    train_end = first_test - k  # window first_test - k is the last whose target ends before first_test's target
    return x[:train_end + 1], y[:train_end + 1], x[first_test:], y[first_test:]


def window_set(name: str) -> Split:
    """One of WINDOW_SETS, from the series aeon ships."""
    import aeon.datasets as ds

    loader, w, k = WINDOW_SETS[name]
    series = np.asarray(getattr(ds, loader)(), np.float64)
    x_tr, y_tr, x_te, y_te = windows(series, w, k)
    return Split(name, x_tr, y_tr, x_te, y_te,
                 f"{loader[5:]}: input {w} steps, target the mean of the next {k}; split by time (train earlier)")


def series_sets(names: list[str], quick: bool = False) -> list[Split]:
    """The series regression sets by name; quick keeps every set but at most 40 training and 30 test samples."""
    out = []
    for name in names:
        split = extrinsic(name) if name in EXTRINSIC else window_set(name)
        if quick:
            split.x_train, split.y_train = split.x_train[:40], split.y_train[:40]
            split.x_test, split.y_test = split.x_test[:30], split.y_test[:30]
        out.append(split)
    return out


# ---------------------------------------------------------------- images


def load_mnist(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (N, 28, 28) uint8 and labels (N,) from the gzipped IDX files under root/MNIST/raw."""
    raw = root / "MNIST" / "raw"
    prefix = "train" if train else "t10k"
    try:
        with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
    except OSError as e:
        raise UserError(f"cannot read MNIST under {raw}: {e}") from None
    return images, labels


def ink_crop(image: np.ndarray) -> np.ndarray:
    """The digit cut to the bounding box of its non-zero pixels."""
    rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
    return image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def place(sizes: list[tuple[int, int]], size: int, rng: np.random.Generator,
          tries: int = 200) -> list[tuple[int, int]] | None:
    """Top-left corners for boxes of `sizes` on a size x size canvas, no two overlapping; None if none was found."""
    corners: list[tuple[int, int]] = []
    for h, w in sizes:
        for _ in range(tries):
            r, c = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
            if all(r + h <= r2 or r2 + h2 <= r or c + w <= c2 or c2 + w2 <= c
                   for (r2, c2), (h2, w2) in zip(corners, sizes)):
                corners.append((r, c))
                break
        else:
            return None
    return corners


@dataclass
class Canvases:
    """Canvases of pasted digits: x uint8 (N, 1, S, S), tags float (N, 10), count float (N, 1), and what was pasted."""

    x: np.ndarray
    tags: np.ndarray
    count: np.ndarray
    digits: list[list[int]]                     # the class of each digit pasted, per canvas
    picks: list[list[int]]                      # the index in `images` of each digit pasted, per canvas
    boxes: list[list[tuple[int, int, int, int]]]  # (row, col, height, width) of each, per canvas


def canvases(images: np.ndarray, labels: np.ndarray, n: int, *, size: int = 64, low: int = 2, high: int = 4,
             seed: int = 0) -> Canvases:
    """`n` canvases of `low`..`high` digits drawn at random from (images, labels); see the module docstring."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, size, size), np.uint8)
    tags = np.zeros((n, 10), np.float32)
    count = np.zeros((n, 1), np.float32)
    all_digits, all_picks, all_boxes = [], [], []
    for i in range(n):
        while True:
            m = int(rng.integers(low, high + 1))
            picks = rng.choice(len(images), m, replace=False)
            crops = [ink_crop(images[j]) for j in picks]
            corners = place([c.shape for c in crops], size, rng)
            if corners is not None:
                break
        for crop, (r, c) in zip(crops, corners):
            h, w = crop.shape
            np.maximum(x[i, 0, r:r + h, c:c + w], crop, out=x[i, 0, r:r + h, c:c + w])
        digits = [int(labels[j]) for j in picks]
        tags[i, digits] = 1.0
        count[i, 0] = m
        all_digits.append(digits)
        all_picks.append([int(j) for j in picks])
        all_boxes.append([(r, c, *crop.shape) for crop, (r, c) in zip(crops, corners)])
    return Canvases(x, tags, count, all_digits, all_picks, all_boxes)


def canvas_splits(root: Path, sizes: tuple[int, int, int], size: int = 64, seed: int = 0) -> dict[str, Canvases]:
    """train/val canvases from MNIST's training digits, test canvases from its test digits (seeded)."""
    tr_images, tr_labels = load_mnist(root, train=True)
    te_images, te_labels = load_mnist(root, train=False)
    # train and val draw from disjoint halves of MNIST's training images, so no digit image is in both
    half = len(tr_images) // 2
    return {"train": canvases(tr_images[:half], tr_labels[:half], sizes[0], size=size, seed=seed),
            "val": canvases(tr_images[half:], tr_labels[half:], sizes[1], size=size, seed=seed + 1),
            "test": canvases(te_images, te_labels, sizes[2], size=size, seed=seed + 2)}


# ---------------------------------------------------------------- graphs


def cycle_rank(edge_index: Any, num_nodes: int) -> int:
    """E - N + C of the undirected simple graph of `edge_index` (either direction, self-loops ignored)."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(num_nodes))
    g.add_edges_from((int(a), int(b)) for a, b in np.asarray(edge_index).T if a != b)
    return g.number_of_edges() - g.number_of_nodes() + nx.number_connected_components(g)


def mutag_rings(root: Path, seed: int = 0, fractions: tuple[float, float] = (0.6, 0.2)) -> dict[str, list]:
    """MUTAG's graphs with y = [rings] (float), split train/val/test by a seeded permutation (60/20/20)."""
    import torch
    from torch_geometric.datasets import TUDataset

    src = root / "TUDataset" / "MUTAG"
    if not (src / "raw").is_dir():
        raise UserError(f"MUTAG not found at {src}/raw")
    with tempfile.TemporaryDirectory(prefix="resnet_any_tasks_") as tmp:  # PyG writes processed/ beside raw/
        shutil.copytree(src / "raw", Path(tmp) / "MUTAG" / "raw")
        ds = TUDataset(tmp, "MUTAG")
        graphs = []
        for g in ds:
            g = g.clone()
            g.y = torch.tensor([float(cycle_rank(g.edge_index.numpy(), g.num_nodes))])
            graphs.append(g)
    order = np.random.default_rng(seed).permutation(len(graphs))
    n_tr, n_va = round(fractions[0] * len(graphs)), round(fractions[1] * len(graphs))
    pick = lambda idx: [graphs[i] for i in idx]  # noqa: E731
    return {"train": pick(order[:n_tr]), "val": pick(order[n_tr:n_tr + n_va]), "test": pick(order[n_tr + n_va:])}
