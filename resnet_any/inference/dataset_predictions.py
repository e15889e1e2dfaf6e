"""Predictions for a whole dataset of the user's files, one CSV row per node, graph or series.

A folder of graph CSV files for graph checkpoints (one row per node, or per graph), a series table (.csv,
.tsv, .parquet, .npz; labels optional) for series checkpoints. The files are read by the training readers
(data/csv_graphs.py, data/tables.py) and prepared as the checkpoint's data meta says training prepared them.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from resnet_any.errors import UserError
from resnet_any.inference.answers import answers, csv_cells, csv_header, truth_cell
from resnet_any.inference.predictor import Predictor


class _Rows:
    """Turns a Predictor's decoded outputs into CSV rows of its task's columns (answers.py)."""

    def __init__(self, pred: Predictor, top_k: int) -> None:
        self.pred, self.top_k = pred, top_k

    def __call__(self, id_column: str, ids: Sequence[str], truth: Sequence[Any] | None, outputs: torch.Tensor,
                 extra: dict[str, Sequence[str]] | None = None) -> tuple[list[str], list[list[str]]]:
        """Header and rows: id, extra columns, true_label (where the data has labels), the task's prediction columns."""
        found = answers(self.pred, outputs, self.top_k)
        header = [id_column, *(extra or {}), *(["true_label"] if truth is not None else []),
                  *csv_header(self.pred, found)]
        rows = []
        for n, (item, a) in enumerate(zip(ids, found)):
            row = [str(item), *("" if v[n] is None else str(v[n]) for v in (extra or {}).values())]
            if truth is not None:
                row.append(truth_cell(truth[n]))
            rows.append(row + csv_cells(a))
        return header, rows


def predict_dataset(pred: Predictor, path: str | Path, top_k: int = 5) -> tuple[list[str], list[list[str]]]:
    """Predictions for every node, graph or series of the user's files at `path`: (CSV header, rows)."""
    from resnet_any.data import csv_graphs, tables
    from resnet_any.inference.inputs import graph_folder, node_folder

    p = Path(path).expanduser()
    domain, data = pred.meta.domain, pred.data
    _table = _Rows(pred, top_k)
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
            has_labels = any(lab is not None for lab in table.labels) or "label" in _columns(
                csv_graphs.table_file(p, csv_graphs.NODES))
            extra = {"split": table.splits} if table.splits is not None else None
            return _table("id", table.ids, table.labels if has_labels else None, probs, extra)
        if not csv_graphs.is_graph_folder(p):
            raise UserError(f"{str(p)!r} has no {csv_graphs.GRAPHS} but this checkpoint classifies whole graphs; "
                            f"expected {csv_graphs.GRAPH_LAYOUT}")
        gt = graph_folder(p, data)
        probs = pred.predict_graphs(gt.graphs)
        has_labels = "label" in _columns(csv_graphs.table_file(p, csv_graphs.GRAPHS))
        return _table("graph_id", gt.graph_ids, gt.labels if has_labels else None, probs)
    if domain == "series":
        if p.is_dir():
            # a train/test folder as training read it: every file's rows, with the split each came from
            header: list[str] = []
            rows: list[list[str]] = []
            for split, f in sorted(tables._split_files(p).items(), key=lambda kv: ("train", "val", "test").index(kv[0])):
                st = tables.table_for_model(f, data)
                probs = pred.predict_series_batch(st.series)
                header, part = _table(st.id_column, st.ids, st.labels, probs,
                                      {"split": [split] * len(st.ids)})
                rows += part
            return header, rows
        st = tables.table_for_model(p, data)
        probs = pred.predict_series_batch(st.series)
        return _table(st.id_column, st.ids, st.labels, probs)
    if domain == "image":
        raise UserError("an image checkpoint predicts image FILEs (python -m resnet_any.predict --checkpoint CKPT "
                        "a.png b.jpg); to score a folder or manifest use python -m resnet_any.evaluate --dataset PATH")
    raise UserError(f"predict --dataset reads graph folders and series tables; score a {domain} dataset with "
                    "python -m resnet_any.evaluate --checkpoint CKPT --dataset PATH")


def _columns(path: Path) -> list[str]:
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return [str(c).strip() for c in pq.read_schema(path).names]
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
