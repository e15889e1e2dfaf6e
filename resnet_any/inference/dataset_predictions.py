"""Predictions for a whole dataset of the user's files, one CSV row per node, graph or series.

A folder of graph CSV files for graph checkpoints (one row per node, or per graph), a series table (.csv,
.tsv, .parquet, .npz; labels optional) for series checkpoints. The files are read by the training readers
(data/csv_graphs.py, data/tables.py) and prepared as the checkpoint's data meta says training prepared them.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Sequence

from resnet_any.errors import UserError
from resnet_any.inference.predictor import Predictor


def _table(id_column: str, ids: Sequence[str], truth: Sequence[str | None] | None, tops: list[list[tuple[str, float]]],
           extra: dict[str, Sequence[str]] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a predictions CSV: id, extra columns, true_label (where the data has labels), predicted, top-k."""
    k = max((len(t) for t in tops), default=0)
    header = [id_column, *(extra or {}), *(["true_label"] if truth is not None else []), "predicted"]
    for i in range(1, k + 1):
        header += [f"top{i}_label", f"top{i}_prob"]
    rows = []
    for n, (item, top) in enumerate(zip(ids, tops)):
        row = [str(item), *("" if v[n] is None else str(v[n]) for v in (extra or {}).values())]
        if truth is not None:
            row.append("" if truth[n] is None else str(truth[n]))
        row.append(top[0][0])
        for label, prob in top:
            row += [label, f"{prob:.6f}"]
        rows.append(row)
    return header, rows


def predict_dataset(pred: Predictor, path: str | Path, top_k: int = 5) -> tuple[list[str], list[list[str]]]:
    """Predictions for every node, graph or series of the user's files at `path`: (CSV header, rows)."""
    from resnet_any.data import csv_graphs, tables
    from resnet_any.inference.inputs import graph_folder, node_folder

    p = Path(path).expanduser()
    domain, data = pred.meta.domain, pred.data
    if domain == "graph":
        if not p.is_dir():
            raise UserError(f"--dataset {str(p)!r} is not a folder; a graph checkpoint predicts a folder of CSV files: "
                            f"{csv_graphs.LAYOUT}")
        if pred.meta.layout == "node":
            if csv_graphs.is_graph_folder(p):
                raise UserError(f"{str(p)!r} holds {csv_graphs.GRAPHS} (graph classification) but this checkpoint "
                                f"classifies nodes; expected {csv_graphs.NODE_LAYOUT}")
            table, graph = node_folder(p, data)
            probs = pred.predict_nodes(graph)
            has_labels = any(lab is not None for lab in table.labels) or "label" in _columns(p / csv_graphs.NODES)
            extra = {"split": table.splits} if table.splits is not None else None
            return _table("id", table.ids, table.labels if has_labels else None, pred.top_k(probs, top_k), extra)
        if not csv_graphs.is_graph_folder(p):
            raise UserError(f"{str(p)!r} has no {csv_graphs.GRAPHS} but this checkpoint classifies whole graphs; "
                            f"expected {csv_graphs.GRAPH_LAYOUT}")
        gt = graph_folder(p, data)
        probs = pred.predict_graphs(gt.graphs)
        has_labels = "label" in _columns(p / csv_graphs.GRAPHS)
        return _table("graph_id", gt.graph_ids, gt.labels if has_labels else None, pred.top_k(probs, top_k))
    if domain == "series":
        if p.is_dir():
            # a train/test folder as training read it: every file's rows, with the split each came from
            header: list[str] = []
            rows: list[list[str]] = []
            for split, f in sorted(tables._split_files(p).items(), key=lambda kv: ("train", "val", "test").index(kv[0])):
                st = tables.table_for_model(f, data)
                probs = pred.predict_series_batch(st.series)
                header, part = _table(st.id_column, st.ids, st.labels, pred.top_k(probs, top_k),
                                      {"split": [split] * len(st.ids)})
                rows += part
            return header, rows
        st = tables.table_for_model(p, data)
        probs = pred.predict_series_batch(st.series)
        return _table(st.id_column, st.ids, st.labels, pred.top_k(probs, top_k))
    if domain == "image":
        raise UserError("an image checkpoint predicts image FILEs (python -m resnet_any.predict --checkpoint CKPT "
                        "a.png b.jpg); to score a folder or manifest use python -m resnet_any.evaluate --dataset PATH")
    raise UserError(f"predict --dataset reads graph folders and series tables; score a {domain} dataset with "
                    "python -m resnet_any.evaluate --checkpoint CKPT --dataset PATH")


def _columns(path: Path) -> list[str]:
    import pandas as pd

    try:
        return [str(c).strip() for c in pd.read_csv(path, nrows=0, skipinitialspace=True).columns]
    except (OSError, ValueError):
        return []


def write_csv(header: list[str], rows: list[list[str]], out: str | Path | None) -> None:
    """Write predictions as CSV to `out`, or to stdout when out is None."""
    if out is None:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    p = Path(out).expanduser()
    try:
        with open(p, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as e:
        raise UserError(f"cannot write --out {str(p)!r}: {e.strerror or e}") from None
