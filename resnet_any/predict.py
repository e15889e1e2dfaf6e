"""`python -m resnet_any.predict --checkpoint PATH FILE...`: top-k classes for image files or CSV series rows.

`--dataset PATH` predicts a whole dataset of the user's files and writes one CSV row per item
(to --out, else stdout): a folder of graph CSV files for graph checkpoints (one row per node, or
per graph), a series table (.csv, .tsv, .parquet, .npz; labels optional) for series checkpoints.
The files are read by the training readers (data/csv_graphs.py, data/tables.py) and prepared as
the checkpoint's data meta says training prepared them.
"""
from __future__ import annotations

import csv
import warnings
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from resnet_any.errors import Parser, UserError, read_text_file, run_cli
from resnet_any.domains.weights import load_checkpoint
from resnet_any.train.plan import pick_device


class Predictor:
    """A loaded checkpoint plus the exact preprocessing of its training data; the app and the CLI share it."""

    def __init__(self, model: nn.Module, meta: dict[str, Any], device: str | torch.device = "cpu") -> None:
        self.model = model.eval()
        self.meta = meta
        self.data = meta.get("data") or {}
        self.device = torch.device(device)
        self.class_names = [str(c) for c in meta["class_names"]]

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        """Load a checkpoint (weights_only) for inference."""
        dev = pick_device(device)
        model, meta = load_checkpoint(path, dev)
        return cls(model, meta, dev)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax over classes for a prepared batch."""
        return torch.softmax(self.model(x.to(self.device)).float(), dim=1).cpu()

    def predict_images(self, images: Sequence[Any]) -> torch.Tensor:
        """Class probabilities (N, K) for PIL images of any mode and size."""
        from resnet_any.data import normalize, preprocess_image

        if self.meta["domain"] != "image":
            raise UserError(f"this is a {self.meta['domain']} checkpoint; it does not classify images")
        x = torch.stack([preprocess_image(img, self.data) for img in images])
        return self.probabilities(normalize(x, self.data))

    def predict_series(self, series: Sequence[Any]) -> torch.Tensor:
        """Class probabilities (N, K) for series given as (L,) or (C, L) arrays."""
        from resnet_any.data import preprocess_series

        if self.meta["domain"] != "series":
            raise UserError(f"this is a {self.meta['domain']} checkpoint; it does not classify series")
        return torch.cat([self.probabilities(preprocess_series(s, self.data)[None]) for s in series])

    def predict_series_batch(self, series: Sequence[Any], batch_size: int = 256) -> torch.Tensor:
        """Class probabilities (N, K) for many series, prepared as predict_series does, run in batches of one shape."""
        from resnet_any.data.tables import as_batches

        if self.meta["domain"] != "series":
            raise UserError(f"this is a {self.meta['domain']} checkpoint; it does not classify series")
        out = torch.empty(len(series), len(self.class_names))
        for idx, x in as_batches(series, self.data):
            for lo in range(0, len(idx), batch_size):
                out[idx[lo:lo + batch_size]] = self.probabilities(x[lo:lo + batch_size])
        return out

    def _graph_task(self, task: str) -> None:
        if self.meta["domain"] != "graph" or self.meta.get("task") != task:
            what = f"{self.meta['domain']} ({self.meta.get('task')})"
            raise UserError(f"this is a {what} checkpoint; it does not classify {'nodes' if task == 'node' else 'graphs'}")

    @torch.no_grad()
    def predict_nodes(self, data: Any) -> torch.Tensor:
        """Class probabilities (num_nodes, K) of every node of one PyG graph (features as training had them)."""
        self._graph_task("node")
        logits = self.model(data.x.float().to(self.device), data.edge_index.to(self.device))
        return torch.softmax(logits.float(), dim=1).cpu()

    @torch.no_grad()
    def predict_graphs(self, graphs: Sequence[Any], batch_size: int = 256) -> torch.Tensor:
        """Class probabilities (num_graphs, K) of PyG graphs, batched as training batched them."""
        from torch_geometric.loader import DataLoader

        self._graph_task("graph")
        out = []
        for b in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
            b = b.to(self.device)
            out.append(torch.softmax(self.model(b.x.float(), b.edge_index, b.batch).float(), dim=1).cpu())
        return torch.cat(out) if out else torch.empty(0, len(self.class_names))

    def top_k(self, probs: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """The k most likely (class name, probability) pairs per row."""
        values, idx = probs.topk(min(k, probs.shape[1]), dim=1)
        return [[(self.class_names[i], float(v)) for v, i in zip(vs.tolist(), ids.tolist())]
                for vs, ids in zip(values, idx)]


def open_image(path: str | Path) -> Any:
    """Open and fully decode an image file, or raise a UserError naming it."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"image file {str(p)!r} does not exist")
    try:
        with warnings.catch_warnings():
            # PIL only warns between its limit and twice it: a 150-megapixel file would still be decoded
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                img.load()
                return img.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"image {str(p)!r} is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise UserError(f"cannot read image {str(p)!r}: {' '.join(str(e).split()) or type(e).__name__}") from None


def read_series_csv(path: str | Path, channels: int = 1) -> list[np.ndarray]:
    """Series from a CSV file: one series per row (univariate), or one series of `channels` rows per file."""
    p = Path(path)
    text = read_text_file(p, "series file")
    rows = []
    dialect = "excel-tab" if "\t" in text else "excel"
    for n, row in enumerate(csv.reader(text.splitlines(), dialect=dialect), 1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        try:
            rows.append(np.array([float(c) for c in cells]))
        except ValueError:
            hint = ("; a table with a header row (and ids or labels) is read by --dataset FILE" if n == 1 else "")
            raise UserError(f"{str(p)!r} line {n}: series values must be numbers, got {row[:3]!r}...{hint}") from None
    if not rows:
        raise UserError(f"series file {str(p)!r} holds no rows")
    if channels == 1:
        return rows
    if len(rows) != channels or len({len(r) for r in rows}) != 1:
        raise UserError(f"{str(p)!r}: a {channels}-channel model needs {channels} rows of equal length per file")
    return [np.stack(rows)]


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

    p = Path(path).expanduser()
    domain, data = pred.meta["domain"], pred.data
    if domain == "graph":
        if not p.is_dir():
            raise UserError(f"--dataset {str(p)!r} is not a folder; a graph checkpoint predicts a folder of CSV files: "
                            f"{csv_graphs.LAYOUT}")
        directed = bool(data.get("directed", False))
        if pred.meta.get("task") == "node":
            if csv_graphs.is_graph_folder(p):
                raise UserError(f"{str(p)!r} holds {csv_graphs.GRAPHS} (graph classification) but this checkpoint "
                                f"classifies nodes; expected {csv_graphs.NODE_LAYOUT}")
            table = csv_graphs.read_nodes(p, directed=directed, labels=False)
            graph = csv_graphs.node_data(table)
            csv_graphs.features_for_model([graph], table.feature_columns, data, p / csv_graphs.NODES)
            probs = pred.predict_nodes(graph)
            has_labels = any(lab is not None for lab in table.labels) or "label" in _columns(p / csv_graphs.NODES)
            extra = {"split": table.splits} if table.splits is not None else None
            return _table("id", table.ids, table.labels if has_labels else None, pred.top_k(probs, top_k), extra)
        if not csv_graphs.is_graph_folder(p):
            raise UserError(f"{str(p)!r} has no {csv_graphs.GRAPHS} but this checkpoint classifies whole graphs; "
                            f"expected {csv_graphs.GRAPH_LAYOUT}")
        gt = csv_graphs.read_graphs(p, directed=directed, labels=False)
        csv_graphs.features_for_model(gt.graphs, gt.feature_columns, data,
                                      p / (csv_graphs.NODES if gt.has_nodes_file else csv_graphs.EDGES))
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


def main(argv: Sequence[str] | None = None) -> int:
    """Predict from the command line; returns the exit code."""
    p = Parser(prog="python -m resnet_any.predict", description="Top-k classes for image files or CSV series.")
    p.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by resnet_any.train")
    p.add_argument("files", nargs="*", metavar="FILE", help="images (image models) or CSV files, a series per row")
    p.add_argument("--dataset", metavar="PATH",
                   help="predict a whole dataset, one CSV row per item: a folder of graph CSV files (nodes.csv/edges.csv, "
                        "or graphs.csv/edges.csv[/nodes.csv]) for graph checkpoints, a table (.csv .tsv .parquet .npz, "
                        "labels optional) for series checkpoints")
    p.add_argument("--out", metavar="CSV", help="with --dataset: write the predictions here (default: print them)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    args = p.parse_args(argv)
    if args.top_k < 1:
        raise UserError(f"--top-k must be >= 1, got {args.top_k}")
    if args.dataset is not None and args.files:
        raise UserError("pass FILE arguments or --dataset PATH, not both")
    if args.dataset is None and not args.files:
        raise UserError("nothing to predict: pass FILE arguments (images, or CSV files of series) or --dataset PATH")
    if args.dataset is None and args.out is not None:
        raise UserError("--out goes with --dataset (FILE predictions print to the terminal)")
    if args.dataset is not None and args.json:
        raise UserError("--dataset writes CSV; drop --json")
    pred = Predictor.from_checkpoint(args.checkpoint, args.device)
    if args.dataset is not None:
        header, rows = predict_dataset(pred, args.dataset, args.top_k)
        write_csv(header, rows, args.out)
        return 0
    domain = pred.meta["domain"]
    items: list[tuple[str, int | None, torch.Tensor]] = []
    if domain == "image":
        images = [open_image(f) for f in args.files]
        probs = pred.predict_images(images)
        items = [(f, None, probs[i]) for i, f in enumerate(args.files)]
    elif domain == "series":
        channels = int(pred.data.get("channels", 1))
        for f in args.files:
            rows = read_series_csv(f, channels)
            probs = pred.predict_series(rows)
            items += [(f, i + 1 if channels == 1 else None, probs[i]) for i in range(len(rows))]
    else:
        hint = ("pass --dataset FOLDER (nodes.csv/edges.csv or graphs.csv)" if domain == "graph"
                else "score it with python -m resnet_any.evaluate --checkpoint CKPT --dataset PATH")
        raise UserError(f"predict takes image and series FILEs; this is a {domain} checkpoint: {hint}")
    tops = pred.top_k(torch.stack([it[2] for it in items]), args.top_k)
    if args.json:
        print(json.dumps([{"file": f, **({"row": row} if row else {}),
                           "top": [{"label": c, "prob": round(pr, 6)} for c, pr in top]}
                          for (f, row, _), top in zip(items, tops)], indent=1))
        return 0
    for (f, row, _), top in zip(items, tops):
        print(f"{f if row is None else f'{f}:{row}'}: " + ", ".join(f"{c} {pr:.3f}" for c, pr in top))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
