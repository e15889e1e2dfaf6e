"""Data handed over from Python (arrays, tensors, Datasets, PyG graphs) -> the DataSplits every run uses.

`fit(model, train, val, test)` accepts what a PyTorch or PyG user already holds; `as_splits` turns it into
the same DataSplits the file readers return, so the trainer cannot tell where data came from:
- a tuple `(X, y)` of arrays or tensors, or a `torch.utils.data.Dataset` of `(x, y)` pairs: mini-batch
  classification; the domain follows the sample's shape ((C, L) series, (C, H, W) image, (C, D, H, W) volume);
- a list of PyG `Data` (one per graph, `y` its class): graph classification;
- one PyG `Data` with `y` (and optionally train/val/test masks; `train` alone): node classification;
- a `DataSplits`: used as it is.
A missing val split is carved from train by the same seeded stratified rule as the file readers; a
missing test split stays missing (the run then has no test metrics and says so).
Labels: integers are class indices as they are (class k is output k of the model); any other labels
(strings, ...) are numbered in sorted order, and the run says so. Numbers and tag sets (data/targets.py's
table, or task=): y of non-integer floats (N,) or numbers (N, K) regress, (N, K) of 0/1 is multi-label, with
NaN where a target is missing, in tuples, Datasets (their y read once, served as float (K,) targets), graph
lists and one graph (nodes without any target are unlabelled); those splits are carved at random.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from ..errors import UserError
from .base import DataSplits
from .splits import ArrayDataset, canonical_label, encode_labels, stratified_split

# sample dimensions (without the batch) -> the domain whose models take them
DOMAIN_BY_NDIM = {2: "series", 3: "image", 4: "volume"}
ACCEPTED = ("a tuple (X, y) of arrays or tensors, a torch Dataset of (x, y) pairs, a list of PyG Data (graph "
            "classification), one PyG Data with y and masks (node classification), or a DataSplits")


def _is_graph(obj: Any) -> bool:
    return hasattr(obj, "edge_index") and hasattr(obj, "num_nodes")


def _labels_of(ds: Dataset, what: str, y: np.ndarray | None = None) -> np.ndarray:
    """Integer class labels of a Dataset of (x, y) pairs (`y`: its targets already read by _raw_targets)."""
    y = _raw_targets(ds, what) if y is None else y
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{what}: labels must be integer class indices 0..K-1, got {y.dtype} of shape {y.shape}")
    if len(y) and y.min() < 0:
        raise UserError(f"{what}: label {int(y.min())} is negative; labels are class indices 0..K-1")
    return y


def _raw_targets(ds: Dataset, what: str) -> np.ndarray:
    """The targets of a Dataset of (x, y) pairs as one array, as given (its `.targets` when it has them, as
    torchvision's do): (N,) for one label or number per sample, (N, K) for K numbers or 0/1 tags."""
    targets = getattr(ds, "targets", None)
    if targets is None and isinstance(ds, ArrayDataset):
        targets = ds.y
    if targets is None:
        targets = []
        for i in range(len(ds)):
            item = ds[i]
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise UserError(f"{what}[{i}] is {type(item).__name__}; a Dataset must give (x, y) pairs")
            targets.append(item[1])
    if isinstance(targets, np.ndarray):
        return targets
    if isinstance(targets, torch.Tensor):
        return targets.detach().cpu().numpy()
    try:
        return np.asarray([t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t) for t in targets])
    except ValueError:
        raise UserError(f"{what}: the samples' y differ in shape; every y is one label, or the same K targets") from None


class TargetView(Dataset):
    """A user's Dataset of (x, y) pairs whose y are numbers or tags: its x, and y as float targets (K,), NaN missing."""

    def __init__(self, base: Dataset, values: torch.Tensor) -> None:
        self.base, self.values = base, values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> tuple[Any, torch.Tensor]:
        return self.base[i][0], self.values[i]


def _dataset_targets(datasets: dict[str, Any], task: str | None) -> tuple[str, dict[str, Any], list[str], str | None]:
    """(task, datasets, target names, note) of Datasets whose y are numbers or tag sets, else ("classify", {}, ...)."""
    from .targets import from_array

    raw = _raw_targets(datasets["train"], "train")
    task, y_train, note = from_array(raw, task, "train's y")
    if y_train is None:
        return task, {"raw": raw}, [], note
    k = y_train.shape[1]
    out = {}
    for what, ds in datasets.items():
        if ds is None:
            continue
        if not isinstance(ds, Dataset):
            raise UserError(f"{what} must be a Dataset like train, got {type(ds).__name__}")
        y = y_train if what == "train" else from_array(_raw_targets(ds, what), task, f"{what}'s y")[1]
        if y.shape[1] != k:
            raise UserError(f"{what}'s y has {y.shape[1]} targets per sample; train's has {k}")
        out[what] = TargetView(ds, y)
    return task, out, _target_names(task, k), note


def _target_names(task: str, k: int) -> list[str]:
    """Names of K targets given as arrays: "target" (one number), target_j or tag_j."""
    return ["target"] if task == "regress" and k == 1 else [f"{'tag' if task == 'multilabel' else 'target'}_{j}"
                                                            for j in range(k)]


def _arrays(pair: Any, what: str, names: list[str] | None,
            indices: bool | None) -> tuple[ArrayDataset, list[str], bool]:
    """(X, y) -> (ArrayDataset, class names, whether labels are indices as given); see the module's label rule."""
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise UserError(f"{what} must be a tuple (X, y) like train, got {type(pair).__name__}")
    x, y = pair
    try:
        x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    except (TypeError, ValueError) as e:
        raise UserError(f"{what}: X must be a numeric array, got {type(pair[0]).__name__} ({e})") from None
    if x.dtype not in (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64):
        x = x.float()
    if x.dtype == torch.uint8 and x.ndim == 3:
        x = x[:, None]  # (N, H, W) bytes are grayscale images (as MNIST is stored), not 28-channel series
    y_raw = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if len(x) != len(y_raw):
        raise UserError(f"{what}: X has {len(x)} samples but y has {len(y_raw)}")
    if y_raw.ndim != 1:
        raise UserError(f"{what}: y must be one label per sample, got shape {y_raw.shape}")
    if indices is None:
        indices = bool(np.issubdtype(y_raw.dtype, np.integer))
    if indices:
        if not np.issubdtype(y_raw.dtype, np.integer):
            raise UserError(f"{what}: labels are {y_raw.dtype}, but train's are integer class indices")
        if len(y_raw) and y_raw.min() < 0:
            raise UserError(f"{what}: label {int(y_raw.min())} is negative; integer labels are class indices 0..K-1")
        if names is None:
            names = [str(i) for i in range(int(y_raw.max()) + 1 if len(y_raw) else 0)]
        elif len(y_raw) and y_raw.max() >= len(names):
            raise UserError(f"{what}: label {int(y_raw.max())} is not among train's classes 0..{len(names) - 1}")
        codes = y_raw.astype(np.int64)
    elif names is None:
        (codes,), names = encode_labels(y_raw.tolist())
    else:
        index = {n: i for i, n in enumerate(names)}
        canon = [canonical_label(v) for v in y_raw.tolist()]  # the spelling train's names use, e.g. 1.0 -> "1"
        unknown = sorted({c for c in canon if c not in index})
        if unknown:
            raise UserError(f"{what}: label {unknown[0]!r} is not among the training labels {names}")
        codes = np.array([index[c] for c in canon], dtype=np.int64)
    return ArrayDataset(x if x.dtype == torch.uint8 else x.float(), torch.from_numpy(codes)), names, indices


def _empty_classes(labels: np.ndarray, k: int) -> list[str]:
    """A note when integer labels leave classes of 0..K-1 without a training sample (labels 1/2 make 3 classes)."""
    empty = sorted(set(range(k)) - set(np.unique(labels).tolist()))
    if not empty:
        return []
    return [f"integer labels are class indices: {k} outputs, and class(es) {', '.join(map(str, empty[:5]))} have no "
            "training sample; renumber the labels 0..K-1, or pass them as strings to have them numbered"]


def _split(ds: Any, labels: np.ndarray, fraction: float, seed: int) -> tuple[Any, Any]:
    keep, held = stratified_split(labels, fraction, seed)
    if isinstance(ds, ArrayDataset):
        return ds.subset(keep), ds.subset(held)
    if isinstance(ds, list):
        return [ds[i] for i in keep], [ds[i] for i in held]
    return Subset(ds, keep.tolist()), Subset(ds, held.tolist())


def _sample_shape(ds: Any) -> tuple[int, ...]:
    x = ds.x[0] if isinstance(ds, ArrayDataset) else ds[0][0]
    return tuple(torch.as_tensor(x).shape)


def _image_meta(train: ArrayDataset) -> dict[str, Any]:
    """uint8 images: normalise with the training split's statistics on the device, as the image readers do."""
    from .images.decode import channel_stats

    mean, std = channel_stats(train.x)
    _, c, h, _ = train.x.shape
    return {"image_size": int(h), "channels": int(c), "mean": mean, "std": std, "augment": "none", "ink": "dark"}


def _mask(g: Any, name: str) -> torch.Tensor | None:
    m = getattr(g, f"{name}_mask", None)
    if m is not None and (m.dtype != torch.bool or m.shape != (g.num_nodes,)):
        raise UserError(f"{name}_mask must be a bool tensor of one entry per node ({g.num_nodes}), got "
                        f"{m.dtype} {tuple(m.shape)}")
    return m


def _node_splits(g: Any, seed: int, val_fraction: float, name: str, task: str | None = None) -> DataSplits:
    """One graph: the masks it has are kept (checked); train and val are carved from labelled nodes in no mask.

    y: class indices (-1 unlabelled), or numbers / 0/1 tags (N,) or (N, K) with NaN where missing (targets.py's
    table infers which; a node with no target is unlabelled); those are carved at random, not stratified.
    """
    from .targets import from_array

    y = getattr(g, "y", None)
    if y is None:
        raise UserError("the graph has no y: node classification needs one label per node (-1 for unlabelled)")
    if g.x is None:
        raise UserError("the graph has no node features x; give it x (a column of ones will do)")
    g = g.clone()
    kind, targets, note = from_array(y.view(-1) if y.ndim == 2 and y.shape[1] == 1 else y, task, "the graph's y")
    if targets is not None:
        g.y = targets
        # labelled: any target present; -1 stands for "no label" in the mask checks below, as for classes
        y = torch.where(torch.isnan(targets).all(1), -1, 0)
    else:
        y = y.view(-1).long()
        g.y = y
    masks = {k: _mask(g, k) for k in ("train", "val", "test")}
    taken = torch.zeros(g.num_nodes, dtype=torch.bool)
    for k, m in masks.items():
        if m is None:
            continue
        if bool((m & taken).any()):
            raise UserError(f"{k}_mask shares node {int((m & taken).nonzero()[0])} with another mask; masks must be disjoint")
        if targets is None and bool((y[m] < 0).any()):  # a node without targets is masked out of the loss
            raise UserError(f"{k}_mask holds unlabelled node {int((m & (y < 0)).nonzero()[0])} (y = -1)")
        taken |= m
    free = ((y >= 0) & ~taken).nonzero().view(-1)
    if masks["train"] is None:
        pool = free
    else:
        pool = masks["train"].nonzero().view(-1)
    if masks["train"] is None or masks["val"] is None:
        fraction = val_fraction if masks["val"] is None else 0.0
        keep, held = stratified_split(y[pool].numpy() if targets is None else targets[pool].numpy(), fraction, seed + 1)
        masks["train"] = torch.zeros(g.num_nodes, dtype=torch.bool)
        masks["train"][pool[keep]] = True
        if masks["val"] is None:
            masks["val"] = torch.zeros(g.num_nodes, dtype=torch.bool)
            masks["val"][pool[held]] = True
    for k, m in masks.items():
        if m is not None:
            g[f"{k}_mask"] = m
    k = int(y.max()) + 1 if targets is None else int(targets.shape[1])
    names = [str(i) for i in range(k)] if targets is None else _target_names(kind, k)
    return DataSplits(name=name, domain="graph", layout="node", train=None, val=None, test=None, num_classes=k,
                      class_names=names, in_channels=int(g.x.shape[1]), graph=g,
                      meta={"task": "node", "num_features": int(g.x.shape[1])}, task=kind, task_note=note)


# what a run on data from Python records as its dataset: no file or name could load it again
IN_MEMORY = "<in-memory>"


def _target_arrays(pairs: dict[str, Any], task: str | None) -> tuple[str, dict[str, ArrayDataset], list[str], str | None]:
    """(task, datasets, target names, note) of (X, y) tuples whose y are numbers or tag sets (targets.from_array).

    The task is "classify" with no datasets when train's y are classes (the caller encodes them as always).
    """
    from .targets import from_array

    task, y_train, note = from_array(pairs["train"][1], task, "train's y")
    if y_train is None:
        return task, {}, [], note
    k = y_train.shape[1]
    names = _target_names(task, k)
    out = {}
    for what, pair in pairs.items():
        if pair is None:
            continue
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise UserError(f"{what} must be a tuple (X, y) like train, got {type(pair).__name__}")
        y = y_train if what == "train" else from_array(pair[1], task, f"{what}'s y")[1]
        if y.shape[1] != k:
            raise UserError(f"{what}'s y has {y.shape[1]} targets per sample; train's has {k}")
        x = _arrays((pair[0], np.zeros(len(y), dtype=np.int64)), what, None, True)[0].x
        out[what] = ArrayDataset(x, y)
    return task, out, names, note


def as_splits(train: Any, val: Any = None, test: Any = None, *, seed: int = 0, val_fraction: float = 0.2,
              name: str = IN_MEMORY, domain: str | None = None, task: str | None = None) -> DataSplits:
    """Python data (see the module docstring) -> DataSplits; `domain` overrides the one the sample shape implies.

    `task` (classify, regress, multilabel; None: inferred by data/targets.py's table) says what y holds.
    """
    if isinstance(train, DataSplits):
        if val is not None or test is not None:
            raise UserError("a DataSplits already holds its val and test splits; pass it alone")
        return train
    if _is_graph(train):
        if val is not None or test is not None:
            raise UserError("node classification takes one graph with masks: pass it as train alone")
        return _node_splits(train, seed, val_fraction, name, task)
    if isinstance(train, (list, tuple)) and train and _is_graph(train[0]):
        return _graph_splits(list(train), val, test, seed, val_fraction, name, task)
    notes: list[str] = []
    kind, targets, target_names, task_note = ("classify", {}, [], None)
    if isinstance(train, tuple) and len(train) == 2:
        kind, targets, target_names, task_note = _target_arrays({"train": train, "val": val, "test": test}, task)
    elif isinstance(train, Dataset):
        kind, targets, target_names, task_note = _dataset_targets({"train": train, "val": val, "test": test}, task)
    elif task not in (None, "classify"):
        raise UserError(f"task={task!r} takes (X, y) tuples, Datasets or PyG graphs with float y; got "
                        f"{type(train).__name__}")
    if task_note and kind == "classify":  # classes, though many integers: the note names task='regress'
        notes.append(task_note)
        task_note = None
    if kind != "classify":
        tr, va, te = targets["train"], targets.get("val"), targets.get("test")
        names = target_names
        labels = (tr.y if isinstance(tr, ArrayDataset) else tr.values).numpy()
    elif isinstance(train, tuple) and len(train) == 2:
        tr, names, indices = _arrays(train, "train", None, None)
        va = _arrays(val, "val", names, indices)[0] if val is not None else None
        te = _arrays(test, "test", names, indices)[0] if test is not None else None
        labels = tr.y.numpy()
        if not indices:
            notes.append(f"labels numbered in sorted order: {', '.join(f'{n} -> {i}' for i, n in enumerate(names[:6]))}"
                         + (", ..." if len(names) > 6 else ""))
        else:
            notes += _empty_classes(labels, len(names))
    elif isinstance(train, Dataset):
        labels = _labels_of(train, "train", targets["raw"])
        k = int(labels.max()) + 1 if len(labels) else 0
        names = [str(i) for i in range(k)]
        tr = train
        va, te = val, test
        notes += _empty_classes(labels, k)
        for what, ds in (("val", va), ("test", te)):
            if ds is not None:
                if not isinstance(ds, Dataset):
                    raise UserError(f"{what} must be a Dataset like train, got {type(ds).__name__}")
                extra = _labels_of(ds, what)
                if len(extra) and extra.max() >= k:
                    raise UserError(f"{what} has label {int(extra.max())}, but train's labels are 0..{k - 1}")
    else:
        raise UserError(f"cannot train on {type(train).__name__}; pass {ACCEPTED}")
    if len(labels) == 0:
        raise UserError("the training data is empty")
    val_given = va is not None
    if va is None:
        tr, va = _split(tr, labels, val_fraction, seed + 1)
    shape = _sample_shape(tr)
    domain = domain or DOMAIN_BY_NDIM.get(len(shape), "custom")
    meta: dict[str, Any] = {"shape": list(shape)}
    if len(shape) == 3:
        # the image recipe picks the stem by size; uint8 images are normalised with train's statistics
        meta["image_size"] = int(max(shape[1:]))
        if isinstance(tr, ArrayDataset) and tr.x.dtype == torch.uint8:
            meta = {**_image_meta(tr), "shape": list(shape)}
    if len(shape) == 2:
        # series from Python are used as given: predict must not z-normalise what training did not
        meta.update(znorm=False, channels=int(shape[0]), length=int(shape[1]))
    meta["notes"] = notes
    meta["val_given"] = val_given  # derived rules never merge a validation split the user handed over
    return DataSplits(name=name, domain=domain, layout="samples", train=tr, val=va, test=te, num_classes=len(names),
                      class_names=names, in_channels=int(shape[0]) if shape else 1, meta=meta, task=kind,
                      task_note=task_note)


def _graph_targets(train: list, val: Sequence | None, test: Sequence | None, task: str | None) -> tuple[str, int, str | None]:
    """(task, targets per graph, note) of graphs' y by data/targets.py's table (classify: K is left to the caller)."""
    from .targets import from_array

    try:
        ys = [g.y.view(1, -1).float() for g in train]
    except AttributeError:
        raise UserError("every graph in train needs y: its class index, its number(s) or its tags") from None
    if len({y.shape[1] for y in ys}) > 1:
        raise UserError("the graphs in train hold y of different lengths; every graph needs the same targets")
    raw = torch.cat(ys) if ys else torch.zeros(0, 1)
    integral = all(not g.y.is_floating_point() for g in train)
    kind, y, note = from_array(raw.long() if integral and raw.shape[1] == 1 else raw.view(-1) if raw.shape[1] == 1 else raw,
                               task, "the graphs' y")
    if y is None:
        return kind, 0, None
    for what, graphs in (("val", val), ("test", test)):
        for i, g in enumerate(graphs or ()):
            if getattr(g, "y", None) is None or g.y.numel() != y.shape[1]:
                raise UserError(f"{what} graph {i} holds {0 if getattr(g, 'y', None) is None else g.y.numel()} "
                                f"targets; train's graphs hold {y.shape[1]}")
        if graphs:  # the same checks as train's (0/1/NaN tags, finite numbers)
            from_array(torch.cat([g.y.view(1, -1).float() for g in graphs]), kind, f"the {what} graphs' y")
    return kind, int(y.shape[1]), note


def _graph_splits(train: list, val: Sequence | None, test: Sequence | None, seed: int, val_fraction: float,
                  name: str, task: str | None = None) -> DataSplits:
    kind, k, note = _graph_targets(train, val, test, task)
    if kind != "classify":
        def as_targets(graphs: Sequence | None) -> list | None:
            if graphs is None:
                return None
            out = []
            for g in graphs:
                g = g.clone()
                g.y = g.y.float().view(1, -1)
                out.append(g)
            return out

        train, val, test = as_targets(train), as_targets(val), as_targets(test)
        if val is None:
            train, val = _split(train, np.zeros(len(train), dtype=np.float64), val_fraction, seed + 1)
        width = int(train[0].x.shape[1])
        names = ["target"] if kind == "regress" and k == 1 else [f"{'tag' if kind == 'multilabel' else 'target'}_{j}"
                                                                 for j in range(k)]
        return DataSplits(name=name, domain="graph", layout="graph", train=list(train), val=list(val), test=test,
                          num_classes=k, class_names=names, in_channels=width,
                          meta={"task": "graph", "num_features": width}, task=kind, task_note=note)

    def labels(graphs: Sequence, what: str) -> np.ndarray:
        try:
            return np.array([int(g.y.view(-1)[0]) for g in graphs], dtype=np.int64)
        except (AttributeError, IndexError, TypeError):
            raise UserError(f"every graph in {what} needs y, its class index") from None

    y = labels(train, "train")
    k = int(y.max()) + 1
    for what, graphs in (("train", train), ("val", val), ("test", test)):
        if graphs is not None:
            got = labels(graphs, what)
            if len(got) and (got.min() < 0 or got.max() >= k):
                bad = int(got.min()) if got.min() < 0 else int(got.max())
                raise UserError(f"{what} has a graph of class {bad}; classes are train's 0..{k - 1}")
    if val is None:
        train, val = _split(train, y, val_fraction, seed + 1)
    missing = [i for i, g in enumerate(train) if g.x is None]
    if missing:
        raise UserError(f"train graph {missing[0]} has no node features x")
    width = int(train[0].x.shape[1])
    return DataSplits(name=name, domain="graph", layout="graph", train=list(train), val=list(val),
                      test=None if test is None else list(test), num_classes=k, class_names=[str(i) for i in range(k)],
                      in_channels=width, meta={"task": "graph", "num_features": width})
