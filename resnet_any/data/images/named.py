"""The named image sets: digits (embedded), MNIST (IDX files) and CIFAR-10/100 (python pickles)."""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError, UserError
from ..archives import extract
from ..base import DataSplits
from ..splits import ArrayDataset, stratified_split, train_val_test
from ..storage import cache_root, find_or_download, require_dir
from .decode import make_splits, resize_batch
from .folders import load_folder


def load_digits(data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
                image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """scikit-learn's 1,797 8x8 handwritten digits, seeded stratified 80/20 train+val/test split."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    # Pixel values are counts 0..16 (4x4 blocks of a 32x32 bitmap); scale to the full 8-bit range.
    x = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    x = resize_batch(x, image_size, "light")
    y = torch.from_numpy(d.target.astype(np.int64))
    tr, va, te = train_val_test(d.target, val_fraction, seed)
    full = ArrayDataset(x, y)
    return make_splits("digits", full.subset(tr), full.subset(va), full.subset(te),
                       [str(i) for i in range(10)], augment="none", ink="light")


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
            raise DataError(f"corrupt gzip file {{path}}: {e}", path=path, value=str(e),
                            expected="the file is a corrupt gzip file") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{{path}} is not an unsigned-byte IDX file (bad magic {raw[:4]!r})", path=path,
                        value=raw[:4], expected="the file is not an unsigned-byte IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - header != expected:
        problem = f"header says {dims} ({expected} bytes), found {len(raw) - header}"
        raise DataError(f"corrupt IDX file {{path}}: {problem}", path=path)
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
            raise DataError(f"no MNIST files in {{path}}; expected {MNIST_LAYOUT}", path=root)
    else:
        cache = cache_root(cache_dir)

        def download() -> None:
            import torchvision

            torchvision.datasets.MNIST(str(cache), train=True, download=True)

        files = find_or_download(
            lambda: _find_mnist(cache), download, host="ossci-datasets.s3.amazonaws.com",
            offline=f"MNIST is not embedded and the network is unreachable; put the files in {cache / 'MNIST' / 'raw'} "
                    f"or pass --data-dir (expected {MNIST_LAYOUT})",
            offline_public="mnist is not on this server: upload the four MNIST IDX files (a zip) and give their "
                           "folder as the data dir",
            failed=f"downloading MNIST into {cache} failed",
            missing=f"MNIST download into {cache} did not produce {MNIST_LAYOUT}")
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            folder = files[f'{split}_images'].parent
            raise DataError(f"MNIST {split} images and labels differ in count in {{path}}", path=folder)
    x_train = resize_batch(torch.from_numpy(arrays["train_images"].copy()).unsqueeze(1), image_size, "light")
    x_test = resize_batch(torch.from_numpy(arrays["test_images"].copy()).unsqueeze(1), image_size, "light")
    y_train = torch.from_numpy(arrays["train_labels"].astype(np.int64))
    y_test = torch.from_numpy(arrays["test_labels"].astype(np.int64))
    tr, va = stratified_split(y_train.numpy(), val_fraction, seed)
    full = ArrayDataset(x_train, y_train)
    return make_splits("mnist", full.subset(tr), full.subset(va), ArrayDataset(x_test, y_test),
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
            raise DataError(f"corrupt CIFAR file {{path}}: {e}", path=path, value=str(e),
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
        def download() -> None:
            import torchvision

            getattr(torchvision.datasets, CIFAR[name]["cls"])(str(cache), train=True, download=True)

        folder = find_or_download(
            lambda: _find_cifar(cache, name, cache), download, host="www.cs.toronto.edu",
            offline=f"{name} needs a download and the network is unreachable; put {CIFAR[name]['folder']}/ in {cache} "
                    f"or pass --data-dir (expected {_cifar_layout(name)})",
            offline_public=f"{name} is not on this server; train on an image folder of it instead (upload a zip of "
                           f"class folders)",
            failed=f"downloading {name} into {cache} failed",
            missing=f"{name} download into {cache} did not produce {CIFAR[name]['folder']}/")
    x_train, y_train, x_test, y_test, names = _read_cifar(folder, name)
    x_train = resize_batch(x_train, image_size, "dark")
    x_test = resize_batch(x_test, image_size, "dark")
    tr, va = stratified_split(y_train.numpy(), val_fraction, seed)
    full = ArrayDataset(x_train, y_train)
    return make_splits(name, full.subset(tr), full.subset(va), ArrayDataset(x_test, y_test), names,
                       augment="crop_flip", ink="dark")


def load_cifar10(data_dir: str | None = None, **kw) -> DataSplits:
    """CIFAR-10 (50,000 train / 10,000 test, 32x32 RGB, 10 classes)."""
    return _load_cifar("cifar10", data_dir, **kw)


def load_cifar100(data_dir: str | None = None, **kw) -> DataSplits:
    """CIFAR-100 (50,000 train / 10,000 test, 32x32 RGB, 100 fine classes)."""
    return _load_cifar("cifar100", data_dir, **kw)
