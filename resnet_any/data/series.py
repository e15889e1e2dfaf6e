"""Time-series classification sets: those aeon ships, UCR-archive TSV folders and .ts files.

Samples are float32 tensors (C, L). Unequal lengths are padded at the end to the longest series
of the dataset (train and test together) with NaN, like the UCR archive does; then the values are
standardised over their observed values and every NaN (padding or missing value) becomes 0, which
after standardisation is the mean. `preprocess_series` applies the same steps to one new series
for inference.

How values are standardised depends on the channel count (meta["norm"]):
- "series" (one channel, the UCR convention): each series is z-normalised on its own, so offset
  and scale carry no information;
- "channel" (several channels, UEA sets): each channel is standardised with the mean and std of
  that channel over all observed values of the official train split (kept in meta for inference).
  Per-series z-normalisation would erase each channel's level and spread within a series, which is
  the signal of many multivariate sets: on JapaneseVowels (12 LPC cepstrum coefficients per frame,
  7-29 frames) a logistic regression on each series' channel means and stds scores 0.95 test
  accuracy on raw values and nothing after per-series z-norm (they all become 0 and 1); the series
  ResNet fell from 0.99 to 0.77 with it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import DataError, UserError
from .base import DataSplits
from .splits import ArrayDataset, encode_labels, stratified_split
from .storage import cache_root, find_or_download, require_dir

DEFAULT = "GunPoint"
GENERIC = ("ucr", "ts")
# aeon ships these only as fixtures for its own unit tests, not as benchmark problems.
NOT_DATASETS = {"UnitTest"}
UCR_LAYOUT = "a folder holding NAME_TRAIN.tsv and NAME_TEST.tsv (UCR archive: first column the label, then the values)"
TS_LAYOUT = "a folder holding NAME_TRAIN.ts and NAME_TEST.ts (sktime/aeon .ts format)"


# ---------------------------------------------------------------- preprocessing (training == inference)

def _znorm(x: np.ndarray) -> np.ndarray:
    """Z-normalise each series and channel of (N, C, L) over its non-NaN values; flat series are only centred."""
    with np.errstate(invalid="ignore"):
        observed = np.isfinite(x)
        count = observed.sum(axis=-1, keepdims=True)
        filled = np.where(observed, x, 0.0)
        mean = filled.sum(axis=-1, keepdims=True) / np.maximum(count, 1)
        var = (np.where(observed, x - mean, 0.0) ** 2).sum(axis=-1, keepdims=True) / np.maximum(count, 1)
        std = np.sqrt(var)
        std = np.where(std > 1e-8, std, 1.0)
        return (x - mean) / std


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each channel of (N, C, L) over all its finite values (std 1 for a flat channel)."""
    with np.errstate(invalid="ignore"):
        observed = np.isfinite(x)
        count = np.maximum(observed.sum(axis=(0, 2)), 1)
        mean = np.where(observed, x, 0.0).sum(axis=(0, 2)) / count
        var = (np.where(observed, x - mean[None, :, None], 0.0) ** 2).sum(axis=(0, 2)) / count
    std = np.sqrt(var)
    return mean, np.where(std > 1e-8, std, 1.0)


def _finish(x: np.ndarray, znorm: bool, meta: dict | None = None) -> np.ndarray:
    """The shared last steps: standardisation as meta["norm"] says (per series by default), then NaN/inf -> 0."""
    x = x.astype(np.float64)
    if znorm:
        if (meta or {}).get("norm", "series") == "channel":
            mean = np.asarray(meta["mean"], dtype=np.float64)[None, :, None]
            std = np.asarray(meta["std"], dtype=np.float64)[None, :, None]
            x = (x - mean) / std
        else:
            x = _znorm(x)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def preprocess_series(array_like: Sequence | np.ndarray | torch.Tensor, meta: dict) -> torch.Tensor:
    """One series, (L,) or (C, L), -> float32 tensor (C, L) prepared exactly as the training series were."""
    if isinstance(array_like, torch.Tensor):
        array_like = array_like.detach().cpu().numpy()
    try:
        a = np.asarray(array_like, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise UserError(f"series values must be numbers: {e}") from e
    if a.ndim == 1:
        a = a[None]
    channels = int(meta.get("channels", a.shape[0]))
    if a.ndim != 2 or a.shape[0] != channels:
        raise UserError(f"series has shape {tuple(a.shape)}; expected ({channels}, length) or (length,) for one channel")
    # Trailing NaNs are padding (UCR convention): drop them, then pad to the training length as training did.
    observed = np.isfinite(a).any(axis=0)
    if not observed.any():
        raise UserError("series has no finite values")
    a = a[:, : int(np.flatnonzero(observed)[-1]) + 1]
    length = int(meta.get("length", a.shape[1]))
    if a.shape[1] < length:
        a = np.concatenate([a, np.full((channels, length - a.shape[1]), np.nan)], axis=1)
    # Longer series are kept whole: the network pools globally over time, so any length fits.
    return torch.from_numpy(_finish(a[None], bool(meta.get("znorm", True)), meta)[0])


def _pad_stack(series: list[np.ndarray], length: int) -> np.ndarray:
    """List of (C, L_i) arrays -> (N, C, length), NaN-padded at the end."""
    c = series[0].shape[0]
    out = np.full((len(series), c, length), np.nan, dtype=np.float64)
    for i, s in enumerate(series):
        if s.shape[0] != c:
            raise UserError(f"series {i} has {s.shape[0]} channels, the first one has {c}")
        out[i, :, : s.shape[1]] = s
    return out


def trim_padding(s: np.ndarray) -> np.ndarray:
    """Drop trailing all-NaN time steps (padding), keeping at least one step."""
    observed = np.isfinite(s).any(axis=0)
    last = int(np.flatnonzero(observed)[-1]) + 1 if observed.any() else 1
    return s[:, :last]


def pad_and_standardise(groups: Sequence[Sequence[np.ndarray]], *, znorm: bool = True,
                        fit: Sequence[int] = (0,), per_series: bool = True) -> tuple[list[np.ndarray], dict]:
    """Groups of (C, L_i) series -> float32 arrays (N_g, C, L) prepared as training data, and their meta.

    Every group is NaN-padded at the end to the longest series of all groups; several channels are
    standardised with the statistics of the groups listed in `fit` (the training data, never the
    test set); one channel is z-normalised per series, unless per_series is False (regression targets are often
    a series' level or amplitude, which per-series z-normalisation removes: it is standardised with the
    training statistics as several channels are; bench generalize's CSV regressions, per series -> per channel:
    solar windows RMSE 0.0654 -> 0.0486, Airline windows 103.8 -> 41.2, and on the two sets without signal,
    R² below 0 either way, Covid3Month 0.0457 -> 0.0477, CardanoSentiment 0.316 -> 0.329). Groups may be
    empty, but not all of them.
    """
    filled = [g for g in groups if len(g)]
    if not filled:
        raise ValueError("pad_and_standardise needs at least one series")
    length = max(s.shape[1] for g in filled for s in g)
    channels = filled[0][0].shape[0]
    meta = {"length": int(length), "channels": int(channels), "znorm": bool(znorm), "padding": "end",
            "norm": "series" if channels == 1 and per_series else "channel"}
    raws = [_pad_stack(list(g), length) if len(g) else np.full((0, channels, length), np.nan) for g in groups]
    if meta["norm"] == "channel":
        mean, std = channel_stats(np.concatenate([raws[i] for i in fit]))
        meta.update(mean=[float(v) for v in mean], std=[float(v) for v in std])
    return [_finish(r, znorm, meta) for r in raws], meta


# ---------------------------------------------------------------- readers

def read_ucr_tsv(path: str | Path) -> tuple[list[np.ndarray], list[str]]:
    """Read one UCR-archive file: rows "label<TAB>v1<TAB>v2...", NaN padding allowed -> ([(1, L_i)], labels)."""
    path = Path(path)
    series, labels = [], []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read UCR file {{path}}: {e}", path=path, value=str(e),
                        expected="cannot read the file as UTF-8 text") from e
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        # The 2018 archive is tab-separated; older releases used commas.
        fields = line.rstrip("\n\r").split("\t") if "\t" in line else line.strip().replace(",", " ").split()
        if len(fields) < 2:
            expected = "expected a label and at least one value"
            raise DataError(f"{{at}}: {expected}, got {line.strip()[:60]!r}", path=path, row=lineno, unit="line",
                            value=line.strip(), expected=expected)
        values = []
        for tok in fields[1:]:
            tok = tok.strip()
            if tok in ("", "?") or tok.lower() == "nan":
                values.append(np.nan)
                continue
            try:
                values.append(float(tok))
            except ValueError:
                raise DataError(f"{{at}}: bad value {tok[:30]!r}; expected numbers or NaN", path=path, row=lineno,
                                unit="line", value=tok,
                                expected="a value is not a number; expected numbers or NaN") from None
        s = np.asarray(values, dtype=np.float64)[None]
        if not np.isfinite(s).any():
            raise DataError("{at}: the series has no values", path=path, row=lineno, unit="line")
        series.append(trim_padding(s))
        labels.append(fields[0].strip())
    if not series:
        raise DataError(f"UCR file {{path}} is empty; expected {UCR_LAYOUT}", path=path)
    return series, labels


def _ts_header(path: Path) -> dict[str, str]:
    """The @key value lines of a .ts file, lower-cased keys."""
    header = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.lower().startswith("@data"):
                break
            if line.startswith("@"):
                key, _, value = line[1:].partition(" ")
                header[key.lower()] = value.strip()
    return header


def read_ts(path: str | Path) -> tuple[list[np.ndarray], list[str]]:
    """Read a classification .ts file with aeon -> ([(C, L_i)], labels)."""
    from aeon.datasets import load_from_ts_file

    path = Path(path)
    header = _ts_header(path)
    if header.get("classlabel", "").split()[:1] != ["true"]:
        problem = "is not a classification .ts file (no '@classLabel true'); regression sets are not supported"
        raise DataError(f"{{path}} {problem}", path=path)
    try:
        X, y = load_from_ts_file(str(path))
    except Exception as e:  # noqa: BLE001 - aeon raises IOError/ValueError/IndexError on malformed files
        raise DataError(f"cannot read .ts file {{path}}: {e}", path=path, value=str(e),
                        expected="cannot read the file in the .ts format") from e
    series = [trim_padding(np.asarray(s, dtype=np.float64).reshape(-1, np.asarray(s).shape[-1])) for s in X]
    return series, [str(v) for v in y]


def _aeon_data_dir() -> Path | None:
    """aeon's bundled data folder, found without importing aeon (its import takes seconds)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return path if path.is_dir() else None


def shipped() -> dict[str, Path]:
    """Classification sets aeon ships with NAME_TRAIN.ts and NAME_TEST.ts: canonical name -> folder."""
    base = _aeon_data_dir()
    out = {}
    if base is None:
        return out
    for d in sorted(base.iterdir()):
        train, test = d / f"{d.name}_TRAIN.ts", d / f"{d.name}_TEST.ts"
        if d.name in NOT_DATASETS or not (train.is_file() and test.is_file()):
            continue
        if _ts_header(train).get("classlabel", "").split()[:1] == ["true"]:
            out[d.name] = d
    return out


def _find_pair(folder: Path, name: str | None) -> tuple[str, Path, Path] | None:
    """(name, train file, test file) for NAME_TRAIN/NAME_TEST .tsv or .ts in `folder` or folder/NAME, case-insensitive."""
    candidates = [folder]
    if name:
        candidates += [d for d in folder.iterdir() if d.is_dir() and d.name.lower() == name.lower()]
    for d in candidates:
        for ext in (".tsv", ".ts"):
            trains = sorted(d.glob(f"*_TRAIN{ext}"))
            if name:
                trains = [t for t in trains if t.name[: -len(f"_TRAIN{ext}")].lower() == name.lower()]
            if len(trains) > 1:
                found = ", ".join(t.name[: -len(f"_TRAIN{ext}")] for t in trains)
                raise DataError(f"{{path}} holds several datasets ({found}); pass one as --dataset NAME", path=d,
                                value=found, expected="the folder holds several datasets; name one as the dataset")
            if trains:
                stem = trains[0].name[: -len(f"_TRAIN{ext}")]
                test = d / f"{stem}_TEST{ext}"
                if not test.is_file():
                    raise DataError(f"{{path}} has no matching {test.name} beside it", path=trains[0])
                return stem, trains[0], test
    return None


def _read_pair(train: Path, test: Path) -> tuple[list[np.ndarray], list[str], list[np.ndarray], list[str]]:
    reader = read_ucr_tsv if train.suffix == ".tsv" else read_ts
    return (*reader(train), *reader(test))


def _build(name: str, x_tr: list[np.ndarray], l_tr: list[str], x_te: list[np.ndarray], l_te: list[str], *,
           seed: int, val_fraction: float, znorm: bool) -> DataSplits:
    """Pad, normalise, encode labels and carve a stratified validation split from the official train."""
    channels = x_tr[0].shape[0]
    if any(s.shape[0] != channels for s in x_te):
        raise DataError(f"{name}: test series have a different channel count than train ({channels})")
    (y_tr, y_te), class_names = encode_labels(l_tr, l_te)
    # statistics of the official train split only (the held-out validation part included, never the test set)
    (tr, te), meta = pad_and_standardise([x_tr, x_te], znorm=znorm, fit=(0,))
    tr, te = torch.from_numpy(tr), torch.from_numpy(te)
    full = ArrayDataset(tr, torch.from_numpy(y_tr))
    keep, held = stratified_split(y_tr, val_fraction, seed)
    return DataSplits(name=name, domain="series", layout="samples", train=full.subset(keep), val=full.subset(held),
                      test=ArrayDataset(te, torch.from_numpy(y_te)), num_classes=len(class_names),
                      class_names=class_names, in_channels=int(channels), meta=meta)


def list_datasets() -> list[str]:
    """Series dataset names usable offline (aeon's shipped classification sets), then the generic loaders."""
    names = sorted(shipped(), key=str.lower)
    if DEFAULT in names:
        names.remove(DEFAULT)
        names.insert(0, DEFAULT)
    return names + list(GENERIC)


def _download(name: str, cache: Path) -> tuple[str, Path, Path]:
    """Fetch a UCR/UEA problem with aeon into the cache when online, else a UserError saying where files go."""
    from aeon.datasets import load_classification
    from aeon.datasets.tsc_datasets import tsc_zenodo

    canonical = next(n for n in tsc_zenodo if n.lower() == name.lower())
    target = cache / "aeon"
    return find_or_download(
        lambda: _find_pair(target, canonical) if target.is_dir() else None,
        lambda: load_classification(canonical, extract_path=str(target)), host="zenodo.org",
        offline=f"series dataset {canonical!r} is not shipped with aeon and the network is unreachable; pass "
                f"--data-dir with {UCR_LAYOUT.replace('NAME', canonical)} or the .ts pair",
        offline_public=f"series dataset {canonical!r} is not on this server: upload its NAME_TRAIN.tsv and "
                       f"NAME_TEST.tsv (a zip) and give their folder as the data dir with the dataset name",
        failed=f"downloading {canonical!r} with aeon failed",
        missing=f"aeon downloaded {canonical!r} into {target} but no NAME_TRAIN/NAME_TEST files were found")


def _downloadable(name: str) -> bool:
    try:
        from aeon.datasets.tsc_datasets import tsc_zenodo
    except ImportError:
        return False
    return any(n.lower() == name.lower() for n in tsc_zenodo)


def load(name: str | None, data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
         image_size: int | None = None, cache_dir: str | None = None, znorm: bool = True) -> DataSplits:
    """Load a series dataset by (case-insensitive) name: aeon-shipped, `ucr`/`ts` from data_dir, or NAME in data_dir."""
    name = name or DEFAULT
    key = name.lower()
    sets = shipped()
    by_key = {n.lower(): n for n in sets}
    found = None
    if key in GENERIC:
        layout = UCR_LAYOUT if key == "ucr" else TS_LAYOUT
        folder = require_dir(data_dir, key, layout)
        found = _find_pair(folder, None) if folder.is_dir() else None
        ext = ".tsv" if key == "ucr" else ".ts"
        if found is None or found[1].suffix != ext:
            subs = sorted(d.name for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
            hint = f" (it holds folders {', '.join(subs)}: point at one, or pass --dataset NAME)" if subs else ""
            raise DataError(f"no NAME_TRAIN{ext}/NAME_TEST{ext} in {{path}}{hint}; expected {layout}",
                            path=folder, value=subs, expected=f"no NAME_TRAIN{ext}/NAME_TEST{ext} in the folder; "
                            f"expected {layout}")
    elif data_dir is not None:
        folder = require_dir(data_dir, name, f"{UCR_LAYOUT} or {TS_LAYOUT}")
        found = _find_pair(folder, name) if folder.is_dir() else None
        if found is None and key not in by_key:
            raise DataError(f"no {name}_TRAIN/{name}_TEST (.tsv or .ts) in {{path}} or {str(folder / name)!r}",
                            path=folder, expected=f"no {name}_TRAIN/{name}_TEST (.tsv or .ts) in the folder or its "
                            f"subfolder {name}")
    if found is None:
        if key in by_key:
            canonical = by_key[key]
            d = sets[canonical]
            found = (canonical, d / f"{canonical}_TRAIN.ts", d / f"{canonical}_TEST.ts")
        elif _downloadable(key):
            found = _download(key, cache_root(cache_dir))
        else:
            raise UserError(f"unknown series dataset {name!r}; valid: {', '.join(list_datasets())} "
                            f"(or any UCR/UEA name with --data-dir)", public=True)
    canonical, train, test = found
    x_tr, l_tr, x_te, l_te = _read_pair(train, test)
    return _build(canonical, x_tr, l_tr, x_te, l_te, seed=seed, val_fraction=val_fraction, znorm=znorm)
