"""Image datasets (digits, MNIST, CIFAR, image folders, manifests) and the preprocessing a predictor reuses.

Samples are uint8 tensors (C, H, W) decoded once and kept in memory; `normalize` and `augment`
run later on whole batches on the training device. Every image, at training and at inference,
goes through `preprocess_image`, so a checkpoint's meta is enough to feed it new files.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import tarfile
import warnings
import zipfile
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from ..errors import UserError
from .base import DataSplits
from .splits import TEST_FRACTION, ArrayDataset, encode_labels, stratified_split, train_val_test
from .storage import cache_root, fingerprint, locked, online, require_dir, tree_fingerprint

DEFAULT = "digits"
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
# A folder of large photos decoded at full size would not fit in memory; pass image_size to go higher.
MAX_DEFAULT_SIZE = 224
GRAY_MODES = {"1", "L", "LA", "La", "I", "F"}
SPLIT_DIRS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
CACHE_VERSION = 1


# ---------------------------------------------------------------- preprocessing (training == inference)

def _to_uint8_gray(img: Image.Image) -> Image.Image:
    """Map 16-bit, 32-bit and float gray images to 8 bits by a fixed rule (PIL's convert clips them)."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        out = np.round(a.astype(np.float64) / 257.0)
    else:
        a = a.astype(np.float64)
        finite = a[np.isfinite(a)]
        hi = float(finite.max()) if finite.size else 0.0
        lo = float(finite.min()) if finite.size else 0.0
        if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
            out = a * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            out = a
        elif lo >= 0.0 and hi <= 65535.0:
            out = a / 257.0
        else:
            out = (a - lo) / max(hi - lo, 1e-12) * 255.0
        out = np.nan_to_num(np.round(out), nan=0.0)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "L")


def _composite(img: Image.Image, ink: str) -> Image.Image:
    """Flatten transparency onto a background: white for photos; for light-ink data, the tone that contrasts with the strokes."""
    gray = img.mode in ("LA", "La")
    img = img.convert("LA" if gray else "RGBA")
    a = np.asarray(img).astype(np.float32)
    color, alpha = a[..., :-1], a[..., -1:] / 255.0
    background = 255.0
    if ink == "light":
        opaque = alpha[..., 0] >= 0.5
        # Strokes drawn dark on a transparent canvas need a light background (inverted later), bright ones a dark one.
        background = 255.0 if opaque.any() and color[opaque].mean() < 128 else 0.0
    out = color * alpha + background * (1.0 - alpha)
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return Image.fromarray(out[..., 0] if gray else out, "L" if gray else "RGB")


def _flatten_mode(img: Image.Image, ink: str) -> Image.Image:
    """Any PIL mode -> "L" or "RGB" (palette, CMYK, YCbCr, 1-bit, 16-bit, float, with or without alpha)."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode.startswith("I") or mode == "F":
        return _to_uint8_gray(img)
    if mode == "1":
        return img.convert("L")
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "RGBa", "LA", "La"):
        return _composite(img, ink)
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as e:
        raise UserError(f"cannot convert image mode {mode!r} to RGB ({e}); use an RGB, gray or palette image") from e


def _border_mean(a: np.ndarray) -> float:
    """Mean of the outermost pixels: the background tone of a centred drawing."""
    if a.shape[0] < 3 or a.shape[1] < 3:
        return float(a.mean())
    edge = np.concatenate([a[0].ravel(), a[-1].ravel(), a[:, 0].ravel(), a[:, -1].ravel()])
    return float(edge.mean())


def preprocess_image(img: Image.Image, meta: dict) -> torch.Tensor:
    """A PIL image of any mode and size -> uint8 tensor (C, H, W) exactly as the training data was prepared."""
    size, channels, ink = int(meta["image_size"]), int(meta["channels"]), meta.get("ink", "dark")
    if "exif" in img.info or img.format in ("TIFF", "MPO"):
        try:
            img = ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF
        except Exception:  # noqa: BLE001 - a broken EXIF block must not make a readable image unusable
            pass
    img = _flatten_mode(img, ink)
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (size, size):
        # Shorter side to `size`, then centre crop: keeps aspect ratio (torchvision Resize + CenterCrop).
        img = ImageOps.fit(img, (size, size), method=Image.BILINEAR)
    a = np.array(img, dtype=np.uint8)  # a copy: PIL's buffer is read-only and tensors must own writable memory
    if ink == "light" and _border_mean(a) > 127:
        # Light-ink data (MNIST, digits) is bright strokes on black; a dark-on-white drawing is inverted to match.
        a = 255 - a
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))


def normalize(x_uint8_batch: torch.Tensor, meta: dict) -> torch.Tensor:
    """uint8 images (N, C, H, W) or (C, H, W) -> float32, scaled to [0, 1] then standardised with meta mean/std."""
    x = x_uint8_batch
    # Float input is taken to be on the [0, 1] scale already (e.g. after a float-space augmentation).
    x = x.float().div(255.0) if not torch.is_floating_point(x) else x.float()
    mean = torch.tensor(meta["mean"], dtype=torch.float32, device=x.device).view(-1, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return (x - mean) / std


def augment(x_uint8_batch: torch.Tensor, meta: dict, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random training augmentation on the batch's device: "crop_flip" (pad image_size/8, random crop, h-flip) or "none"."""
    kind = meta.get("augment", "none")
    if kind == "none":
        return x_uint8_batch
    if kind != "crop_flip":
        raise UserError(f"unknown augment {kind!r}; valid: crop_flip, none")
    x = x_uint8_batch
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    n, c, h, w = x.shape
    pad = max(1, int(meta.get("image_size", h)) // 8)
    dev = generator.device if generator is not None else x.device
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev).to(x.device)
    flip = (torch.rand(n, generator=generator, device=dev) < 0.5).to(x.device)
    xp = F.pad(x, (pad, pad, pad, pad))
    rows = oy[:, None] + torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device).expand(n, w)
    # One gather does crop and flip together: a flipped sample reads its crop's columns right to left.
    cols = torch.where(flip[:, None], (w - 1) - cols, cols) + ox[:, None]
    out = xp.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * pad))
    out = out.gather(3, cols[:, None, None, :].expand(n, c, h, w))
    return out[0] if single else out


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
                 class_names: list[str], *, augment: str, ink: str) -> DataSplits:
    """Assemble image DataSplits with meta computed from the training images."""
    if len(train) == 0:
        raise UserError(f"dataset {name!r} has no training images")
    _, channels, h, w = train.x.shape
    mean, std = _channel_stats(train.x)
    meta = {"image_size": int(h), "channels": int(channels), "mean": mean, "std": std,
            "augment": augment, "ink": ink}
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
            raise UserError(f"corrupt gzip file {str(path)!r}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{str(path)!r} is not an unsigned-byte IDX file (bad magic {raw[:4]!r})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - header != expected:
        raise UserError(f"corrupt IDX file {str(path)!r}: header says {dims} ({expected} bytes), found {len(raw) - header}")
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
            raise UserError(f"no MNIST files in {str(root)!r}; expected {MNIST_LAYOUT}")
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
            raise UserError(f"MNIST {split} images and labels differ in count in {str(files[f'{split}_images'].parent)!r}")
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


def _extract(archive: Path, cache: Path) -> Path:
    """Extract an archive once into the cache, keyed by its path, size and mtime; return the folder."""
    st = archive.stat()
    dest = cache / "extracted" / fingerprint(str(archive.resolve()), st.st_size, st.st_mtime_ns)
    with locked(cache / "extracted"):
        return _extract_locked(archive, dest)


def _extract_locked(archive: Path, dest: Path) -> Path:
    """Extract into a temp folder, then rename: an interrupted extraction is never mistaken for a complete one."""
    done = dest / ".complete"
    if done.exists():
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                _safe_extract(t, tmp)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"cannot extract archive {str(archive)!r}: {e}") from e
    if dest.exists():  # left by an interrupted run before .complete was written
        shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    done.touch()
    return dest


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract refusing absolute paths, ".." and links (the "data" filter; checked by hand on older Pythons)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    members = []
    for m in tar.getmembers():
        if m.name.startswith(("/", "\\")) or ".." in Path(m.name).parts or m.issym() or m.islnk():
            raise tarfile.TarError(f"unsafe member {m.name!r}")
        members.append(m)
    tar.extractall(dest, members=members)


def _find_cifar(root: Path, name: str, cache: Path) -> Path | None:
    """The folder holding CIFAR pickle batches under `root` (extracting the official archive if that is what is there)."""
    spec = CIFAR[name]
    for d in (root, root / spec["folder"]):
        if (d / spec["test"][0]).is_file():
            return d
    archive = root / spec["archive"] if root.is_dir() else root
    if archive.is_file() and archive.name == spec["archive"]:
        d = _extract(archive, cache) / spec["folder"]
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
            raise UserError(f"corrupt CIFAR file {str(path)!r}: {e}") from e

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
                        gray_arrays.append(np.asarray(_flatten_mode(im, "dark").convert("L")))
        except Exception:  # noqa: BLE001 - unreadable files are counted when decoded for real
            continue
    if not sizes:
        return image_size or 32, 3, "dark"
    channels = 1 if all(m in GRAY_MODES or m.startswith("I") for m in modes) else 3
    size = image_size or min(sizes.most_common(1)[0][0], MAX_DEFAULT_SIZE)
    ink = "dark"
    if channels == 1 and gray_arrays and np.mean([_border_mean(a) for a in gray_arrays]) < 64:
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
        raise UserError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) found in {str(source)!r}")
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
            raise UserError(f"no readable images in the {k} split of {str(source)!r}")
    # Whatever split the source does not provide is carved, seeded and stratified, from train.
    x, y = decoded["train"]
    train = ArrayDataset(x, y)
    if "test" not in decoded:
        keep, held = stratified_split(y.numpy(), TEST_FRACTION, seed)
        decoded["test"] = (x[held], y[held])
        train = train.subset(keep)
    if "val" not in decoded:
        keep, held = stratified_split(train.y.numpy(), val_fraction, seed + 1)
        decoded["val"] = (train.x[held], train.y[held])
        train = train.subset(keep)
    aug = augment_kind or ("crop_flip" if ink == "dark" else "none")
    return _make_splits(name, train, ArrayDataset(*decoded["val"]), ArrayDataset(*decoded["test"]),
                        class_names, augment=aug, ink=ink)


FOLDER_LAYOUT = ("an image tree ROOT/train/<class>/*.jpg with ROOT/val/ and/or ROOT/test/ alike, or ROOT/<class>/*.jpg "
                 "(split by a seeded stratified fraction), or a .tar/.tar.gz/.zip of either")


def _is_archive(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES)


def _tree_root(root: Path, cache: Path) -> Path:
    """Resolve archives and single wrapper folders down to the folder holding splits or classes."""
    if _is_archive(root):
        root = _extract(root, cache)
    elif not root.is_dir():
        raise UserError(f"{str(root)!r} is neither a folder nor an archive ({', '.join(ARCHIVE_SUFFIXES)}); expected {FOLDER_LAYOUT}")
    for _ in range(8):
        entries = [e for e in root.iterdir() if not e.name.startswith(".")]
        dirs = [e for e in entries if e.is_dir()]
        archives = [e for e in entries if _is_archive(e)]
        if not dirs and len(archives) == 1:
            root = _extract(archives[0], cache)
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
        raise UserError(f"{str(root)!r} has {'/'.join(sorted(present))} but no train/ folder; expected {FOLDER_LAYOUT}")
    if not present:
        split_dirs = {"train": root}
    else:
        split_dirs = dict(present)
        if "val" in split_dirs and "test" not in split_dirs:
            # ImageNet convention: the published "val" folder is the held-out evaluation set.
            split_dirs["test"] = split_dirs.pop("val")
    class_names = [d.name for d in _class_dirs(split_dirs["train"])]
    if not class_names:
        raise UserError(f"no class subfolders in {str(split_dirs['train'])!r}; expected {FOLDER_LAYOUT}")
    index = {c: i for i, c in enumerate(class_names)}
    splits: dict[str, list[Item]] = {}
    for split, folder in split_dirs.items():
        items = []
        for d in _class_dirs(folder):
            if d.name not in index:
                raise UserError(f"class folder {str(d)!r} is not among the training classes {class_names}")
            items.extend((p, index[d.name]) for p in _image_files(d))
        splits[split] = items
    return _load_items("folder", root, splits, class_names, seed=seed, val_fraction=val_fraction,
                       image_size=image_size, cache_dir=cache_dir, augment_kind=augment_kind)


MANIFEST_LAYOUT = ('a JSON-lines file with one {"file": PATH, "label": LABEL} object per line (PATH relative to the '
                   'manifest; optional "split": train/val/test), or a folder holding exactly one *.jsonl')


def load_manifest(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
                  image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """Images listed in a JSON-lines manifest, labels from the rows, optional per-row split."""
    path = require_dir(data_dir, "manifest", MANIFEST_LAYOUT)
    if path.is_dir():
        found = sorted(path.glob("*.jsonl"))
        if len(found) != 1:
            raise UserError(f"found {len(found)} *.jsonl files in {str(path)!r}; expected {MANIFEST_LAYOUT}")
        path = found[0]
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{str(path)!r} line {lineno}: invalid JSON ({e.msg}); expected {MANIFEST_LAYOUT}") from e
            if not isinstance(row, dict) or "file" not in row or "label" not in row:
                raise UserError(f"{str(path)!r} line {lineno}: row needs \"file\" and \"label\" keys, got {line.strip()[:80]!r}")
            split = str(row.get("split", "")).lower()
            if split and split not in SPLIT_DIRS:
                raise UserError(f"{str(path)!r} line {lineno}: unknown split {row['split']!r}; valid: train, val, test")
            rows.append((path.parent / str(row["file"]), row["label"], SPLIT_DIRS.get(split, "")))
    if not rows:
        raise UserError(f"manifest {str(path)!r} has no rows; expected {MANIFEST_LAYOUT}")
    (labels,), class_names = encode_labels([r[1] for r in rows])
    has_split = any(r[2] for r in rows)
    if has_split and not all(r[2] for r in rows):
        raise UserError(f"manifest {str(path)!r} gives \"split\" on some rows only; give it on every row or none")
    splits: dict[str, list[Item]] = {}
    for (file, _, split), label in zip(rows, labels):
        splits.setdefault(split or "train", []).append((file, int(label)))
    if "train" not in splits:
        raise UserError(f"manifest {str(path)!r} has no train rows")
    return _load_items("manifest", path, splits, class_names, seed=seed, val_fraction=val_fraction,
                       image_size=image_size, cache_dir=cache_dir, augment_kind=None)


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
