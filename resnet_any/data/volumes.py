"""Volume datasets for `--domain volume` (3D ResNets on (N, C, D, H, W)): .npz arrays and folders of .npy files.

Nothing is embedded: a volume dataset is always a path (`load_path`), one of
- an .npz holding `x` (N, C, D, H, W) or (N, D, H, W) (one channel) and labels `y` (N,), optionally
  `x_test`/`y_test` and `x_val`/`y_val` for given splits; what is not given is carved from x, seeded and
  stratified (test first, then val from the rest, as `splits.train_val_test` does). y may also hold numbers
  (regression: float (N,) or (N, K)) or 0/1 tags (N, K) (multi-label), NaN where a target is missing, as
  data/targets.py's table infers from y (--task overrides it); those splits are carved at random;
- a folder ROOT/<class>/*.npy of (D, H, W) or (C, D, H, W) volumes of one shape, or ROOT/train/<class>/
  with ROOT/test/ and/or ROOT/val/ alike (a lone val/ is the test set, as for image folders).

Samples are float32 tensors (C, D, H, W), standardised per channel with the mean and std of all voxels of
the training split. Those are kept in meta ({"channels", "shape", "mean", "std", "norm": "channel"}) and
`preprocess_volume` applies the same steps to a new volume at inference; the readers use it too.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, UserError
from .base import DataSplits
from .splits import SPLIT_NAMES, TEST_FRACTION, ArrayDataset, encode_labels, stratified_split
from .target_cells import cell, decide, encode_rows

DEFAULT = None
LAYOUT = ("an .npz holding x (N, C, D, H, W) or (N, D, H, W) and labels y (N,) (optionally x_test/y_test, "
          "x_val/y_val), or a folder ROOT/<class>/*.npy of (D, H, W) or (C, D, H, W) volumes, or ROOT/train/<class>/*.npy "
          "with ROOT/test/ and/or ROOT/val/ alike")
NO_EMBEDDED = f"the volume domain has no embedded or named dataset: pass --dataset PATH, {LAYOUT}"
ACCEPTED_SHAPES = "(N, C, D, H, W) or (N, D, H, W)"
# Samples standardised per chunk: bounds the float64 working copy of a large set.
CHUNK = 256


# ---------------------------------------------------------------- preprocessing (training == inference)

def _as_cdhw(v: np.ndarray, where: str) -> np.ndarray:
    """One volume (D, H, W) or (C, D, H, W), numeric and finite -> (C, D, H, W), else a UserError naming `where`."""
    if v.ndim not in (3, 4):
        raise UserError(f"{where} has shape {tuple(v.shape)} ({v.ndim} dims); expected one volume (D, H, W) or (C, D, H, W)")
    _check_values(v, where)  # before adding a channel axis: indices as in the user's array
    return v[None] if v.ndim == 3 else v


def _check_values(x: np.ndarray, where: str) -> None:
    """Numeric (bool, int, unsigned, float) and finite, else a UserError naming `where`."""
    if x.dtype.kind not in "biuf":
        raise UserError(f"{where} has dtype {x.dtype}, not numbers; volumes must be an integer or float array")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), x.shape)
            raise UserError(f"{where} holds {int(bad.sum())} NaN/inf value(s) (first at index {tuple(map(int, first))}); "
                            f"volumes must be finite")


def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean and std (population) of each channel of (N, C, D, H, W) over all voxels, in float64; std 1 if flat."""
    c = x.shape[1]
    count = max(x.size // max(c, 1), 1)
    total = np.zeros(c)
    for i in range(0, len(x), CHUNK):
        total += x[i:i + CHUNK].sum(axis=(0, 2, 3, 4), dtype=np.float64)
    mean = total / count
    sq = np.zeros(c)
    for i in range(0, len(x), CHUNK):
        d = x[i:i + CHUNK].astype(np.float64) - mean[None, :, None, None, None]
        sq += (d * d).sum(axis=(0, 2, 3, 4))
    std = np.sqrt(sq / count)
    std = np.where(std > 1e-8, std, 1.0)
    return [float(m) for m in mean], [float(s) for s in std]


def _standardise(x: np.ndarray, meta: dict) -> np.ndarray:
    """(N, C, D, H, W) numbers -> float32 (x - mean) / std per channel, computed in float64."""
    mean = np.asarray(meta["mean"], dtype=np.float64)[None, :, None, None, None]
    std = np.asarray(meta["std"], dtype=np.float64)[None, :, None, None, None]
    out = np.empty(x.shape, dtype=np.float32)
    for i in range(0, len(x), CHUNK):
        out[i:i + CHUNK] = (x[i:i + CHUNK].astype(np.float64) - mean) / std
    return out


def preprocess_volume(volume: np.ndarray | torch.Tensor | list, meta: dict) -> torch.Tensor:
    """A volume (D, H, W) or (C, D, H, W) (numpy array, tensor or nested lists) -> float32 tensor (C, D, H, W)
    standardised exactly as the training data was (meta: channels, shape, mean, std)."""
    try:
        v = volume.detach().cpu().numpy() if isinstance(volume, torch.Tensor) else np.asarray(volume)
    except ValueError as e:  # ragged nested lists
        raise UserError(f"the volume is not a regular grid of numbers ({' '.join(str(e).split())}); "
                        f"expected (D, H, W) or (C, D, H, W)") from e
    v = _as_cdhw(v, "the volume")
    want = (int(meta["channels"]), *map(int, meta["shape"]))
    if tuple(v.shape) != want:
        raise UserError(f"the volume has shape {tuple(v.shape)} (as (C, D, H, W)); this model takes {want}")
    return torch.from_numpy(_standardise(v[None], meta)[0])


# ---------------------------------------------------------------- building DataSplits

def _carve(y: np.ndarray, need_test: bool, need_val: bool, val_fraction: float, seed: int,
           class_names: list[str], source: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(train, val, test) indices into the train pool, carving what the source does not give: test first, then val."""
    need = 1 + int(need_test) + int(need_val and val_fraction > 0)
    if need > 1 and y.ndim == 1:  # classes (float targets (N, K) are split at random)
        counts = np.bincount(y, minlength=len(class_names))
        small = [k for k in range(len(class_names)) if 0 < counts[k] < need]
        if small:
            k = small[0]
            parts = "/".join(p for p, on in (("train", True), ("val", need_val and val_fraction > 0), ("test", need_test)) if on)
            raise UserError(f"class {class_names[k]!r} has {counts[k]} volume(s) in {source!r}; a seeded {parts} split "
                            f"needs at least {need} per class (give more, or give the splits yourself)")
    keep = np.arange(len(y))
    test = val = None
    if need_test:
        tr, te = stratified_split(y, TEST_FRACTION, seed)
        keep, test = keep[tr], keep[te]
    if need_val:
        tr, va = stratified_split(y[keep], val_fraction, seed + 1)
        keep, val = keep[tr], keep[va]
    return keep, val, test


def _targets(labels: dict[str, list], keys: dict[str, str], path: Path, task: str | None) -> tuple:
    """(task, note, float targets (N, K) per split, target names) of .npz labels; classify: (task, None, None, None)."""
    cells = {k: [tuple(cell(v) for v in (row if isinstance(row, list) else [row])) for row in ys]
             for k, ys in labels.items()}
    k_targets = len(cells["train"][0]) if cells["train"] else 1
    columns = [keys["train"]] if k_targets == 1 else [f"{keys['train']}[:, {j}]" for j in range(k_targets)]
    task, note = decide(cells["train"], columns, task, repr(str(path)))
    if task == "classify":
        return task, None, None, None

    def place(split: str, i: int | None, j: int, problem: str, expected: str) -> Exception:
        key = keys[split] if k_targets == 1 else f"{keys[split]}[:, {j}]"
        return DataError(f"{{at}}: {problem}", path=path, row=i, column=key, unit="sample", expected=expected,
                         counting=None if i is None else "counted from 0 along the first axis")

    names = ["target"] if task == "regress" and k_targets == 1 else [
        f"{'tag' if task == 'multilabel' else 'target'}_{j}" for j in range(k_targets)]
    found = encode_rows(cells, names, task, place, note)
    return task, note, {k: v.numpy() for k, v in found.y.items()}, found.names


def _build(name: str, source: str, xs: dict[str, np.ndarray], labels: dict[str, list], *, seed: int,
           val_fraction: float, targets: tuple = ("classify", None, None, None)) -> DataSplits:
    """DataSplits from (N, C, D, H, W) arrays per given split ("train" always), carving the missing splits.

    targets: (task, note, float (N, K) targets per split, names) of a regress or multilabel task (_targets).
    """
    order = [k for k in ("train", "val", "test") if k in xs]
    task, note, floats, class_names = targets
    if floats is not None:
        y = floats
    else:
        encoded, class_names = encode_labels(*(labels[k] for k in order))
        y = dict(zip(order, encoded))
    known = set(y["train"].tolist()) if floats is None else set()
    for k in order[1:] if floats is None else ():
        extra = sorted(set(y[k].tolist()) - known)
        if extra:
            raise UserError(f"the {k} split of {source!r} holds class {class_names[extra[0]]!r}, which the training "
                            f"split lacks; every class must have training volumes")
    keep, val_idx, test_idx = _carve(y["train"], "test" not in xs, "val" not in xs, val_fraction, seed,
                                     class_names, source)
    x_train = xs["train"]
    parts = {"train": (x_train[keep], y["train"][keep])}
    parts["val"] = (xs["val"], y["val"]) if "val" in xs else (x_train[val_idx], y["train"][val_idx])
    parts["test"] = (xs["test"], y["test"]) if "test" in xs else (x_train[test_idx], y["train"][test_idx])
    if len(parts["train"][0]) == 0:
        raise UserError(f"dataset {source!r} has no training volumes; expected {LAYOUT}")
    c, d, h, w = parts["train"][0].shape[1:]
    mean, std = channel_stats(parts["train"][0])
    meta = {"channels": int(c), "shape": [int(d), int(h), int(w)], "mean": mean, "std": std, "norm": "channel"}
    ds = {k: ArrayDataset(torch.from_numpy(_standardise(xv, meta)),
                          torch.from_numpy(yv.astype(np.int64) if floats is None else yv))
          for k, (xv, yv) in parts.items()}
    return DataSplits(name=name, domain="volume", layout="samples", train=ds["train"], val=ds["val"], test=ds["test"],
                      num_classes=len(class_names), class_names=class_names, in_channels=int(c), meta=meta,
                      task=task, task_note=note)


# ---------------------------------------------------------------- .npz

def _npz_labels(y: np.ndarray, n: int, key: str, xkey: str, path: Path) -> list:
    """y's labels as a list (rows of K targets for y (N, K)); NaN stays (a missing target, refused for classes)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
        raise UserError(f"{str(path)!r}: {key} has shape {tuple(y.shape)}; expected one label per volume, shape "
                        f"({n},), or K targets per volume, ({n}, K)")
    if len(y) != n:
        raise UserError(f"{str(path)!r}: {xkey} has {n} volumes but {key} has {len(y)} labels; they must match")
    if y.dtype.kind == "f" and np.isinf(y).any():
        raise UserError(f"{str(path)!r}: {key} holds infinite labels; targets are numbers, or NaN where missing")
    if y.dtype.kind not in "biufUS":
        raise UserError(f"{str(path)!r}: {key} has dtype {y.dtype}; labels must be integers or strings")
    return y.tolist()


def _npz_volumes(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    if x.ndim not in (4, 5):
        raise UserError(f"{str(path)!r}: {key} has shape {tuple(x.shape)} ({x.ndim} dims); accepted: "
                        f"{ACCEPTED_SHAPES} (N volumes, C channels, depth D, height H, width W)")
    _check_values(x, f"{str(path)!r}: {key}")  # before adding a channel axis: indices as in the user's array
    return x[:, None] if x.ndim == 4 else x


def load_npz(path: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.2,
             task: str | None = None) -> DataSplits:
    """Volumes and labels from an .npz (x, y; optional x_test/y_test, x_val/y_val); task: what y holds."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        reason = " ".join(str(e).split())
        raise UserError(f"cannot read {str(p)!r} as an .npz of arrays ({reason}); expected {LAYOUT}") from e
    found = ", ".join(sorted(arrays)) or "none"
    if "x" not in arrays or "y" not in arrays:
        missing = " and ".join(k for k in ("x", "y") if k not in arrays)
        raise UserError(f"{str(p)!r} has no {missing} array (arrays found: {found}); expected {LAYOUT}")
    xs, labels = {}, {}
    for split, xk, yk in (("train", "x", "y"), ("val", "x_val", "y_val"), ("test", "x_test", "y_test")):
        if (xk in arrays) != (yk in arrays):
            have, lack = (xk, yk) if xk in arrays else (yk, xk)
            raise UserError(f"{str(p)!r} has {have} but no {lack} (arrays found: {found}); give both or neither")
        if xk not in arrays:
            continue
        xs[split] = _npz_volumes(arrays[xk], xk, p)
        labels[split] = _npz_labels(arrays[yk], len(xs[split]), yk, xk, p)
        if xs[split].shape[1:] != xs["train"].shape[1:]:
            raise UserError(f"{str(p)!r}: {xk} volumes have shape {tuple(xs[split].shape[1:])} (C, D, H, W) but x has "
                            f"{tuple(xs['train'].shape[1:])}; all splits must share one shape")
    if len(xs["train"]) == 0:
        raise UserError(f"{str(p)!r}: x holds no volumes; expected {LAYOUT}")
    widths = {k: np.asarray(arrays[yk]).reshape(len(xs[k]), -1).shape[1] for k, yk in
              (("train", "y"), ("val", "y_val"), ("test", "y_test")) if k in xs}
    if len(set(widths.values())) > 1:
        raise UserError(f"{str(p)!r}: y holds {widths['train']} target(s) per volume but "
                        f"{', '.join(f'y_{k} {w}' for k, w in widths.items() if k != 'train')}; every split needs the same")
    keys = {"train": "y", "val": "y_val", "test": "y_test"}
    found = _targets(labels, keys, p, task)
    for k in labels if found[0] == "classify" else ():
        if any(isinstance(v, list) for v in labels[k]):
            raise UserError(f"{str(p)!r}: --task classify reads one label per volume, but {keys[k]} holds several")
        missing = [i for i, v in enumerate(labels[k]) if cell(v) is None]
        if missing:
            raise UserError(f"{str(p)!r}: {keys[k]} holds NaN/inf labels (the first at sample {missing[0]}); every "
                            "volume needs a class")
    return _build(p.stem, str(p), xs, labels, seed=seed, val_fraction=val_fraction, targets=found)


# ---------------------------------------------------------------- folders of .npy

def _subdirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def _npy_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix.lower() == ".npy")


def load_folder(path: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.2) -> DataSplits:
    """Volumes from ROOT/<class>/*.npy, or ROOT/train/<class>/*.npy with test/ and/or val/ alike."""
    root = Path(path)
    dirs = _subdirs(root)
    if not dirs:
        stray = len(_npy_files(root))
        what = f"{stray} .npy file(s) but no class subfolders" if stray else "no class subfolders"
        raise UserError(f"{str(root)!r} holds {what}; expected {LAYOUT}")
    present = {SPLIT_NAMES[d.name.lower()]: d for d in dirs if d.name.lower() in SPLIT_NAMES}
    if present and "train" not in present:
        raise UserError(f"{str(root)!r} has {'/'.join(sorted(present))} but no train/ folder; expected {LAYOUT}")
    split_dirs = dict(present) if present else {"train": root}
    if "val" in split_dirs and "test" not in split_dirs:
        split_dirs["test"] = split_dirs.pop("val")  # as for image folders: a lone val/ is the held-out set
    class_dirs = {k: _subdirs(d) for k, d in split_dirs.items()}
    if not class_dirs["train"]:
        raise UserError(f"no class subfolders in {str(split_dirs['train'])!r}; expected {LAYOUT}")
    first: tuple[Path, tuple] | None = None
    xs, labels = {}, {}
    for split in ("train", "val", "test"):
        if split not in split_dirs:
            continue
        vols, labs = [], []
        for d in class_dirs[split]:
            files = _npy_files(d)
            if not files and split == "train":
                raise UserError(f"class folder {str(d)!r} holds no .npy volumes; every class needs training volumes")
            for f in files:
                try:
                    v = np.load(f, allow_pickle=False)
                except (OSError, ValueError, EOFError) as e:
                    raise UserError(f"cannot read {str(f)!r} as a .npy array ({' '.join(str(e).split())})") from e
                v = _as_cdhw(v, repr(str(f)))
                if first is None:
                    first = (f, v.shape)
                elif v.shape != first[1]:
                    raise UserError(f"{str(f)!r} has shape {tuple(v.shape)} (C, D, H, W) but {str(first[0])!r} has "
                                    f"{tuple(first[1])}; all volumes must share one shape")
                vols.append(v)
                labs.append(d.name)
        if not vols:
            raise UserError(f"no .npy volumes found in {str(split_dirs[split])!r}; expected {LAYOUT}")
        xs[split] = np.stack(vols)
        labels[split] = labs
    return _build(root.resolve().name or "volumes", str(root), xs, labels, seed=seed, val_fraction=val_fraction)


# ---------------------------------------------------------------- entry points

def list_datasets() -> list[str]:
    """Named volume datasets: none (pass a path)."""
    return []


def load_path(path: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.2, image_size: int | None = None,
              cache_dir: str | None = None, task: str | None = None) -> DataSplits:
    """Load an .npz file or a folder of .npy volumes; the DataSplits is named after the file stem or folder.

    task: what an .npz's y holds (None: inferred); a folder's labels are its class folders (classify).
    """
    if image_size is not None:
        raise UserError(f"image_size ({image_size}) resizes images; volumes are used at their stored (D, H, W) shape")
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"volume dataset {str(p)!r} does not exist; expected {LAYOUT}")
    if p.is_dir():
        if not any(p.iterdir()):
            raise UserError(f"volume dataset folder {str(p)!r} is empty; expected {LAYOUT}")
        if task not in (None, "classify"):
            raise UserError(f"--task {task}: a folder of volumes is labelled by its class folders; give numbers or "
                            "tags as y of an .npz", public=True)
        return load_folder(p, seed=seed, val_fraction=val_fraction)
    if p.suffix.lower() == ".npz":
        return load_npz(p, seed=seed, val_fraction=val_fraction, task=task)
    kind = f"a {p.suffix} file" if p.suffix else "a file without a suffix"
    raise UserError(f"cannot load {str(p)!r} as a volume dataset ({kind}); accepted: {LAYOUT}")


def load(name: str | None, data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
         image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """Volume datasets are paths, given as --dataset PATH (an .npz or a folder of .npy); there are no names.

    Only the path in --dataset is accepted (not --data-dir): it is what the run records, so resume and
    evaluate read exactly these files again.
    """
    if data_dir is not None:
        raise UserError(f"volumes are read from --dataset PATH, not --data-dir; pass --dataset "
                        f"{str(Path(data_dir) / name) if name else data_dir!r}")
    if name is None:
        raise UserError(NO_EMBEDDED)
    if Path(name).expanduser().exists():
        return load_path(Path(name).expanduser(), seed=seed, val_fraction=val_fraction, image_size=image_size,
                         cache_dir=cache_dir)
    raise UserError(f"volume dataset {name!r} is not an existing path; {NO_EMBEDDED}")
