"""Graphs from a user's CSV files: `--dataset FOLDER` for node or graph classification.

The folder's layouts and their reader are in graph_files.py (re-exported here). Node classification:
without a split column the labelled nodes get a seeded stratified train/val/test split; without feature
columns every node gets the one-hot degree the TU loader gives feature-less graphs. The DataSplits holds
one PyG Data (x, edge_index, y, train/val/test masks); unlabelled nodes have y = -1 and are in no mask.
Graph classification: graphs get a seeded stratified train/val/test split, as the TU loader does.
Class names are the label strings, ordered as splits.encode_labels orders them.

Numbers and tags (regress, multilabel; data/targets.py's table infers which from the training nodes or graphs,
--task overrides it): y is float (N, K) with NaN where a target is missing, class_names the target or tag names;
labelled nodes (any target present) and graphs get a seeded random split instead of a stratified one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, UserError
from .base import DataSplits
from .frames import Where, list_names
from .graph_files import (EDGES, GRAPH_LAYOUT, GRAPHS, LAYOUT, NODE_LAYOUT, NODES, GraphTable, NodeTable, node_data,
                          read_graphs, read_nodes, table_file)
from .graphs import _degree_features, degree_onehot, validate_graph
from .splits import TEST_FRACTION, encode_labels, train_val_test
from .target_cells import decide, encode_rows, label_columns

__all__ = ["EDGES", "GRAPHS", "GRAPH_LAYOUT", "LAYOUT", "NODES", "NODE_LAYOUT", "GraphTable", "NodeTable",
           "degree_onehot", "features_for_model", "is_graph_folder", "load_path", "node_data", "read_graphs",
           "read_nodes", "table_file"]


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


def _set_degree_features(graphs: list) -> tuple[int, str]:
    width = _degree_features(graphs)
    return width, f"degree_onehot_{width - 1}"


# ---------------------------------------------------------------- node classification

def _targets(table, rows: dict[str, list[int]], task: str | None, what: str,
             labelled: tuple[str, ...]) -> tuple[str, str | None, np.ndarray, list[str]]:
    """(task, note, y, names) of a node or graph table's target cells; `rows` are the table's indices per split
    (train first: the task is inferred and tags found there); a class may not be missing in the splits `labelled`.
    classify: y and names are left to the caller (the label texts are the table's)."""
    columns = list(table.target_columns)
    cells = {k: [table.targets[i] for i in ix] for k, ix in rows.items()}
    task, note = decide(cells["train"], columns, task, repr(str(table.where.path)))
    if task == "classify":
        for k, ix in rows.items():
            for i in ix if k in labelled else ():
                if table.labels[i] is None:
                    raise table.where.error(f"the {what} is in split {k!r} but has no label; label it or empty its split "
                                            "cell" if what == "node" else "the label is missing; every row needs one",
                                            table.rows[i], columns[0])
        return task, note, np.zeros(0), []

    def place(split: str, i: int | None, j: int, problem: str, expected: str) -> Exception:
        return table.where.error(problem, None if i is None else table.rows[rows[split][i]], columns[j],
                                 expected=expected)

    found = encode_rows(cells, columns, task, place, note)
    y = np.full((len(table.targets), len(found.names)), np.nan, dtype=np.float32)
    for k, ix in rows.items():
        y[np.asarray(ix, dtype=np.int64)] = found.y[k].numpy()
    return task, note, y, found.names


def _load_nodes(folder: Path, *, seed: int, val_fraction: float, directed: bool, columns: tuple[str, ...],
                task: str | None) -> DataSplits:
    table = read_nodes(folder, directed=directed, label_columns=columns)
    n = len(table.ids)
    present = [i for i, c in enumerate(table.targets) if any(v is not None for v in c)]
    if not present:
        raise table.where.error("no node has a label; label the nodes to learn from", column=", ".join(columns))
    # numpy over the split column, not a Python pass per node and split: a million nodes read in under a second
    split_of = None if table.splits is None else np.asarray(table.splits, dtype=object)
    if split_of is not None:
        given = {s: np.flatnonzero(split_of == s).tolist() for s in ("train", "val", "test")}
        rest = np.flatnonzero(np.equal(split_of, None)).tolist()
        task, note, y_all, names = _targets(table, {**given, "rest": rest} if rest else given, task, "node",
                                            ("train", "val", "test"))
    else:
        task, note, y_all, names = _targets(table, {"train": list(range(n))}, task, "node", ())
    labelled = np.array(present if task != "classify" else [i for i, lab in enumerate(table.labels) if lab is not None],
                        dtype=np.int64)
    if task == "classify":
        lab_text = [table.labels[i] for i in labelled]
        (y_lab,), class_names = encode_labels(lab_text)
        y = torch.full((n,), -1, dtype=torch.long)
        y[torch.as_tensor(labelled)] = torch.as_tensor(y_lab)
    else:
        y, class_names, y_lab = torch.from_numpy(y_all), names, y_all[labelled]
    masks = {s: torch.zeros(n, dtype=torch.bool) for s in ("train", "val", "test")}
    if split_of is not None:
        masks = {s: torch.from_numpy(split_of == s) for s in masks}
        split_source = "column"
    else:
        if task == "classify":
            _check_class_sizes(lab_text, [table.rows[i] for i in labelled], table.where, columns[0], val_fraction,
                               "labelled node(s)")
        for s, idx in zip(("train", "val", "test"), train_val_test(y_lab, val_fraction, seed)):
            masks[s][torch.as_tensor(labelled[idx])] = True
        split_source = "stratified" if task == "classify" else "random"
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
            "target_columns": list(table.target_columns),
            "source": "csv", "notes": _notes(node_features, data.x, list(table.feature_columns))}
    return DataSplits(name=folder.resolve().name, domain="graph", layout="node", train=None, val=None, test=None,
                      num_classes=len(class_names), class_names=class_names, in_channels=int(width), graph=data,
                      meta=meta, task=task, task_note=note)


# ---------------------------------------------------------------- graph classification

def _load_graphs(folder: Path, *, seed: int, val_fraction: float, directed: bool, columns: tuple[str, ...],
                 task: str | None) -> DataSplits:
    table = read_graphs(folder, directed=directed, label_columns=columns)
    task, note, y_all, class_names = _targets(table, {"train": list(range(len(table.graph_ids)))}, task, "graph",
                                              ("train",))
    graphs = table.graphs
    if task == "classify":
        _check_class_sizes(table.labels, table.rows, table.where, table.target_columns[0], val_fraction, "graph(s)")
        (y,), class_names = encode_labels(table.labels)
        for g, label in zip(graphs, y):
            g.y = torch.tensor([int(label)], dtype=torch.long)
    else:
        y = y_all  # (N, K) float: a seeded random split below
        for g, target in zip(graphs, y_all):
            g.y = torch.from_numpy(target).view(1, -1)
    if table.feature_columns:
        width, node_features = len(table.feature_columns), "columns"
    else:
        width, node_features = _set_degree_features(graphs)
    for gid, g in zip(table.graph_ids, graphs):
        validate_graph(g, f"{str(folder)!r} graph {gid!r}")
    tr, va, te = train_val_test(y, val_fraction, seed)
    meta = {"task": "graph", "num_features": int(width), "node_features": node_features, "edge_features": 0,
            "feature_columns": list(table.feature_columns), "directed": bool(directed), "source": "csv",
            "target_columns": list(table.target_columns),
            "notes": _notes(node_features, torch.cat([g.x for g in graphs]) if table.feature_columns else None,
                            list(table.feature_columns))}
    return DataSplits(name=folder.resolve().name, domain="graph", layout="graph",
                      train=[graphs[i] for i in tr], val=[graphs[i] for i in va], test=[graphs[i] for i in te],
                      num_classes=len(class_names), class_names=class_names, in_channels=int(width), meta=meta,
                      task=task, task_note=note)


# ---------------------------------------------------------------- entry points

def is_graph_folder(folder: Path) -> bool:
    """Graph classification (graphs.csv or graphs.parquet present) rather than node classification."""
    return table_file(folder, GRAPHS).is_file()


# feature columns beyond this magnitude are likely raw measurements (ages, prices) rather than scaled values
LARGE_FEATURE = 10.0


def _notes(node_features: str, x: torch.Tensor | None = None,
           columns: list[str] | None = None) -> list[str]:
    """What a run on this folder should say about choices made for the user (edge weights: the model's note)."""
    notes = []
    if x is not None and columns and x.numel():
        big = (x.abs().amax(0) > LARGE_FEATURE).nonzero().view(-1).tolist()
        if big:
            lo, hi = float(x[:, big[0]].min()), float(x[:, big[0]].max())
            notes.append(f"node features are used as given, not standardised: column {columns[big[0]]!r} spans "
                         f"{lo:g}..{hi:g}" + (f" (and {len(big) - 1} more)" if len(big) > 1 else "")
                         + "; scale such columns if training stalls")
    if node_features != "columns":
        notes.append(f"no feature columns: nodes get their degree as features ({node_features})")
    return notes


def load_path(path: str | Path, *, seed: int = 0, val_fraction: float = 0.2, directed: bool = False,
              label_column: str = "label", task: str | None = None) -> DataSplits:
    """A graph DataSplits from a folder of CSV files: layout "graph" with graphs.csv, else layout "node".

    label_column: the target column of nodes.csv or graphs.csv, or several ("a,b"); task: what they are
    (None: inferred, data/targets.py)."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DataError(f"graph dataset path {{path}} does not exist; expected {LAYOUT}", path=folder)
    if not folder.is_dir():
        raise DataError(f"graph dataset path {{path}} is a file; expected {LAYOUT}", path=folder)
    columns = tuple(label_columns(label_column))
    if is_graph_folder(folder):
        return _load_graphs(folder, seed=seed, val_fraction=val_fraction, directed=directed, columns=columns, task=task)
    if not table_file(folder, NODES).is_file():
        found = sorted(f.name for f in folder.iterdir())
        raise DataError(f"{{path}} has neither {NODES} nor {GRAPHS} (found {list_names(found)}); expected {LAYOUT}",
                        path=folder, value=found, expected=f"the folder has neither {NODES} nor {GRAPHS}; expected {LAYOUT}")
    return _load_nodes(folder, seed=seed, val_fraction=val_fraction, directed=directed, columns=columns, task=task)


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
    if meta.get("feature_norm") in ("row", "standardize"):
        from .graph_features import repeat_scaling

        for g in graphs:  # the training run's scaling: the Planetoid loader's or the feature_norm rule's
            g.x = repeat_scaling(g.x, meta)
