"""Graphs from a user's CSV files: `--dataset FOLDER` for node or graph classification.

Node classification (a folder without graphs.csv):
- nodes.csv: id, label (empty for unlabelled nodes), optional split (train, val or test; empty: in
  no split), every other column a numeric node feature;
- edges.csv: source, target (ids of nodes.csv: any strings or numbers), optional weight (kept as
  edge_weight). Edges are undirected (both directions, duplicates merged, weights averaged) unless
  directed=True, which keeps them as given.
Without a split column the labelled nodes get a seeded stratified train/val/test split; without
feature columns every node gets the one-hot degree the TU loader gives feature-less graphs.
The DataSplits holds one PyG Data (x, edge_index, y, train/val/test masks); unlabelled nodes have
y = -1 and are in no mask.

Graph classification (a folder with graphs.csv):
- graphs.csv: graph_id, label;
- edges.csv: graph_id, source, target, optional weight;
- nodes.csv (optional): graph_id, id and numeric feature columns. Without it a graph's nodes are the
  ids its edges name (sorted: by value when they are all integers, else as text), with degree features.
Graphs get a seeded stratified train/val/test split, as the TU loader does.

Class names are the label strings, ordered as splits.encode_labels orders them. Every error is one
UserError line naming the file, the row (counted as a spreadsheet shows it: the header is row 1) or
column, and what was expected (a DataError: see frames.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError, UserError
from .base import DataSplits
from .frames import (Where, list_names, lookup, numeric_values, read_frame, read_optional_frame,
                     require_columns, require_unique, require_values)
from .splits import SPLIT_NAMES, TEST_FRACTION, canonical_label, encode_labels, train_val_test

NODES, EDGES, GRAPHS = "nodes.csv", "edges.csv", "graphs.csv"
NODE_LAYOUT = ("nodes.csv (id, label, optional split, numeric feature columns) and edges.csv (source, target, "
               "optional weight)")
GRAPH_LAYOUT = ("graphs.csv (graph_id, label), edges.csv (graph_id, source, target, optional weight) and optional "
                "nodes.csv (graph_id, id, numeric feature columns)")
LAYOUT = f"a folder holding {NODE_LAYOUT} for node classification, or {GRAPH_LAYOUT} for graph classification"


# ---------------------------------------------------------------- shared pieces

def _features(df, where: Where, columns: list[str]) -> np.ndarray | None:
    if not columns:
        return None
    return numeric_values(df[columns], where, missing="expected a number in every feature cell", finite=True)


def _weights(df, where: Where) -> np.ndarray | None:
    if "weight" not in df.columns:
        return None
    return numeric_values(df[["weight"]], where, missing="every edge needs a weight when the column is there",
                          finite=True)[:, 0]


def _undirected(edge_index: torch.Tensor, weight: torch.Tensor | None, n: int, directed: bool):
    if directed:
        return edge_index, weight
    from torch_geometric.utils import to_undirected

    if weight is None:
        return to_undirected(edge_index, num_nodes=n), None
    return to_undirected(edge_index, weight, num_nodes=n, reduce="mean")


def _check_class_sizes(labels: list[str], rows: list[int], where: Where, column: str, val_fraction: float,
                       what: str) -> None:
    needed = 1 + (TEST_FRACTION > 0) + (val_fraction > 0)
    seen: dict[str, list[int]] = {}
    for lab, row in zip(labels, rows):
        seen.setdefault(lab, []).append(row)
    for lab, at in seen.items():
        if len(at) < needed:
            split = "train/val/test" if needed == 3 else "train/test"
            rule = (f"a stratified {split} split needs at least {needed} of every class; label more of them or "
                    f"remove the class")
            raise where.error(f"class {lab!r} has {len(at)} {what}; {rule}", at[0], column, value=lab,
                              expected=f"the class of this row has {len(at)} {what}; {rule}")


def degree_onehot(graphs: list, top: int) -> None:
    """Give graphs the one-hot degree features of a model trained with `top` (clamped as training clamped)."""
    from torch_geometric.utils import degree

    for g in graphs:
        d = degree(g.edge_index[0], g.num_nodes, dtype=torch.long).clamp(max=top)
        g.x = torch.nn.functional.one_hot(d, top + 1).float()


def _set_degree_features(graphs: list) -> tuple[int, str]:
    from .graphs import _degree_features

    width = _degree_features(graphs)
    return width, f"degree_onehot_{width - 1}"


# ---------------------------------------------------------------- node classification

@dataclass
class NodeTable:
    """One graph read from nodes.csv and edges.csv, before labels are encoded and masks drawn."""

    folder: Path
    ids: list[str]
    x: np.ndarray | None              # (N, F) node features, None without feature columns
    feature_columns: list[str]
    edge_index: torch.Tensor          # (2, E), undirected unless directed=True
    edge_weight: torch.Tensor | None
    labels: list[str | None]          # None: unlabelled (or no label column)
    splits: list[str | None] | None   # train/val/test/None per node; None without a split column
    rows: list[int]                   # 0-based data rows of nodes.csv
    where: Where


def read_nodes(folder: str | Path, *, directed: bool = False, labels: bool = True) -> NodeTable:
    """Read a node-classification folder. labels=False (prediction): the label column is optional."""
    import pandas as pd

    folder = Path(folder).expanduser()
    nodes_path, edges_path = folder / NODES, folder / EDGES
    for p in (nodes_path, edges_path):
        if not p.is_file():
            raise DataError(f"{{path}} has no {p.name}; expected {LAYOUT}", path=folder)
    nodes, nw = read_frame(nodes_path, {"id", "label", "split"}, exact=False)
    require_columns(nodes, nodes_path, ["id"] + (["label"] if labels else []),
             "id, label (empty for unlabelled nodes), optional split (train/val/test) and numeric feature columns")
    require_values(nodes, nw, "id", "node id")
    require_unique(nodes, nw, ["id"], "node ids")
    feature_columns = [c for c in nodes.columns if c not in ("id", "label", "split")]
    x = _features(nodes, nw, feature_columns)
    node_labels = [None if v is None else canonical_label(v) for v in nodes["label"]] \
        if "label" in nodes.columns else [None] * len(nodes)
    splits = None
    if "split" in nodes.columns:
        splits = []
        for i, v in enumerate(nodes["split"]):
            if v is None:
                splits.append(None)
                continue
            key = SPLIT_NAMES.get(str(v).lower())
            if key is None:
                valid = "valid: train, val, test, or an empty cell for a node in no split"
                raise nw.error(f"unknown split {v!r}; {valid}", int(nodes.index[i]), "split", value=v,
                               expected=f"unknown split; {valid}")
            if node_labels[i] is None and labels:
                raise nw.error(f"the node is in split {key!r} but has no label; label it or empty its split cell",
                               int(nodes.index[i]), "label")
            splits.append(key)
    index = pd.Index(list(nodes["id"]))
    edges, ew = read_optional_frame(edges_path, {"source", "target"})
    require_columns(edges, edges_path, ["source", "target"], "source, target (node ids of nodes.csv) and optional weight")
    for c in ("source", "target"):
        require_values(edges, ew, c, f"{c} node id")
    # the first row naming an unknown id, whichever column it is in
    src, dst = index.get_indexer(list(edges["source"])), index.get_indexer(list(edges["target"]))
    bad = np.flatnonzero((src < 0) | (dst < 0))
    if len(bad):
        i = int(bad[0])
        column = "source" if src[i] < 0 else "target"
        raise ew.error(f"node id {edges[column].iloc[i]!r} is not in {str(nodes_path)!r} (its id column)",
                       int(edges.index[i]), column, value=edges[column].iloc[i],
                       expected=f"the node id is not in {NODES} (its id column)")
    weight = _weights(edges, ew)
    edge_index = torch.as_tensor(np.stack([src, dst]).astype(np.int64)).reshape(2, -1)
    w = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
    edge_index, w = _undirected(edge_index, w, len(nodes), directed)
    return NodeTable(folder, [str(v) for v in nodes["id"]], x, feature_columns, edge_index, w, node_labels, splits,
                     [int(i) for i in nodes.index], nw)


def node_data(table: NodeTable):
    """The table as a PyG Data with x (features as float32, or None), edge_index and edge_weight."""
    from torch_geometric.data import Data

    data = Data(edge_index=table.edge_index, num_nodes=len(table.ids))
    if table.x is not None:
        data.x = torch.as_tensor(table.x, dtype=torch.float32)
    if table.edge_weight is not None:
        data.edge_weight = table.edge_weight
    return data


def _load_nodes(folder: Path, *, seed: int, val_fraction: float, directed: bool) -> DataSplits:
    from .graphs import validate_graph

    table = read_nodes(folder, directed=directed)
    n = len(table.ids)
    labelled = np.array([i for i, lab in enumerate(table.labels) if lab is not None], dtype=np.int64)
    if not len(labelled):
        raise table.where.error("no node has a label; label the nodes to learn from", column="label")
    lab_text = [table.labels[i] for i in labelled]
    (y_lab,), class_names = encode_labels(lab_text)
    y = torch.full((n,), -1, dtype=torch.long)
    y[torch.as_tensor(labelled)] = torch.as_tensor(y_lab)
    masks = {s: torch.zeros(n, dtype=torch.bool) for s in ("train", "val", "test")}
    if table.splits is not None:
        for i, s in enumerate(table.splits):
            if s is not None:
                masks[s][i] = True
        split_source = "column"
    else:
        _check_class_sizes(lab_text, [table.rows[i] for i in labelled], table.where, "label", val_fraction,
                           "labelled node(s)")
        for s, idx in zip(("train", "val", "test"), train_val_test(y_lab, val_fraction, seed)):
            masks[s][torch.as_tensor(labelled[idx])] = True
        split_source = "stratified"
    data = node_data(table)
    if data.x is None:
        width, node_features = _set_degree_features([data])
    else:
        width, node_features = data.x.shape[1], "columns"
    data.y = y
    for s, m in masks.items():
        data[f"{s}_mask"] = m
    validate_graph(data, f"{str(folder)!r}")
    meta = {"task": "node", "num_features": int(width), "feature_norm": "none", "node_features": node_features,
            "feature_columns": list(table.feature_columns), "directed": bool(directed), "split": split_source,
            "source": "csv", "notes": _notes(table.edge_weight is not None, node_features, data.x,
                                             list(table.feature_columns))}
    return DataSplits(name=folder.resolve().name, domain="graph", task="node", train=None, val=None, test=None,
                      num_classes=len(class_names), class_names=class_names, in_channels=int(width), graph=data,
                      meta=meta)


# ---------------------------------------------------------------- graph classification

@dataclass
class GraphTable:
    """Graphs read from graphs.csv, edges.csv and nodes.csv, features from columns (x None without them)."""

    folder: Path
    graph_ids: list[str]
    labels: list[str | None]
    graphs: list[Any]                 # PyG Data with edge_index, num_nodes, x (or None), node_ids
    feature_columns: list[str]
    rows: list[int]                   # 0-based data rows of graphs.csv
    where: Where
    has_nodes_file: bool


def _natural(ids: list[str]) -> list:
    """Sort keys: integers by value when every id is one, else the text."""
    try:
        return [int(v) for v in ids]
    except ValueError:
        return list(ids)


def read_graphs(folder: str | Path, *, directed: bool = False, labels: bool = True) -> GraphTable:
    """Read a graph-classification folder. labels=False (prediction): the label column is optional."""
    import pandas as pd
    from torch_geometric.data import Data

    folder = Path(folder).expanduser()
    graphs_path, edges_path, nodes_path = folder / GRAPHS, folder / EDGES, folder / NODES
    if not edges_path.is_file():
        raise DataError(f"{{path}} has {GRAPHS} but no {EDGES}; expected {GRAPH_LAYOUT}", path=folder)
    gdf, gw = read_frame(graphs_path, {"graph_id", "label"}, exact=False)
    require_columns(gdf, graphs_path, ["graph_id"] + (["label"] if labels else []), "graph_id and label")
    require_values(gdf, gw, "graph_id", "graph id")
    require_unique(gdf, gw, ["graph_id"], "graph ids")
    if labels:
        require_values(gdf, gw, "label", "label")
    graph_labels = [None if v is None else canonical_label(v) for v in gdf["label"]] \
        if "label" in gdf.columns else [None] * len(gdf)
    gindex = pd.Index(list(gdf["graph_id"]))
    num_graphs = len(gdf)

    edges, ew = read_optional_frame(edges_path, {"graph_id", "source", "target"})
    require_columns(edges, edges_path, ["graph_id", "source", "target"],
             "graph_id, source, target (node ids within the graph) and optional weight")
    for c, what in (("graph_id", "graph id"), ("source", "source node id"), ("target", "target node id")):
        require_values(edges, ew, c, what)
    e_graph = lookup(gindex, list(edges["graph_id"]), edges, ew, "graph_id", f"a graph_id of {str(graphs_path)!r}",
                     f"a graph_id of {GRAPHS}")
    weight = _weights(edges, ew)

    if nodes_path.is_file():
        ndf, nw = read_frame(nodes_path, {"graph_id", "id"}, exact=False)
        require_columns(ndf, nodes_path, ["graph_id", "id"], "graph_id, id and numeric feature columns")
        require_values(ndf, nw, "graph_id", "graph id")
        require_values(ndf, nw, "id", "node id")
        require_unique(ndf, nw, ["graph_id", "id"], "node ids within a graph")
        n_graph = lookup(gindex, list(ndf["graph_id"]), ndf, nw, "graph_id", f"a graph_id of {str(graphs_path)!r}",
                     f"a graph_id of {GRAPHS}")
        n_ids = [str(v) for v in ndf["id"]]
        feature_columns = [c for c in ndf.columns if c not in ("graph_id", "id")]
        feats = _features(ndf, nw, feature_columns)
        order = np.argsort(n_graph, kind="stable")  # nodes grouped by graph, file order within a graph
    else:
        pairs = pd.DataFrame({"g": np.concatenate([e_graph, e_graph]),
                              "id": list(edges["source"]) + list(edges["target"])}).drop_duplicates()
        n_graph = pairs["g"].to_numpy()
        n_ids = [str(v) for v in pairs["id"]]
        key = _natural(n_ids)
        order = np.array(sorted(range(len(n_ids)), key=lambda i: (n_graph[i], key[i])), dtype=np.int64)
        feature_columns, feats = [], None
    n_graph, n_ids = n_graph[order], [n_ids[i] for i in order]
    feats = None if feats is None else feats[order]
    node_index = pd.MultiIndex.from_arrays([n_graph, n_ids])
    src = node_index.get_indexer(pd.MultiIndex.from_arrays([e_graph, list(edges["source"])]))
    dst = node_index.get_indexer(pd.MultiIndex.from_arrays([e_graph, list(edges["target"])]))
    bad = np.flatnonzero((src < 0) | (dst < 0))
    if len(bad):
        i = int(bad[0])
        column = "source" if src[i] < 0 else "target"
        raise ew.error(f"node id {edges[column].iloc[i]!r} of graph {edges['graph_id'].iloc[i]!r} is not in "
                       f"{str(nodes_path)!r}", int(edges.index[i]), column,
                       value=(edges[column].iloc[i], edges['graph_id'].iloc[i]),
                       expected=f"the node id is not among its graph's nodes in {NODES}")
    counts = np.bincount(n_graph, minlength=num_graphs)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        g = int(empty[0])
        why = (f"has no nodes (no edge in {EDGES}{'' if nodes_path.is_file() else ' and no nodes.csv'} names it); "
               f"expected at least one node")
        raise gw.error(f"graph {gindex[g]!r} {why}", int(gdf.index[g]), "graph_id", value=gindex[g],
                       expected=f"the graph {why}")
    offsets = np.concatenate([[0], np.cumsum(counts)])
    e_order = np.argsort(e_graph, kind="stable")
    e_counts = np.bincount(e_graph, minlength=num_graphs)
    e_offsets = np.concatenate([[0], np.cumsum(e_counts)])
    src, dst = src[e_order], dst[e_order]
    w_sorted = None if weight is None else weight[e_order]
    graphs = []
    for g in range(num_graphs):
        lo, hi = e_offsets[g], e_offsets[g + 1]
        n = int(counts[g])
        ei = torch.as_tensor(np.stack([src[lo:hi], dst[lo:hi]]) - offsets[g], dtype=torch.long).reshape(2, -1)
        w = None if w_sorted is None else torch.as_tensor(w_sorted[lo:hi], dtype=torch.float32)
        ei, w = _undirected(ei, w, n, directed)
        data = Data(edge_index=ei, num_nodes=n)
        if feats is not None:
            data.x = torch.as_tensor(feats[offsets[g]:offsets[g + 1]], dtype=torch.float32)
        if w is not None:
            data.edge_weight = w
        graphs.append(data)
    return GraphTable(folder, [str(v) for v in gdf["graph_id"]], graph_labels, graphs, feature_columns,
                      [int(i) for i in gdf.index], gw, nodes_path.is_file())


def _load_graphs(folder: Path, *, seed: int, val_fraction: float, directed: bool) -> DataSplits:
    from .graphs import validate_graph

    table = read_graphs(folder, directed=directed)
    _check_class_sizes(table.labels, table.rows, table.where, "label", val_fraction, "graph(s)")
    (y,), class_names = encode_labels(table.labels)
    graphs = table.graphs
    for g, label in zip(graphs, y):
        g.y = torch.tensor([int(label)], dtype=torch.long)
    if table.feature_columns:
        width, node_features = len(table.feature_columns), "columns"
    else:
        width, node_features = _set_degree_features(graphs)
    for gid, g in zip(table.graph_ids, graphs):
        validate_graph(g, f"{str(folder)!r} graph {gid!r}")
    tr, va, te = train_val_test(y, val_fraction, seed)
    meta = {"task": "graph", "num_features": int(width), "node_features": node_features, "edge_features": 0,
            "feature_columns": list(table.feature_columns), "directed": bool(directed), "source": "csv",
            "notes": _notes(any(getattr(g, "edge_weight", None) is not None for g in graphs), node_features,
                            torch.cat([g.x for g in graphs]) if table.feature_columns else None,
                            list(table.feature_columns))}
    return DataSplits(name=folder.resolve().name, domain="graph", task="graph",
                      train=[graphs[i] for i in tr], val=[graphs[i] for i in va], test=[graphs[i] for i in te],
                      num_classes=len(class_names), class_names=class_names, in_channels=int(width), meta=meta)


# ---------------------------------------------------------------- entry points

def is_graph_folder(folder: Path) -> bool:
    """Graph classification (graphs.csv present) rather than node classification."""
    return (folder / GRAPHS).is_file()


# feature columns beyond this magnitude are likely raw measurements (ages, prices) rather than scaled values
LARGE_FEATURE = 10.0


def _notes(weighted: bool, node_features: str, x: torch.Tensor | None = None,
           columns: list[str] | None = None) -> list[str]:
    """What a run on this folder should say about choices made for the user."""
    notes = []
    if x is not None and columns and x.numel():
        big = (x.abs().amax(0) > LARGE_FEATURE).nonzero().view(-1).tolist()
        if big:
            lo, hi = float(x[:, big[0]].min()), float(x[:, big[0]].max())
            notes.append(f"node features are used as given, not standardised: column {columns[big[0]]!r} spans "
                         f"{lo:g}..{hi:g}" + (f" (and {len(big) - 1} more)" if len(big) > 1 else "")
                         + "; scale such columns if training stalls")
    if weighted:
        # GCNConv could take them, but the residual blocks pass (edge_index, batch) only so far
        notes.append("edges.csv's weight column is read (edge_weight) but the graph ResNets train on unweighted edges")
    if node_features != "columns":
        notes.append(f"no feature columns: nodes get their degree as features ({node_features})")
    return notes


def load_path(path: str | Path, *, seed: int = 0, val_fraction: float = 0.2, directed: bool = False) -> DataSplits:
    """A graph DataSplits from a folder of CSV files: task "graph" with graphs.csv, else task "node"."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DataError(f"graph dataset path {{path}} does not exist; expected {LAYOUT}", path=folder)
    if not folder.is_dir():
        raise DataError(f"graph dataset path {{path}} is a file; expected {LAYOUT}", path=folder)
    if is_graph_folder(folder):
        return _load_graphs(folder, seed=seed, val_fraction=val_fraction, directed=directed)
    if not (folder / NODES).is_file():
        found = sorted(f.name for f in folder.iterdir())
        raise DataError(f"{{path}} has neither {NODES} nor {GRAPHS} (found {list_names(found)}); expected {LAYOUT}",
                        path=folder, value=found, expected=f"the folder has neither {NODES} nor {GRAPHS}; expected {LAYOUT}")
    return _load_nodes(folder, seed=seed, val_fraction=val_fraction, directed=directed)


def features_for_model(graphs: list, feature_columns: list[str], meta: dict, source: Path) -> None:
    """Give graphs read for prediction the node features a model was trained on (meta: the checkpoint's data meta).

    Degree-trained models get the one-hot degree clamped at the training maximum; column-trained ones
    need as many feature columns as training had; row-normalised training (Planetoid) is repeated.
    """
    kind = str(meta.get("node_features") or "")
    width = int(meta.get("num_features", 0))
    if kind.startswith("degree_onehot_"):
        if feature_columns:
            raise UserError(f"{str(source)!r} has feature columns ({list_names(feature_columns)}) but the model was "
                            f"trained without node features (one-hot degree); remove them")
        degree_onehot(graphs, int(kind.rsplit("_", 1)[1]))
        return
    if len(feature_columns) != width:
        trained = meta.get("feature_columns")
        raise UserError(f"{str(source)!r} has {len(feature_columns)} feature column(s) ({list_names(feature_columns, 6)}); "
                        f"the model was trained on {width}" + (f" ({list_names(trained, 6)})" if trained else "")
                        + "; node features need the same width as in training")
    if meta.get("feature_norm") == "row":
        # torch_geometric.transforms.NormalizeFeatures, as the Planetoid loader applies it
        for g in graphs:
            x = g.x - g.x.min()
            g.x = x / x.sum(dim=-1, keepdim=True).clamp(min=1.0)
