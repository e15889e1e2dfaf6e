"""Image dataset readers: digits, MNIST (IDX), CIFAR (pickles), image folders and manifests (JSON lines, CSV).

Each reader returns DataSplits whose samples are uint8 tensors (C, H, W), decoded once through
`preprocess_image` and kept in memory, with meta (image_size, channels, mean, std, augment, ink)
computed from the training images. `load(name, data_dir)` picks a reader by name; `load_path(path)`
by what a path is (folder, manifest or archive).

The per-image preprocessing lives in preprocess.py, batch augmentation in augment.py, archive
extraction in archives.py; `augment`, `normalize` and `preprocess_image` are re-exported here.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..errors import DataError, UserError
from .archives import ARCHIVE_SUFFIXES, archive_stem, extract, is_archive
from .augmentation import augment  # noqa: F401 - re-exported: resnet_any.data imports it from here
from .base import DataSplits
# normalize and preprocess_image are re-exported too (resnet_any.data imports them from here).
from .preprocess import GRAY_MODES, border_mean, flatten_mode, normalize, preprocess_image  # noqa: F401
from .splits import TEST_FRACTION, ArrayDataset, encode_labels, stratified_split, train_val_test
from .storage import cache_root, fingerprint, locked, online, require_dir, tree_fingerprint

DEFAULT = "digits"
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
# A folder of large photos decoded at full size would not fit in memory; pass image_size to go higher.
MAX_DEFAULT_SIZE = 224
SPLIT_DIRS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
CACHE_VERSION = 1


# ---------------------------------------------------------------- building DataSplits

def _channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
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


def _make_splits(name: str, train: ArrayDataset, val: ArrayDataset, test: ArrayDataset,
                 class_names: list[str], *, augment: str, ink: str, val_given: bool = False) -> DataSplits:
    """Assemble image DataSplits with meta computed from the training images."""
    if len(train) == 0:
        raise UserError(f"dataset {name!r} has no training images")
    _, channels, h, w = train.x.shape
    mean, std = _channel_stats(train.x)
    meta = {"image_size": int(h), "channels": int(channels), "mean": mean, "std": std,
            "augment": augment, "ink": ink, "val_given": val_given}
    return DataSplits(name=name, domain="image", task="classify", train=train, val=val, test=test,
                      num_classes=len(class_names), class_names=list(class_names),
                      in_channels=int(channels), meta=meta)


def _resize_batch(x: torch.Tensor, size: int | None, ink: str) -> torch.Tensor:
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


# ---------------------------------------------------------------- digits (embedded default)

def load_digits(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
                image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """scikit-learn's 1,797 8x8 handwritten digits, seeded stratified 80/20 train+val/test split."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    # Pixel values are counts 0..16 (4x4 blocks of a 32x32 bitmap); scale to the full 8-bit range.
    x = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    x = _resize_batch(x, image_size, "light")
    y = torch.from_numpy(d.target.astype(np.int64))
    tr, va, te = train_val_test(d.target, val_fraction, seed)
    full = ArrayDataset(x, y)
    return _make_splits("digits", full.subset(tr), full.subset(va), full.subset(te),
                        [str(i) for i in range(10)], augment="none", ink="light")


# ---------------------------------------------------------------- MNIST (IDX files)

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_LAYOUT = ("ROOT/MNIST/raw/ (or the raw folder itself) holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, gzipped (.gz) or not")


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (gzipped or not, detected by content) into a numpy array."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"corrupt gzip file {str(path)!r}: {e}", path=path, value=str(e),
                            expected="the file is a corrupt gzip file") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{str(path)!r} is not an unsigned-byte IDX file (bad magic {raw[:4]!r})", path=path,
                        value=raw[:4], expected="the file is not an unsigned-byte IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - header != expected:
        problem = f"header says {dims} ({expected} bytes), found {len(raw) - header}"
        raise DataError(f"corrupt IDX file {str(path)!r}: {problem}", path=path,
                        expected=f"corrupt IDX file: {problem}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_mnist(root: Path) -> dict[str, Path] | None:
    """The four MNIST files under `root`, its raw/ or MNIST/raw/ subfolder, or None."""
    for d in (root, root / "raw", root / "MNIST" / "raw", root / "MNIST"):
        found = {}
        for key, stem in MNIST_FILES.items():
            for candidate in (d / stem, d / f"{stem}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == 4:
            return found
    return None


def load_mnist(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
               image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """MNIST from torchvision-layout IDX files (read in place, .gz included), val carved from train."""
    if data_dir is not None:
        root = require_dir(data_dir, "mnist", MNIST_LAYOUT)
        files = _find_mnist(root)
        if files is None:
            raise DataError(f"no MNIST files in {str(root)!r}; expected {MNIST_LAYOUT}", path=root,
                            expected=f"no MNIST files in the folder; expected {MNIST_LAYOUT}")
    else:
        cache = cache_root(cache_dir)
        files = _find_mnist(cache)
        if files is None:
            if not online("ossci-datasets.s3.amazonaws.com"):
                raise UserError(f"MNIST is not embedded and the network is unreachable; put the files in "
                                f"{cache / 'MNIST' / 'raw'} or pass --data-dir (expected {MNIST_LAYOUT})")
            import torchvision

            torchvision.datasets.MNIST(str(cache), train=True, download=True)
            files = _find_mnist(cache)
            if files is None:
                raise UserError(f"MNIST download into {cache} did not produce {MNIST_LAYOUT}")
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            folder = files[f'{split}_images'].parent
            raise DataError(f"MNIST {split} images and labels differ in count in {str(folder)!r}", path=folder,
                            expected=f"the MNIST {split} images and labels differ in count")
    x_train = _resize_batch(torch.from_numpy(arrays["train_images"].copy()).unsqueeze(1), image_size, "light")
    x_test = _resize_batch(torch.from_numpy(arrays["test_images"].copy()).unsqueeze(1), image_size, "light")
    y_train = torch.from_numpy(arrays["train_labels"].astype(np.int64))
    y_test = torch.from_numpy(arrays["test_labels"].astype(np.int64))
    tr, va = stratified_split(y_train.numpy(), val_fraction, seed)
    full = ArrayDataset(x_train, y_train)
    return _make_splits("mnist", full.subset(tr), full.subset(va), ArrayDataset(x_test, y_test),
                        [str(i) for i in range(10)], augment="none", ink="light")


# ---------------------------------------------------------------- CIFAR-10 / CIFAR-100 (python pickles)

CIFAR = {
    "cifar10": {"folder": "cifar-10-batches-py", "archive": "cifar-10-python.tar.gz",
                "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
                "meta": ("batches.meta", "label_names"), "label": "labels", "cls": "CIFAR10"},
    "cifar100": {"folder": "cifar-100-python", "archive": "cifar-100-python.tar.gz",
                 "train": ["train"], "test": ["test"],
                 "meta": ("meta", "fine_label_names"), "label": "fine_labels", "cls": "CIFAR100"},
}


def _cifar_layout(name: str) -> str:
    spec = CIFAR[name]
    return (f"ROOT/{spec['folder']}/ (torchvision layout, or ROOT/{spec['archive']}), "
            f"or an image tree ROOT/train/<class>/*.png with test/ or val/")


def _find_cifar(root: Path, name: str, cache: Path) -> Path | None:
    """The folder holding CIFAR pickle batches under `root` (extracting the official archive if that is what is there)."""
    spec = CIFAR[name]
    for d in (root, root / spec["folder"]):
        if (d / spec["test"][0]).is_file():
            return d
    archive = root / spec["archive"] if root.is_dir() else root
    if archive.is_file() and archive.name == spec["archive"]:
        d = extract(archive, cache) / spec["folder"]
        if (d / spec["test"][0]).is_file():
            return d
    return None


def _read_cifar(folder: Path, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """Read CIFAR pickle batches -> x_train, y_train, x_test, y_test, class names."""
    spec = CIFAR[name]

    def unpickle(path: Path) -> dict:
        try:
            with open(path, "rb") as f:
                return pickle.load(f, encoding="latin1")
        except (OSError, pickle.UnpicklingError, EOFError, ValueError) as e:
            raise DataError(f"corrupt CIFAR file {str(path)!r}: {e}", path=path, value=str(e),
                            expected="the file is a corrupt CIFAR file") from e

    def read(files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for f in files:
            d = unpickle(folder / f)
            xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[spec["label"]], dtype=np.int64))
        return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

    x_train, y_train = read(spec["train"])
    x_test, y_test = read(spec["test"])
    meta_file, key = spec["meta"]
    names = list(unpickle(folder / meta_file)[key])
    return x_train, y_train, x_test, y_test, names


def _load_cifar(name: str, data_dir: str | None, *, seed: int, val_fraction: float,
                image_size: int | None, cache_dir: str | None) -> DataSplits:
    """CIFAR-10/100 from torchvision's layout, an image tree, or a download when online."""
    cache = cache_root(cache_dir)
    if data_dir is not None:
        root = require_dir(data_dir, name, _cifar_layout(name))
        folder = _find_cifar(root, name, cache)
        if folder is None:
            # The same data as an image tree (e.g. a JPEG export) loads through the folder loader.
            try:
                splits = load_folder(str(root), seed=seed, val_fraction=val_fraction,
                                     image_size=image_size, cache_dir=cache_dir, augment_kind="crop_flip")
            except UserError as e:
                raise UserError(f"no {name} data in {str(root)!r} ({e}); expected {_cifar_layout(name)}") from e
            splits.name = name
            return splits
    else:
        folder = _find_cifar(cache, name, cache)
        if folder is None:
            if not online("www.cs.toronto.edu"):
                raise UserError(f"{name} needs a download and the network is unreachable; put "
                                f"{CIFAR[name]['folder']}/ in {cache} or pass --data-dir (expected {_cifar_layout(name)})")
            import torchvision

            try:
                getattr(torchvision.datasets, CIFAR[name]["cls"])(str(cache), train=True, download=True)
            except Exception as e:  # noqa: BLE001 - any download failure becomes one clear line
                raise UserError(f"downloading {name} into {cache} failed: {e}") from e
            folder = _find_cifar(cache, name, cache)
            if folder is None:
                raise UserError(f"{name} download into {cache} did not produce {CIFAR[name]['folder']}/")
    x_train, y_train, x_test, y_test, names = _read_cifar(folder, name)
    x_train = _resize_batch(x_train, image_size, "dark")
    x_test = _resize_batch(x_test, image_size, "dark")
    tr, va = stratified_split(y_train.numpy(), val_fraction, seed)
    full = ArrayDataset(x_train, y_train)
    return _make_splits(name, full.subset(tr), full.subset(va), ArrayDataset(x_test, y_test), names,
                        augment="crop_flip", ink="dark")


def load_cifar10(data_dir: str | None = None, **kw) -> DataSplits:
    """CIFAR-10 (50,000 train / 10,000 test, 32x32 RGB, 10 classes)."""
    return _load_cifar("cifar10", data_dir, **kw)


def load_cifar100(data_dir: str | None = None, **kw) -> DataSplits:
    """CIFAR-100 (50,000 train / 10,000 test, 32x32 RGB, 100 fine classes)."""
    return _load_cifar("cifar100", data_dir, **kw)


# ---------------------------------------------------------------- image files: folders and manifests

Item = tuple[Path, int]


def _image_files(folder: Path) -> list[Path]:
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
    y = torch.empty(len(items), dtype=torch.long)
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
        y[n] = label
        n += 1
    return x[:n].clone(), y[:n].clone(), bad


def _load_items(name: str, source: Path, splits: dict[str, list[Item]], class_names: list[str], *,
                seed: int, val_fraction: float, image_size: int | None, cache_dir: str | None,
                augment_kind: str | None) -> DataSplits:
    """Decode listed images (cached by content fingerprint), warn once about unreadable ones, split what is missing."""
    all_paths = [p for items in splits.values() for p, _ in items]
    if not all_paths:
        what = f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) found"
        raise DataError(f"{what} in {str(source)!r}", path=source, expected=what)
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
            raise DataError(f"no readable images in the {k} split of {str(source)!r}", path=source,
                            expected=f"no readable images in the {k} split")
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
    return _make_splits(name, train, ArrayDataset(*decoded["val"]), ArrayDataset(*decoded["test"]),
                        class_names, augment=aug, ink=ink, val_given=val_given)


FOLDER_LAYOUT = ("an image tree ROOT/train/<class>/*.jpg with ROOT/val/ and/or ROOT/test/ alike, or ROOT/<class>/*.jpg "
                 "(split by a seeded stratified fraction), or a .tar/.tar.gz/.zip of either")


def _tree_root(root: Path, cache: Path) -> Path:
    """Resolve archives and single wrapper folders down to the folder holding splits or classes."""
    if is_archive(root):
        root = extract(root, cache)
    elif not root.is_dir():
        problem = f"is neither a folder nor an archive ({', '.join(ARCHIVE_SUFFIXES)}); expected {FOLDER_LAYOUT}"
        raise DataError(f"{str(root)!r} {problem}", path=root, expected=problem)
    for _ in range(8):
        entries = [e for e in root.iterdir() if not e.name.startswith(".")]
        dirs = [e for e in entries if e.is_dir()]
        archives = [e for e in entries if is_archive(e)]
        if not dirs and len(archives) == 1:
            root = extract(archives[0], cache)
            continue
        if len(dirs) == 1 and dirs[0].name.lower() not in SPLIT_DIRS and not any(
                e.is_file() and e.suffix.lower() in IMAGE_EXTENSIONS for e in entries):
            inner = [e for e in dirs[0].iterdir() if e.is_dir() and not e.name.startswith(".")]
            if inner:  # a wrapper (e.g. "cifar10/") around the real tree, not a single-class folder
                root = dirs[0]
                continue
        break
    return root


def _class_dirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def load_folder(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
                image_size: int | None = None, cache_dir: str | None = None,
                augment_kind: str | None = None) -> DataSplits:
    """An ImageFolder tree (train/ with val/ or test/, or one folder of class subfolders), or an archive of one."""
    source = require_dir(data_dir, "folder", FOLDER_LAYOUT)
    cache = cache_root(cache_dir)
    root = _tree_root(source, cache)
    present = {SPLIT_DIRS[d.name.lower()]: d for d in _class_dirs(root) if d.name.lower() in SPLIT_DIRS}
    if present and "train" not in present:
        problem = f"has {'/'.join(sorted(present))} but no train/ folder; expected {FOLDER_LAYOUT}"
        raise DataError(f"{str(root)!r} {problem}", path=root, expected=f"the folder {problem}")
    if not present:
        split_dirs = {"train": root}
    else:
        split_dirs = dict(present)
        if "val" in split_dirs and "test" not in split_dirs:
            # ImageNet convention: the published "val" folder is the held-out evaluation set.
            split_dirs["test"] = split_dirs.pop("val")
    class_names = [d.name for d in _class_dirs(split_dirs["train"])]
    if not class_names:
        raise DataError(f"no class subfolders in {str(split_dirs['train'])!r}; expected {FOLDER_LAYOUT}",
                        path=split_dirs["train"], expected=f"no class subfolders in the folder; expected {FOLDER_LAYOUT}")
    index = {c: i for i, c in enumerate(class_names)}
    splits: dict[str, list[Item]] = {}
    for split, folder in split_dirs.items():
        items = []
        for d in _class_dirs(folder):
            if d.name not in index:
                raise DataError(f"class folder {str(d)!r} is not among the training classes {class_names}", path=d,
                                value=class_names, expected="the class folder is not among the training classes")
            items.extend((p, index[d.name]) for p in _image_files(d))
        splits[split] = items
    return _load_items("folder", root, splits, class_names, seed=seed, val_fraction=val_fraction,
                       image_size=image_size, cache_dir=cache_dir, augment_kind=augment_kind)


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
                raise DataError(f"{str(path)!r} line {lineno}: invalid JSON ({e.msg}); expected {MANIFEST_LAYOUT}",
                                path=path, row=lineno, unit="line",
                                expected=f"invalid JSON ({e.msg}); expected {MANIFEST_LAYOUT}") from e
            if not isinstance(row, dict) or "file" not in row or "label" not in row:
                problem = 'row needs "file" and "label" keys'
                raise DataError(f"{str(path)!r} line {lineno}: {problem}, got {line.strip()[:80]!r}", path=path,
                                row=lineno, unit="line", value=line.strip(), expected=f"the {problem}")
            split = str(row.get("split", "")).lower()
            if split and split not in SPLIT_DIRS:
                raise DataError(f"{str(path)!r} line {lineno}: unknown split {row['split']!r}; valid: train, val, test",
                                path=path, row=lineno, unit="line", column="split", value=row["split"],
                                expected="unknown split; valid: train, val, test")
            rows.append((path.parent / str(row["file"]), row["label"], SPLIT_DIRS.get(split, ""), f"line {lineno}"))
    return rows


def _csv_rows(path: Path) -> list[ManifestRow]:
    """Rows of a CSV manifest (pandas, every cell read as text); column names match case-insensitively."""
    import pandas as pd

    if path.stat().st_size == 0:
        raise DataError(f"CSV manifest {str(path)!r} is empty (0 bytes); expected {CSV_LAYOUT}", path=path,
                        expected=f"the CSV manifest is empty (0 bytes); expected {CSV_LAYOUT}")
    try:
        # header=None: the header is read as the first row, so a row longer than it is an error instead of
        # pandas silently taking the first column as an index.
        table = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skipinitialspace=True,
                            encoding="utf-8-sig")
    except pd.errors.EmptyDataError as e:
        raise DataError(f"CSV manifest {str(path)!r} is empty (no header row); expected {CSV_LAYOUT}", path=path,
                        expected=f"the CSV manifest is empty (no header row); expected {CSV_LAYOUT}") from e
    except pd.errors.ParserError as e:
        reason = " ".join(str(e).replace("Error tokenizing data. C error: ", "").split())
        raise DataError(f"cannot parse CSV manifest {str(path)!r}: {reason} (lines counted from 1, the header "
                        f"included); expected {CSV_LAYOUT}", path=path, value=reason,
                        expected=f"cannot parse the CSV manifest; every row needs as many cells as the header; "
                                 f"expected {CSV_LAYOUT}") from e
    except UnicodeDecodeError as e:
        raise DataError(f"CSV manifest {str(path)!r} is not UTF-8 text ({e.reason} at byte {e.start}); "
                        f"expected {CSV_LAYOUT}", path=path, value=e.reason,
                        expected=f"the CSV manifest is not UTF-8 text (at byte {e.start}); expected {CSV_LAYOUT}") from e
    header = [str(v).strip() for v in table.iloc[0].fillna("")]
    body = table.iloc[1:].fillna("")
    columns: dict[str, int] = {}
    for i, c in enumerate(header):
        columns.setdefault(c.lower(), i)
    missing = [c for c in ("file", "label") if c not in columns]
    if missing:
        found = ", ".join(repr(c) for c in header)
        no = f"has no {' and no '.join(repr(c) for c in missing)} column"
        raise DataError(f"CSV manifest {str(path)!r} {no} (found columns: {found}); expected {CSV_LAYOUT}", path=path,
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
            raise DataError(f"{str(path)!r} {where} ({CSV_ROWS}): {problem}", column="file", expected=problem, **at)
        if not label:
            raise DataError(f"{str(path)!r} {where} ({CSV_ROWS}): empty 'label' value for {file!r}; "
                            f"every row needs a label", column="label", value=file,
                            expected="empty 'label' value; every row needs a label", **at)
        if split and split.lower() not in SPLIT_DIRS:
            raise DataError(f"{str(path)!r} {where} ({CSV_ROWS}): unknown split {split!r} in column 'split'; "
                            f"valid: train, val, test", column="split", value=split,
                            expected="unknown split; valid: train, val, test", **at)
        rows.append((path.parent / file, label, SPLIT_DIRS.get(split.lower(), ""), where))
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
            raise DataError(f"{what} in {str(path)!r}; expected {MANIFEST_LAYOUT}", path=path,
                            expected=f"{what} in the folder; expected {MANIFEST_LAYOUT}")
    if len(found) != 1:
        raise DataError(f"found {len(found)} *.jsonl files in {str(path)!r}; expected {MANIFEST_LAYOUT}", path=path,
                        expected=f"found {len(found)} *.jsonl files in the folder; expected {MANIFEST_LAYOUT}")
    return found[0]


def load_manifest(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
                  image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """Images listed in a JSON-lines or CSV manifest, labels from the rows, optional per-row split."""
    path = _manifest_file(require_dir(data_dir, "manifest", MANIFEST_LAYOUT))
    csv = path.suffix.lower() == ".csv"
    rows = _csv_rows(path) if csv else _jsonl_rows(path)
    if not rows:
        expected = f"expected {CSV_LAYOUT if csv else MANIFEST_LAYOUT}"
        raise DataError(f"manifest {str(path)!r} has no rows; {expected}", path=path,
                        expected=f"the manifest has no rows; {expected}")
    (labels,), class_names = encode_labels([r[1] for r in rows])
    has_split = any(r[2] for r in rows)
    if has_split and not all(r[2] for r in rows):
        given = next(r for r in rows if r[2])
        lacking = next(r for r in rows if not r[2])
        note = f"; {CSV_ROWS}" if given[3].startswith("row") else ""
        raise DataError(f"manifest {str(path)!r} gives \"split\" on some rows only ({given[3]} has {given[2]!r}, "
                        f"{lacking[3]} has none{note}); give it on every row or none", path=path,
                        expected=f"the manifest gives \"split\" on some rows only ({given[3]} has one, {lacking[3]} "
                                 f"has none{note}); give it on every row or none")
    splits: dict[str, list[Item]] = {}
    for (file, _, split, _), label in zip(rows, labels):
        splits.setdefault(split or "train", []).append((file, int(label)))
    if "train" not in splits:
        advice = "give some rows split 'train', or leave split out to have train/val/test carved"
        raise DataError(f"manifest {str(path)!r} has no train rows (splits found: {', '.join(sorted(splits))}); "
                        f"{advice}", path=path, expected=f"the manifest has no train rows; {advice}")
    return _load_items("manifest", path, splits, class_names, seed=seed, val_fraction=val_fraction,
                       image_size=image_size, cache_dir=cache_dir, augment_kind=None)


PATH_KINDS = ("a folder of class subfolders (ROOT/<class>/*.jpg, or ROOT/train/<class>/*.jpg with val/ and/or test/ "
              "alike), a manifest (.jsonl or .csv), or an archive (" + ", ".join(ARCHIVE_SUFFIXES) + ") of such a folder")


def load_path(path: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.2, image_size: int | None = None,
              cache_dir: str | None = None) -> DataSplits:
    """Load whatever `path` is: a folder or an archive (folder loader), a .jsonl or .csv file (manifest loader).

    The DataSplits is named after the folder, or the file without its suffix ("pets.csv" -> "pets").
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"dataset path {str(p)!r} does not exist; expected {PATH_KINDS}", path=p,
                        expected=f"does not exist; expected {PATH_KINDS}")
    kw = dict(seed=seed, val_fraction=val_fraction, image_size=image_size, cache_dir=cache_dir)
    if p.is_dir():
        splits, name = load_folder(str(p), **kw), p.resolve().name
    elif p.suffix.lower() in (".jsonl", ".csv"):
        splits, name = load_manifest(str(p), **kw), p.stem
    elif is_archive(p):
        splits, name = load_folder(str(p), **kw), archive_stem(p)
    else:
        kind = f"a {p.suffix} file" if p.suffix else "a file without a suffix"
        raise DataError(f"cannot load {str(p)!r} as an image dataset ({kind}); accepted: {PATH_KINDS}", path=p,
                        expected=f"cannot load {kind} as an image dataset; accepted: {PATH_KINDS}")
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
        raise UserError(f"unknown image dataset {name!r}; valid: {', '.join(list_datasets())}")
    return DATASETS[key](data_dir, seed=seed, val_fraction=val_fraction, image_size=image_size, cache_dir=cache_dir)
