"""Decoding image files into uint8 tensors, the decode cache, and the DataSplits every image reader returns.

Files are decoded once through `preprocess_image` (so training matches inference) and the result is cached
under the cache folder, keyed by the files' paths, sizes and mtimes and the decoding format.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ...errors import DataError, UserError
from ..base import DataSplits
from ..preprocess import GRAY_MODES, border_mean, flatten_mode, preprocess_image
from ..splits import TEST_FRACTION, ArrayDataset, stratified_split
from ..storage import cache_root, fingerprint, locked, tree_fingerprint

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
# A folder of large photos decoded at full size would not fit in memory; pass image_size to go higher.
MAX_DEFAULT_SIZE = 224
CACHE_VERSION = 1

# (image file, class index), or (image file, float targets: numbers or 0/1 tags, NaN where missing)
Item = tuple[Path, "int | tuple[float, ...]"]


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, C, H, W) on the 0-1 scale, exact, from 256-bin histograms."""
    values = torch.arange(256, dtype=torch.float64) / 255.0
    mean, std = [], []
    for c in range(x.shape[1]):
        counts = torch.bincount(x[:, c].reshape(-1).to(torch.uint8), minlength=256)[:256].to(torch.float64)
        n = counts.sum().clamp_min(1)
        m = (counts * values).sum() / n
        var = (counts * (values - m) ** 2).sum() / n
        mean.append(round(float(m), 6))
        std.append(round(max(float(var.sqrt()), 1e-3), 6))
    return mean, std


def make_splits(name: str, train: ArrayDataset, val: ArrayDataset, test: ArrayDataset,
                class_names: list[str], *, augment: str, ink: str, val_given: bool = False, task: str = "classify",
                task_note: str | None = None) -> DataSplits:
    """Assemble image DataSplits with meta computed from the training images (class_names: the target names
    of a regress or multilabel task)."""
    if len(train) == 0:
        raise UserError(f"dataset {name!r} has no training images")
    _, channels, h, w = train.x.shape
    mean, std = channel_stats(train.x)
    meta = {"image_size": int(h), "channels": int(channels), "mean": mean, "std": std,
            "augment": augment, "ink": ink, "val_given": val_given}
    return DataSplits(name=name, domain="image", layout="samples", train=train, val=val, test=test,
                      num_classes=len(class_names), class_names=list(class_names),
                      in_channels=int(channels), meta=meta, task=task, task_note=task_note)


def resize_batch(x: torch.Tensor, size: int | None, ink: str) -> torch.Tensor:
    """Resize uint8 images (N, C, H, W) through preprocess_image so training matches inference."""
    if size is None or (x.shape[2] == size and x.shape[3] == size):
        return x
    if size < 1:
        raise UserError(f"image_size must be >= 1, got {size}")
    c = x.shape[1]
    meta = {"image_size": size, "channels": c, "ink": ink}
    out = torch.empty((len(x), c, size, size), dtype=torch.uint8)
    for i, img in enumerate(x.numpy()):
        pil = Image.fromarray(img[0] if c == 1 else img.transpose(1, 2, 0), "L" if c == 1 else "RGB")
        out[i] = preprocess_image(pil, meta)
    return out



def image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, by extension, in a stable order; hidden files skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS:
                out.append(Path(dirpath) / f)
    return out


def _choose_format(paths: list[Path], image_size: int | None) -> tuple[int, int, str]:
    """(image_size, channels, ink) from a deterministic sample of headers (and gray pixels for ink)."""
    step = max(1, len(paths) // 500)
    sizes, modes, gray_arrays = Counter(), Counter(), []
    for p in paths[::step]:
        try:
            with Image.open(p) as im:
                sizes[min(im.size)] += 1
                modes[im.mode] += 1
                if im.mode in GRAY_MODES or im.mode.startswith("I"):
                    if len(gray_arrays) < 100:
                        gray_arrays.append(np.asarray(flatten_mode(im, "dark").convert("L")))
        except Exception:  # noqa: BLE001 - unreadable files are counted when decoded for real
            continue
    if not sizes:
        return image_size or 32, 3, "dark"
    channels = 1 if all(m in GRAY_MODES or m.startswith("I") for m in modes) else 3
    size = image_size or min(sizes.most_common(1)[0][0], MAX_DEFAULT_SIZE)
    ink = "dark"
    if channels == 1 and gray_arrays and np.mean([border_mean(a) for a in gray_arrays]) < 64:
        ink = "light"  # bright strokes on a dark background, like MNIST
    return int(size), channels, ink


def _decode(items: list[Item], meta: dict) -> tuple[torch.Tensor, torch.Tensor, list[tuple[Path, str]]]:
    """Decode images through preprocess_image; unreadable ones are returned as (path, reason), not raised."""
    size, c = meta["image_size"], meta["channels"]
    x = torch.empty((len(items), c, size, size), dtype=torch.uint8)
    targets = bool(items) and isinstance(items[0][1], tuple)
    y = torch.empty((len(items), len(items[0][1])) if targets else len(items),
                    dtype=torch.float32 if targets else torch.long)
    bad, n = [], 0
    for path, label in items:
        try:
            with Image.open(path) as im:
                im.load()
                x[n] = preprocess_image(im, meta)
        except UserError as e:
            bad.append((path, str(e)))
            continue
        except Exception as e:  # noqa: BLE001 - corrupt files raise many types (OSError, SyntaxError, ValueError, ...)
            bad.append((path, f"{type(e).__name__}: {e}"))
            continue
        y[n] = torch.as_tensor(label) if targets else label
        n += 1
    return x[:n].clone(), y[:n].clone(), bad


def load_items(name: str, source: Path, splits: dict[str, list[Item]], class_names: list[str], *,
               seed: int, val_fraction: float, image_size: int | None, cache_dir: str | None,
               augment_kind: str | None, task: str = "classify", task_note: str | None = None) -> DataSplits:
    """Decode listed images (cached by content fingerprint), warn once about unreadable ones, split what is missing.

    Items carry class indices (task classify) or tuples of float targets (regress, multilabel: class_names are
    the target names); splits carved for float targets are seeded random ones (no classes to stratify by).
    """
    all_paths = [p for items in splits.values() for p, _ in items]
    if not all_paths:
        what = f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) found"
        raise DataError(f"{what} in {{path}}", path=source)
    size, channels, ink = _choose_format(all_paths, image_size)
    meta = {"image_size": size, "channels": channels, "ink": ink}
    cache = cache_root(cache_dir) / "images"
    existing = [p for p in all_paths if p.exists()]
    key = fingerprint(CACHE_VERSION, str(source.resolve()), tree_fingerprint(existing), size, channels, ink,
                      sorted((k, [(str(p), l) for p, l in v]) for k, v in splits.items()))
    cached = cache / f"{key}.npz"
    decoded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    bad: list[tuple[str, str]] = []
    with locked(cache):  # DDP ranks: one decodes, the others wait and read the cache
        if cached.exists():
            with np.load(cached, allow_pickle=False) as z:
                for k in splits:
                    decoded[k] = (torch.from_numpy(z[f"x_{k}"]), torch.from_numpy(z[f"y_{k}"]))
                bad = [tuple(b) for b in z["bad"].tolist()]
        else:
            for k, items in splits.items():
                x, y, b = _decode(items, meta)
                decoded[k] = (x, y)
                bad.extend((str(p), why) for p, why in b)
            tmp = cached.with_name(f"{key}.tmp{os.getpid()}.npz")
            arrays = {f"{p}_{k}": t.numpy() for k, (x, y) in decoded.items() for p, t in (("x", x), ("y", y))}
            np.savez(tmp, bad=np.array(bad, dtype=str).reshape(-1, 2), **arrays)
            os.replace(tmp, cached)  # atomic: an interrupted write never leaves half a file under the final name
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image file(s) in {str(source)!r} "
                      f"(first: {bad[0][0]}: {bad[0][1]})", UserWarning, stacklevel=3)
    for k, (x, _) in decoded.items():
        if len(x) == 0:
            raise DataError(f"no readable images in the {k} split of {{path}}", path=source)
    # Whatever split the source does not provide is carved, seeded and stratified, from train.
    x, y = decoded["train"]
    train = ArrayDataset(x, y)
    if "test" not in decoded:
        keep, held = stratified_split(y.numpy(), TEST_FRACTION, seed)
        decoded["test"] = (x[held], y[held])
        train = train.subset(keep)
    val_given = "val" in decoded
    if "val" not in decoded:
        keep, held = stratified_split(train.y.numpy(), val_fraction, seed + 1)
        decoded["val"] = (train.x[held], train.y[held])
        train = train.subset(keep)
    aug = augment_kind or ("crop_flip" if ink == "dark" else "none")
    return make_splits(name, train, ArrayDataset(*decoded["val"]), ArrayDataset(*decoded["test"]),
                       class_names, augment=aug, ink=ink, val_given=val_given, task=task, task_note=task_note)
