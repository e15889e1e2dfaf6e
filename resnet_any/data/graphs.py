"""Graph datasets: Planetoid citation graphs and KarateClub (node tasks), TU collections (graph task).

PyG writes processed/ next to raw/, so raw files are always copied into the writable cache first
(under a folder keyed by their content fingerprint) and PyG is pointed there; with the raw files
present PyG never tries the network.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from .base import DataSplits
from .splits import train_val_test
from .storage import cache_root, copy_files, find_or_download, locked, require_dir, tree_fingerprint

DEFAULT = "cora"
ASSETS = Path(__file__).resolve().parents[1] / "assets"
PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
PLANETOID_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
# Common TU benchmark names (canonical case, as the TU server and the raw file prefixes spell them).
TU = ["MUTAG", "PROTEINS", "ENZYMES", "NCI1", "NCI109", "DD", "PTC_MR", "BZR", "COX2", "DHFR", "AIDS",
      "Mutagenicity", "FRANKENSTEIN", "IMDB-BINARY", "IMDB-MULTI", "REDDIT-BINARY", "REDDIT-MULTI-5K", "COLLAB"]
# Graphs without node features get a one-hot degree, clamped so one hub does not blow up the width.
MAX_DEGREE_FEATURE = 64


def _planetoid_layout(canonical: str) -> str:
    low = canonical.lower()
    return f"ROOT/{canonical}/raw/ind.{low}.{{{','.join(PLANETOID_SUFFIXES)}}} (the Planetoid raw files)"


def _tu_layout(canonical: str) -> str:
    return f"ROOT/{canonical}/raw/{canonical}_A.txt, {canonical}_graph_indicator.txt, {canonical}_graph_labels.txt, ... (TU format)"


def validate_graph(data: Any, where: str) -> None:
    """Raise UserError if edge_index is malformed or points outside 0..num_nodes-1."""
    ei = getattr(data, "edge_index", None)
    n = int(data.num_nodes) if data.num_nodes is not None else 0
    if ei is None:
        raise UserError(f"{where}: graph has no edge_index")
    if ei.dim() != 2 or ei.shape[0] != 2:
        raise UserError(f"{where}: edge_index has shape {tuple(ei.shape)}; expected (2, num_edges)")
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n):
        raise UserError(f"{where}: edge index {int(ei.max()) if int(ei.max()) >= n else int(ei.min())} "
                        f"out of range for {n} nodes; valid indices are 0..{n - 1}")
    x = getattr(data, "x", None)
    if x is not None and x.shape[0] != n:
        raise UserError(f"{where}: {x.shape[0]} feature rows for {n} nodes")


def _planetoid_raw(root: Path, canonical: str) -> Path | None:
    """The folder holding ind.<name>.* under root/<Name>/raw, root/raw or root itself (name case-insensitive)."""
    low = canonical.lower()
    candidates = [root / canonical / "raw", root / low / "raw", root / "raw", root]
    candidates += [d / "raw" for d in root.iterdir() if d.is_dir() and d.name.lower() == low] if root.is_dir() else []
    for d in candidates:
        if all((d / f"ind.{low}.{s}").is_file() for s in PLANETOID_SUFFIXES):
            return d
    return None


# the tensors of a Planetoid graph as the loader returns it (features row-normalised), saved next to PyG's
# processed/ folder; the name changes whenever what is saved does
PROCESSED = "resnet_any-node-v1.pt"
PROCESSED_KEYS = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")


def _read_planetoid(work: Path, canonical: str) -> Any:
    """The public-split graph with row-normalised features, from this loader's own cache or else through PyG.

    A later run reads the saved tensors (torch.load, no pickled code) instead of PyG's Planetoid (its file
    checks, processed read and feature transform): 0.04-0.08 s against 0.07-0.23 s here. PyG's import itself
    stays: `import torch_geometric` imports all of its datasets whatever a run uses.
    """
    from torch_geometric.data import Data

    saved = work / canonical / PROCESSED
    if saved.is_file():
        try:
            tensors = torch.load(saved, weights_only=True)
            if set(tensors) == set(PROCESSED_KEYS):
                return Data(**tensors)
        except Exception:  # noqa: BLE001 - a torn or foreign file: rebuilt below from the raw files
            pass
    from torch_geometric.datasets import Planetoid
    import torch_geometric.transforms as T

    # Row-normalised bag-of-words features, as in the GCN paper and PyG's examples.
    data = Planetoid(str(work), canonical, split="public", transform=T.NormalizeFeatures())[0]
    from ..files import atomic_write

    atomic_write(saved, lambda f: torch.save({k: data[k] for k in PROCESSED_KEYS}, f))
    return data


def _load_planetoid(key: str, data_dir: str | None, *, cache_dir: str | None) -> DataSplits:
    """Cora/CiteSeer/PubMed with the public split (20 labels per class, 500 val, 1000 test)."""
    canonical = PLANETOID[key]
    low = canonical.lower()
    cache = cache_root(cache_dir)
    if data_dir is not None:
        root = require_dir(data_dir, key, _planetoid_layout(canonical))
        raw = _planetoid_raw(root, canonical)
        if raw is None:
            raise UserError(f"no Planetoid {canonical} files in {str(root)!r}; expected {_planetoid_layout(canonical)}")
    elif key == "cora":
        raw = ASSETS / "cora" / "raw"
        if _planetoid_raw(raw, canonical) is None:
            raise UserError(f"the package data {str(raw)!r} is incomplete; reinstall resnet_any")
    else:
        from torch_geometric.datasets import Planetoid

        download_root = cache / "planetoid" / "download"
        raw = find_or_download(
            lambda: _planetoid_raw(download_root, canonical), lambda: Planetoid(str(download_root), canonical),
            host="github.com", offline=f"{key} needs a download and the network is unreachable; pass --data-dir with "
                                       f"{_planetoid_layout(canonical)}",
            offline_public=f"{key} is not on this server and cannot be downloaded; pick another dataset",
            failed=f"downloading {canonical} failed",
            missing=f"{canonical} download into {download_root} did not produce {_planetoid_layout(canonical)}")
    files = [raw / f"ind.{low}.{s}" for s in PLANETOID_SUFFIXES]
    work = cache / "planetoid" / tree_fingerprint(files)
    try:
        with locked(work):
            copy_files(files, work / canonical / "raw")
            data = _read_planetoid(work, canonical)
    except Exception as e:  # noqa: BLE001 - corrupt pickles surface as many exception types
        raise UserError(f"cannot read Planetoid {canonical} files in {str(raw)!r}: {type(e).__name__}: {e}") from e
    validate_graph(data, f"{canonical} ({raw})")
    num_classes = int(data.y.max()) + 1
    meta = {"task": "node", "num_features": int(data.num_features), "feature_norm": "row"}
    return DataSplits(name=canonical, domain="graph", layout="node", train=None, val=None, test=None,
                      num_classes=num_classes, class_names=[str(i) for i in range(num_classes)],
                      in_channels=int(data.num_features), graph=data, meta=meta)


def _load_karate(*, seed: int, val_fraction: float) -> DataSplits:
    """Zachary's karate club (34 nodes, 4 communities, embedded in PyG) with seeded stratified masks."""
    from torch_geometric.datasets import KarateClub

    data = KarateClub()[0]
    tr, va, te = train_val_test(data.y.numpy(), val_fraction, seed)
    for mask_name, idx in (("train_mask", tr), ("val_mask", va), ("test_mask", te)):
        mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        mask[torch.as_tensor(idx, dtype=torch.long)] = True
        data[mask_name] = mask
    validate_graph(data, "karate")
    num_classes = int(data.y.max()) + 1
    meta = {"task": "node", "num_features": int(data.num_features), "feature_norm": "none"}
    return DataSplits(name="karate", domain="graph", layout="node", train=None, val=None, test=None,
                      num_classes=num_classes, class_names=[str(i) for i in range(num_classes)],
                      in_channels=int(data.num_features), graph=data, meta=meta)


def _tu_raw(root: Path, name: str) -> tuple[str, Path] | None:
    """(canonical name, raw folder) with <NAME>_A.txt under root/<NAME>/raw, root/raw or root (case-insensitive)."""
    candidates = [root / "raw", root]
    if root.is_dir():
        candidates = [d / "raw" for d in root.iterdir() if d.is_dir() and d.name.lower() == name.lower()] + candidates
    for d in candidates:
        if not d.is_dir():
            continue
        for f in d.glob("*_A.txt"):
            prefix = f.name[: -len("_A.txt")]
            if prefix.lower() == name.lower() and (d / f"{prefix}_graph_indicator.txt").is_file():
                return prefix, d
    return None


def degree_onehot(graphs: list, top: int) -> None:
    """Give graphs their degree, clamped at `top`, one-hot as node features (width top + 1)."""
    from torch_geometric.utils import degree

    for g in graphs:
        d = degree(g.edge_index[0], g.num_nodes, dtype=torch.long).clamp(max=top)
        g.x = torch.nn.functional.one_hot(d, top + 1).float()


def _degree_features(graphs: list) -> int:
    """Give feature-less graphs a one-hot (clamped) degree; returns the feature width."""
    from torch_geometric.utils import degree

    degs = [degree(g.edge_index[0], g.num_nodes, dtype=torch.long) for g in graphs]
    top = min(max((int(d.max()) for d in degs if d.numel()), default=0), MAX_DEGREE_FEATURE)
    degree_onehot(graphs, top)
    return top + 1


def _load_tu(name: str, data_dir: str | None, *, seed: int, val_fraction: float, cache_dir: str | None) -> DataSplits:
    """A TU graph-classification collection, seeded stratified train/val/test split over graphs."""
    from torch_geometric.datasets import TUDataset

    cache = cache_root(cache_dir)
    known = {n.lower(): n for n in TU}
    if data_dir is not None:
        root = require_dir(data_dir, name, _tu_layout(known.get(name.lower(), name.upper())))
        found = _tu_raw(root, name)
        if found is None:
            raise UserError(f"no TU dataset {name!r} in {str(root)!r}; expected {_tu_layout(known.get(name.lower(), name.upper()))}")
    else:
        canonical = known[name.lower()]
        download_root = cache / "TUDataset" / "download"
        found = find_or_download(
            lambda: _tu_raw(download_root, canonical), lambda: TUDataset(str(download_root), canonical),
            host="www.chrsmrrs.com", offline=f"{canonical} needs a download and the network is unreachable; pass "
                                             f"--data-dir with {_tu_layout(canonical)}",
            offline_public=f"{canonical} is not on this server and cannot be downloaded; pick another dataset",
            failed=f"downloading {canonical} failed",
            missing=f"{canonical} download into {download_root} did not produce {_tu_layout(canonical)}")
    canonical, raw = found
    files = sorted(f for f in raw.iterdir() if f.is_file())
    work = cache / "TUDataset" / tree_fingerprint(files)
    try:
        with locked(work):
            copy_files(files, work / canonical / "raw")
            ds = TUDataset(str(work), canonical, use_node_attr=True)
        graphs = [ds[i] for i in range(len(ds))]
    except Exception as e:  # noqa: BLE001 - malformed TU text files surface as many exception types
        raise UserError(f"cannot read TU dataset {canonical} in {str(raw)!r}: {type(e).__name__}: {e}") from e
    if not graphs:
        raise UserError(f"TU dataset {canonical} in {str(raw)!r} has no graphs")
    for i, g in enumerate(graphs):
        validate_graph(g, f"{canonical} graph {i} ({raw})")
    node_features = "dataset"
    num_features = int(ds.num_node_features)
    if num_features == 0:
        num_features = _degree_features(graphs)
        node_features = f"degree_onehot_{num_features - 1}"
    labels = torch.cat([g.y.view(-1) for g in graphs]).numpy()
    tr, va, te = train_val_test(labels, val_fraction, seed)
    num_classes = int(labels.max()) + 1
    meta = {"task": "graph", "num_features": num_features, "node_features": node_features,
            "edge_features": int(ds.num_edge_features)}
    return DataSplits(name=canonical, domain="graph", layout="graph",
                      train=[graphs[i] for i in tr], val=[graphs[i] for i in va], test=[graphs[i] for i in te],
                      num_classes=num_classes, class_names=[str(i) for i in range(num_classes)],
                      in_channels=num_features, meta=meta)


def list_datasets() -> list[str]:
    """Graph dataset names, default first (TU names in lower case; any local TU folder also works)."""
    return [DEFAULT, "citeseer", "pubmed", "karate"] + [n.lower() for n in TU]


def load(name: str | None, data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.2,
         image_size: int | None = None, cache_dir: str | None = None) -> DataSplits:
    """Load a graph dataset by (case-insensitive) name; unknown names work if data_dir holds that TU dataset."""
    key = (name or DEFAULT).lower()
    if key in PLANETOID:
        return _load_planetoid(key, data_dir, cache_dir=cache_dir)
    if key == "karate":
        return _load_karate(seed=seed, val_fraction=val_fraction)
    if key in {n.lower() for n in TU} or (data_dir is not None and Path(data_dir).is_dir()
                                           and _tu_raw(Path(data_dir).expanduser(), key) is not None):
        return _load_tu(key, data_dir, seed=seed, val_fraction=val_fraction, cache_dir=cache_dir)
    raise UserError(f"unknown graph dataset {name!r}; valid: {', '.join(list_datasets())} "
                    f"(or any TU dataset NAME with --data-dir holding NAME/raw/NAME_A.txt)", public=True)
